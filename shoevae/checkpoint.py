"""Checkpoints: one self-describing file (configs, weights, optimizer, loss history, data fingerprint).

Written atomically; loading refuses foreign, truncated or mismatched files with a clear message.
"""
from __future__ import annotations

import copy
import datetime as dt
import hashlib
import io
import os
from pathlib import Path
from typing import Any, BinaryIO

import torch

from .atomic import atomic_write
from .config import TrainConfig, VAEConfig
from .model import VAE

FORMAT = "shoevae-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be used, with a one-line reason."""


def data_fingerprint(ids: list[str], image_size: int) -> str:
    """Short hash of the training images' ids and size: resume refuses other data."""
    h = hashlib.sha256(f"{image_size}\n".encode())
    h.update("\n".join(sorted(ids)).encode())
    return h.hexdigest()[:16]


def make_checkpoint(model: VAE, train_cfg: TrainConfig, *, optimizer: torch.optim.Optimizer | None,
                    history: list[dict[str, float]], data: dict[str, Any], train_seconds: float,
                    half: bool = False) -> dict[str, Any]:
    """The checkpoint dict; `half` stores float16 weights and no optimizer (a small file to ship)."""
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
        "history": list(history),
        "epoch": len(history),
        "data": dict(data),
        "train_seconds": float(train_seconds),
        "saved_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


def save_checkpoint(ckpt: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write atomically: a crash mid-write leaves the previous file intact."""
    path = Path(path)
    with atomic_write(path) as f:
        torch.save(ckpt, f)
    return path


def read_checkpoint(source: str | os.PathLike | bytes | BinaryIO) -> dict[str, Any]:
    """Load and validate a checkpoint dict (not yet a model)."""
    name = "uploaded file" if isinstance(source, (bytes, bytearray)) or hasattr(source, "read") else str(source)
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    elif not hasattr(source, "read") and not Path(source).is_file():
        raise CheckpointError(f"no checkpoint at {name!r}")
    try:
        ckpt = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as e:  # torch.load raises many types on garbage (KeyError, RuntimeError, pickle ...)
        detail = str(e).splitlines()[0][:100] if str(e) else type(e).__name__
        raise CheckpointError(f"{name!r} is not a readable checkpoint (corrupt or truncated: {detail})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{name!r} is not a shoevae checkpoint (a foreign file or another model's weights)")
    if ckpt.get("version", 0) > VERSION:
        raise CheckpointError(f"{name!r} was written by a newer shoevae (format version {ckpt['version']})")
    return ckpt


def model_from_checkpoint(ckpt: dict[str, Any], device: str | torch.device = "cpu") -> VAE:
    """Rebuild the VAE from the checkpoint's own config, in eval mode, float32."""
    try:
        cfg = VAEConfig.from_dict(ckpt["model_config"])
        model = VAE(cfg)
        model.load_state_dict({k: v.float() if v.is_floating_point() else v
                               for k, v in ckpt["model_state"].items()})
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        detail = str(e).splitlines()[0][:120]
        raise CheckpointError(f"checkpoint does not match the shoevae architecture ({detail})") from None
    return model.to(device).eval()


def load_checkpoint(source: str | os.PathLike | bytes | BinaryIO,
                    device: str | torch.device = "cpu") -> tuple[VAE, dict[str, Any]]:
    """(model in eval mode, checkpoint dict) from a path, bytes or file object."""
    ckpt = read_checkpoint(source)
    return model_from_checkpoint(ckpt, device), ckpt
