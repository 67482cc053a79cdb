"""Generate: new shoes decoded from random style vectors, hand-steered ones, and blends of two shoes."""
import streamlit as st

from shoevae.ui import layout, state, widgets

layout.page_header("Generate", "The decoder draws a shoe from any style vector: random ones, "
                   "ones you steer with sliders, and blends between two real shoes.")
rec = state.require_recommender()
loaded, _ = state.current_model()
cat = rec.catalogue

noise, sliders, blend = st.tabs(["From random noise", "Latent sliders", "Blend two shoes"])
with noise:
    c1, c2 = st.columns(2)
    seed = c1.number_input("Seed", 0, 1_000_000, 0, key="shoevae.gen.seed")
    temperature = c2.slider("Temperature (spread of the noise)", 0.1, 2.0, 1.0, 0.1, key="shoevae.gen.temp")
    images = state.generate(rec, loaded.key, 12, temperature, seed)
    widgets.card_grid(images, [f"sample {i + 1}" for i in range(12)], 6)

with sliders:
    start = st.segmented_control("Start from", ["Picked shoe", "Zero vector"], default="Picked shoe",
                                 key="shoevae.gen.start") or "Picked shoe"
    item = None
    if start == "Picked shoe":
        item, note = state.shoe_to_show(rec)
        if note:
            st.info(note, icon=":material/info:")
    widgets.latent_sliders(rec, loaded.key, item)

with blend:
    c1, c2, c3 = st.columns([2, 2, 1], vertical_alignment="bottom")
    first = c1.text_input("First shoe (item id)", state.picked(rec), key="shoevae.gen.a").strip()
    second = c2.text_input("Second shoe (item id)", state.far_shoe(rec, first), key="shoevae.gen.b").strip()
    steps = c3.slider("Steps", 4, 10, 8, key="shoevae.gen.steps")
    try:
        strip = state.interpolate(rec, loaded.key, first, second, steps)
    except KeyError as e:
        st.error(e.args[0] if e.args else str(e), icon=":material/error:")
    else:
        widgets.card_grid(strip, ["first shoe"] + [f"{i}/{steps - 1}" for i in range(steps)] + ["second shoe"],
                          (steps + 3) // 2)  # two rows: big enough to see on a projector
