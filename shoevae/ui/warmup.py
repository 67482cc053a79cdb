"""The background warm-up: a fresh server prepares every slow first use before anyone asks for it.

The first page view of a server (any session) starts one background task (shoevae/ui/background.py)
that runs the slow steps one after the other, in the order a class meets them: the photos and their
style vectors (Recommend), the pixel baseline (Recommend's comparison), the shoe check of people's own
photos (Recommend's upload and camera: calibrated once per model and catalogue), Generate's mixture (into
the disk cache, which the page's own fit then reads), the human judgements and the evaluation on
all shoes (Evaluate), the Latent map's hover pictures and the t-SNE map of the shoes it shows first. Each step is the very
task its page starts (same registry key), so a page asked for early simply shows that task's
progress, and nothing is computed twice. The sidebar shows "Getting ready: N of M".
SHOEVAE_WARMUP=0 switches it off (benchmarks of the first use without it).
"""
from __future__ import annotations

import os
from typing import Any

from . import background, judgements, resources
from .session import cache_dir

STEPS = ("style vectors of every shoe", "pixel baseline", "shoe check for your own photos", "Generate's mixture",
         "human judgements", "evaluation on all shoes", "the map's hover pictures", "t-SNE map")


def enabled() -> bool:
    return os.environ.get("SHOEVAE_WARMUP", "1").strip().lower() not in ("0", "false", "no", "off")


def _wait(task: background.Task) -> Any:
    """The task's result once it ends (None if it failed or was stopped: its page shows why)."""
    status = task.wait()
    return status.result if status.state == "done" else None


def start(loaded: resources.Loaded, data: str) -> background.Task:
    """The warm-up for this model and data folder (started once, shared by every session)."""
    catalogue_task = resources.catalogue_task(data)

    def run(progress: background.Progress) -> int:
        from . import charts
        total = len(STEPS)
        progress(0, total, STEPS[0])
        cat = _wait(catalogue_task)
        rec = _wait(resources.recommender_task(loaded, cat, data)) if cat is not None else None
        if rec is None:
            return 0
        steps = [
            lambda: resources.pixel_task(cat, data, rec.embeddings.shape[1]),
            lambda: _shoe_check(rec, loaded.key, data),
            lambda: _mixture(rec, loaded.key, data),
            lambda: _judgements(rec, loaded.key, data, judgements.triplets_folder(rec)),
            lambda: resources.evaluation_task(rec, loaded.key, data, len(cat), loaded.meta),
            lambda: resources.tooltip_task(cat, data),
            lambda: resources.projection_task(rec, loaded.key, data, "tsne",
                                              charts.map_rows(len(cat), charts.default_shown(len(cat)))),
        ]
        for i, make in enumerate(steps, 1):
            progress(i, total, STEPS[i])
            task = make()
            if task is not None:
                _wait(task)
        return total

    return background.start(("warmup", loaded.key, data), "Getting ready", run)


def _mixture(rec: Any, model_key: str, data: str) -> background.Task:
    """Generate's mixture, fitted into the disk cache (the page's st.cache_resource fit then only reads it)."""
    def fit(progress: background.Progress) -> None:
        from ..sampling import cached_mixture
        progress(0, 1, "a Gaussian mixture of the style vectors")
        cached_mixture(rec.embeddings, cache_dir())
    return background.start(("mixture", model_key, data), "Fitting Generate's mixture", fit)


def _shoe_check(rec: Any, model_key: str, data: str) -> background.Task:
    """The shoe / not-a-shoe calibration (shoevae/shoelike.py), kept on the shared recommender, so the first
    photo a person uploads or takes answers at once."""
    def calibrate(progress: background.Progress) -> None:
        progress(0, 1, "calibrating the shoe check on drawn non-shoes")
        rec.shoe_check  # noqa: B018 (a cached property: computed here once)
    return background.start(("shoe-check", model_key, data), "Calibrating the shoe check", calibrate)


def _judgements(rec: Any, model_key: str, data: str, folder: Any) -> background.Task | None:
    return judgements.agreement_task(rec, model_key, data, folder) if (folder / "triplets.csv").is_file() else None
