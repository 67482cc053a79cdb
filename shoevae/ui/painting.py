"""The Paint page's pieces: a canvas (streamlit-drawable-canvas) to paint colour strokes on, blank or over
the picked shoe, and the shoe the decoder draws from them (shoevae/paint.py) with its five nearest shoes."""
from __future__ import annotations

import hashlib
import time
from typing import Any

import numpy as np
import streamlit as st
from PIL import Image
from streamlit_drawable_canvas import st_canvas

from .. import paint
from ..recommend import Recommender
from .photos import matches_row
from .resources import sampler
from .session import data_key, shoe_to_show

CANVAS = 408  # canvas pixels (3 x the catalogue's 136): big enough to paint on at 1280 px
STARTS = ["Blank", "Picked shoe"]
TOOLS = {"freedraw": "Brush", "line": "Line", "rect": "Box"}


@st.cache_resource(max_entries=4, show_spinner="Making thumbnails to start painting from (first time only)…")
def _thumbnails(data_key: str, _images: np.ndarray) -> np.ndarray:
    return paint.thumbnails(_images)


@st.cache_resource(max_entries=4, show_spinner=False)
def _prior(model_key: str, data_key: str, _sampler: Any) -> paint.MixturePrior:
    g = _sampler.gmm_
    return paint.MixturePrior(g.weights_, g.means_, g.covariances_)


@st.cache_data(max_entries=32, show_spinner=False)
def _fitted(model_key: str, data_key: str, digest: str, _rec: Recommender, _strokes: paint.Strokes,
            start_row: int | None, _prior: Any) -> tuple[np.ndarray, float, float]:
    """(z, colour error, seconds) for these strokes (remembered by their digest: reruns do not fit again)."""
    thumbs = _thumbnails(data_key, _rec.catalogue.images)
    t = time.perf_counter()
    rows = list(paint.starts(thumbs, _strokes))
    if start_row is not None:
        rows = [start_row, *rows[: paint.STARTS - 1]]
    z, err = paint.fit(_rec.model, _strokes, _rec.embeddings[rows], _prior)
    return z, err, time.perf_counter() - t


def tools(rec: Recommender) -> dict[str, Any]:
    """The row of painting tools: what to paint on, the tool, the colour and the brush width."""
    c1, c2, c3, c4 = st.columns([4, 4, 1.3, 4], vertical_alignment="bottom")
    start = c1.segmented_control("Paint on", STARTS, default=STARTS[0], key="shoevae.paint.start") or STARTS[0]
    tool = c2.segmented_control("Tool", list(TOOLS), format_func=TOOLS.get, default="freedraw",
                                key="shoevae.paint.tool") or "freedraw"
    colour = c3.color_picker("Colour", "#C0392B", key="shoevae.paint.colour")
    width = c4.slider("Brush width", 2, 60, 24, key="shoevae.paint.width")
    row = None
    if start == STARTS[1]:
        item, note = shoe_to_show(rec)
        if note:
            st.info(note, icon=":material/info:")
        row = rec.catalogue.index_of(item)
    return {"tool": tool, "colour": colour, "width": width, "row": row}


def canvas(rec: Recommender, tools: dict[str, Any]) -> np.ndarray | None:
    """The canvas, blank or over the picked shoe; the painted RGBA pixels (alpha 0 where unpainted) or None."""
    row, colour = tools["row"], tools["colour"]
    background = None if row is None else Image.fromarray(rec.catalogue.images[row])
    st.caption("Paint with the mouse; the small toolbar on the canvas undoes, redoes and clears.")
    result = st_canvas(fill_color=colour, stroke_width=tools["width"], stroke_color=colour, background_image=background,
                       height=CANVAS, width=CANVAS, drawing_mode=tools["tool"], return_image_data=True,
                       key=f"shoevae.paint.canvas.{row}")
    data = result.image_data
    if data is None or data.ndim != 3 or data.shape[2] != 4:
        return None
    return np.asarray(data, np.uint8)


def drawn_shoe(rec: Recommender, model_key: str, rgba: np.ndarray | None, row: int | None) -> np.ndarray | None:
    """The shoe drawn from the strokes (or what to do first); returns its style vector."""
    strokes = paint.strokes_from_canvas(rgba, rec.catalogue.image_size) if rgba is not None else None
    if strokes is None or strokes.empty:
        st.info("Paint a few strokes: the colour of the upper, a sole, an outline. The decoder then draws the shoe "
                "whose picture fits them best.", icon=":material/brush:")
        return None
    prior = _prior(model_key, data_key(), sampler(rec, model_key, "mixture"))
    digest = hashlib.sha256(strokes.colour.tobytes() + strokes.weight.tobytes()).hexdigest()
    with st.spinner("Finding the style vector that draws your strokes…"):
        z, err, took = _fitted(model_key, data_key(), digest, rec, strokes, row, prior)
    st.image(rec.decode(z)[0], width="stretch", caption=f"drawn from your strokes ({took:.1f} s)")
    st.caption(f"Mean squared colour error on the painted pixels: {err:.3f} (0 = exact). Unpainted pixels are "
               "left to the model; the mixture fitted to the catalogue keeps the drawing a shoe.")
    return z


def nearest(rec: Recommender, z: np.ndarray) -> None:
    st.subheader("The five catalogue shoes nearest to the drawn shoe")
    matches_row(rec, rec.nearest_to_vector(z, 5))
