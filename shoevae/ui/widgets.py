"""Widgets the pages are built from: shoe cards and grids, browsing, uploads, checkpoints, sliders.

Each function draws one reusable piece and, where the page needs it, returns what the person chose
(the catalogue rows to show, an uploaded photo). A click on a shoe goes through session.pick(), so the
picked shoe follows the person from page to page; every widget keeps its "shoevae.*" key.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import streamlit as st

from ..catalogue import IMAGE_SUFFIXES, Catalogue, CatalogueError
from ..errors import CheckpointError
from .current import use_checkpoint, use_data_folder
from .resources import Loaded, decode, top_dimensions
from .session import CHECKPOINT, DATA, PICK, UPLOAD_SEEN, path_source, pick, upload_source, weights_dir
from .text import duration, match_captions, plural, shoe_caption

if TYPE_CHECKING:  # torch and altair load when first used: Recommend's first view needs neither
    from ..directions import Directions
    from ..neighbours import Match, NearestShoes
    from ..recommend import Recommender


# ----------------------------------------------------------------------------- shoe cards
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


def catalogue_grid(cat: Catalogue, rows: list[int] | np.ndarray, columns: int = 4) -> None:
    """Catalogue shoes, each with a "Similar" button that picks it."""
    rows = [int(r) for r in rows]
    ids = [cat.ids[r] for r in rows]
    chosen = st.session_state.get(PICK)
    card_grid([cat.images[r] for r in rows], [shoe_caption(cat, r) for r in rows], columns,
              button="Similar shoes", keys=[f"shoevae.grid.{i}" for i in ids], on_click=pick,
              args=[(i,) for i in ids], primary=ids.index(chosen) if chosen in ids else None)


def pairs_grid(top: list[np.ndarray] | np.ndarray, top_captions: list[str],
               bottom: list[np.ndarray] | np.ndarray | None, bottom_captions: list[str], columns: int = 6,
               *more: tuple[list[np.ndarray] | np.ndarray, list[str]]) -> None:
    """Images in rows of `columns`, each row followed by the row of their counterparts (e.g. reconstructions),
    and by the rows of any `more` (images, captions) (e.g. difference images)."""
    below = ([(bottom, bottom_captions)] if bottom is not None else []) + list(more)
    for start in range(0, len(top_captions), columns):
        end = min(start + columns, len(top_captions))
        card_grid(list(top[start:end]), top_captions[start:end], columns)
        for images, captions in below:
            card_grid(list(images[start:end]), captions[start:end], columns)


def neighbours(rec: NearestShoes, item_id: str | None, *, columns: int = 3, k: int = 5, key: str = "nb",
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
    # one grid, the picked shoe first: in a narrow column (1280 px) the five stay above the fold, ids whole
    st.markdown(f"**{cat.categories[row]}** `{item_id}`  \nIts {k} nearest shoes in style space:")
    images = [cat.images[row]] + [cat.images[m.row] for m in matches]
    captions = ["picked"] + match_captions(matches)
    for start in range(0, len(images), columns):
        for j, col in enumerate(st.columns(columns, gap="small")[: len(images) - start]):
            i = start + j
            with col:
                if i == 0:
                    shoe_card(images[0], captions[0])
                else:
                    m = matches[i - 1]
                    # "Similar": in three columns of the narrow side panel (1280 px) "Similar shoes" wrapped
                    shoe_card(images[i], captions[i], button="Similar", key=f"shoevae.{key}.{m.item_id}",
                              on_click=pick, args=(m.item_id,))


# ----------------------------------------------------------------------------- browsing and uploads
def browse_controls(cat: Catalogue, per_page: int) -> list[int]:
    """Category filter, random pick, go-to id and paging; returns the catalogue rows to show."""
    cats = ["All", *cat.counts()]
    choice = st.segmented_control("Category", cats, default="All", key="shoevae.browse.category") or "All"
    rows = np.arange(len(cat)) if choice == "All" else np.flatnonzero(np.asarray(cat.categories) == choice)
    c2, c3 = st.columns([1, 1.4], vertical_alignment="bottom")  # own row: nothing truncated at 1280 px
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


# ----------------------------------------------------------------------------- latent sliders
def latent_sliders(rec: Recommender, model_key: str, z0: np.ndarray, start_name: str, top: int = 8) -> None:
    """Sliders on the raw latent dims that vary most over the catalogue, and the decoded shoe."""
    dims, lo, hi = top_dimensions(rec, model_key, top)
    tag = f"{start_name}.{st.session_state.get('shoevae.gen.reset', 0)}"
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
    with shoe, st.container(key="shoevae-sticky-shoe"):  # layout.STYLE keeps this column in view
        moved = int(np.sum(~np.isclose(z[dims], z0[dims], atol=1e-3)))
        st.image(decode(rec, model_key, z)[0], width="stretch",
                 caption=f"decoded from {start_name}, {plural(moved, 'dimension')} moved")


# ----------------------------------------------------------------------------- directions and comparisons
PREVIEW_STEPS = (-2.0, -1.0, 0.0, 1.0, 2.0)  # standard deviations shown in each direction's preview strip


INVISIBLE = 2.0  # mean change (0-255) between a direction's -2 and +2 ends below which it "changes nothing visible"


def direction_sliders(rec: Recommender, model_key: str, z0: np.ndarray, start_name: str, dirs: Directions,
                      labels: list[str], key: str) -> None:
    """One slider per direction (in the catalogue's standard deviations, -3 to +3), each with a strip
    previewing -2..+2 from the start, and the shoe decoded from the start moved by all the sliders.

    The shoe stays in view (its column sticks while the page scrolls past the sliders); directions whose
    strip barely changes for this start are put in a closed expander, named as such.
    """
    from ..directions import visible_change
    from ..sampling import image_grid  # scikit-learn: imported when first needed, not by every page
    tag = f"{key}.{st.session_state.get('shoevae.gen.reset', 0)}"
    shoe, knobs = st.columns([2, 3], gap="large")
    amounts = np.zeros(len(labels), np.float32)
    strips = []
    for i in range(len(labels)):
        one = np.zeros((len(PREVIEW_STEPS), len(labels)), np.float32)
        one[:, i] = PREVIEW_STEPS
        strips.append(decode(rec, model_key, dirs.move(z0, one)))
    change = visible_change(np.stack(strips))
    flat = [i for i in range(len(labels)) if change[i] < INVISIBLE]
    with knobs:
        def knob(i: int) -> None:
            amounts[i] = st.slider(labels[i], -3.0, 3.0, 0.0, 0.25, format="%+.2f sd",
                                   key=f"shoevae.gen.dir.{tag}.{i}")
            st.image(image_grid(strips[i], columns=len(PREVIEW_STEPS)), width="stretch",
                     caption="preview: " + "  ·  ".join(f"{t:+g}" for t in PREVIEW_STEPS))
        for i in range(len(labels)):
            if i not in flat:
                knob(i)
        if flat:
            names = ", ".join(str(i + 1) for i in flat)
            with st.expander(f"{plural(len(flat), 'direction')} ({names}) that change nothing visible on this shoe",
                             expanded=len(flat) == len(labels)):
                st.caption("Their strips differ by less than 1 % between −2 and +2: the decoder ignores these "
                           "directions here (the encoder spreads the catalogue along them, the drawing does not show it).")
                for i in flat:
                    knob(i)
        if st.button("Reset sliders", icon=":material/restart_alt:", key=f"shoevae.gen.reset.{key}"):
            st.session_state["shoevae.gen.reset"] = st.session_state.get("shoevae.gen.reset", 0) + 1
            st.rerun(scope="fragment")
    with shoe, st.container(key="shoevae-sticky-shoe"):  # layout.STYLE keeps this column in view
        moved = int(np.count_nonzero(amounts))
        st.image(decode(rec, model_key, dirs.move(z0, amounts))[0], width="stretch",
                 caption=f"decoded from {start_name}, {plural(moved, 'direction')} moved")


def compare_neighbours(rec: NearestShoes, item_id: str, pixel_matches: list[Match], columns: tuple,
                       k: int = 5) -> None:
    """The VAE's k nearest (first column) beside the pixel baseline's k (second), with category agreement."""
    cat = rec.catalogue
    own = cat.categories[cat.index_of(item_id)]
    dims = rec.embeddings.shape[1]
    for col, title, matches in ((columns[0], f"VAE style vectors ({dims} dims)", rec.similar(item_id, k)),
                                (columns[1], f"PCA of pixels ({dims} dims)", pixel_matches)):
        with col:
            same = sum(m.category == own for m in matches)
            st.markdown(f"**{title}**: {same} of {len(matches)} are {own}s")
            cards = st.columns(len(matches), gap="small")
            for i, (card, m) in enumerate(zip(cards, matches), 1):
                with card:
                    shoe_card(cat.images[m.row], f"#{i} {m.category}")  # one short line under a small picture


# ----------------------------------------------------------------------------- home: data and checkpoint
def data_folder_input() -> None:
    """Text input for this session's data folder; only a folder with images replaces the current one."""
    typed = st.text_input("Data folder (photos in `<category>/` folders, or a manifest.csv)",
                          value=st.session_state[DATA], key="shoevae.home.data")
    if typed.strip() and typed.strip() != st.session_state[DATA]:
        try:
            use_data_folder(typed.strip())
        except CatalogueError as e:
            st.error(f"Kept the current photos: {e}", icon=":material/folder_off:")
        else:
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
    c = st.columns(2) + st.columns(2)  # two rows of two: in four columns "paper" overflowed at 1280 px
    c[0].metric("Preset", m["preset"])
    c[1].metric("Epochs", loaded.meta.get("epoch", 0))
    c[2].metric("β (KL weight)", f"{t.get('beta', 1):g}")
    c[3].metric("Latent size", m["latent_dim"])
    n = loaded.meta.get("data", {}).get("n_train")
    took = duration(loaded.meta.get("train_seconds", 0))
    st.caption(f"`{loaded.source['label']}` · trained on {n:,} photos in {took}" if n
               else f"`{loaded.source['label']}` · trained in {took}")
    if loaded.meta.get("history"):
        from .charts import loss_figure
        st.plotly_chart(loss_figure(loaded.meta["history"], height=230), key="shoevae.home.loss")
