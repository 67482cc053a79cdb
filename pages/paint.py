"""Paint a shoe: colour strokes on a canvas, the shoe the decoder draws from them, and its five nearest shoes."""
import streamlit as st

from shoevae.ui import current, guards, layout, painting

layout.page_header("Paint a shoe", "Paint colour strokes or an outline, on a blank canvas or over the picked shoe: "
                   "the model finds the style vector whose drawing fits your strokes best.")
rec = guards.require_recommender()
loaded, _ = current.current_model()

tools = painting.tools(rec)
canvas_col, shoe_col = st.columns([3, 2], gap="large")
with canvas_col:
    rgba = painting.canvas(rec, tools)
with shoe_col:
    z = painting.drawn_shoe(rec, loaded.key, rgba, tools["row"])
if z is not None:
    painting.nearest(rec, z)
