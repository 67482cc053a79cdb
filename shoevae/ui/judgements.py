"""The Evaluate page's human-judgement section: triplet agreement of the loaded model and the baselines.

The judgements live beside the photo folder (../shared/data/human-triplets next to ../shared/data/zappos)
or where SHOEVAE_TRIPLETS points; see shoevae.triplets.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from ..triplets import load_triplets, model_table
from . import background
from .session import data_key

if TYPE_CHECKING:
    import pandas as pd

    from ..recommend import Recommender


def triplets_folder(rec: Recommender) -> Path:
    """$SHOEVAE_TRIPLETS, else human-triplets/ beside the catalogue's folder."""
    if os.environ.get("SHOEVAE_TRIPLETS"):
        return Path(os.environ["SHOEVAE_TRIPLETS"])
    root = Path(rec.catalogue.root)
    return (root.parent if root.suffix == ".csv" else root).parent / "human-triplets"


def agreement_task(rec: Recommender, model_key: str, data: str, folder: Path) -> background.Task:
    """The agreement table of the model and the baselines with the judgements in `folder`, computed in the
    background (shared by all sessions: the Evaluate page and the warm-up)."""
    def score(progress: background.Progress) -> pd.DataFrame:
        progress(0, 1, "reading the judged photos, fitting the PCA baseline")
        judged = load_triplets(folder, rec.catalogue.image_size)
        label = f"VAE ({rec.model.cfg.preset}, {rec.model.cfg.latent_dim} dims)"
        table = model_table(judged, rec.model, label, rec.catalogue, baselines=True)
        import pandas as pd  # in the task: the pages that import this module draw without it
        df = pd.DataFrame(table).T.rename(index=lambda s: s.removeprefix("triplets: "))
        return df.rename_axis(f"compared by ({len(judged):,} judgements)")
    return background.start(("judgements", model_key, data, str(folder)), "Scoring the human judgements", score)


def triplet_section(rec: Recommender, model_key: str) -> None:
    """Subheader, a button, and the agreement table (remembered per checkpoint)."""
    st.subheader("Do people agree?")
    folder = triplets_folder(rec)
    st.caption("People were shown a shoe and two others and picked the more similar one. Agreement: the share of "
               "these judgements where a row's vectors put the picked shoe nearer (ties count as wrong; chance is 50 %).")
    if not (folder / "triplets.csv").is_file():
        st.info(f"No human judgements at `{folder}` (set SHOEVAE_TRIPLETS to their folder).", icon=":material/info:")
        return
    done = f"shoevae.eval.triplets.{model_key}"
    if st.button("Score human judgements", key="shoevae.eval.triplets", icon=":material/groups:"):
        st.session_state[done] = True
    if st.session_state.get(done):
        status = background.show(agreement_task(rec, model_key, data_key(), folder), wait=background.PAGE_WAIT_S,
                                 report_error=False, retry=True)
        if status.state == "failed":
            st.error(f"Could not read the judgements: {status.error}", icon=":material/error:")
        if status.state == "done":
            st.dataframe(status.result.style.format("{:.1%}"))
