"""Home: which photos and which model this session uses; load another checkpoint."""
import pandas as pd
import streamlit as st

from shoevae.ui import background, current, guards, layout, session, widgets

layout.page_header("ShoeVAE", "Recommends shoes of similar style. An unsupervised CNN variational "
                   "auto-encoder turns each photo into a style vector; similar shoes have nearby vectors.")


def try_it() -> None:
    c = st.columns(4)
    c[0].page_link("pages/recommend.py", label="Similar shoes", icon=":material/thumb_up:")
    c[1].page_link("pages/generate.py", label="New shoes", icon=":material/auto_awesome:")
    c[2].page_link("pages/latent_map.py", label="Style map", icon=":material/scatter_plot:")
    c[3].page_link("pages/evaluate.py", label="How good is it?", icon=":material/leaderboard:")


ready = current.current_recommender() is not None  # no wait, nothing drawn: the links go first, above the fold
if ready:
    try_it()
photos, model = st.columns([2, 3], gap="large")
with photos:
    st.header("Shoe photos")
    widgets.data_folder_input()
    cat, problem = current.current_catalogue(wait=1.0)  # a first visit: a progress bar while the photos are decoded
    if problem == current.LOADING:
        st.caption("The first visit decodes every photo once; later visits read them back in about a second.")
    elif cat is None:
        st.warning(f"No shoe photos here: {problem}\n\n{guards.FETCH_HELP}", icon=":material/folder_off:")
    else:
        st.metric("Shoes", f"{len(cat):,}")
        counts = pd.DataFrame({"shoes": cat.counts()})
        st.bar_chart(counts, height=220, horizontal=True, y_label="shoes", x_label="")  # y: the value axis
        with st.expander(f"Skipped files ({len(cat.skipped)})"):
            if cat.skipped:
                st.dataframe(pd.DataFrame(cat.skipped, columns=["file", "reason"]), hide_index=True)
            else:
                st.write("None: every file was a usable photo.")

with model:
    st.header("Model")
    loaded, why = current.current_model(wait=False)
    if why == current.MODEL_LOADING:  # a fresh server: the page first, then torch and the model
        background.show(current.model_loading())  # a bar; the page is drawn again once it is loaded
    elif loaded is None:
        if st.session_state.get(session.CHECKPOINT) is not None:
            st.error(f"The checkpoint could not be loaded: {why}", icon=":material/error:")
        st.info("No model loaded yet: load one here, or train one.", icon=":material/info:")
        st.page_link(session.TRAIN_PAGE, label="Train a model", icon=":material/model_training:")
    with st.expander("Load another checkpoint" if loaded else "Load a checkpoint", icon=":material/upload_file:",
                     expanded=loaded is None and why != current.MODEL_LOADING):  # near the top: its errors show in view
        widgets.checkpoint_picker()
    if loaded is not None:
        widgets.model_facts(loaded)

# the embedding starts as soon as the photos are read: its progress shows here, then the links (at the top)
if not ready and cat is not None and loaded is not None and current.current_recommender(wait=1.0) is not None:
    st.rerun()
