"""Background training for the app: a task (shoevae.tasks) whose work is `training.train`, with a live status.

    registry = JobRegistry(TaskRegistry())  # the app's: the "training" jobs of its shared TaskRegistry
    job = registry.start("paper-small", preset("paper"), TrainConfig(epochs=2, limit=512), catalogue,
                         out="weights/paper-small.pt")
    job.snapshot()  # epoch/batch counts, history rows, per-batch losses, reconstructions of 8 fixed
                    # shoes and 4 samples (refreshed every few seconds while it trains), error
    job.stop()      # ends after the current batch; the last finished epoch stays saved

No streamlit here: the app's registry is a view of the task registry kept in `st.cache_resource` (shared
by every browser session, so a page can be left and re-entered) and polls `snapshot()`. A job is a Task:
kept, evicted, stopped and joined at exit like every other background task. The job trains its own
VAE; the app's cached model is never touched.
"""
from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import training
from .catalogue import Catalogue
from .config import TrainConfig, VAEConfig
from .model import prepare, to_uint8
from .tasks import Progress, Task, TaskRegistry, TaskStatus, TaskStopped, TooManyRunning

KIND = "training"  # the jobs' kind among the registry's tasks: their keys are ("training", job id)
PREVIEW_SHOES = 8  # reconstructions of this many fixed shoes are shown while the job trains
PREVIEW_SAMPLES = 4  # and this many decodings of fixed draws z ~ N(0, I)
PREVIEW_SECONDS = 3.0  # how often (wall clock) the preview is redrawn from the live model, mid-epoch too
_IDS = itertools.count(1)  # job ids, unique in the process


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
class TrainingStatus(TaskStatus):
    """A job's status at one moment: the task's (label: the model's name; done/total: batches) and training's."""

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
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.label

    @property
    def saved(self) -> bool:
        """Whether a checkpoint from at least one finished epoch is on disk."""
        return bool(self.history) and Path(self.out).is_file()


class TrainingJob(Task):
    """One `shoevae.training.train` run as a background task; read it through `snapshot()`.

    `stop()` ends it after the current batch (the running epoch is dropped; finished ones stay saved).
    """

    def __init__(self, job_id: str, name: str, model_cfg: VAEConfig, train_cfg: TrainConfig,
                 catalogue: Catalogue, out: str | Path) -> None:
        self.id = job_id
        self.model_cfg, self.train_cfg, self.catalogue, self.out = model_cfg, train_cfg, catalogue, Path(out)
        rows = preview_rows(len(catalogue))
        self._preview = prepare(catalogue.images[rows], model_cfg.image_size)  # (8,3,S,S) in [0,1]
        self._z = torch.randn(PREVIEW_SAMPLES, model_cfg.latent_dim, generator=torch.Generator().manual_seed(0))
        self._steps: list[dict[str, float]] = []  # appended by the training thread, copied by snapshot()
        self._next_preview = 0.0  # time.monotonic() after which the next batch redraws the preview
        first = TrainingStatus((KIND, job_id), name, epochs=train_cfg.epochs, originals=to_uint8(self._preview),
                               out=str(self.out), started=time.time(),
                               config={"preset": model_cfg.preset, "latent_dim": model_cfg.latent_dim,
                                       **train_cfg.to_dict()})
        super().__init__(first.key, name, self._train, first)

    def status(self) -> TrainingStatus:
        with self._lock:
            if len(self._status.steps) != len(self._steps):
                self._status = replace(self._status, steps=tuple(self._steps))
            return self._status

    snapshot = status  # the Train page's name for it

    @staticmethod
    def describe(error: Exception) -> str:
        return f"{type(error).__name__}: {error}"

    def _on_progress(self, p: training.Progress) -> None:
        # Runs in the training thread between batches, and training waits for it: the model is not
        # changing while the preview is drawn. Mid-epoch p.live is in train mode; the preview switches it
        # to eval (batch norm uses its running statistics, nothing is updated) and back.
        step = (p.epoch - 1) * p.batches + p.batch
        changes: dict[str, Any] = {"epoch": p.epoch, "epochs": p.epochs, "batch": p.batch, "batches": p.batches,
                                   "done": step, "total": p.epochs * p.batches,
                                   "history": tuple(dict(r) for r in p.history)}
        if p.losses is not None:
            with self._lock:
                self._steps.append({"step": step, "seconds": time.time() - self._status.started, **p.losses})
        model = p.model if p.model is not None else p.live
        if model is not None and (p.model is not None or time.monotonic() >= self._next_preview):
            changes.update(self._draw_preview(model), preview_step=step,
                           preview_seconds=time.time() - self._status.started)
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

    def _train(self, progress: Progress) -> str:
        """The task's work: train (stop is watched by train itself, after each batch); the checkpoint's path."""
        ckpt = training.train(self.model_cfg, self.train_cfg, self.catalogue, out=self.out,
                              callback=self._on_progress, stop=self._stop)
        self._update(history=tuple(ckpt["history"]))
        if self._stop.is_set():
            raise TaskStopped
        return str(self.out)


class JobRegistry:
    """The training jobs among a TaskRegistry's tasks (kind "training"); at most `max_running` run at once."""

    def __init__(self, tasks: TaskRegistry | None = None, max_running: int = 1) -> None:
        self.tasks = TaskRegistry() if tasks is None else tasks
        self.max_running = max_running

    def start(self, name: str, model_cfg: VAEConfig, train_cfg: TrainConfig, catalogue: Catalogue,
              out: str | Path) -> TrainingJob:
        """Start a job writing `out`; JobError if `out` exists or too many jobs run already."""
        out = Path(out)

        def make() -> TrainingJob:  # under the registry's lock, once the running jobs were counted
            if out.exists() or any(j.out == out for j in self.running()):
                raise JobError(f"{out.name} already exists: choose another name (saved models are never overwritten)")
            return TrainingJob(job_id, name, model_cfg, train_cfg, catalogue, out)

        job_id = f"job{next(_IDS)}"
        try:
            return self.tasks.launch((KIND, job_id), make, cap=self.max_running)
        except TooManyRunning as e:
            names = ", ".join(t.status().label for t in e.running)
            raise JobError(f"another training job is running ({names}); wait for it to finish or stop it") from None

    def get(self, job_id: str | None) -> TrainingJob | None:
        task = self.tasks.get((KIND, job_id)) if job_id else None
        return task if isinstance(task, TrainingJob) else None

    def running(self) -> list[TrainingJob]:
        return [t for t in self.tasks.running(KIND) if isinstance(t, TrainingJob)]
