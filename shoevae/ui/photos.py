"""A person's own shoe in the app: a photo (uploaded or taken with the camera) and its nearest shoes, and
the painting canvas with the shoe drawn from it.

The work is the package's (Recommender.photo_query, shoevae/photo.py, shoevae/paint.py); this lays it out.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from ..images import ImageError, load_photo
from .text import match_captions
from .widgets import shoe_card

if TYPE_CHECKING:
    from ..neighbours import Match
    from ..recommend import PhotoQuery, Recommender


def photo_matches(rec: Recommender, name: str, data: bytes, key: str) -> None:
    """A photo beside what the model sees (with a switch to use it unprepared), the judgement whether it looks
    like a shoe, and its five nearest catalogue shoes; an unusable file is one clear error."""
    raw = st.toggle("Use the photo unprepared", key=f"shoevae.photo.raw.{key}",
                    help="Off: the shoe is found, put on white, levelled, turned to face left and framed as the "
                         "catalogue's photos are. On: the photo as it is, padded to a square.")
    if "shoe_check" not in vars(rec):  # calibrated once per model and catalogue, at the first photo
        with st.spinner("Calibrating the shoe check for this model and catalogue (first photo only)…"):
            rec.shoe_check  # noqa: B018
    try:
        query = rec.photo_query(data, 5, prepare=not raw)
        shown = load_photo(data, 480)
    except ImageError as e:
        st.error(f"Cannot use {name}: {e}", icon=":material/broken_image:")
        return
    show_query(rec, query, shown, name)


def show_query(rec: Recommender, query: PhotoQuery, shown: np.ndarray, name: str) -> None:
    cols = st.columns([2, 2, 3], gap="medium", vertical_alignment="center")
    with cols[0]:
        shoe_card(shown, "your photo")
    with cols[1]:
        shoe_card(query.prepared, "what the model sees")
    with cols[2]:
        if query.looks_like_shoe:
            st.success(query.note, icon=":material/check_circle:")
        else:
            st.warning(query.note, icon=":material/help:")
    st.subheader(f"The five catalogue shoes nearest to {name}")
    matches_row(rec, query.matches)


def matches_row(rec: Recommender, matches: list[Match]) -> None:
    cols = st.columns(len(matches), gap="medium")
    for col, m, caption in zip(cols, matches, match_captions(matches)):
        with col:
            shoe_card(rec.catalogue.images[m.row], caption)

