"""What every browser session shares: cached resources (st.cache_*) and the background tasks that compute them.

Models, the photos, recommenders, slider ranges, maps, evaluations, generated shoes, the pixel baseline,
tooltip images and the training-job registry are each made once per (checkpoint key, data key,
arguments) and never mutated (models stay in eval()). Slow ones are background tasks
(shoevae/ui/background.py) shared by key, so a page, another session and the warm-up wait on the same
one. Which model and photos a session uses is its own choice (session.py, current.py).
"""
from __future__ import annotations

import hashlib
import os
import sys
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import streamlit as st

from .. import cache
from ..catalogue import Catalogue, list_sources, load_catalogue
from ..config import METRICS, PHOTO_SIZE
from ..neighbours import Match, NearestShoes
from . import background
from .session import cache_dir, data_key

if TYPE_CHECKING:  # torch and scikit-learn load when first used: a fresh server reads the photos meanwhile
    from ..jobs import JobRegistry
    from ..model import VAE
    from ..recommend import Recommender
    from ..split import Split



# ----------------------------------------------------------------------------- models and training jobs
@dataclass(frozen=True)
class Loaded:
    """A loaded checkpoint: its model (eval, shared, never modify) and metadata."""

    model: VAE
    meta: dict[str, Any]
    source: dict[str, Any]

    @property
    def key(self) -> str:
        return self.source["key"]


@st.cache_resource(max_entries=8, show_spinner="Loading the checkpoint…")
def _model(key: str, path: str | None, _data: bytes | None, _label: str = "") -> tuple[VAE, dict[str, Any]]:
    from ..checkpoint import load_checkpoint
    model, ckpt = load_checkpoint(path if path else _data, name=None if path else repr(_label or "uploaded file"))
    meta = {k: v for k, v in ckpt.items() if k not in ("model_state", "optimizer_state")}
    return model, meta


def load_source(source: dict[str, Any], data: bytes | None = None) -> Loaded:
    """Load (or fetch from the cache) a checkpoint (session.path_source, upload_source); CheckpointError
    if it cannot be used."""
    model, meta = _model(source["key"], source["path"], data, source["label"])
    return Loaded(model, meta, source)


PAGE_DRAWN = threading.Event()  # set once a run has drawn its page (page_drawn)
MODEL_NEEDED = threading.Event()  # set once a page cannot go on without a model (model_needed)
FIRST_PAGE_WAIT_S = 10.0  # on a fresh server, a model waits at most this long for the first page to be drawn
BROWSER_S = 2.0  # and then this long (unless a page needs it) for the browser to show that page


def page_drawn() -> None:
    """After each page (layout.frame), or while a page waits for its photos: a fresh server may import torch now."""
    PAGE_DRAWN.set()


def model_needed() -> None:
    """A page that needs the model: it loads now."""
    PAGE_DRAWN.set()
    MODEL_NEEDED.set()


def fresh_process() -> bool:
    """Whether torch is still to be imported in this process (a freshly started server)."""
    return "torch" not in sys.modules


def model_task(source: dict[str, Any], data: bytes | None = None) -> background.Task:
    """A checkpoint loaded in the background (load_source), shared by every session.

    On a fresh server it waits until the first page is drawn and the browser has had BROWSER_S to show it, or
    until a page needs it: importing torch takes seconds and holds the interpreter's lock meanwhile, so
    in this process it would stall the drawing of a page that browses from cached style vectors (cached_shoes)
    and the serving of its pictures (measured: 10.4 s to the first button instead of 6.4 s)."""
    def load(progress: background.Progress) -> Loaded:
        if fresh_process():
            progress(0, 0, "importing torch")  # no count: the bar's text reads "Loading colour.pt: importing torch · 2 s"
            PAGE_DRAWN.wait(FIRST_PAGE_WAIT_S)
            MODEL_NEEDED.wait(BROWSER_S)
        return load_source(source, data)
    return background.start(("model", source["key"]), f"Loading {source['label']}", load)


def job_registry() -> JobRegistry:
    """The app's training jobs: the "training" tasks of the shared registry (each session remembers its own job id)."""
    from ..jobs import JobRegistry
    return JobRegistry(background.registry(), max_running=1)


