"""ShoeVAE: find shoes of similar style with a CNN variational auto-encoder.

    SHOEVAE_DATA=../shared/data/zappos streamlit run app.py

Multipage layout: this file is the frame. It sets the page config, the session's defaults and the
shared sidebar, and lists the pages with st.navigation. The pages are the files in pages/, named
here explicitly (st.navigation switches Streamlit's automatic pages/ discovery off, so the order,
titles and icons below are the only ones). Pages share state only through st.session_state
("shoevae.*" keys: data folder, checkpoint, picked shoe, training job) and the cached resources in
shoevae.ui.resources; see shoevae/ui/__init__.py for the other modules.
"""
import streamlit as st

st.set_page_config(page_title="ShoeVAE", page_icon="👟", layout="wide",  # the Presenting switch folds the sidebar
                   initial_sidebar_state="collapsed" if st.session_state.get("shoevae.presenting") else "expanded")
# the page list first: until it is given, a fresh server shows Streamlit's automatic lower-case pages/ menu
page = st.navigation([
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/recommend.py", title="Recommend", icon=":material/thumb_up:"),
    st.Page("pages/reconstruct.py", title="Reconstruct", icon=":material/compare:"),
    st.Page("pages/generate.py", title="Generate", icon=":material/auto_awesome:"),
    st.Page("pages/paint.py", title="Paint a shoe", icon=":material/brush:"),
    st.Page("pages/latent_map.py", title="Latent map", icon=":material/scatter_plot:"),
    st.Page("pages/evaluate.py", title="Evaluate", icon=":material/leaderboard:"),
    st.Page("pages/how_it_works.py", title="How it works", icon=":material/schema:"),
])
starting = st.empty()
starting.caption("Starting ShoeVAE…")  # a fresh server imports the app's modules first: not a blank page

from shoevae.ui import current, layout, session  # noqa: E402

starting.empty()
session.init_state()
current.current_catalogue()  # a fresh server starts reading the photos; torch loads after the first page
layout.style()
layout.sidebar()
with layout.frame():
    page.run()
