"""Checkpoints: one self-describing file (configs, weights, optimizer, loss history, data fingerprint).

Written atomically; loading refuses foreign, truncated or mismatched files with a clear message.
"""
from __future__ import annotations

import copy
import datetime as dt
import hashlib
import io
import os
import pickletools
import warnings
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

import torch

from .atomic import atomic_write
from .config import TrainConfig, VAEConfig
from .errors import CheckpointError
from .model import VAE, ResidualBlock

FORMAT = "shoevae-checkpoint"
VERSION = 1


def data_fingerprint(ids: list[str], image_size: int) -> str:
    """Short hash of the training images' ids and size: resume refuses other data."""
    h = hashlib.sha256(f"{image_size}\n".encode())
    h.update("\n".join(sorted(ids)).encode())
    return h.hexdigest()[:16]


def make_checkpoint(model: VAE, train_cfg: TrainConfig, *, optimizer: torch.optim.Optimizer | None,
                    history: list[dict[str, float]], data: dict[str, Any], train_seconds: float,
                    half: bool = False, critic_state: dict[str, Any] | None = None) -> dict[str, Any]:
    """The checkpoint dict; `half` stores float16 weights and no optimizer nor critic (a small file to ship).
    `critic_state`: the adversarial critic and its optimizer (shoevae.adversarial), kept for resuming."""
    # copies (training goes on mutating the live tensors); never a compiled wrapper's "_orig_mod." keys
    state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    return {
        "format": FORMAT,
        "version": VERSION,
        "model_config": model.cfg.to_dict(),
        "train_config": train_cfg.to_dict(),
        "model_state": state,
        "optimizer_state": None if half or optimizer is None else copy.deepcopy(optimizer.state_dict()),
        "critic_state": None if half or critic_state is None else copy.deepcopy(critic_state),
        "history": list(history),
        "epoch": len(history),
        "data": dict(data),
        "train_seconds": float(train_seconds),
        "saved_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def save_checkpoint(ckpt: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write atomically: a crash mid-write leaves the previous file intact."""
    path = Path(path)
    buffer = io.BytesIO()  # serialised first: the disk sees plain writes (a full disk is an OSError, not torch's)
    torch.save(ckpt, buffer)
    with atomic_write(path) as f:
        f.write(buffer.getbuffer())
    return path


def _display_name(source: str | os.PathLike | bytes | BinaryIO, name: str | None) -> str:
    if name is not None:
        return name
    if isinstance(source, (bytes, bytearray)) or hasattr(source, "read"):
        return "the uploaded file"
    return repr(str(source))


def _unreadable_reason(data: bytes) -> str:
    """Why torch could not load these bytes, in plain words (never torch's own message)."""
    if not data:
        return "is empty"
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                names = z.namelist()
        except (zipfile.BadZipFile, OSError, EOFError):
            return "is not a readable checkpoint (corrupt or truncated: the file ends early or is damaged; copy it again)"
        if any(n.endswith("data.pkl") for n in names):
            return ("is not a shoevae checkpoint (a PyTorch file from another program, holding objects shoevae "
                    "does not load); use a .pt file written by `python -m shoevae train` or `export`")
        return "is not a shoevae checkpoint (a zip archive, not a PyTorch file)"
    if data[:1] == b"\x80":  # a pickle: check that it is whole without running it
        try:
            for _ in pickletools.genops(io.BytesIO(data)):
                pass
        except Exception:  # genops raises ValueError and others on a cut or damaged stream
            return "is not a readable checkpoint (corrupt or truncated: the file ends early or is damaged; copy it again)"
        return ("is not a shoevae checkpoint (a Python pickle from another program); use a .pt file written "
                "by `python -m shoevae train` or `export`")
    return "is not a readable checkpoint (corrupt or truncated, or not a checkpoint file at all)"


def _check_finite(ckpt: dict[str, Any], name: str) -> None:
    for key, value in (ckpt.get("model_state") or {}).items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"{name} holds weights that are not numbers (NaN or inf in {key}): the training "
                                  "diverged; use an earlier checkpoint or train again with a lower --lr")


