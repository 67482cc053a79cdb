"""Everything Streamlit: the only part of shoevae that imports streamlit.

Pages (pages/*.py) and app.py lay things out with these modules; the work itself is done by the
rest of the package. session: paths, settings, the "shoevae.*" keys and the picked shoe; resources:
what every session shares (st.cache_* and background tasks); current: this session's photos, model and
recommender; guards: the require_*() a page starts with; layout: the frame, CSS, page header and
sidebar; widgets: shoe cards, grids, browsing, uploads, checkpoint picker, latent sliders; charts:
figures (losses, latent map, precision); training: the training form and monitor; text: wording;
background: tasks with progress; warmup: a fresh server's warm-up. Cached resources are shared by
every browser session and never mutated (models stay in eval()); what one person chose lives in
st.session_state under "shoevae.*" keys, so two people never disturb each other. Import the modules explicitly, e.g.
`from shoevae.ui import guards, layout, widgets`; importing this package alone loads none of them.
"""
