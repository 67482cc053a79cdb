"""Reconstruct: shoes beside what the auto-encoder makes of them, with the reconstruction error."""
import streamlit as st

from shoevae.ui import layout, state, text, widgets

layout.page_header("Reconstruct", "Each shoe goes through the encoder to its style vector and back "
                   "through the decoder. Lower error = better reconstruction.")
rec = state.require_recommender()
cat = rec.catalogue

c1, c2, c3 = st.columns([2, 1, 1], vertical_alignment="bottom")
source = c1.segmented_control("Shoes", ["Picked shoe and its neighbours", "Random shoes"],
                              default="Random shoes", key="shoevae.recon.source") or "Random shoes"
n = c2.slider("How many", 3, 12, 6, key="shoevae.recon.n")
if c3.button("New random shoes", icon=":material/casino:", width="stretch", key="shoevae.recon.new"):
    st.session_state["shoevae.recon.seed"] = st.session_state.get("shoevae.recon.seed", 0) + 1

if source == "Random shoes":
    rows = state.random_rows(len(cat), n, st.session_state.get("shoevae.recon.seed", 0))
else:
    item, note = state.shoe_to_show(rec)
    if note:
        st.info(note, icon=":material/info:")
    rows = [cat.index_of(item)] + [m.row for m in rec.similar(item, n - 1)]

recons, errors = rec.reconstruct(rows)
st.markdown(f"**Originals**, each with its **reconstruction** below · mean error {errors.mean():,.0f}")
widgets.pairs_grid([cat.images[r] for r in rows], [text.shoe_caption(cat, r) for r in rows], recons,
                   [f"error {e:,.0f}" for e in errors], columns=6)
st.caption("Error = binary cross-entropy summed over the pixels of one image (the VAE's reconstruction loss).")