# ----------------------------------------------------------------------------- photos and style vectors
def catalogue_task(data: str) -> background.Task:
    """The background decode of the data folder `data` (a data key); CatalogueError at once for a
    missing or empty folder, which is checked only while no task for it exists."""
    if background.registry().get(("catalogue", data)) is None:
        list_sources(data)

    def decode(progress: background.Progress) -> Catalogue:
        return load_catalogue(data, PHOTO_SIZE, progress=lambda done, total: progress(done, total, "decoding"))
    return background.start(("catalogue", data), "Reading the shoe photos", decode)


def recommender_task(loaded: Loaded, cat: Catalogue, data: str) -> background.Task:
    """The background embedding of the catalogue (of data key `data`) by this model."""
    model = loaded.model
    cores = (os.cpu_count() or 1) if not job_registry().running() else None  # nobody trains: use every core
    cache_folder = cache_dir()

    def build(progress: background.Progress) -> Recommender:
        import torch

        from ..embedding import cached_embed, model_fingerprint
        from ..recommend import Recommender
        before = torch.get_num_threads()
        if cores:  # this thread's own setting (session.configure_torch): the cold start's longest step
            torch.set_num_threads(cores)
        fingerprint = model_fingerprint(model)  # once: it keys the vectors and the checkpoint's alias
        try:
            emb = cached_embed(model, cat.images, cat.ids, cache_folder, fingerprint=fingerprint,
                               progress=lambda done, total: progress(done, total, "embedding"))
        finally:
            torch.set_num_threads(before)
        path = loaded.source["path"]
        if path and cache.cached_checkpoint(path, cache_folder) is None:  # the next server finds these vectors
            cache.remember_checkpoint(path, model, fingerprint, cache_folder)  # before it loads the model (cached_shoes)
        return Recommender(model, cat, emb, cache_dir=cache_folder)
    return background.start(("recommender", loaded.key, data), "Embedding every shoe with this model", build)


@st.cache_resource(max_entries=4, show_spinner=False)
def _cached_shoes(model_key: str, data: str, path: str, _cat: Catalogue) -> NearestShoes | None:
    vectors = cache.cached_vectors(path, _cat.ids, _cat.images.shape[1:], cache_dir())
    return None if vectors is None else NearestShoes(_cat, vectors)


def cached_shoes(source: dict[str, Any], cat: Catalogue) -> NearestShoes | None:
    """The catalogue's nearest shoes from the style vectors this checkpoint file (unchanged) left in the cache, read
    without loading the model or importing torch; None for an upload or a model never embedded here."""
    return _cached_shoes(source["key"], data_key(), source["path"], cat) if source["path"] else None


