"""Where the app's things are and what this session chose: paths, settings, the "shoevae.*" keys, the picked shoe.

Settings come from the environment: SHOEVAE_DATA (photo folder, default data/), SHOEVAE_CHECKPOINT
(default checkpoint, else the first shipped one in weights/: presets.SHIPPED, the default first), SHOEVAE_WEIGHTS (where
checkpoints are listed and trained ones saved, default weights/), SHOEVAE_CACHE (decoded photos,
embeddings, projections) and SHOEVAE_TORCH_THREADS. What one person chose (data folder, checkpoint,
picked shoe, training job) lives in st.session_state under the "shoevae.*" keys below; current.py
turns the first two into this session's photos and model, resources.py holds what all sessions share.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st

from ..cache import checkpoint_identity, default_cache_dir
from ..presets import SHIPPED

if TYPE_CHECKING:
    from ..recommend import Recommender

ROOT = Path(__file__).resolve().parents[2]  # the repository: app.py, pages/, weights/
DATA, CHECKPOINT, CHECKPOINT_BYTES = "shoevae.data", "shoevae.checkpoint", "shoevae.checkpoint_bytes"
PICK, JOB, UPLOAD_SEEN = "shoevae.pick", "shoevae.job", "shoevae.checkpoint_upload"
FRAME = "shoevae.in_frame"  # True while app.py runs the page
TRAIN_PAGE, HOME_PAGE = "pages/train.py", "pages/home.py"


# ----------------------------------------------------------------------------- paths and settings
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
    """$SHOEVAE_CHECKPOINT, else the first of weights/<name>.pt for presets.SHIPPED that exists, else None."""
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


# ----------------------------------------------------------------------------- this session's choices
def init_state() -> None:
    """This session's defaults, set once (app.py calls it before every page)."""
    ss = st.session_state
    if DATA not in ss:
        ss[DATA] = os.environ.get("SHOEVAE_DATA") or "data"
    if CHECKPOINT not in ss:
        default = default_checkpoint()
        ss[CHECKPOINT] = path_source(default) if default else None


def data_key() -> str:
    """This session's data folder, resolved: the key of its photos and of everything computed from them."""
    return str(resolve(st.session_state.get(DATA) or "data"))


def path_source(path: str | os.PathLike) -> dict[str, Any]:
    """A checkpoint file; its identity is cache.checkpoint_identity's (path, size, mtime), so a rewritten file is a
    new model."""
    p = resolve(path)
    identity = checkpoint_identity(p)
    return {"kind": "path", "path": str(p), "label": p.name, "key": f"{p}:{identity[1] if identity else 'missing'}"}


def upload_source(name: str, data: bytes) -> dict[str, Any]:
    return {"kind": "upload", "path": None, "label": f"{name} (uploaded)",
            "key": f"upload:{hashlib.sha256(data).hexdigest()[:20]}"}


# ----------------------------------------------------------------------------- the picked shoe
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


def pick_and_neighbours(rec: Recommender, item_id: str | None, k: int = 5) -> list[int]:
    """Rows of the picked shoe and its k nearest (empty if nothing or an unknown id is picked)."""
    if not item_id:
        return []
    try:
        row = rec.catalogue.index_of(item_id)
    except KeyError:
        return []
    return [row] + [m.row for m in rec.similar(item_id, k)]
