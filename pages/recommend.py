"""Recommend: browse the catalogue, pick a shoe (or upload a photo) and see its five nearest shoes."""
import streamlit as st

from shoevae.export import neighbours_bytes
from shoevae.ui import guards, layout, photos, resources, session, widgets

layout.page_header("Recommend", "Pick a shoe: the five shoes whose style vectors are nearest to it.")
cat = guards.require_catalogue()

browse, upload, camera = st.tabs(["Browse the catalogue", "Your own photo", "Take a photo"],
                                 key="shoevae.recommend.tab", on_change="rerun")
with browse:
    item = st.session_state.get(session.PICK)
    compare = st.container()  # above the grid, once the style vectors are there
    grid, chosen = st.columns([3, 2], gap="large")
    with grid:  # the photos alone: browsing starts before the style vectors are ready
        rows = widgets.browse_controls(cat, per_page=9)
        widgets.catalogue_grid(cat, rows, columns=3)  # at 1280 px, 4 columns broke ids mid-hash and wrapped buttons
    with chosen:
        # a restarted server reads the style vectors from the cache before its model loads; the first start shows
        # a bar here while the model embeds every shoe (the page stops here meanwhile)
        rec = guards.require_shoes()
        widgets.neighbours(rec, item, columns=3)
    with compare:
        if st.toggle("Compare with the pixel baseline (PCA of pixels) for the same shoe",
                     key="shoevae.recommend.compare", disabled=not item,
                     help="Pick a shoe first" if not item else None) and item:
            try:
                pixels = resources.pixel_neighbours(rec, item)
            except KeyError:
                pass  # an unknown id: neighbours() says so
            else:
                if pixels is not None:  # None: the baseline is being fitted (a progress bar) or failed (its error)
                    vae_col, pix_col = st.columns(2, gap="large")
                    widgets.compare_neighbours(rec, item, pixels, columns=(vae_col, pix_col))

with upload:
    photo = widgets.photo_upload("A photo of a shoe, on any backdrop (the side view works best)",
                                 key="shoevae.recommend.photo")
    if photo is not None:
        photos.photo_matches(guards.require_recommender(), *photo, key="upload")

with camera:
    if camera.open:  # the camera (and the browser's permission prompt) only while this tab is open
        shot = st.camera_input("Take a photo of a shoe from the side", key="shoevae.recommend.camera")
        if shot is not None:
            photos.photo_matches(guards.require_recommender(), "your photo", shot.getvalue(), key="camera")

st.download_button(f"Every shoe's 10 nearest, with distances ({len(cat):,} shoes, CSV)", icon=":material/download:",
                   data=lambda: neighbours_bytes(rec, 10, "csv"), file_name="neighbours.csv", mime="text/csv",
                   on_click="ignore", key="shoevae.recommend.export",
                   help="The same file as `python -m shoevae recommend --all -k 10 --out neighbours.csv`")
