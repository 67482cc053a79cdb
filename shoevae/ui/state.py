"""Where the app's things come from: paths, settings, cached resources and this session's choices.

Settings come from the environment: SHOEVAE_DATA (photo folder, default data/), SHOEVAE_CHECKPOINT
(default checkpoint, else the first of weights/parts.pt, sharp.pt, style.pt, paper.pt), SHOEVAE_WEIGHTS (where
checkpoints are listed and trained ones saved, default weights/), SHOEVAE_CACHE (decoded photos,
embeddings, projections) and SHOEVAE_TORCH_THREADS. Cached resources (catalogue, models,
recommenders, slider ranges, projections, evaluations, generated shoes, the training-job registry)
are shared by every browser session and never mutated. What one person chose (data folder,
checkpoint, picked shoe, training job) lives in st.session_state under the "shoevae.*" keys below,
read through current_model(), current_catalogue(), current_recommender() and the require_*() guards.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import streamlit as st

from ..catalogue import Catalogue, CatalogueError, default_cache_dir, list_sources, load_catalogue
from ..config import METRICS, SHIPPED
from ..errors import ShoevaeError
from . import background

if TYPE_CHECKING:  # torch and scikit-learn load when first used: a fresh server reads the photos meanwhile
    from ..jobs import JobRegistry, TrainingJob
    from ..model import VAE
    from ..recommend import Recommender
    from ..split import Split

ROOT = Path(__file__).resolve().parents[2]  # the repository: app.py, pages/, weights/
CATALOGUE_SIZE = 136  # photos are decoded once at this size; each model resizes to its own
DATA, CHECKPOINT, CHECKPOINT_BYTES = "shoevae.data", "shoevae.checkpoint", "shoevae.checkpoint_bytes"
PICK, JOB, UPLOAD_SEEN = "shoevae.pick", "shoevae.job", "shoevae.checkpoint_upload"
FRAME = "shoevae.in_frame"  # True while app.py runs the page
TRAIN_PAGE, HOME_PAGE = "pages/train.py", "pages/home.py"
LOADING = "the photos are being read"  # current_catalogue()'s problem while they are decoded
FETCH_HELP = ("Fetch the full dataset with `python -m shoevae data fetch`, or use the 13.5K sample: "
              "`SHOEVAE_DATA=../shared/data/zappos streamlit run app.py` (or type its path on Home).")


# ----------------------------------------------------------------------------- paths and state
def resolve(path: str | os.PathLike) -> Path:
    """A relative path is read from the working directory if it exists there, else from the repo."""
    p = Path(path).expanduser()
    if p.is_absolute() or p.exists():
        return p.resolve()
    return (ROOT / p).resolve()


def weights_dir() -> Path:
    return resolve(os.environ.get("SHOEVAE_WEIGHTS") or "weights")


def cache_dir() -> Path:
    return default_cache_dir()


def default_checkpoint() -> Path | None:
    """$SHOEVAE_CHECKPOINT, else the first of weights/parts.pt, sharp.pt, style.pt, paper.pt that exists, else None."""
    if os.environ.get("SHOEVAE_CHECKPOINT"):
        return resolve(os.environ["SHOEVAE_CHECKPOINT"])
    return next((p for p in (weights_dir() / f"{name}.pt" for name in SHIPPED) if p.is_file()), None)


def configure_torch() -> None:
    """Intra-op threads for the app: half the cores (env SHOEVAE_TORCH_THREADS overrides).

    Browsing sessions and a background training job share the process; with every op asking for all
    cores they oversubscribe the CPU and a one-image decode goes from ~2 ms to >100 ms.
    """
    import torch
    want = int(os.environ.get("SHOEVAE_TORCH_THREADS") or max(1, (os.cpu_count() or 2) // 2))
    if torch.get_num_threads() != want:
        torch.set_num_threads(want)


def init_state() -> None:
    """This session's defaults, set once (app.py calls it before every page)."""
    ss = st.session_state
    if DATA not in ss:
        ss[DATA] = os.environ.get("SHOEVAE_DATA") or "data"
    if CHECKPOINT not in ss:
        default = default_checkpoint()
        ss[CHECKPOINT] = path_source(default) if default else None


def path_source(path: str | os.PathLike) -> dict[str, Any]:
    """A checkpoint file; its identity is path + mtime + size, so a rewritten file is a new model."""
    p = resolve(path)
    try:
        stat = p.stat()
        stamp = f"{stat.st_mtime_ns}:{stat.st_size}"
    except OSError:
        stamp = "missing"
    return {"kind": "path", "path": str(p), "label": p.name, "key": f"{p}:{stamp}"}


