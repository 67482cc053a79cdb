"""The Evaluate page's human-judgement section: triplet agreement of the loaded model and the baselines.

The judgements live beside the photo folder (../shared/data/human-triplets next to ../shared/data/zappos)
or where SHOEVAE_TRIPLETS points; see shoevae.triplets.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import streamlit as st

from ..recommend import Recommender
from ..triplets import TripletsError, load_triplets, model_table
from .state import data_key


def triplets_folder(rec: Recommender) -> Path:
    """$SHOEVAE_TRIPLETS, else human-triplets/ beside the catalogue's folder."""
    if os.environ.get("SHOEVAE_TRIPLETS"):
        return Path(os.environ["SHOEVAE_TRIPLETS"])
    root = Path(rec.catalogue.root)
    return (root.parent if root.suffix == ".csv" else root).parent / "human-triplets"


@st.cache_data(max_entries=8, show_spinner="Scoring the human judgements (PCA baseline fitted on the catalogue)…")
def _agreement(model_key: str, data: str, folder: str, _rec: Recommender) -> pd.DataFrame:
    judged = load_triplets(folder, _rec.catalogue.image_size)
    label = f"VAE ({_rec.model.cfg.preset}, {_rec.model.cfg.latent_dim} dims)"
    table = model_table(judged, _rec.model, label, _rec.catalogue, baselines=True)
    df = pd.DataFrame(table).T.rename(index=lambda s: s.removeprefix("triplets: "))
    return df.rename_axis(f"features ({len(judged):,} judgements)")


def triplet_section(rec: Recommender, model_key: str) -> None:
    """Subheader, a button, and the agreement table (remembered per checkpoint)."""
    st.subheader("Do people agree?")
    folder = triplets_folder(rec)
    st.caption("People were shown a shoe and two others and picked the more similar one. Agreement: the share of "
               "these judgements where the features put the picked shoe nearer (ties count as wrong; chance is 50 %).")
    if not (folder / "triplets.csv").is_file():
        st.info(f"No human judgements at `{folder}` (set SHOEVAE_TRIPLETS to their folder).", icon=":material/info:")
        return
    done = f"shoevae.eval.triplets.{model_key}"
    if st.button("Score human judgements", key="shoevae.eval.triplets", icon=":material/groups:"):
        st.session_state[done] = True
    if st.session_state.get(done):
        try:
            df = _agreement(model_key, data_key(), str(folder), rec)
        except TripletsError as e:
            st.error(f"Could not read the judgements: {e}", icon=":material/error:")
            return
        st.dataframe(df.style.format("{:.1%}"))
