"""Everything Streamlit: cached resources, per-session state, and the pieces every page shares.

The only module of shoevae that imports streamlit. Pages (pages/*.py) lay things out by calling
these helpers; the work itself is done by the rest of the package.

Sharing. Cached resources (catalogue, models, recommenders, projections, the training-job registry)
are shared by every browser session and never mutated: models stay in eval() and are only used for
inference. What one person chose lives in st.session_state under "shoevae.*" keys (data folder,
checkpoint, picked shoe, training job), so two people never disturb each other.

Environment: SHOEVAE_DATA (photo folder, default data/), SHOEVAE_CHECKPOINT (default checkpoint,
else weights/style.pt, else weights/paper.pt), SHOEVAE_WEIGHTS (where checkpoints are listed and
trained ones saved, default weights/), SHOEVAE_CACHE (decoded photos, embeddings, projections).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import random
import runpy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from .catalogue import IMAGE_SUFFIXES, Catalogue, CatalogueError, default_cache_dir, load_catalogue
from .checkpoint import CheckpointError, load_checkpoint
from .config import PRESETS, TrainConfig, preset
from .embedding import cached_embed, rank_dimensions
from .evaluate import baselines, evaluate_model
from .jobs import JobError, JobRegistry, TrainingJob, safe_name
from .model import VAE
from .projection import cached_project
from .recommend import Match, Recommender

ROOT = Path(__file__).resolve().parents[1]  # the repository: app.py, pages/, weights/
CATALOGUE_SIZE = 136  # photos are decoded once at this size; each model resizes to its own
DATA, CHECKPOINT, CHECKPOINT_BYTES = "shoevae.data", "shoevae.checkpoint", "shoevae.checkpoint_bytes"
PICK, JOB, UPLOAD_SEEN = "shoevae.pick", "shoevae.job", "shoevae.checkpoint_upload"
FRAME = "shoevae.in_frame"  # True while app.py runs the page
TRAIN_PAGE, HOME_PAGE = "pages/train.py", "pages/home.py"
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
    """$SHOEVAE_CHECKPOINT, else weights/style.pt, else weights/paper.pt, else None."""
    if os.environ.get("SHOEVAE_CHECKPOINT"):
        return resolve(os.environ["SHOEVAE_CHECKPOINT"])
    return next((p for p in (weights_dir() / "style.pt", weights_dir() / "paper.pt") if p.is_file()), None)


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
@st.cache_resource(max_entries=4, show_spinner="Reading the shoe photos (the first time takes ~15 s)…")
def _catalogue(path: str) -> Catalogue:
    return load_catalogue(path, CATALOGUE_SIZE)


@st.cache_resource(max_entries=8, show_spinner="Loading the checkpoint…")
def _model(key: str, path: str | None, _data: bytes | None) -> tuple[VAE, dict[str, Any]]:
    model, ckpt = load_checkpoint(path if path else _data)
    meta = {k: v for k, v in ckpt.items() if k not in ("model_state", "optimizer_state")}
    return model, meta


@st.cache_resource(max_entries=4, show_spinner="Embedding every shoe with this model (first time only)…")
def _recommender(model_key: str, data_key: str, _model: VAE, _cat: Catalogue) -> Recommender:
    return Recommender(_model, _cat, cached_embed(_model, _cat.images, _cat.ids, cache_dir()))


@st.cache_resource(max_entries=4)
def _dimensions(model_key: str, data_key: str, _emb: np.ndarray, top: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(top dims, their min, their max over the catalogue) for the latent sliders."""
    dims = rank_dimensions(_emb)[:top]
    return dims, _emb[:, dims].min(axis=0), _emb[:, dims].max(axis=0)


@st.cache_resource(max_entries=8, show_spinner="Projecting the catalogue to 2D (t-SNE: about a minute, once)…")
def _projection(model_key: str, data_key: str, method: str, _emb: np.ndarray) -> np.ndarray:
    return cached_project(_emb, method, cache_dir())


