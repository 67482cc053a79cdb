"""Background training for the app: one thread per job and a thread-safe snapshot of its progress.

    registry = JobRegistry()
    job = registry.start("paper-small", preset("paper"), TrainConfig(epochs=2, limit=512), catalogue,
                         out="weights/paper-small.pt")
    job.snapshot()  # epoch/batch counts, history rows, per-batch losses, reconstructions of 8 fixed
                    # shoes and 4 samples (refreshed every few seconds while it trains), error
    job.stop()      # ends after the current batch; the last finished epoch stays saved

No streamlit here: the app keeps one JobRegistry in `st.cache_resource` (shared by every browser
session, so a page can be left and re-entered) and polls `snapshot()`. The job trains its own VAE;
the app's cached model is never touched.
"""
from __future__ import annotations

import itertools
import re
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import shutdown
from .catalogue import Catalogue
from .config import TrainConfig, VAEConfig
from .model import prepare, to_uint8
from .training import Progress, train

PREVIEW_SHOES = 8  # reconstructions of this many fixed shoes are shown while the job trains
PREVIEW_SAMPLES = 4  # and this many decodings of fixed draws z ~ N(0, I)
PREVIEW_SECONDS = 3.0  # how often (wall clock) the preview is redrawn from the live model, mid-epoch too
KEEP_FINISHED = 20  # finished jobs the registry remembers


class JobError(ValueError):
    """A training job that cannot be started, with a one-line reason."""


def safe_name(name: str) -> str:
    """A checkpoint name made safe for a file name: letters, digits, '-', '_' and '.', no leading dot.

    A typed ".pt" suffix is dropped (the file is saved as <name>.pt, never "x.pt.pt").
    """
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", name.strip())
    cleaned = re.sub(r"(\.pt)+$", "", cleaned, flags=re.IGNORECASE).strip("-.")[:60]
    if not cleaned:
        raise JobError("give the model a name (letters, digits, '-', '_')")
    return cleaned


def preview_rows(n_images: int, n: int = PREVIEW_SHOES) -> np.ndarray:
    """Rows spread evenly over the catalogue (which is sorted by category): every category shows."""
    return np.unique(np.linspace(0, n_images - 1, min(n, n_images)).round().astype(np.int64))


@dataclass(frozen=True)
class Snapshot:
    """What a job looks like at one moment (immutable: safe to hand to another thread)."""

    id: str
    name: str
    state: str  # "running", "done", "stopped" or "failed"
    epoch: int = 0  # epoch running now (1-based), or the last one that ran
    epochs: int = 0
    batch: int = 0  # batches finished in this epoch
    batches: int = 0
    history: tuple[dict[str, float], ...] = ()
    steps: tuple[dict[str, float], ...] = ()  # one row per batch trained: step, seconds, loss, bce, kl
    originals: np.ndarray | None = None  # (8,S,S,3) uint8, the fixed preview shoes
    reconstructions: np.ndarray | None = None  # (8,S,S,3) uint8 from the model as it was at preview_step
    samples: np.ndarray | None = None  # (4,S,S,3) uint8, fixed z ~ N(0, I) decoded at preview_step
    preview_step: int = 0  # batches trained when the preview was drawn
    preview_seconds: float = 0.0  # seconds after the start when it was drawn
    out: str = ""
    error: str = ""
    started: float = 0.0
    finished: float | None = None
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def fraction(self) -> float:
        """Share of all batches done, 0..1."""
        if not self.epochs or not self.batches:
            return 0.0
        done = (self.epoch - 1) * self.batches + self.batch if self.epoch else 0
        return min(1.0, max(0.0, done / (self.epochs * self.batches)))

    @property
    def saved(self) -> bool:
        """Whether a checkpoint from at least one finished epoch is on disk."""
        return bool(self.history) and Path(self.out).is_file()

    @property
    def elapsed(self) -> float:
        return (self.finished or time.time()) - self.started


