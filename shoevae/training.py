"""Training loop: Adam on the likelihood (BCE or Gaussian) + beta * KL, plus the optional feature, colour and
adversarial terms, float32 (bfloat16 autocast on a GPU), seeded, checkpointed atomically every epoch.

    from shoevae import preset, TrainConfig, load_catalogue, train
    cat = load_catalogue("../shared/data/zappos")
    ckpt = train(preset("paper"), TrainConfig(epochs=5), cat, out="weights/paper.pt")

Each epoch's shuffling and sampling noise come from (seed, epoch), so a run killed after epoch k and
resumed from its checkpoint gives the same history as one that never stopped.
"""
from __future__ import annotations

import contextlib
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from .adversarial import Adversary
from .catalogue import Catalogue
from .checkpoint import (
    CheckpointError,
    data_fingerprint,
    load_weights,
    make_checkpoint,
    model_from_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from .config import TrainConfig, VAEConfig
from .errors import ConfigError
from .evaluate import mean_bce
from .model import DECODER_PARTS, VAE, prepare, vae_loss
from .outputs import hold
from .perceptual import FeatureLoss, PhotoFeatures, colour_term, shift_and_scale
from .presets import CHANGEABLE_ON_RESUME, changeable_on_resume
from .split import SPLIT_SEED, Split

VAL_IMAGES = 512  # hold-out images scored after each epoch (a seeded random sample of the hold-out)
LOSS_TERMS = ("loss", "rec", "bce", "kl", "feat", "colour", "fool", "critic", "adv_weight")  # per image, in every
# history row ("feat" with --perceptual, "colour" with --colour, the last three with --adversarial; "loss" leaves
# out the adversarial term, whose weight changes every step)
OPTIONAL_TERMS = {"feat": "perceptual", "colour": "colour", "fool": "adversarial", "critic": "adversarial",
                  "adv_weight": "adversarial"}  # a term is recorded when its TrainConfig weight is above 0


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during `train`. `epoch`: the last finished epoch (0: none); `path`: the file holding it
    (None: nothing on disk); `saved_now`: whether this run wrote it (False: only the resumed file has it)."""

    def __init__(self, epoch: int, path: Path | None, saved_now: bool) -> None:
        super().__init__(f"training interrupted after epoch {epoch}")
        self.epoch, self.path, self.saved_now = epoch, path, saved_now

    def message(self) -> str:
        """One line for the user."""
        if self.path is None:
            return f"interrupted during epoch {self.epoch + 1}: nothing saved"
        if not self.saved_now:
            return f"interrupted during epoch {self.epoch + 1}: nothing new saved; {self.path} still holds epoch {self.epoch}"
        return f"interrupted after epoch {self.epoch}, saved to {self.path}"


class _Stopped(Exception):
    """The stop event was set: end after this batch."""


@dataclass
class Progress:
    """What a caller (terminal bar, the app) sees during training."""

    epoch: int  # 1-based epoch running now
    epochs: int
    batch: int  # batches done in this epoch
    batches: int
    history: list[dict[str, float]] = field(default_factory=list)  # one row per finished epoch
    model: VAE | None = None  # set once per finished epoch (in eval mode; do not modify)
    checkpoint: Path | None = None
    losses: dict[str, float] | None = None  # this batch's loss, bce and kl per image (batch callbacks)
    live: VAE | None = None  # the model being trained (batch callbacks): read it under no_grad, leave it in train()


def pick_device() -> torch.device:
    """A GPU when one is there, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def use_bfloat16(device: torch.device) -> bool:
    """bfloat16 autocast on a GPU that supports it; never on the CPU (slower than float32 there, measured)."""
    return device.type == "cuda" and torch.cuda.is_bf16_supported()


class TrainingPhotos:
    """The training photos as float batches on `device`, channels-last, in [0, 1].

    On a GPU (when they take at most half its free memory; or with `resident=True`) the uint8 photos are
    copied to the device once and each batch is cut and converted there: no host-to-device copy per
    step. Otherwise batches are read from the catalogue (memory-mapped) as they are needed.
    """

    def __init__(self, images: np.ndarray, rows: np.ndarray, size: int, device: torch.device,
                 resident: bool | None = None) -> None:
        self.images, self.rows, self.size, self.device = images, np.asarray(rows), size, device
        if resident is None:
            resident = device.type == "cuda" and self._fits_on(device, len(self.rows) * int(np.prod(images.shape[1:])))
        self.on_device = torch.from_numpy(np.ascontiguousarray(images[self.rows])).to(device) if resident else None

    @staticmethod
    def _fits_on(device: torch.device, nbytes: int) -> bool:
        """Whether the photos take at most half of the GPU's free memory (else they stay on the host)."""
        free, _ = torch.cuda.mem_get_info(device)
        return nbytes <= free // 2

    def batch(self, rows: np.ndarray) -> torch.Tensor:
        """Images of these catalogue rows (a subset of the training rows, sorted)."""
        if self.on_device is None:
            return prepare(self.images[rows], self.size, self.device)
        at = torch.from_numpy(np.searchsorted(self.rows, rows)).to(self.device)
        return prepare(self.on_device[at], self.size, self.device)


def batch_loss(model: VAE, x: torch.Tensor, tc: TrainConfig, features: FeatureLoss | None = None,
               amp: bool = False, target: list[torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """One batch's loss terms per image (float32): the likelihood, beta * KL and, with `features`, the feature
    term times tc.perceptual, and the colour term times tc.colour; the encoder sees shifted and scaled photos
    when tc.augment. `amp`: bfloat16 autocast; `target`: the photos' own feature maps, when known (PhotoFeatures).
    Also "drawing": the reconstructions (B,3,H,W) in [0, 1], for the adversarial critic."""
    with torch.autocast(x.device.type, torch.bfloat16, enabled=amp):
        logits, mu, logvar = model(shift_and_scale(x) if tc.augment else x)
        terms = vae_loss(logits, x, mu, logvar, tc.beta, model.cfg.likelihood)
        drawing = torch.sigmoid(logits)
        if features is not None:
            terms["feat"] = features(drawing, x, target)
            terms["loss"] = terms["loss"] + tc.perceptual * terms["feat"]
        if tc.colour > 0:
            terms["colour"] = colour_term(drawing, x)
            terms["loss"] = terms["loss"] + tc.colour * terms["colour"]
    return {**terms, "drawing": drawing}


def update(optimizer: torch.optim.Optimizer, terms: dict[str, torch.Tensor], x: torch.Tensor,
           adversary: Adversary | None = None, active: bool = True) -> dict[str, float]:
    """One update from a batch's terms (batch_loss) on photos `x`: the loss's backward (with the adversary's
    fooling term when `active`), the optimizer's step, then the critic's; the adversarial values to record."""
    optimizer.zero_grad(set_to_none=True)
    if adversary is None:
        terms["loss"].backward()
        optimizer.step()
        return {}
    recorded = adversary.backward(terms["loss"], terms["drawing"], active)
    optimizer.step()
    return {**recorded, "critic": adversary.step(x, terms["drawing"])}


def split(catalogue: Catalogue, tc: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, hold-out rows) by Split(tc.holdout); `limit` draws a seeded subset of the training rows."""
    train_rows, val_rows = Split(tc.holdout).rows(catalogue.ids)
    if tc.limit is not None and tc.limit < len(train_rows):
        rng = np.random.default_rng(tc.seed)
        train_rows = np.sort(rng.choice(train_rows, tc.limit, replace=False))
    return train_rows, val_rows


def validation_rows(val_rows: np.ndarray, n: int = VAL_IMAGES, seed: int = SPLIT_SEED) -> np.ndarray:
    """The hold-out rows scored after each epoch: all of them, or a seeded random `n` (sorted).

    Random, not the first n: catalogues are often sorted by category, and the first rows would be
    nearly all one kind of shoe.
    """
    if len(val_rows) <= n:
        return np.asarray(val_rows)
    return np.sort(np.random.default_rng(seed).choice(val_rows, n, replace=False))


def check_resume(ckpt: dict[str, Any], model_cfg: VAEConfig | None, tc: TrainConfig, *, source: str | Path,
                 name: Callable[[str], str] = str, fingerprint: str | None = None) -> None:
    """Refuse to resume `ckpt` (read from `source`) with these configs, naming the setting with `name` (the
    command line passes its flags): an exported file (no optimizer state), a changed setting other than
    CHANGEABLE_ON_RESUME (`model_cfg` None: the checkpoint's), no epochs or time left to train and, with
    `fingerprint`, other training images. CheckpointError or ConfigError, one line."""
    if ckpt.get("optimizer_state") is None:
        raise CheckpointError(f"{source} was exported without optimizer state; resume the full checkpoint it came from")
    old_tc = TrainConfig.from_dict(ckpt["train_config"]).to_dict()
    changed = {k: (old_tc[k], v) for k, v in tc.to_dict().items() if k not in CHANGEABLE_ON_RESUME and old_tc[k] != v}
    if model_cfg is not None:
        old_m = VAEConfig.from_dict(ckpt["model_config"]).to_dict()
        changed.update({k: (old_m[k], v) for k, v in model_cfg.to_dict().items() if old_m[k] != v})
    if changed:
        said = ", ".join(f"{name(k)} {new} (the checkpoint has {old})" for k, (old, new) in changed.items())
        raise ConfigError(f"cannot change {said} when resuming {source}; only {changeable_on_resume(name)} can change "
                          "(train a new model to change the others)")
    done = len(ckpt["history"])
    if tc.epochs <= done:
        raise ConfigError(f"{source} already has {done} epochs; {name('epochs')} is the new total, pass more than {done}")
    if not time_left(ckpt["history"], ckpt["train_seconds"], tc):
        raise ConfigError(f"{source} has used its time limit ({tc.time_limit / 60:g} min of training); "
                          f"pass a larger {name('time_limit')} to go on")
    if fingerprint is not None and ckpt["data"].get("fingerprint") != fingerprint:
        raise CheckpointError(f"{source} was trained on other images; resume needs the same catalogue")


def time_left(history: list[dict[str, float]], seconds: float, tc: TrainConfig) -> bool:
    """False when the next epoch (about as long as the mean so far) would end past tc.time_limit."""
    return tc.time_limit is None or not history or seconds + seconds / len(history) <= tc.time_limit


def learning_rate(tc: TrainConfig, progress: float) -> float:
    """Learning rate at `progress` (0 -> 1) through the planned epochs (or the time limit)."""
    if not tc.cosine:
        return tc.lr
    return tc.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def train(model_cfg: VAEConfig, tc: TrainConfig, catalogue: Catalogue, *, out: str | Path | None = None,
          **kwargs: Any) -> dict[str, Any]:
    """Train (or resume) a VAE; return the final checkpoint dict. See the module docstring and _train.

    `out` is held for the whole run (shoevae.outputs.hold): another run writing it is refused.
    """
    with hold(out) if out is not None else contextlib.nullcontext():
        return _train(model_cfg, tc, catalogue, out=out, **kwargs)


def _train(model_cfg: VAEConfig, tc: TrainConfig, catalogue: Catalogue, *, out: str | Path | None = None,
           resume: str | Path | None = None, callback: Callable[[Progress], None] | None = None,
           stop: threading.Event | None = None, progress_bar: bool = False,
           device: torch.device | None = None, amp: bool | None = None) -> dict[str, Any]:
    """Train (or resume) a VAE; return the final checkpoint dict.

    `out`: checkpoint path, rewritten atomically after every epoch. `resume`: a checkpoint to go on
    from; `tc.epochs` is the new total, and its time limit and learning-rate schedule replace the
    checkpoint's (and are stored); check_resume refuses the rest (another setting of `tc` or `model_cfg`,
    None: the checkpoint's; no epochs or time left; other photos). `stop`: set it to end after
    the current batch; the last finished epoch is what is kept and returned. Ctrl-C keeps it too,
    then raises TrainingInterrupted (a KeyboardInterrupt saying which epoch was kept, and where).
    `device`: default a GPU when there is one (see TrainingPhotos and use_bfloat16 for what changes
    there); `amp`: bfloat16 autocast, default on a GPU that has it.
    """
    device = device or pick_device()
    train_rows, val_rows = split(catalogue, tc)
    if len(train_rows) == 0:
        raise ConfigError("no training images (the catalogue is empty or all held out)")
    data = {"fingerprint": data_fingerprint([catalogue.ids[i] for i in train_rows], catalogue.image_size),
            "n_train": int(len(train_rows)), "n_holdout": int(len(val_rows)), "source": catalogue.root,
            "categories": catalogue.counts(), "split": Split(tc.holdout).to_dict()}
    val_sample = validation_rows(val_rows, VAL_IMAGES)

    history: list[dict[str, float]] = []
    seconds = 0.0
    optimizer_state = critic_state = None
    if resume is not None:
        ck = read_checkpoint(resume)
        check_resume(ck, model_cfg, tc, source=resume, fingerprint=data["fingerprint"])
        model = model_from_checkpoint(ck, device)
        history, seconds, optimizer_state = ck["history"], ck["train_seconds"], ck["optimizer_state"]
        critic_state = ck.get("critic_state")
    else:
        torch.manual_seed(tc.seed)
        model = VAE(model_cfg)
        if tc.init is not None:  # a fresh decoder keeps the seeded random weights VAE() gave it
            load_weights(model, tc.init, skip=DECODER_PARTS if tc.fresh_decoder else ())
        model = model.to(device)
    if tc.decoder_only:  # the encoder's weights and batch-norm statistics stay: the style vectors do not move
        for name, weight in model.named_parameters():
            weight.requires_grad_(name.startswith(DECODER_PARTS))
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=tc.lr)
    if optimizer_state is not None:
        optimizer.load_state_dict(optimizer_state)
    adversary = Adversary(model.decoder[-1], tc.adversarial, tc.lr, device) if tc.adversarial > 0 else None
    if adversary is not None and critic_state is not None:
        adversary.load_state_dict(critic_state)

    photos = TrainingPhotos(catalogue.images, train_rows, model.cfg.image_size, device)
    features = FeatureLoss(taps=tc.feature_layers, weights=tc.feature_weights).to(device) if tc.perceptual > 0 else None
    photo_features = PhotoFeatures(features, train_rows) if features is not None else None
    amp = use_bfloat16(device) if amp is None else amp
    batches = math.ceil(len(train_rows) / tc.batch_size)
    bar = _bar(progress_bar, tc.epochs, len(history), batches)

    def snapshot() -> dict[str, Any]:
        return make_checkpoint(model, tc, optimizer=optimizer, history=history, data=data, train_seconds=seconds,
                               critic_state=adversary.state_dict() if adversary is not None else None)
    ckpt = snapshot()
    saved_to, saved_now = (Path(resume) if resume is not None else None), False  # the file holding ckpt
    try:
        for epoch in range(len(history) + 1, tc.epochs + 1):
            if not time_left(history, seconds, tc):
                break  # the next epoch (about as long as the mean so far) would overrun the budget
            t0 = time.perf_counter()
            model.train()
            if tc.decoder_only:
                model.encoder.eval()
            torch.manual_seed(tc.seed * 100_003 + epoch)  # sampling noise of this epoch
            order = np.random.default_rng([tc.seed, epoch]).permutation(train_rows)
            sums = {k: 0.0 for k in LOSS_TERMS if k not in OPTIONAL_TERMS or getattr(tc, OPTIONAL_TERMS[k]) > 0}
            for b in range(batches):
                rows = np.sort(order[b * tc.batch_size:(b + 1) * tc.batch_size])  # sorted: faster memmap reads
                progress = (epoch - 1 + b / batches) / tc.epochs
                if tc.time_limit is not None:  # anneal by the clock too, so a time-boxed run still ends low
                    progress = max(progress, (seconds + time.perf_counter() - t0) / tc.time_limit)
                lr = learning_rate(tc, progress)
                for group in optimizer.param_groups + (adversary.optimizer.param_groups if adversary else []):
                    group["lr"] = lr
                x = photos.batch(rows)
                terms = batch_loss(model, x, tc, features, amp, photo_features(rows, x) if photo_features else None)
                # the fooling term joins after tc.adversarial_start of the run; the critic learns throughout
                terms.update(update(optimizer, terms, x, adversary, active=progress >= tc.adversarial_start))
                losses = {k: terms[k].item() if torch.is_tensor(terms[k]) else terms[k] for k in sums}
                for k in sums:
                    sums[k] += losses[k] * len(rows)
                if stop is not None and stop.is_set():
                    raise _Stopped
                bar(epoch, b + 1, terms)
                if callback:
                    callback(Progress(epoch, tc.epochs, b + 1, batches, history, losses=losses, live=model))
            seconds += time.perf_counter() - t0
            row = {"epoch": epoch, **{k: v / len(train_rows) for k, v in sums.items()}, "seconds": seconds}
            if len(val_rows):
                row["val_bce"] = mean_bce(model, catalogue.images[val_sample], device=device)
            history = history + [row]
            ckpt = snapshot()
            if out is not None:
                saved_to, saved_now = save_checkpoint(ckpt, out), True
            model.eval()
            if callback:
                callback(Progress(epoch, tc.epochs, batches, batches, history, model, Path(out) if out else None))
    except _Stopped:
        pass  # the last finished epoch is already on disk; the running one is dropped
    except KeyboardInterrupt:
        model.eval()
        done = len(ckpt["history"])
        raise TrainingInterrupted(done, saved_to if done else None, saved_now) from None
    finally:
        bar(None, 0, {})
    model.eval()
    return ckpt


def _bar(enabled: bool, epochs: int, done: int, batches: int) -> Callable[[int | None, int, dict], None]:
    """A tqdm bar over all remaining batches, showing the running epoch and losses."""
    if not enabled:
        return lambda epoch, batch, terms: None
    from tqdm import tqdm
    bar = tqdm(total=(epochs - done) * batches, unit="batch", dynamic_ncols=True)

    def update(epoch: int | None, batch: int, terms: dict) -> None:
        if epoch is None:
            bar.close()
            return
        bar.update(1)
        bar.set_description(f"epoch {epoch}/{epochs}")
        bar.set_postfix(bce=f"{terms['bce'].item():.0f}", kl=f"{terms['kl'].item():.1f}", refresh=False)
    return update
