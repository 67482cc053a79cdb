"""Latent map: every shoe's style vector flattened to 2D; click a point to see it and its neighbours."""
import streamlit as st

from shoevae.ui import charts, current, guards, layout, resources, session, widgets

layout.page_header("Latent map", "Each dot is one shoe, placed by its style vector squeezed into 2D. "
                   "Colours are the catalogue's categories, which the model never saw. Hover a dot to see "
                   "the shoe, click it to pick it; drag to pan, Shift + wheel to zoom.")
rec = guards.require_recommender()
loaded, _ = current.current_model()
cat = rec.catalogue

c1, c2 = st.columns([1, 2], vertical_alignment="bottom")
method = c1.segmented_control("Projection", ["PCA", "t-SNE"], default="PCA", key="shoevae.map.method") or "PCA"
if len(cat) > 1000:
    shown = c2.select_slider("Shoes shown", charts.shown_options(len(cat)), charts.default_shown(len(cat)),
                             format_func="{:,}".format, key="shoevae.map.shown")
else:  # a small catalogue: every shoe, no slider whose minimum would exceed its maximum
    shown = len(cat)
    c2.caption(f"All {len(cat):,} shoes shown.")

xy = resources.projection(rec, loaded.key, "pca" if method == "PCA" else "tsne", charts.map_rows(len(cat), shown))
if xy is None:  # t-SNE of the shown shoes still running (a progress bar) or failed (its error)
    st.stop()
item = st.session_state.get(session.PICK)
highlight = session.pick_and_neighbours(rec, item)
chart, side = st.columns([3, 2], gap="large")
with chart:
    rows = charts.map_rows(len(cat), shown)
    st.caption(f"{method} map of {shown:,} shoes")  # also keeps the chart's toolbar clear of the slider above
    thumbs = resources.tooltip_images(cat)
    if thumbs is None:  # still being made (a progress bar, the page reruns when done) or failed (its error)
        st.stop()
    charts.map_chart(charts.map_altair(xy, cat, rows, highlight, thumbs), cat)
with side:
    widgets.neighbours(rec, item, columns=3, key="map", hint="Click a dot to see that shoe and its nearest five.")
