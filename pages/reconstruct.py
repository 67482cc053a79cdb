"""Reconstruct: shoes beside what the auto-encoder makes of them, with the reconstruction error."""
import numpy as np
import streamlit as st

from shoevae.colour import SCALE, colour_error, difference_images
from shoevae.ui import guards, layout, session, text, widgets

layout.page_header("Reconstruct", "Each shoe goes through the encoder to its style vector and back "
                   "through the decoder: what survives the squeeze into a style vector.")
rec = guards.require_recommender()
cat = rec.catalogue

# the choice gets a row of its own: beside the slider it was wider than its column at 1280 px
source = st.segmented_control("Shoes", ["Picked shoe and its neighbours", "Random shoes"], default="Random shoes",
                              key="shoevae.recon.source") or "Random shoes"
c2, c3 = st.columns([2, 1], vertical_alignment="bottom")
n = c2.slider("How many", 3, 12, 6, key="shoevae.recon.n")
if c3.button("New random shoes", icon=":material/casino:", width="stretch", key="shoevae.recon.new"):
    st.session_state["shoevae.recon.seed"] = st.session_state.get("shoevae.recon.seed", 0) + 1

if source == "Random shoes":
    rng = np.random.default_rng(st.session_state.get("shoevae.recon.seed", 0))
    rows = rng.choice(len(cat), min(n, len(cat)), replace=False).tolist()
else:
    item, note = session.shoe_to_show(rec)
    if note:
        st.info(note, icon=":material/info:")
    rows = [cat.index_of(item)] + [m.row for m in rec.similar(item, n - 1)]

recons, _ = rec.reconstruct(rows)
errors, maps = colour_error(cat.images[rows], recons)
st.markdown(f"**Originals**, each with its **reconstruction** and **where the colours differ** below · "
            f"mean colour error ΔE {errors.mean():.1f}")
widgets.pairs_grid([cat.images[r] for r in rows], [text.shoe_caption(cat, r) for r in rows], recons,
                   [f"ΔE {e:.1f}" for e in errors], 6, (difference_images(maps), ["difference"] * len(rows)))
st.caption("Colour error ΔE2000 (CIEDE2000): how different two colours look to a person, per pixel (about 1 is "
           "just noticeable, above 10 clearly different), averaged over the shoe's own pixels, not the white "
           "background. The difference pictures are white where the colours match and red where they differ "
           f"(full red: ΔE {SCALE:.0f} or more). Training minimised a different number, a Gaussian pixel error plus a "
           "feature term (How it works); this one is for reading.")
