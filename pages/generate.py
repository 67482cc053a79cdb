"""Generate: new shoes decoded from sampled style vectors, steered along meaningful directions, blended.

Each tab is a fragment: moving one of its widgets reruns only that tab, and every decoded shoe is
cached, so after the first load the page answers without recomputing the others.
"""
import streamlit as st

from shoevae.directions import BLENDS, blend_gap, far_shoe, prior_mismatch, slider_labels, stack
from shoevae.ui import current, guards, layout, resources, session, widgets

SAMPLERS = {"mixture": "Mixture fitted to the catalogue", "normal": "N(0, I) through a second stage",
            "prior": "N(0, I) straight in, as the report"}
START = ["Picked shoe", "Average shoe"]
MODES = ["Principal directions", "Categories", "Raw coordinates"]

layout.page_header("Generate", "The decoder draws a shoe from any style vector: sampled ones, ones you "
                   "steer along directions that mean something, and blends between two real shoes.")
rec = guards.require_recommender()
loaded, _ = current.current_model()
cat = rec.catalogue


@st.fragment
def from_noise() -> None:
    # the sampler choice gets a row of its own: in a third of the width its labels were cut off at 1280 px
    kind = st.segmented_control("Draw style vectors from", list(SAMPLERS), format_func=SAMPLERS.get,
                                default="mixture", key="shoevae.gen.sampler") or "mixture"
    c1, c2 = st.columns([1, 2], vertical_alignment="bottom")
    seed = c1.number_input("Seed", 0, 1_000_000, 0, key="shoevae.gen.seed")
    temperature = c2.slider("Temperature (spread around the centre)", 0.1, 2.0, 1.0, 0.1, key="shoevae.gen.temp")
    resources.sampler(rec, loaded.key, kind)  # fit (first time only) with its own spinner
    images = resources.sample_shoes(rec, loaded.key, kind, 12, temperature, seed)
    widgets.card_grid(images, [f"sample {i + 1}" for i in range(12)], 6)
    real, prior = prior_mismatch(rec.embeddings)
    lengths = f"the catalogue's style vectors are about {real:.0f} long, a draw from N(0, I) about {prior:.0f}"
    st.caption({
        "mixture": "A Gaussian mixture fitted to the style vectors of the catalogue's shoes (ex-post density "
                   "estimation), so samples come from where real shoes lie.",
        "normal": "Noise u drawn from N(0, I), as the report draws it, then carried to where the shoes lie by a "
                  "second stage fitted to the catalogue's style vectors: z = m + L·u, with m their mean and L from "
                  f"their covariance (a linear two-stage VAE, Dai & Wipf 2019). Needed because {lengths}.",
        "prior": "z drawn from N(0, I), the prior the VAE was trained towards, straight into the decoder. Here "
                 f"{lengths}: unless they match, most draws land where the decoder has never seen a shoe and come "
                 "out faint or blank (the second stage fixes that).",
    }[kind])


@st.fragment
def sliders() -> None:
    c1, c2 = st.columns([2, 3], vertical_alignment="bottom")
    start = c1.segmented_control("Start from", START, default=START[0], key="shoevae.gen.start") or START[0]
    mode = c2.segmented_control("Sliders", MODES, default=MODES[0], key="shoevae.gen.mode") or MODES[0]
    found = resources.directions(rec, loaded.key)
    if start == START[0]:
        item, note = session.shoe_to_show(rec)
        if note:
            st.info(note, icon=":material/info:")
        row = cat.index_of(item)
        z0, name, tag = rec.embeddings[row], f"{cat.categories[row]} `{item}`", item
        st.markdown(f"Starting from the picked shoe: **{name}**")
    else:
        z0, name, tag = found["average"], "the catalogue's average shoe", "average"
        st.markdown("Starting from **the catalogue's average shoe** (the mean of all style vectors)")
    if mode == MODES[0]:
        st.caption("The directions along which the catalogue's style vectors spread most, largest first; each end "
                   "is named by the category (and look) that lies that way. Units: the catalogue's standard deviations.")
        labels = slider_labels(found["labels"])
        widgets.direction_sliders(rec, loaded.key, z0, name, found["principal"], labels, key=f"pc.{tag}")
    elif mode == MODES[1]:
        names = list(found["categories"])
        combined = stack([found["categories"][c] for c in names], found["average"])
        st.caption("From the mean of the other shoes towards the mean of one category.")
        widgets.direction_sliders(rec, loaded.key, z0, name, combined, [f"more {c.lower()}" for c in names],
                                  key=f"cat.{tag}")
    else:
        widgets.latent_sliders(rec, loaded.key, z0, name.replace("`", ""))


@st.fragment
def blends() -> None:
    c1, c2, c3, c4 = st.columns([2, 2, 1.3, 1], vertical_alignment="bottom")
    first = c1.text_input("First shoe (item id)", session.shoe_to_show(rec)[0], key="shoevae.gen.a").strip()
    second = c2.text_input("Second shoe (item id)", far_shoe(cat, first), key="shoevae.gen.b").strip()
    mode = c3.segmented_control("Blend", BLENDS, default="linear", key="shoevae.gen.blend",
                                format_func=str.capitalize) or "linear"
    steps = c4.slider("Steps", 4, 10, 8, key="shoevae.gen.steps")
    try:
        strip = resources.interpolate(rec, loaded.key, first, second, steps, mode)
    except KeyError as e:
        st.error(e.args[0] if e.args else str(e), icon=":material/error:")
    else:
        widgets.card_grid(strip, ["first shoe"] + [f"{i}/{steps - 1}" for i in range(steps)] + ["second shoe"],
                          (steps + 3) // 2)  # two rows: big enough to see on a projector
        angle, shorter = blend_gap(rec.embeddings[cat.index_of(first)], rec.embeddings[cat.index_of(second)])
        st.caption("Linear: the straight line between the two style vectors. Spherical (slerp): along the arc "
                   f"between them, keeping their length. These two vectors are {angle:.0f}° apart, so the linear "
                   f"midpoint is only {shorter:.0%} shorter than the spherical one: the decoder draws the two nearly "
                   "alike (they differ most for shoes far apart, near 90°). The middle frames look like two shoes "
                   "overlaid because no real shoe lies halfway: the decoder mixes what it knows from either side.")


noise, steer, blend = st.tabs(["From random noise", "Sliders", "Blend two shoes"])
with noise:
    from_noise()
with steer:
    sliders()
with blend:
    blends()
