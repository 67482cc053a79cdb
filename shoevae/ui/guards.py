"""The first line of a page that needs photos or a model: it gets them, or the page stops, saying why.

A missing folder or checkpoint is a warning with links to where to fix it; photos being decoded or
embedded are a progress bar that reruns the page when they are ready.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from . import background
from .current import LOADING, MODEL_LOADING, current_catalogue, current_model, current_recommender, model_loading
from .resources import cached_shoes, model_needed, page_drawn
from .session import CHECKPOINT, HOME_PAGE, TRAIN_PAGE, configure_torch

if TYPE_CHECKING:
    from ..catalogue import Catalogue
    from ..neighbours import NearestShoes
    from ..recommend import Recommender

FETCH_HELP = ("Fetch the full dataset with `python -m shoevae data fetch`, or use the 13.5K sample: "
              "`SHOEVAE_DATA=../shared/data/zappos streamlit run app.py` (or type its path on Home).")


def require_catalogue() -> Catalogue:
    """This session's catalogue: while it is decoded a progress bar (the page stops there), and a
    warning with a link when there are no usable photos."""
    if current_catalogue()[1] == LOADING:  # decoding: the model may load meanwhile (a cold start's photos and torch's
        page_drawn()                       # import overlap: its first neighbours came 7 s sooner, its grid 1 s later)
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
    task = model_loading()
    if task is not None:
        model_needed()  # this page can draw nothing more without it: load it now
        background.show(task, wait=background.PAGE_WAIT_S, report_error=False)  # a bar while it loads
    loaded, problem = current_model(wait=False)
    if problem == MODEL_LOADING:
        st.stop()  # the bar reruns the page when the model is loaded
    if loaded is None:
        st.warning(f"Train or load a checkpoint first ({problem}).", icon=":material/model_training:")
        c1, c2 = st.columns(2)
        c1.page_link(TRAIN_PAGE, label="Train a model", icon=":material/model_training:")
        c2.page_link(HOME_PAGE, label="Load a checkpoint on Home", icon=":material/home:")
        st.stop()
    configure_torch()  # this script thread's share of the cores, before the page runs the model
    rec = current_recommender(wait=background.PAGE_WAIT_S)
    if rec is None:
        st.stop()  # embedding: the progress bar reruns the page when done (or the error is shown)
    return rec


def require_shoes() -> NearestShoes:
    """The catalogue's nearest shoes, for browsing: this session's recommender, or, while its checkpoint still
    loads, the style vectors that checkpoint left in the cache (no torch: a restarted server browses at once);
    else as require_recommender."""
    cat = require_catalogue()
    loaded, problem = current_model(wait=False)
    if problem == MODEL_LOADING or (loaded is not None and current_recommender() is None):
        shoes = cached_shoes(st.session_state[CHECKPOINT], cat)
        if shoes is not None:
            return shoes
    return require_recommender()