def read_checkpoint(source: str | os.PathLike | bytes | BinaryIO, *, name: str | None = None) -> dict[str, Any]:
    """Load and validate a checkpoint dict (not yet a model).

    `name` is how messages call the file (e.g. an upload's file name); by default its path.
    """
    name = _display_name(source, name)
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
    elif hasattr(source, "read"):
        data = source.read()
    else:
        path = Path(source)
        if path.is_dir():
            raise CheckpointError(f"{name} is a folder, not a checkpoint file")
        if not path.is_file():
            raise CheckpointError(f"no checkpoint at {name}")
        try:
            data = path.read_bytes()
        except OSError as e:
            raise CheckpointError(f"cannot read {name} ({e.strerror or e})") from None
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickles before refusing them: our message says it
            warnings.simplefilter("ignore")
            ckpt = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception:  # torch.load raises many types on garbage (UnpicklingError, RuntimeError, EOFError ...)
        raise CheckpointError(f"{name} {_unreadable_reason(data)}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{name} is not a shoevae checkpoint (a foreign file or another model's weights)")
    version = ckpt.get("version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise CheckpointError(f"{name} has an unreadable format version ({version!r}); it was not written by shoevae")
    if version > VERSION:
        raise CheckpointError(f"{name} was written by a newer shoevae (format version {version}, this one reads "
                              f"{VERSION}); update shoevae")
    _check_parts(ckpt, name)
    _check_finite(ckpt, name)
    return ckpt


PARTS = {"model_config": dict, "model_state": dict, "train_config": dict, "history": list, "data": dict,
         "train_seconds": (int, float)}  # what every command may read from a checkpoint


def _check_parts(ckpt: dict[str, Any], name: str) -> None:
    """Refuse a checkpoint lacking a part shoevae writes, or holding something else there, by name."""
    for key, kind in PARTS.items():
        if key not in ckpt:
            raise CheckpointError(f"{name} is incomplete: it has no {key}; it was not written by shoevae "
                                  "`train` or `export`, or was edited")
        if not isinstance(ckpt[key], kind) or isinstance(ckpt[key], bool):
            raise CheckpointError(f"{name} has an unreadable {key} (a {type(ckpt[key]).__name__}); it was not "
                                  "written by shoevae `train` or `export`, or was edited")
    if not all(isinstance(row, dict) for row in ckpt["history"]):
        raise CheckpointError(f"{name} has an unreadable history (rows that are not records of an epoch)")
    try:
        TrainConfig.from_dict(ckpt["train_config"])
    except (TypeError, ValueError) as e:  # ConfigError is a ValueError
        raise CheckpointError(f"{name} has an unusable train_config ({' '.join(str(e).split())})") from None


def model_from_checkpoint(ckpt: dict[str, Any], device: str | torch.device = "cpu") -> VAE:
    """Rebuild the VAE from the checkpoint's own config, in eval mode, float32."""
    try:
        cfg = VAEConfig.from_dict(ckpt["model_config"])
        model = VAE(cfg)
        model.load_state_dict({k: v.float() if v.is_floating_point() else v
                               for k, v in ckpt["model_state"].items()})
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        detail = " ".join(str(e).split()) or type(e).__name__
        raise CheckpointError(f"checkpoint does not match the shoevae architecture ({detail})") from None
    return model.to(device).eval()


def load_weights(model: VAE, source: str | os.PathLike, skip: tuple[str, ...] = ()) -> None:
    """Copy a checkpoint's weights into `model`, a network of the same shape (where fine-tuning starts; the
    decoder's upsampling may differ, it has no weights), except those whose names start with a prefix in `skip`
    (they keep the model's own), and the residual blocks the file does not have (a network grown by decoder_blocks
    starts as the file's: new blocks are the identity). CheckpointError, one line, when the file cannot be used or
    its network differs."""
    state = {k: v.float() if v.is_floating_point() else v for k, v in read_checkpoint(source)["model_state"].items()}
    own = model.state_dict()
    blocks = tuple(f"{name}." for name, m in model.named_modules() if isinstance(m, ResidualBlock))
    if skip or blocks:
        state.update({k: v for k, v in own.items() if k.startswith(skip) or (k.startswith(blocks) and k not in state)})
    differ = sorted(k for k in set(own) | set(state) if k not in own or k not in state or own[k].shape != state[k].shape)
    if differ:
        raise CheckpointError(f"cannot start from {source}: its network differs from this one ({len(differ)} weights "
                              f"differ, {differ[0]} first); start from a checkpoint of the same preset")
    model.load_state_dict(state)


def load_checkpoint(source: str | os.PathLike | bytes | BinaryIO, device: str | torch.device = "cpu", *,
                    name: str | None = None) -> tuple[VAE, dict[str, Any]]:
    """(model in eval mode, checkpoint dict) from a path, bytes or file object; `name` as in read_checkpoint."""
    ckpt = read_checkpoint(source, name=name)
    return model_from_checkpoint(ckpt, device), ckpt