class TrainingJob:
    """One `shoevae.training.train` run in a daemon thread; read it through `snapshot()`."""

    def __init__(self, job_id: str, name: str, model_cfg: VAEConfig, train_cfg: TrainConfig,
                 catalogue: Catalogue, out: str | Path) -> None:
        self.id = job_id
        self.model_cfg, self.train_cfg, self.catalogue, self.out = model_cfg, train_cfg, catalogue, Path(out)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        rows = preview_rows(len(catalogue))
        self._preview = prepare(catalogue.images[rows], model_cfg.image_size)  # (8,3,S,S) in [0,1]
        self._z = torch.randn(PREVIEW_SAMPLES, model_cfg.latent_dim, generator=torch.Generator().manual_seed(0))
        self._steps: list[dict[str, float]] = []  # appended by the training thread, copied by snapshot()
        self._next_preview = 0.0  # time.monotonic() after which the next batch redraws the preview
        self._snap = Snapshot(id=job_id, name=name, state="running", epochs=train_cfg.epochs,
                              originals=to_uint8(self._preview), out=str(self.out), started=time.time(),
                              config={"preset": model_cfg.preset, "latent_dim": model_cfg.latent_dim,
                                      **train_cfg.to_dict()})
        self._thread = threading.Thread(target=self._run, name=f"shoevae-train-{job_id}", daemon=True)

    def start(self) -> TrainingJob:
        self._thread.start()
        shutdown.track(self)  # stopped and joined at interpreter exit, never killed inside torch
        return self

    def stop(self) -> None:
        """Ask the job to end after the current batch (the running epoch is dropped)."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread; True if it has ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def snapshot(self) -> Snapshot:
        with self._lock:
            if len(self._snap.steps) != len(self._steps):
                self._snap = replace(self._snap, steps=tuple(self._steps))
            return self._snap

    def _update(self, **changes: Any) -> None:
        with self._lock:
            self._snap = replace(self._snap, **changes)

    def _on_progress(self, p: Progress) -> None:
        # Runs in the training thread between batches, and training waits for it: the model is not
        # changing while the preview is drawn. Mid-epoch p.live is in train mode; the preview switches it
        # to eval (batch norm uses its running statistics, nothing is updated) and back.
        changes: dict[str, Any] = {"epoch": p.epoch, "epochs": p.epochs, "batch": p.batch,
                                   "batches": p.batches, "history": tuple(dict(r) for r in p.history)}
        step = (p.epoch - 1) * p.batches + p.batch
        if p.losses is not None:
            with self._lock:
                self._steps.append({"step": step, "seconds": time.time() - self._snap.started, **p.losses})
        model = p.model if p.model is not None else p.live
        if model is not None and (p.model is not None or time.monotonic() >= self._next_preview):
            changes.update(self._draw_preview(model), preview_step=step,
                           preview_seconds=time.time() - self._snap.started)
            self._next_preview = time.monotonic() + PREVIEW_SECONDS
        self._update(**changes)

    def _draw_preview(self, model: torch.nn.Module) -> dict[str, np.ndarray]:
        """Reconstructions of the fixed shoes and decodings of the fixed z, in eval mode; mode restored."""
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                device = next(model.parameters()).device
                mu, _ = model.encode(self._preview.to(device))
                return {"reconstructions": to_uint8(model.decode(mu)),
                        "samples": to_uint8(model.decode(self._z.to(device)))}
        finally:
            model.train(was_training)

    def _run(self) -> None:
        try:
            ckpt = train(self.model_cfg, self.train_cfg, self.catalogue, out=self.out,
                         callback=self._on_progress, stop=self._stop)
            state = "stopped" if self._stop.is_set() else "done"
            self._update(state=state, history=tuple(ckpt["history"]), finished=time.time())
        except Exception as e:  # reported on the page; the thread must never die silently
            self._update(state="failed", error=f"{type(e).__name__}: {e}", finished=time.time())


class JobRegistry:
    """All training jobs of one app process. Thread-safe; at most `max_running` run at once."""

    def __init__(self, max_running: int = 1) -> None:
        self.max_running = max_running
        self._jobs: dict[str, TrainingJob] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def start(self, name: str, model_cfg: VAEConfig, train_cfg: TrainConfig, catalogue: Catalogue,
              out: str | Path) -> TrainingJob:
        """Start a job writing `out`; JobError if `out` exists or too many jobs run already."""
        out = Path(out)
        with self._lock:
            running = [j for j in self._jobs.values() if j.snapshot().running]
            if len(running) >= self.max_running:
                names = ", ".join(j.snapshot().name for j in running)
                raise JobError(f"another training job is running ({names}); wait for it to finish or stop it")
            if out.exists() or any(j.out == out for j in running):
                raise JobError(f"{out.name} already exists: choose another name (saved models are never overwritten)")
            job = TrainingJob(f"job{next(self._ids)}", name, model_cfg, train_cfg, catalogue, out)
            self._jobs[job.id] = job
            self._forget_old()
        return job.start()

    def get(self, job_id: str | None) -> TrainingJob | None:
        with self._lock:
            return self._jobs.get(job_id) if job_id else None

    def running(self) -> list[TrainingJob]:
        with self._lock:
            return [j for j in self._jobs.values() if j.snapshot().running]

    def _forget_old(self) -> None:
        finished = [k for k, j in self._jobs.items() if not j.snapshot().running]
        for k in finished[:-KEEP_FINISHED]:
            del self._jobs[k]