# ----------------------------------------------------------------------------- maps and evaluation
@st.cache_resource(max_entries=4)
def _dimensions(model_key: str, data_key: str, _emb: np.ndarray, top: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from ..embedding import rank_dimensions
    dims = rank_dimensions(_emb)[:top]
    return dims, _emb[:, dims].min(axis=0), _emb[:, dims].max(axis=0)


def top_dimensions(rec: Recommender, loaded_key: str, top: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(top dims, their min, their max over the catalogue) for the latent sliders."""
    return _dimensions(loaded_key, data_key(), rec.embeddings, top)


@st.cache_resource(max_entries=8)
def _projection(model_key: str, data_key: str, method: str, _emb: np.ndarray) -> np.ndarray:
    from ..projection import cached_project
    return cached_project(_emb, method, cache_dir())


def projection(rec: Recommender, loaded_key: str, method: str, rows: np.ndarray | None = None) -> np.ndarray | None:
    """(N, 2) map coordinates. PCA of every shoe at once; t-SNE of the shown `rows` only, in the
    background with a progress bar (None meanwhile; shoes outside `rows` sit on their nearest shown shoe)."""
    if method == "pca" or rows is None:
        return _projection(loaded_key, data_key(), method, rec.embeddings)
    task = projection_task(rec, loaded_key, data_key(), method, np.asarray(rows))
    status = background.show(task, wait=background.PAGE_WAIT_S, retry=True, stoppable=True)
    return status.result if status.state == "done" else None


def projection_task(rec: Recommender, loaded_key: str, data: str, method: str, rows: np.ndarray) -> background.Task:
    """The background map of the shoes at `rows` (the Latent map and the warm-up)."""
    from ..projection import project_sample
    key = ("projection", loaded_key, data, method, hashlib.sha256(rows.tobytes()).hexdigest()[:16])
    folder = cache_dir()
    return background.start(key, f"t-SNE map of {len(rows):,} shoes", lambda progress: project_sample(
        rec.embeddings, rows, method, folder, progress=progress))


def _evaluation(rec: Recommender, n: int, split: Split, progress: background.Progress) -> dict[str, dict[str, float]]:
    """The model (both metrics) and the two baselines on n shoes (a seeded sample when n < all), on the model's split."""
    from ..evaluate import baselines, evaluate_model
    cat, emb = rec.catalogue, rec.embeddings
    if n < len(cat):  # a seeded sample of rows, sorted so categories stay grouped
        rows = np.sort(np.random.default_rng(0).choice(len(cat), n, replace=False))
        cat, emb = cat.subset(rows), emb[rows]
    label = f"VAE ({rec.model.cfg.preset}, {rec.model.cfg.latent_dim} dims)"
    total, done = 2 + 3 * len(METRICS), iter(range(100))

    def step(name: str) -> None:  # the bar moves once per step, so bar and text always agree
        progress(next(done), total, name)
    own = {f"{label}, {m}": r for m, r in evaluate_model(rec.model, cat, embeddings=emb, metrics=METRICS,
                                                         split=split, step=step).items()}
    return {**own, **baselines(cat, rec.model.cfg.latent_dim, metrics=METRICS, split=split, step=step)}


def evaluation(rec: Recommender, loaded: Loaded, n: int) -> dict[str, dict[str, float]] | None:
    """Evaluation results of the model `loaded` (whose recommender `rec` is) on its own train/hold-out
    split, computed in the background with a progress bar (None meanwhile)."""
    task = evaluation_task(rec, loaded.key, data_key(), n, loaded.meta)
    status = background.show(task, wait=background.PAGE_WAIT_S, retry=True, stoppable=True)
    return status.result if status.state == "done" else None


def evaluation_task(rec: Recommender, loaded_key: str, data: str, n: int, meta: dict[str, Any]) -> background.Task:
    """The background evaluation on n shoes, on the split stored in the checkpoint's `meta`."""
    from ..split import Split
    n = min(n, len(rec.catalogue))
    split = Split.of(meta) if meta else Split()
    return background.start(("evaluation", loaded_key, data, n), f"Evaluating on {n:,} shoes",
                            lambda progress: _evaluation(rec, n, split, progress))


# ----------------------------------------------------------------------------- generated shoes
@st.cache_data(max_entries=64, show_spinner=False)
def _interpolated(model_key: str, data: str, first: str, second: str, steps: int, _rec: Recommender,
                  mode: str = "linear") -> list[np.ndarray]:
    from ..directions import blend
    rec = _rec
    cat = rec.catalogue
    a, b = cat.index_of(first), cat.index_of(second)  # KeyError for unknown ids
    z = blend(rec.embeddings[a], rec.embeddings[b], np.linspace(0, 1, steps), mode)
    return [cat.images[a], *rec.decode(z), cat.images[b]]  # a list: a model's size may differ from the photos'


def interpolate(rec: Recommender, model_key: str, first: str, second: str, steps: int,
                mode: str = "linear") -> list[np.ndarray]:
    """[first photo, `steps` shoes decoded between their vectors (linear or spherical), second photo] (cached)."""
    return list(_interpolated(model_key, data_key(), first, second, steps, rec, mode))


@st.cache_resource(max_entries=4, show_spinner="Fitting a mixture to the catalogue's style vectors (first time only, "
                                               "10 to 60 s)…")
def _mixture(model_key: str, data_key: str, _emb: np.ndarray) -> Any:
    from ..sampling import cached_mixture
    return cached_mixture(_emb, cache_dir())


@st.cache_resource(max_entries=8, show_spinner=False)
def _sampler(model_key: str, data_key: str, kind: str, _emb: np.ndarray) -> Any:
    """The mixture (fitted once, on disk), or the second stage or the prior (fitted in milliseconds)."""
    from ..sampling import make_sampler
    return _mixture(model_key, data_key, _emb) if kind == "mixture" else make_sampler(kind).fit(_emb)


def sampler(rec: Recommender, model_key: str, kind: str) -> Any:
    """The fitted sampler ("mixture", "normal" or "prior": shoevae.sampling) for this (model, catalogue)."""
    return _sampler(model_key, data_key(), kind, rec.embeddings)


@st.cache_data(max_entries=64, show_spinner=False)
def _sampled(model_key: str, data: str, kind: str, n: int, temperature: float, seed: int,
             _rec: Recommender) -> np.ndarray:
    return _rec.decode(_sampler(model_key, data, kind, _rec.embeddings).sample(n, temperature, seed))


def sample_shoes(rec: Recommender, model_key: str, kind: str, n: int, temperature: float, seed: int) -> list[np.ndarray]:
    """n shoes decoded from style vectors drawn by `kind` (cached per sampler, temperature and seed)."""
    return list(_sampled(model_key, data_key(), kind, n, float(temperature), int(seed), rec))


@st.cache_data(max_entries=256, show_spinner=False)
def _decoded(model_key: str, z: np.ndarray, _rec: Recommender) -> np.ndarray:
    return _rec.decode(z)


def decode(rec: Recommender, model_key: str, z: np.ndarray) -> np.ndarray:
    """Decoded shoes for style vectors (B, D), remembered by their values (sliders revisit the same ones)."""
    return _decoded(model_key, np.ascontiguousarray(np.atleast_2d(z), np.float32), rec)


@st.cache_resource(max_entries=4, show_spinner="Finding the main directions of the style space…")
def _directions(model_key: str, data_key: str, _rec: Recommender, k: int) -> dict[str, Any]:
    from ..directions import style_directions
    return style_directions(_rec.embeddings, _rec.catalogue, k)


def directions(rec: Recommender, model_key: str, k: int = 8) -> dict[str, Any]:
    """directions.style_directions of this (model, catalogue), computed once."""
    return _directions(model_key, data_key(), rec, k)


# ----------------------------------------------------------------------------- the pixel baseline, tooltip images
def pixel_task(cat: Catalogue, data: str, n_components: int) -> background.Task:
    """The PCA-of-pixels baseline (features, index) of a catalogue, fitted in the background."""
    def fit(progress: background.Progress) -> tuple[np.ndarray, Any]:
        from ..evaluate import pixel_baseline
        progress(0, 1, "PCA of every photo's pixels")
        return pixel_baseline(cat, n_components)
    return background.start(("pixels", data, n_components), "Fitting the pixel baseline (PCA of pixels)", fit)


def pixel_neighbours(rec: NearestShoes, item_id: str, k: int = 5) -> list[Match] | None:
    """The k shoes nearest to a catalogue shoe in the PCA-of-pixels baseline (same dims as the model);
    None while the baseline is fitted (a progress bar is drawn) or if it failed (its error is drawn)."""
    cat = rec.catalogue
    row = cat.index_of(item_id)
    status = background.show(pixel_task(cat, data_key(), rec.embeddings.shape[1]), wait=background.PAGE_WAIT_S,
                             retry=True)
    if status.state != "done":
        return None
    features, index = status.result
    return rec.matches(*index.kneighbors(features[row], k, exclude=np.array([row])))


def tooltip_task(cat: Catalogue, data: str) -> background.Task:
    """The latent map's hover pictures (a small JPEG data URI per shoe), made in the background once per catalogue
    (shared by all sessions: the Latent map and the warm-up)."""
    def make(progress: background.Progress) -> list[str]:
        from .charts import thumbnail_uris
        return thumbnail_uris(cat.images, progress=lambda done: progress(done, len(cat), "hover pictures"))
    return background.start(("tooltips", data), "Making the map's hover pictures", make)


def tooltip_images(cat: Catalogue) -> list[str] | None:
    """The hover pictures of this session's catalogue; None while they are made (a progress bar is drawn) or if
    that failed (its error is drawn)."""
    status = background.show(tooltip_task(cat, data_key()), wait=background.PAGE_WAIT_S, retry=True)
    return status.result if status.state == "done" else None