@st.cache_data(max_entries=16, show_spinner="Evaluating: neighbours of every shoe, for the model and two baselines…")
def _evaluation(model_key: str, data_key: str, n: int, _rec: Recommender) -> dict[str, dict[str, float]]:
    cat, emb = _rec.catalogue, _rec.embeddings
    if n < len(cat):  # a seeded sample of rows, sorted so categories stay grouped
        rows = np.sort(np.random.default_rng(0).choice(len(cat), n, replace=False))
        cat, emb = cat.subset(rows), emb[rows]
    label = f"VAE ({_rec.model.cfg.preset}, {_rec.model.cfg.latent_dim} dims)"
    return {label: evaluate_model(_rec.model, cat, embeddings=emb), **baselines(cat, _rec.model.cfg.latent_dim)}


@st.cache_resource
def job_registry() -> JobRegistry:
    """The app's training jobs, shared by all sessions (each session remembers its own job id)."""
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
    model, meta = _model(source["key"], source["path"], data)
    return Loaded(model, meta, source)


def use_checkpoint(source: dict[str, Any], data: bytes | None = None) -> Loaded:
    """Make a checkpoint this session's model, only if it loads: a bad one leaves the old one in place."""
    loaded = load_source(source, data)
    st.session_state[CHECKPOINT], st.session_state[CHECKPOINT_BYTES] = source, data
    return loaded


def current_model() -> tuple[Loaded | None, str]:
    """(this session's model or None, why not)."""
    source = st.session_state.get(CHECKPOINT)
    if source is None:
        return None, "no checkpoint yet"
    try:
        return load_source(source, st.session_state.get(CHECKPOINT_BYTES)), ""
    except CheckpointError as e:
        return None, f"{source['label']}: {e}"


def data_key() -> str:
    return str(resolve(st.session_state.get(DATA) or "data"))


def current_catalogue() -> tuple[Catalogue | None, str]:
    """(this session's catalogue or None, the problem with its data folder)."""
    try:
        return _catalogue(data_key()), ""
    except CatalogueError as e:
        return None, str(e)


def current_recommender() -> Recommender | None:
    loaded, _ = current_model()
    cat, _ = current_catalogue()
    if loaded is None or cat is None:
        return None
    return _recommender(loaded.key, data_key(), loaded.model, cat)


def require_catalogue() -> Catalogue:
    cat, problem = current_catalogue()
    if cat is None:
        st.warning(f"No shoe photos loaded ({problem}). {FETCH_HELP}")
        st.page_link(HOME_PAGE, label="Choose the data folder on Home", icon=":material/home:")
        st.stop()
    return cat


def require_recommender() -> Recommender:
    """This session's recommender, or a warning with links (and the page stops there)."""
    require_catalogue()
    rec = current_recommender()
    if rec is None:
        _, problem = current_model()
        st.warning(f"Train or load a checkpoint first ({problem}).", icon=":material/model_training:")
        c1, c2 = st.columns(2)
        c1.page_link(TRAIN_PAGE, label="Train a model", icon=":material/model_training:")
        c2.page_link(HOME_PAGE, label="Load a checkpoint on Home", icon=":material/home:")
        st.stop()
    return rec


def pick(item_id: str | None) -> None:
    """Callback: this session's picked shoe (shared by Recommend, Reconstruct, Generate, Latent map)."""
    st.session_state[PICK] = item_id


def picked(rec: Recommender) -> str:
    """The picked shoe's id, or the first shoe if none (or an unknown one) is picked."""
    item = st.session_state.get(PICK)
    return item if item and _known(rec, item) else rec.catalogue.ids[0]


def _known(rec: Recommender, item_id: str | None) -> bool:
    try:
        rec.catalogue.index_of(item_id or "")
        return True
    except KeyError:
        return False


