"""This session's photos, model and recommender: what its chosen data folder and checkpoint give.

Each current_*() looks without stopping the page (None and why when there is nothing yet); use_*() make
another folder or checkpoint this session's, only if it can be used. The things themselves are shared
by every session (resources.py); guards.py stops a page that lacks them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import streamlit as st

from ..catalogue import Catalogue, CatalogueError
from ..errors import ShoevaeError
from . import background
from .resources import Loaded, catalogue_task, job_registry, load_source, model_needed, model_task, recommender_task
from .session import CHECKPOINT, CHECKPOINT_BYTES, DATA, JOB, data_key, resolve

if TYPE_CHECKING:
    from ..jobs import TrainingJob
    from ..recommend import Recommender

LOADING = "the photos are being read"  # current_catalogue()'s problem while they are decoded
MODEL_LOADING = "the checkpoint is being loaded"  # current_model(wait=False)'s problem meanwhile


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
    catalogue_task(path)
    st.session_state[DATA] = typed


def model_loading() -> background.Task | None:
    """The background load of this session's checkpoint (resources.model_task), started if need be."""
    source = st.session_state.get(CHECKPOINT)
    return None if source is None else model_task(source, st.session_state.get(CHECKPOINT_BYTES))


def current_model(wait: bool = True) -> tuple[Loaded | None, str]:
    """(this session's model or None, why not). It loads in the background (model_loading); `wait`: until it is
    loaded, else MODEL_LOADING meanwhile."""
    task = model_loading()
    if task is None:
        return None, "no checkpoint yet"
    if wait:
        model_needed()  # a fresh server's model task waits for the first page otherwise (resources.model_task)
    if (task.wait() if wait else task.status()).state == "running":
        return None, MODEL_LOADING
    source = st.session_state[CHECKPOINT]
    try:  # the loaded model from st.cache_resource; a failed load raises its error again
        return load_source(source, st.session_state.get(CHECKPOINT_BYTES)), ""
    except ShoevaeError as e:  # CheckpointError
        return None, f"{source['label']}: {e}"


def current_catalogue(wait: float | None = None) -> tuple[Catalogue | None, str]:
    """(this session's catalogue or None, the problem with its data folder: LOADING while decoding).

    With `wait`, a progress bar is drawn while the photos are decoded (see background.show); without,
    nothing is drawn and nothing waits (the sidebar).
    """
    try:
        task = catalogue_task(data_key())
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


def current_recommender(wait: float | None = None) -> Recommender | None:
    """This session's recommender, or None (no model or photos yet, or still embedding; never waits
    unless `wait` is given, which also draws the progress)."""
    loaded, _ = current_model(wait=wait is not None)
    cat, _ = current_catalogue()
    if loaded is None or cat is None:
        return None
    task = recommender_task(loaded, cat, data_key())
    status = task.status() if wait is None else background.show(task, wait=wait, retry=True)
    return status.result if status.state == "done" else None


def session_job() -> TrainingJob | None:
    """This session's training job (running or ended), or None."""
    job = st.session_state.get(JOB)
    return None if job is None else job_registry().get(job)  # no job: jobs.py (and torch) stay unimported