def upload_source(name: str, data: bytes) -> dict[str, Any]:
    return {"kind": "upload", "path": None, "label": f"{name} (uploaded)",
            "key": f"upload:{hashlib.sha256(data).hexdigest()[:20]}"}


# ----------------------------------------------------------------------------- cached resources

@st.cache_resource(max_entries=8, show_spinner="Loading the checkpoint…")
def _model(key: str, path: str | None, _data: bytes | None, _label: str = "") -> tuple[VAE, dict[str, Any]]:
    from ..checkpoint import load_checkpoint
    model, ckpt = load_checkpoint(path if path else _data, name=None if path else repr(_label or "uploaded file"))
    meta = {k: v for k, v in ckpt.items() if k not in ("model_state", "optimizer_state")}
    return model, meta


@st.cache_resource(max_entries=4)
def _dimensions(model_key: str, data_key: str, _emb: np.ndarray, top: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(top dims, their min, their max over the catalogue) for the latent sliders."""
    from ..embedding import rank_dimensions
    dims = rank_dimensions(_emb)[:top]
    return dims, _emb[:, dims].min(axis=0), _emb[:, dims].max(axis=0)


@st.cache_resource(max_entries=8)
def _projection(model_key: str, data_key: str, method: str, _emb: np.ndarray) -> np.ndarray:
    from ..projection import cached_project
    return cached_project(_emb, method, cache_dir())


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


@st.cache_data(max_entries=64, show_spinner=False)
def _interpolated(model_key: str, data: str, first: str, second: str, steps: int, _rec: Recommender,
                  mode: str = "linear") -> list[np.ndarray]:
    from ..directions import blend
    rec = _rec
    cat = rec.catalogue
    a, b = cat.index_of(first), cat.index_of(second)  # KeyError for unknown ids
    z = blend(rec.embeddings[a], rec.embeddings[b], np.linspace(0, 1, steps), mode)
    return [cat.images[a], *rec.decode(z), cat.images[b]]  # a list: a model's size may differ from the photos'


@st.cache_resource
def job_registry() -> JobRegistry:
    """The app's training jobs, shared by all sessions (each session remembers its own job id)."""
    from ..jobs import JobRegistry
    return JobRegistry(max_running=1)


# ----------------------------------------------------------------------------- current things
@dataclass(frozen=True)
class Loaded:
    """The checkpoint this session uses: its model (eval, shared, never modify) and metadata."""

    model: VAE
    meta: dict[str, Any]
    source: dict[str, Any]

    @property
    def key(self) -> str:
        return self.source["key"]


def load_source(source: dict[str, Any], data: bytes | None = None) -> Loaded:
    """Load (or fetch from the cache) a checkpoint; CheckpointError if it cannot be used."""
    model, meta = _model(source["key"], source["path"], data, source["label"])
    return Loaded(model, meta, source)


def use_checkpoint(source: dict[str, Any], data: bytes | None = None) -> Loaded:
    """Make a checkpoint this session's model, only if it loads: a bad one leaves the old one in place."""
    loaded = load_source(source, data)
    st.session_state[CHECKPOINT], st.session_state[CHECKPOINT_BYTES] = source, data
    return loaded


def use_data_folder(typed: str) -> None:
    """Make a folder this session's photos if it lists some (CatalogueError leaves the old one in place).

    The photos are then decoded in the background (Home shows the progress); a folder that failed before
    is tried again.
    """
    path = str(resolve(typed))
    earlier = background.registry().get(("catalogue", path))
    if earlier is not None and earlier.status().state in ("failed", "stopped"):
        background.registry().forget(("catalogue", path))
    _catalogue_task(path)
    st.session_state[DATA] = typed


def current_model() -> tuple[Loaded | None, str]:
    """(this session's model or None, why not)."""
    source = st.session_state.get(CHECKPOINT)
    if source is None:
        return None, "no checkpoint yet"
    try:
        return load_source(source, st.session_state.get(CHECKPOINT_BYTES)), ""
    except ShoevaeError as e:  # CheckpointError (imported with torch, when a model is first loaded)
        return None, f"{source['label']}: {e}"


def data_key() -> str:
    return str(resolve(st.session_state.get(DATA) or "data"))


def _catalogue_task(path: str) -> background.Task:
    """The background decode of a data folder (shared by all sessions); CatalogueError at once for a
    missing or empty folder, which is checked only while no task for it exists."""
    if background.registry().get(("catalogue", path)) is None:
        list_sources(path)

    def decode(progress: background.Progress) -> Catalogue:
        return load_catalogue(path, CATALOGUE_SIZE, progress=lambda done, total: progress(done, total, "decoding"))
    return background.start(("catalogue", path), "Reading the shoe photos", decode)


def catalogue_task(data: str | None = None) -> background.Task:
    """This session's photos (or those of the `data` key) being read, or read; CatalogueError for a
    missing or empty folder."""
    return _catalogue_task(data or data_key())


def current_catalogue(wait: float | None = None) -> tuple[Catalogue | None, str]:
    """(this session's catalogue or None, the problem with its data folder: LOADING while decoding).

    With `wait`, a progress bar is drawn while the photos are decoded (see background.show); without,
    nothing is drawn and nothing waits (the sidebar).
    """
    try:
        task = _catalogue_task(data_key())
    except CatalogueError as e:
        return None, str(e)
    if wait is None:
        status = task.status()
    else:
        was_loading = task.status().state == "running"
        status = background.show(task, wait=wait, report_error=False)
        if was_loading and status.state == "done":
            st.rerun()  # the frame (sidebar) was drawn while the photos loaded: draw it again with them
    if status.state == "done":
        return status.result, ""
    return None, status.error or LOADING


def recommender_task(loaded: Loaded, cat: Catalogue, data: str | None = None) -> background.Task:
    """The background embedding of the catalogue by this model (shared by all sessions); `data`: the
    catalogue's data key (default: this session's)."""
    model = loaded.model
    cores = (os.cpu_count() or 1) if not job_registry().running() else None  # nobody trains: use every core
    cache = cache_dir()

    def build(progress: background.Progress) -> Recommender:
        import torch

        from ..embedding import cached_embed
        from ..recommend import Recommender
        before = torch.get_num_threads()
        if cores:  # this thread's own setting (configure_torch): the cold start's longest step
            torch.set_num_threads(cores)
        try:
            emb = cached_embed(model, cat.images, cat.ids, cache,
                               progress=lambda done, total: progress(done, total, "embedding"))
        finally:
            torch.set_num_threads(before)
        return Recommender(model, cat, emb)
    return background.start(("recommender", loaded.key, data or data_key()), "Embedding every shoe with this model",
                            build)


def current_recommender(wait: float | None = None) -> Recommender | None:
    """This session's recommender, or None (no model or photos yet, or still embedding; never waits
    unless `wait` is given, which also draws the progress)."""
    loaded, _ = current_model()
    cat, _ = current_catalogue()
    if loaded is None or cat is None:
        return None
    task = recommender_task(loaded, cat)
    status = task.status() if wait is None else background.show(task, wait=wait, retry=True)
    return status.result if status.state == "done" else None


def require_catalogue() -> Catalogue:
    """This session's catalogue: while it is decoded a progress bar (the page stops there), and a
    warning with a link when there are no usable photos."""
    cat, problem = current_catalogue(wait=background.PAGE_WAIT_S)
    if cat is None and problem == LOADING:
        st.stop()  # the progress bar reruns the page when the photos are ready
    if cat is None:
        st.warning(f"No shoe photos loaded ({problem}). {FETCH_HELP}")
        st.page_link(HOME_PAGE, label="Choose the data folder on Home", icon=":material/home:")
        st.stop()
    return cat


def require_recommender() -> Recommender:
    """This session's recommender, or a warning with links (and the page stops there); while the
    catalogue is decoded or embedded, a progress bar."""
    require_catalogue()
    loaded, problem = current_model()
    if loaded is None:
        st.warning(f"Train or load a checkpoint first ({problem}).", icon=":material/model_training:")
        c1, c2 = st.columns(2)
        c1.page_link(TRAIN_PAGE, label="Train a model", icon=":material/model_training:")
        c2.page_link(HOME_PAGE, label="Load a checkpoint on Home", icon=":material/home:")
        st.stop()
    rec = current_recommender(wait=background.PAGE_WAIT_S)
    if rec is None:
        st.stop()  # embedding: the progress bar reruns the page when done (or the error is shown)
    return rec


def session_job() -> TrainingJob | None:
    return job_registry().get(st.session_state.get(JOB))


# ----------------------------------------------------------------------------- picked shoes
def pick(item_id: str | None) -> None:
    """Callback: this session's picked shoe (shared by Recommend, Reconstruct, Generate, Latent map)."""
    st.session_state[PICK] = item_id


def shoe_to_show(rec: Recommender) -> tuple[str, str]:
    """(item id to show, note): the picked shoe (its canonical id) when the catalogue has it.

    Otherwise the first catalogue shoe, and the note names it and says why ("no shoe picked yet" or
    "unknown item id"), so every page that needs a shoe behaves the same and says what it shows.
    """
    item = st.session_state.get(PICK)
    cat = rec.catalogue
    if item:
        try:
            return cat.ids[cat.index_of(item)], ""
        except KeyError:
            why = f"There is no shoe with item id `{item}` in this catalogue"
    else:
        why = "No shoe picked yet (pick one on Recommend or Latent map)"
    first = cat.ids[0]
    return first, f"{why}: showing `{first}` ({cat.categories[0]}), the first shoe of the catalogue."


def picked(rec: Recommender) -> str:
    """The id of the shoe to show (see shoe_to_show, which also says why when it is not the picked one)."""
    return shoe_to_show(rec)[0]


def _known(rec: Recommender, item_id: str | None) -> bool:
    try:
        rec.catalogue.index_of(item_id or "")
        return True
    except KeyError:
        return False


def pick_and_neighbours(rec: Recommender, item_id: str | None, k: int = 5) -> list[int]:
    """Rows of the picked shoe and its k nearest (empty if nothing or an unknown id is picked)."""
    if not item_id or not _known(rec, item_id):
        return []
    return [rec.catalogue.index_of(item_id)] + [m.row for m in rec.similar(item_id, k)]


def far_shoe(rec: Recommender, item_id: str) -> str:
    """A default partner for blending: a shoe of another category, the same one for the same first shoe."""
    cat = rec.catalogue
    own = cat.categories[cat.index_of(item_id)] if _known(rec, item_id) else None
    others = np.flatnonzero(np.asarray(cat.categories) != own) if own else np.arange(len(cat))
    seed = int(hashlib.md5(item_id.encode()).hexdigest()[:8], 16)
    return cat.ids[int(others[seed % len(others)])] if len(others) else cat.ids[-1]


def random_rows(n_total: int, n: int, seed: int) -> list[int]:
    return np.random.default_rng(seed).choice(n_total, min(n, n_total), replace=False).tolist()


# ----------------------------------------------------------------------------- cached results
def top_dimensions(rec: Recommender, loaded_key: str, top: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _dimensions(loaded_key, data_key(), rec.embeddings, top)


def projection(rec: Recommender, loaded_key: str, method: str, rows: np.ndarray | None = None) -> np.ndarray | None:
    """(N, 2) map coordinates. PCA of every shoe at once; t-SNE of the shown `rows` only, in the
    background with a progress bar (None meanwhile; shoes outside `rows` sit on their nearest shown shoe)."""
    if method == "pca" or rows is None:
        return _projection(loaded_key, data_key(), method, rec.embeddings)
    task = projection_task(rec, loaded_key, data_key(), method, np.asarray(rows))
    status = background.show(task, wait=background.PAGE_WAIT_S, retry=True, stoppable=True)
    return status.result if status.state == "done" else None


def projection_task(rec: Recommender, loaded_key: str, data: str, method: str, rows: np.ndarray) -> background.Task:
    """The background map of the shoes at `rows` (shared by all sessions: the Latent map and the warm-up)."""
    from ..projection import project_sample
    key = ("projection", loaded_key, data, method, hashlib.sha256(rows.tobytes()).hexdigest()[:16])
    cache = cache_dir()
    return background.start(key, f"t-SNE map of {len(rows):,} shoes", lambda progress: project_sample(
        rec.embeddings, rows, method, cache, progress=progress))


def evaluation(rec: Recommender, loaded_key: str, n: int) -> dict[str, dict[str, float]] | None:
    """Evaluation results on the model's own train/hold-out split, computed in the background with a
    progress bar (None meanwhile)."""
    loaded, _ = current_model()
    task = evaluation_task(rec, loaded_key, data_key(), n, loaded.meta if loaded is not None and loaded.key == loaded_key
                           else {})
    status = background.show(task, wait=background.PAGE_WAIT_S, retry=True, stoppable=True)
    return status.result if status.state == "done" else None


def evaluation_task(rec: Recommender, loaded_key: str, data: str, n: int, meta: dict[str, Any]) -> background.Task:
    """The background evaluation on n shoes, on the split stored in the checkpoint's `meta` (shared by all sessions)."""
    from ..split import Split
    n = min(n, len(rec.catalogue))
    split = Split.of(meta) if meta else Split()
    return background.start(("evaluation", loaded_key, data, n), f"Evaluating on {n:,} shoes",
                            lambda progress: _evaluation(rec, n, split, progress))


def interpolate(rec: Recommender, model_key: str, first: str, second: str, steps: int,
                mode: str = "linear") -> list[np.ndarray]:
    """[first photo, `steps` shoes decoded between their vectors (linear or spherical), second photo] (cached)."""
    return list(_interpolated(model_key, data_key(), first, second, steps, rec, mode))


# ----------------------------------------------------------------------------- explore: samplers, directions, baseline
@st.cache_resource(max_entries=8, show_spinner="Fitting a mixture to the catalogue's style vectors (first time only, "
                                               "10 to 60 s)…")
def _sampler(model_key: str, data_key: str, kind: str, _emb: np.ndarray) -> Any:
    from ..sampling import cached_mixture, make_sampler
    return cached_mixture(_emb, cache_dir()) if kind == "mixture" else make_sampler(kind).fit(_emb)


def sampler(rec: Recommender, model_key: str, kind: str) -> Any:
    """The fitted sampler ("mixture" or "normal") for this (model, catalogue), shared by all sessions."""
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
    from ..directions import category_directions, end_labels, photo_traits, principal_directions
    emb, cat = _rec.embeddings, _rec.catalogue
    rows = np.sort(np.random.default_rng(0).choice(len(cat), min(len(cat), 4000), replace=False))
    principal = principal_directions(emb, k)
    labels = end_labels(principal, emb[rows], [cat.categories[r] for r in rows], photo_traits(cat.images[rows]))
    return {"principal": principal, "labels": labels, "categories": category_directions(emb, cat.categories),
            "average": emb.mean(0).astype(np.float32)}


def directions(rec: Recommender, model_key: str, k: int = 8) -> dict[str, Any]:
    """{"principal": Directions, "labels": [(minus end, plus end)], "categories": {name: Directions},
    "average": the catalogue's mean vector} for this (model, catalogue), computed once."""
    return _directions(model_key, data_key(), rec, k)


def pixel_task(cat: Catalogue, data: str, n_components: int) -> background.Task:
    """The PCA-of-pixels baseline (features, index) of a catalogue, fitted in the background (shared by all sessions)."""
    def fit(progress: background.Progress) -> tuple[np.ndarray, Any]:
        from ..evaluate import pca_pixels
        from ..neighbours import ShoeIndex
        progress(0, 1, "PCA of every photo's pixels")
        features = pca_pixels(cat, n_components)
        return features, ShoeIndex().fit(features)
    return background.start(("pixels", data, n_components), "Fitting the pixel baseline (PCA of pixels)", fit)


def pixel_neighbours(rec: Recommender, item_id: str, k: int = 5) -> list[Any] | None:
    """The k shoes nearest to a catalogue shoe in the PCA-of-pixels baseline (same dims as the model);
    None while the baseline is fitted (a progress bar is drawn) or if it failed (its error is drawn)."""
    from ..recommend import Match
    cat = rec.catalogue
    row = cat.index_of(item_id)
    status = background.show(pixel_task(cat, data_key(), rec.model.cfg.latent_dim), wait=background.PAGE_WAIT_S,
                             retry=True)
    if status.state != "done":
        return None
    features, index = status.result
    dist, idx = index.kneighbors(features[row], k, exclude=np.array([row]))
    return [Match(int(i), cat.ids[i], cat.categories[i], float(d)) for d, i in zip(dist[0], idx[0])]


@st.cache_resource(max_entries=4, show_spinner="Making thumbnails for the map's tooltips (first time only)…")
def _thumbnails(data_key: str, _cat: Catalogue) -> list[str]:
    from .charts import thumbnail_uris
    return thumbnail_uris(_cat.images)


def thumbnails(cat: Catalogue) -> list[str]:
    """A small JPEG data URI per catalogue shoe (hover tooltips on the latent map), made once per catalogue."""
    return _thumbnails(data_key(), cat)