def top_dimensions(rec: Recommender, loaded_key: str, top: int = 8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _dimensions(loaded_key, data_key(), rec.embeddings, top)


def projection(rec: Recommender, loaded_key: str, method: str) -> np.ndarray:
    return _projection(loaded_key, data_key(), method, rec.embeddings)


def evaluation(rec: Recommender, loaded_key: str, n: int) -> dict[str, dict[str, float]]:
    return _evaluation(loaded_key, data_key(), min(n, len(rec.catalogue)), rec)


# ----------------------------------------------------------------------------- layout pieces
STYLE = """<style>
[data-testid="stMainBlockContainer"] {padding-top: 2.5rem; padding-bottom: 2rem;}
[data-testid="stImageCaption"], [data-testid="caption"] {font-size: 0.95rem;}
</style>"""


def style() -> None:
    """Projector tweaks: less empty space above the title, readable captions."""
    st.html(STYLE)


@contextlib.contextmanager
def frame() -> Iterator[None]:
    """app.py runs the chosen page inside this, so pages can tell they run within the frame."""
    st.session_state[FRAME] = True
    try:
        yield
    finally:
        st.session_state[FRAME] = False


def ensure_frame() -> None:
    """Run app.py around this page when Streamlit ran the page file on its own.

    That happens for a page URL opened first on a freshly started server: until app.py has called
    st.navigation once, Streamlit treats pages/ as a legacy auto-discovered folder. app.py then runs
    this page again, inside the frame; the outer run stops here.
    """
    if not st.session_state.get(FRAME):
        runpy.run_path(str(ROOT / "app.py"), run_name="__main__")
        st.stop()


def page_header(title: str, blurb: str) -> None:
    """Every page starts here: the frame check, a big title and a one-line explanation."""
    ensure_frame()
    st.title(title)
    st.markdown(f"<p style='font-size:1.25rem;color:#555;margin-top:-0.6rem'>{blurb}</p>",
                unsafe_allow_html=True)


def sidebar() -> None:
    """One-glance status in the sidebar of every page: which photos and which model."""
    cat, problem = current_catalogue()
    loaded, why = current_model()
    with st.sidebar:
        st.markdown("**Photos:** " + (f"{len(cat):,} shoes from `{Path(cat.root).name}`" if cat
                                      else ":orange[none loaded]"))
        if loaded:
            cfg, epochs = loaded.meta["model_config"], loaded.meta.get("epoch", 0)
            st.markdown(f"**Model:** `{loaded.source['label']}`  \n{cfg['preset']} · {plural(epochs, 'epoch')} · "
                        f"{cfg['latent_dim']} latent dims")
        else:
            st.markdown("**Model:** :orange[none loaded]")
        job = session_job()
        if job is not None and job.snapshot().running:
            st.markdown(f"**Training:** `{job.snapshot().name}` in the background")


def shoe_card(image: np.ndarray, caption: str, *, button: str | None = None, key: str | None = None,
              on_click: Callable[..., None] | None = None, args: tuple = (), primary: bool = False) -> bool:
    """A shoe photo (uint8 HxWx3) filling its column, a caption, and optionally a button under it."""
    st.image(image, caption=caption, width="stretch")
    if button is None:
        return False
    return st.button(button, key=key, on_click=on_click, args=args, width="stretch",
                     type="primary" if primary else "secondary")


def card_grid(images: np.ndarray | list, captions: list[str], columns: int, *, button: str | None = None,
              keys: list[str] | None = None, on_click: Callable[..., None] | None = None,
              args: list[tuple] | None = None, primary: int | None = None) -> None:
    """Shoe cards in rows of `columns`; with `button`, each card's button calls on_click(*args[i])."""
    for start in range(0, len(captions), columns):
        cols = st.columns(columns, gap="medium")
        for j, col in enumerate(cols[: len(captions) - start]):
            i = start + j
            with col:
                shoe_card(images[i], captions[i], button=button, key=keys[i] if keys else None,
                          on_click=on_click, args=args[i] if args else (), primary=i == primary)


def shoe_caption(cat: Catalogue, row: int) -> str:
    return f"{cat.categories[row]} · {cat.ids[row]}"


def catalogue_grid(cat: Catalogue, rows: list[int] | np.ndarray, columns: int = 4) -> None:
    """Catalogue shoes, each with a "Similar" button that picks it."""
    rows = [int(r) for r in rows]
    ids = [cat.ids[r] for r in rows]
    chosen = st.session_state.get(PICK)
    card_grid([cat.images[r] for r in rows], [shoe_caption(cat, r) for r in rows], columns,
              button="Similar shoes", keys=[f"shoevae.grid.{i}" for i in ids], on_click=pick,
              args=[(i,) for i in ids], primary=ids.index(chosen) if chosen in ids else None)


def match_captions(matches: list[Match]) -> list[str]:
    return [f"#{i} {m.category} · d={m.distance:.3g}" if m.distance >= 1e-4 else f"#{i} {m.category} · d=0"
            for i, m in enumerate(matches, 1)]


def pairs_grid(top: list[np.ndarray] | np.ndarray, top_captions: list[str],
               bottom: list[np.ndarray] | np.ndarray | None, bottom_captions: list[str], columns: int = 6) -> None:
    """Images in rows of `columns`, each row followed by the row of their counterparts (e.g. reconstructions)."""
    for start in range(0, len(top_captions), columns):
        end = min(start + columns, len(top_captions))
        card_grid(list(top[start:end]), top_captions[start:end], columns)
        if bottom is not None:
            card_grid(list(bottom[start:end]), bottom_captions[start:end], columns)


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def neighbours(rec: Recommender, item_id: str | None, *, columns: int = 3, k: int = 5, key: str = "nb",
               hint: str = "Click **Similar shoes** under any shoe, or try a random one.") -> None:
    """A picked shoe, big, and its k nearest shoes with distances; an unknown id is a clear error."""
    if not item_id:
        st.info(hint, icon=":material/touch_app:")
        return
    try:
        matches = rec.similar(item_id, k)
    except KeyError as e:
        st.error(e.args[0] if e.args else str(e), icon=":material/error:")
        return
    cat, row = rec.catalogue, rec.catalogue.index_of(item_id)
    left, right = st.columns([1, 1], vertical_alignment="center")
    left.image(cat.images[row], width="stretch")
    right.subheader(f"{cat.categories[row]}")
    right.markdown(f"Item `{item_id}`  \nIts {k} nearest shoes in style space:")
    card_grid([cat.images[m.row] for m in matches], match_captions(matches), columns, button="Similar shoes",
              keys=[f"shoevae.{key}.{m.item_id}" for m in matches], on_click=pick,
              args=[(m.item_id,) for m in matches])


def browse_controls(cat: Catalogue, per_page: int) -> list[int]:
    """Category filter, random pick, go-to id and paging; returns the catalogue rows to show."""
    cats = ["All", *cat.counts()]
    c1, c2, c3 = st.columns([3, 1.3, 2], vertical_alignment="bottom")
    choice = c1.segmented_control("Category", cats, default="All", key="shoevae.browse.category") or "All"
    rows = np.arange(len(cat)) if choice == "All" else np.flatnonzero(np.asarray(cat.categories) == choice)
    c2.button("Random shoe", icon=":material/casino:", width="stretch", on_click=_random_pick,
              args=(cat, rows), key="shoevae.browse.random")
    c3.text_input("Go to item id", key="shoevae.browse.goto", placeholder="e.g. 1623a8a598fb",
                  on_change=_goto)
    pages = max(1, -(-len(rows) // per_page))
    page = st.pagination(pages, key=f"shoevae.browse.page.{choice}", max_visible_pages=9, width="stretch")
    return rows[(page - 1) * per_page: page * per_page].tolist()


def _random_pick(cat: Catalogue, rows: np.ndarray) -> None:
    pick(cat.ids[int(random.choice(rows))])


def _goto() -> None:
    typed = (st.session_state.get("shoevae.browse.goto") or "").strip()
    if typed:
        pick(typed)


def photo_upload(label: str, key: str) -> tuple[str, bytes] | None:
    """(file name, bytes) of an uploaded photo, or None."""
    f = st.file_uploader(label, type=sorted(s.lstrip(".") for s in IMAGE_SUFFIXES), key=key)
    return (f.name, f.getvalue()) if f is not None else None


def random_rows(n_total: int, n: int, seed: int) -> list[int]:
    return np.random.default_rng(seed).choice(n_total, min(n, n_total), replace=False).tolist()


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


def generate(rec: Recommender, model_key: str, n: int, temperature: float, seed: int) -> list[np.ndarray]:
    """n shoes decoded from seeded noise (cached: moving another widget does not decode them again)."""
    return list(_generated(model_key, n, float(temperature), int(seed), rec))


@st.cache_data(max_entries=64, show_spinner=False)
def _generated(model_key: str, n: int, temperature: float, seed: int, _rec: Recommender) -> np.ndarray:
    return _rec.generate(n, temperature=temperature, seed=seed)


def interpolate(rec: Recommender, model_key: str, first: str, second: str, steps: int) -> list[np.ndarray]:
    """[first photo, `steps` shoes decoded along the line between their vectors, second photo] (cached)."""
    return list(_interpolated(model_key, data_key(), first, second, steps, rec))


@st.cache_data(max_entries=64, show_spinner=False)
def _interpolated(model_key: str, data: str, first: str, second: str, steps: int, _rec: Recommender) -> np.ndarray:
    rec = _rec
    cat = rec.catalogue
    a, b = cat.index_of(first), cat.index_of(second)  # KeyError for unknown ids
    t = np.linspace(0, 1, steps, dtype=np.float32)[:, None]
    z = (1 - t) * rec.embeddings[a] + t * rec.embeddings[b]
    return np.concatenate([cat.images[a][None], rec.decode(z), cat.images[b][None]])


@st.fragment
def latent_sliders(rec: Recommender, model_key: str, item_id: str | None, top: int = 8) -> None:
    """Sliders on the most informative latent dims and the decoded shoe; moving one reruns only this."""
    dims, lo, hi = top_dimensions(rec, model_key, top)
    cat = rec.catalogue
    z0 = rec.embeddings[cat.index_of(item_id)] if item_id else np.zeros(rec.embeddings.shape[1], np.float32)
    tag = f"{item_id or 'zero'}.{st.session_state.get('shoevae.gen.reset', 0)}"
    z = z0.copy()
    shoe, knobs = st.columns([2, 3], gap="large")
    with knobs:
        st.caption(f"The {len(dims)} dimensions that vary most over the catalogue; range = their spread.")
        cols = st.columns(2)
        for i, (d, a, b) in enumerate(zip(dims, lo, hi)):
            # the catalogue's spread plus 10%, at least the prior's +-1 (a collapsed dim has no spread)
            mid, half = float(a + b) / 2, max(0.55 * float(b - a), 1.0)
            a, b = round(mid - half, 2), round(mid + half, 2)
            z[d] = cols[i % 2].slider(f"dimension {d}", a, b, float(np.clip(z0[d], a, b)), step=(b - a) / 100,
                                      format="%.2f", key=f"shoevae.gen.dim.{tag}.{d}")
        if st.button("Reset sliders", icon=":material/restart_alt:", key="shoevae.gen.resetbtn"):
            st.session_state["shoevae.gen.reset"] = st.session_state.get("shoevae.gen.reset", 0) + 1
            st.rerun(scope="fragment")
    with shoe:
        moved = int(np.sum(~np.isclose(z[dims], z0[dims], atol=1e-3)))
        st.image(rec.decode(z[None])[0], width="stretch",
                 caption=f"decoded from {'shoe ' + item_id if item_id else 'the zero vector'}, "
                         f"{plural(moved, 'dimension')} moved")


# ----------------------------------------------------------------------------- home: data and checkpoint
def data_folder_input() -> None:
    """Text input for this session's data folder; only a folder with images replaces the current one."""
    typed = st.text_input("Data folder (photos in `<category>/` folders, or a manifest.csv)",
                          value=st.session_state[DATA], key="shoevae.home.data")
    if typed.strip() and typed.strip() != st.session_state[DATA]:
        try:
            _catalogue(str(resolve(typed.strip())))
        except CatalogueError as e:
            st.error(f"Kept the current photos: {e}", icon=":material/folder_off:")
        else:
            st.session_state[DATA] = typed.strip()
            st.rerun()  # redraw everything (sidebar included) with the new photos


def checkpoint_files() -> list[Path]:
    return sorted(weights_dir().glob("*.pt"))


def checkpoint_picker() -> None:
    """Load a checkpoint from weights/*.pt or an upload; a bad one is an error and changes nothing."""
    files = checkpoint_files()
    current = (st.session_state.get(CHECKPOINT) or {}).get("path")
    index = next((i for i, f in enumerate(files) if str(f) == current), 0) if files else None
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    chosen = c1.selectbox(f"Checkpoints in `{weights_dir().name}/`", files, format_func=lambda p: p.name,
                          key="shoevae.home.file", placeholder="none yet: train one", index=index)
    if c2.button("Load", key="shoevae.home.load", disabled=chosen is None, width="stretch", type="primary"):
        try:
            use_checkpoint(path_source(chosen))
        except CheckpointError as e:
            st.error(f"Kept the current model: {e}", icon=":material/error:")
        else:
            st.rerun()  # redraw everything (sidebar included) with the new model
    up = st.file_uploader("…or upload a checkpoint (.pt)", type=["pt", "pth"], key="shoevae.home.upload")
    if up is not None:
        seen = st.session_state.get(UPLOAD_SEEN, {})
        if seen.get("id") != up.file_id:  # try each upload once, remember the outcome
            data = up.getvalue()
            try:
                use_checkpoint(upload_source(up.name, data), data)
                seen = {"id": up.file_id, "error": ""}
            except CheckpointError as e:
                seen = {"id": up.file_id, "error": str(e)}
            st.session_state[UPLOAD_SEEN] = seen
            if not seen["error"]:
                st.rerun()
        if seen["error"]:
            st.error(f"Kept the current model: {seen['error']}", icon=":material/error:")


def model_facts(loaded: Loaded) -> None:
    """How the checkpoint was trained, as big numbers plus a small loss curve."""
    m, t = loaded.meta["model_config"], loaded.meta.get("train_config", {})
    c = st.columns(5)
    c[0].metric("Preset", m["preset"])
    c[1].metric("Epochs", loaded.meta.get("epoch", 0))
    c[2].metric("β (KL weight)", f"{t.get('beta', 1):g}")
    c[3].metric("Latent size", m["latent_dim"])
    c[4].metric("Training time", duration(loaded.meta.get("train_seconds", 0)))
    n = loaded.meta.get("data", {}).get("n_train")
    st.caption(f"`{loaded.source['label']}` · trained on {n:,} photos" if n else f"`{loaded.source['label']}`")
    if loaded.meta.get("history"):
        st.plotly_chart(loss_figure(loaded.meta["history"], height=230), key="shoevae.home.loss")


def duration(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def loss_figure(history: list[dict[str, float]] | tuple, height: int = 300) -> go.Figure:
    """Per-epoch losses, BCE (train and hold-out) and KL in separate panels."""
    epochs = [r["epoch"] for r in history]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Reconstruction (BCE per image)", "KL per image"))
    mode = "lines+markers"
    fig.add_trace(go.Scatter(x=epochs, y=[r["bce"] for r in history], name="train BCE", mode=mode), 1, 1)
    if any("val_bce" in r for r in history):
        fig.add_trace(go.Scatter(x=epochs, y=[r.get("val_bce") for r in history], name="hold-out BCE",
                                 mode=mode), 1, 1)
    fig.add_trace(go.Scatter(x=epochs, y=[r["kl"] for r in history], name="KL", mode=mode), 1, 2)
    fig.update_xaxes(dtick=1 if len(epochs) < 15 else None)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.15),
                      hovermode="x unified")
    return fig


# ----------------------------------------------------------------------------- training
def session_job() -> TrainingJob | None:
    return job_registry().get(st.session_state.get(JOB))


def train_settings() -> dict[str, Any]:
    """The training form's values (preset, sizes, rates, name)."""
    c1, c2 = st.columns(2)
    name = c1.selectbox("Preset", list(PRESETS), key="shoevae.train.preset",
                        help="paper: the report's small net. style: wider, batch-norm (better, slower).")
    latent = c2.number_input("Latent size", 2, 512, PRESETS[name].latent_dim, key="shoevae.train.latent")
    epochs = c1.number_input("Epochs", 1, 200, 5, key="shoevae.train.epochs")
    beta = c2.number_input("β (KL weight)", 0.0, 1000.0, 1.0, step=0.5, key="shoevae.train.beta")
    lr = c1.number_input("Learning rate", 1e-5, 1e-1, 1e-3, format="%.5f", step=1e-4, key="shoevae.train.lr")
    batch = c2.number_input("Batch size", 8, 512, 64, step=8, key="shoevae.train.batch")
    limit = c1.number_input("Images to train on (0 = all)", 0, 200_000, 2000, step=500, key="shoevae.train.limit")
    minutes = c2.number_input("Time limit, minutes (0 = none)", 0, 600, 0, key="shoevae.train.minutes",
                              help="No epoch starts that would end after this much training time.")
    cosine = c1.toggle("Cosine learning-rate decay", key="shoevae.train.cosine")
    out = c2.text_input("Save as weights/…pt", f"{name}-{time.strftime('%m%d-%H%M')}", key="shoevae.train.name")
    return {"preset": name, "latent_dim": int(latent), "epochs": int(epochs), "beta": float(beta), "lr": float(lr),
            "batch_size": int(batch), "limit": int(limit) or None, "name": out, "cosine": bool(cosine),
            "time_limit": float(minutes) * 60 or None}


def start_training(settings: dict[str, Any], cat: Catalogue) -> TrainingJob:
    """Start this session's job; JobError (clear message) if it cannot start."""
    name = safe_name(settings["name"])
    tc = TrainConfig(epochs=settings["epochs"], batch_size=settings["batch_size"], lr=settings["lr"],
                     beta=settings["beta"], limit=settings["limit"], cosine=settings.get("cosine", False),
                     time_limit=settings.get("time_limit"))
    try:
        cfg = preset(settings["preset"], latent_dim=settings["latent_dim"])
    except ValueError as e:
        raise JobError(str(e)) from None
    job = job_registry().start(name, cfg, tc, cat, weights_dir() / f"{name}.pt")
    st.session_state[JOB] = job.id
    return job


def training_monitor(job: TrainingJob) -> None:
    """Live progress of a job; polls once a second while it runs (only this fragment reruns)."""
    polling = job.snapshot().running
    st.fragment(run_every=1 if polling else None)(_monitor_body)(job, polling)


def _monitor_body(job: TrainingJob, polling: bool) -> None:
    s = job.snapshot()
    if polling and not s.running:
        st.rerun()  # finished: redraw the whole page once (buttons change, polling stops)
    label = {"running": f"Training `{s.name}`: epoch {s.epoch}/{s.epochs}, batch {s.batch}/{s.batches}",
             "done": f"`{s.name}` finished: {plural(len(s.history), 'epoch')} in {duration(s.elapsed)}",
             "stopped": f"`{s.name}` stopped after {plural(len(s.history), 'finished epoch')}",
             "failed": f"`{s.name}` failed"}[s.state]
    st.progress(1.0 if s.state == "done" else s.fraction, text=label)
    if s.error:
        st.error(f"Training failed: {s.error}", icon=":material/error:")
    if s.running and st.button("Stop", key="shoevae.train.stop", icon=":material/stop:", type="primary"):
        job.stop()
        st.toast("Stopping after this batch…")
    if not s.running:
        if s.saved:
            st.success(f"Saved to `{s.out}`", icon=":material/save:")
            if st.button("Use this model", key="shoevae.train.use", type="primary", icon=":material/check:"):
                try:
                    use_checkpoint(path_source(s.out))
                except CheckpointError as e:
                    st.error(f"Kept the current model: {e}", icon=":material/error:")
                else:
                    st.rerun()
        elif s.state != "failed":
            st.warning("Stopped before the first epoch finished: nothing was saved.")
    if s.history:
        st.plotly_chart(loss_figure(s.history, height=280), key="shoevae.train.loss")
    if s.originals is not None:
        st.markdown("**Fixed shoes** and, under each, their reconstruction after the last finished epoch")
        n = len(s.originals)
        pairs_grid(s.originals, [""] * n, s.reconstructions, [f"epoch {len(s.history)}"] * n, columns=4)


# ----------------------------------------------------------------------------- latent map
def map_figure(xy: np.ndarray, cat: Catalogue, rows: np.ndarray, highlight: list[int]) -> go.Figure:
    """WebGL scatter of `rows` coloured by category; hover shows id and category; highlight = stars."""
    fig = go.Figure()
    palette = ["#1f77b4", "#e8710a", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
    cats = np.asarray(cat.categories)[rows]
    ids = np.asarray(cat.ids)[rows]
    for k, c in enumerate(sorted(set(cat.categories))):
        m = cats == c
        fig.add_trace(go.Scattergl(x=xy[rows[m], 0], y=xy[rows[m], 1], mode="markers", name=c,
                                   customdata=rows[m], text=ids[m],
                                   marker=dict(size=6, opacity=0.65, color=palette[k % len(palette)]),
                                   hovertemplate=f"<b>%{{text}}</b><br>{c}<extra></extra>"))
    if highlight:
        h = np.asarray(highlight)
        fig.add_trace(go.Scattergl(x=xy[h, 0], y=xy[h, 1], mode="markers", name="picked + nearest",
                                   customdata=h, text=np.asarray(cat.ids)[h],
                                   marker=dict(size=[24] + [16] * (len(h) - 1), symbol="star", color="black",
                                               line=dict(width=1, color="white")),
                                   hovertemplate="<b>%{text}</b><extra></extra>"))
    fig.update_layout(height=640, margin=dict(l=0, r=0, t=10, b=0), dragmode="pan",
                      legend=dict(orientation="h", y=1.02, font=dict(size=16)))
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    return fig


def map_chart(fig: go.Figure, cat: Catalogue, key: str = "shoevae.map.chart") -> None:
    """The map with point selection: selecting a dot picks that shoe (a callback, before the rerun)."""
    st.plotly_chart(fig, key=key, on_select=lambda: map_selected(key, cat), selection_mode="points",
                    config={"scrollZoom": True, "displaylogo": False})


def map_selected(chart_key: str, cat: Catalogue) -> None:
    """Callback for the map's on_select: the first selected point becomes this session's pick."""
    row = selected_row(st.session_state.get(chart_key))
    if row is not None and 0 <= row < len(cat):
        pick(cat.ids[row])


def selected_row(event: Any) -> int | None:
    """Catalogue row of the first selected point of a plotly selection event (customdata), or None."""
    try:
        points = event["selection"]["points"]
    except (KeyError, TypeError):
        return None
    for p in points:
        cd = p.get("customdata")
        cd = cd[0] if isinstance(cd, (list, tuple)) and cd else cd
        if isinstance(cd, (int, float, np.integer)):
            return int(cd)
    return None


def map_rows(n: int, shown: int) -> np.ndarray:
    """A fixed, seeded sample of `shown` rows (all when shown >= n)."""
    if shown >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, shown, replace=False))


# ----------------------------------------------------------------------------- evaluation
def evaluation_table(results: dict[str, dict[str, float]]) -> pd.DataFrame:
    return pd.DataFrame(results).T.rename_axis("features")


def precision_figure(results: dict[str, dict[str, float]]) -> go.Figure:
    """Category precision@5 (hold-out and leave-one-out) of the model against the baselines."""
    names = list(results)
    fig = go.Figure()
    for metric, label in (("holdout_precision@5", "hold-out queries"), ("loo_precision@5", "leave-one-out")):
        vals = [results[n].get(metric, float("nan")) for n in names]
        fig.add_trace(go.Bar(x=names, y=vals, name=label, text=[f"{v:.3f}" for v in vals], textposition="outside"))
    fig.update_layout(barmode="group", height=420, yaxis=dict(range=[0, 1.08], title="category precision@5"),
                      margin=dict(l=10, r=10, t=30, b=10), font=dict(size=16), legend=dict(orientation="h", y=1.12))
    return fig
