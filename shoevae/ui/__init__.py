"""Everything Streamlit: the only part of shoevae that imports streamlit.

Pages (pages/*.py) and app.py lay things out with these modules; the work itself is done by the
rest of the package. state: paths, settings, cached resources and this session's choices; layout:
the frame, CSS, page header and sidebar; widgets: shoe cards, grids, browsing, uploads, checkpoint
picker, latent sliders; charts: plotly figures (losses, latent map, precision); training: the
training form and monitor; text: wording. Cached resources are shared by every browser session and
never mutated (models stay in eval()); what one person chose lives in st.session_state under
"shoevae.*" keys, so two people never disturb each other. Import the modules explicitly, e.g.
`from shoevae.ui import layout, state, widgets`; importing this package alone loads none of them.
"""
