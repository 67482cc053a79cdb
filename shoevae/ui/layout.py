"""The frame around every page: CSS, the app.py frame check, the page header and the sidebar.

app.py applies style() and runs each page inside frame(); every page starts with page_header(),
which also puts the frame around a page that Streamlit ran on its own (ensure_frame). sidebar() is
the one-glance status (photos, model, background training) written once for all pages.
"""
from __future__ import annotations

import contextlib
import runpy
from pathlib import Path
from typing import Iterator

import streamlit as st

from . import background, warmup
from .current import LOADING, MODEL_LOADING, current_catalogue, current_model, model_loading, session_job
from .resources import catalogue_task, page_drawn
from .session import CHECKPOINT, FRAME, ROOT, data_key
from .text import plural

STYLE = """<style>
[data-testid="stMainBlockContainer"] {padding-top: 2.5rem; padding-bottom: 2rem;}
[data-testid="stImageCaption"], [data-testid="caption"] {font-size: 0.95rem;}
[data-testid="stImageCaption"] {overflow-wrap: normal; word-break: keep-all;}  /* an item id never breaks mid-hash */
[data-testid^="stBaseButton"] [data-testid="stMarkdownContainer"],
[data-testid^="stBaseButton"] [data-testid="stMarkdownContainer"] p {white-space: normal; text-overflow: clip;
  word-break: normal; overflow-wrap: normal;}
[data-testid="stBaseButton-secondary"], [data-testid="stBaseButton-primary"] {padding-left: 0.3rem; padding-right: 0.3rem;}
[data-testid="stProgress"] div {transition: none !important;}
[data-testid="stColumn"]:has(.st-key-shoevae-sticky-shoe) {position: sticky; top: 3.5rem; align-self: flex-start;}
</style>"""


CATALOGUE_SETTLE_S = 1.0  # the sidebar waits this long for photos being read before it says "loading…"
PRESENTING = "shoevae.presenting"  # the sidebar's switch (session state); app.py collapses the sidebar with it
PRESENTING_STYLE = """<style>
html {font-size: 19px;}
[data-testid="stMainBlockContainer"] {max-width: 100%; padding-left: 2rem; padding-right: 2rem;}
[data-testid="stCaptionContainer"], .shoevae-blurb, [data-testid="stExpander"] {display: none;}
[data-testid="stImageCaption"] {font-size: 1.05rem;}
</style>"""


def presenting() -> bool:
    """Whether this session presents: larger pictures and type, no explanatory captions, the sidebar collapsed."""
    return bool(st.session_state.get(PRESENTING))


def style() -> None:
    """Projector tweaks: less empty space above the title, readable captions, button labels that wrap
    in narrow columns instead of ending in "…"; while presenting, larger everything and fewer words."""
    st.html(STYLE + (PRESENTING_STYLE if presenting() else ""))


@contextlib.contextmanager
def frame() -> Iterator[None]:
    """app.py runs the chosen page inside this, so pages can tell they run within the frame. Once the page has
    drawn (or stopped), background models may load (resources.page_drawn)."""
    st.session_state[FRAME] = True
    try:
        yield
    finally:
        st.session_state[FRAME] = False
        page_drawn()


def ensure_frame() -> None:
    """Run app.py around this page when Streamlit ran the page file on its own.

    Why: the folder is called pages/, Streamlit's name for its older multipage scheme. A fresh server
    finds a pages/ folder beside app.py and stays in that scheme until some run calls st.navigation
    (streamlit 1.67: PagesManager.uses_pages_directory, read by ScriptRunner). So the first request of a
    fresh server that is a page URL (a bookmarked /recommend) runs pages/recommend.py alone, without
    app.py's page config, sidebar and session defaults. Here app.py runs instead (its st.navigation
    ends that scheme for the server) and runs this page again inside the frame; the outer run stops.
    Naming the folder otherwise (Streamlit's docs use app_pages/) would make this unnecessary; pages/ is
    the name the project was asked for. tests/test_browser.py opens a page URL first on a fresh server.
    """
    if not st.session_state.get(FRAME):
        runpy.run_path(str(ROOT / "app.py"), run_name="__main__")
        st.stop()


def page_header(title: str, blurb: str) -> None:
    """Every page starts here: the frame check, a big title and a one-line explanation."""
    ensure_frame()
    st.title(title)
    st.markdown(f"<p class='shoevae-blurb' style='font-size:1.25rem;color:#555;margin-top:-0.6rem'>{blurb}</p>",
                unsafe_allow_html=True)


def sidebar() -> None:
    """One-glance status in the sidebar of every page: which photos, which model, training, the warm-up.

    Each block has its own container, so a rerun that adds or drops a progress bar never shifts the
    blocks below it (a shifted block showed twice, the new one above the old, until the run ended).
    """
    cat, problem = current_catalogue()
    if problem == LOADING:  # from the cache they are read in a fifth of a second: wait that, not draw the page twice
        catalogue_task(data_key()).wait(CATALOGUE_SETTLE_S)
        cat, problem = current_catalogue()
    loaded, why = current_model(wait=False)
    with st.sidebar:
        photos, model, training, ready = (st.container() for _ in range(4))
        st.toggle("Presenting", key=PRESENTING, help="For a projector: larger pictures and type, fewer words, this "
                  "sidebar folded away (open it with the arrow at the top left to switch back).")
    with photos:
        st.markdown("**Photos:** " + (f"{len(cat):,} shoes from `{Path(cat.root).name}`" if cat
                                      else ":orange[loading…]" if problem == LOADING else ":orange[none loaded]"))
        # a small bar that redraws every page (this sidebar too) once they are read; read in the moment
        # between the two looks: draw again now, or this line says "loading…" until the next click
        if problem == LOADING and background.show(catalogue_task(data_key())).state == "done":
            st.rerun()
    with model:
        if loaded:
            cfg, epochs = loaded.meta["model_config"], loaded.meta.get("epoch", 0)
            last = " of its decoder" if (loaded.meta.get("train_config") or {}).get("decoder_only") else ""
            st.markdown(f"**Model:** `{loaded.source['label']}`  \n{cfg['preset']} · {plural(epochs, 'epoch')}{last} · "
                        f"{cfg['latent_dim']} latent dims")
        elif why == MODEL_LOADING:
            st.markdown(f"**Model:** `{st.session_state[CHECKPOINT]['label']}` :orange[loading…]")
            background.show(model_loading())  # a small bar that redraws the page once it is loaded
        else:
            st.markdown("**Model:** :orange[none loaded]")
    with training:
        job = session_job()
        if job is not None and job.snapshot().running:
            st.markdown(f"**Training:** `{job.snapshot().name}` in the background")
    if loaded and problem in ("", LOADING) and warmup.enabled():
        task = warmup.start(loaded, data_key())  # started by the first page view of a fresh server
        if cat is not None:
            with ready:
                readiness(task)


def readiness(task: background.Task) -> None:
    """The warm-up's one line: a small "Getting ready: N of M" bar, then "Ready" (or what did not work)."""
    status = task.status()
    if status.state == "running":
        background.show(task)  # redraws the page when the warm-up ends
    elif status.state == "done" and status.result:
        st.caption(f"Ready · every page answers at once (warmed up in {status.elapsed:.0f} s)")
    else:
        st.caption(":orange[Warm-up incomplete]: each page computes what it needs on first use.")
