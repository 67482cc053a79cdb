"""How it works, in the order a teacher walks through it: data -> encoder -> style vector -> decoder -> loss -> neighbours."""
from pathlib import Path

import pandas as pd
import streamlit as st

from shoevae.architecture import count_parameters, graph_dot, layers, trace
from shoevae.config import TrainConfig
from shoevae.perceptual import feature_layers_text, unequal_shares
from shoevae.ui import charts, current, guards, layout, session

layout.page_header("How it works", "A variational auto-encoder squeezes each photo into a short style vector "
                   "and learns to draw the photo back from it. Everything below comes from the loaded model.")
rec = guards.require_recommender()
loaded, _ = current.current_model()
model, cat = rec.model, rec.catalogue
cfg, beta = model.cfg, loaded.meta.get("train_config", {}).get("beta", 1.0)
train_cfg = TrainConfig.from_dict(loaded.meta.get("train_config") or {})
item, note = session.shoe_to_show(rec)
if note:
    st.info(note, icon=":material/info:")
row = cat.index_of(item)
seed = st.session_state.get("shoevae.how.seed", 0)
t = trace(model, cat.images[row], seed)

st.header("1 · The data")
photo, words = st.columns([1, 3], gap="large")
photo.image(cat.images[row], caption=f"1 · the photo: {cat.categories[row]} {item}", width="stretch")
words.markdown(f"**{len(cat):,}** product photos of shoes, each {cfg.image_size}×{cfg.image_size} pixels with "
               "3 colours. No labels: the categories (Boot, Sandal, Shoe) are never shown to the model, they only "
               "judge it afterwards (Evaluate).")

st.header("The network")
st.markdown(f"`{loaded.source['label']}`: the **{cfg.preset}** preset, **{count_parameters(model):,}** parameters. "
            f"**2 · The encoder** shrinks a {cfg.image_size}×{cfg.image_size} photo to a mean μ and a spread σ for "
            f"each of **{cfg.latent_dim}** latent dimensions; **4 · the decoder** mirrors it back to a photo.")
st.graphviz_chart(graph_dot(model), width="stretch")
with st.expander("Every layer, with its output shape and parameter count"):
    table = pd.DataFrame([{"part": ly.part, "layer": ly.name, "what": ly.kind,
                           "output shape": " × ".join(map(str, ly.shape)), "parameters": ly.params}
                          for ly in layers(model)])
    st.dataframe(table, hide_index=True, width="stretch")

st.header("3 · The style vector")
st.markdown(f"**2 · mean μ and 3 · spread σ of each of the {cfg.latent_dim} dimensions, and one sampled z = μ + σ·ε**")
st.plotly_chart(charts.latent_figure(t.mu, t.sigma, t.z), key="shoevae.how.latent")
st.caption(f"σ has its own scale (lower panel): typically {float(abs(t.sigma).mean()):.3f}, against μ spanning "
           f"{float(t.mu.min()):+.1f} to {float(t.mu.max()):+.1f}. The encoder is nearly certain where this shoe "
           "lies, so a sampled z is almost exactly μ, and drawing another z changes nothing you can see.")

st.header("4 · The decoder")
z_col, mu_col, words = st.columns([1, 1, 2], gap="medium")
z_col.image(t.from_z, caption=f"4 · decoded from z (BCE {t.bce:,.0f}, KL {t.kl:,.0f})", width="stretch")
mu_col.image(t.from_mu, caption="decoded from μ", width="stretch")
with words:
    st.markdown("The decoder turns any style vector back into a picture. The pictures are only for us to look "
                "at: Recommend never compares pictures, it compares the μ vectors themselves (section 6).")
    if st.button("Draw another z", icon=":material/casino:", key="shoevae.how.redraw"):
        st.session_state["shoevae.how.seed"] = seed + 1
        st.rerun()

st.header("5 · What it learns to minimise")
if cfg.likelihood == "gaussian":  # sigma-VAE: one shared variance s^2 at its optimum, the batch's squared error
    reconstruction = (r"\sum_{\text{pixels } i} \Big[\frac{(x_i - \hat x_i)^2}{2 s^2} + \log s\Big]"
                      r"}_{\text{Gaussian: how far the drawing is from the photo}}")
    term = "The Gaussian term"
else:
    reconstruction = (r"-\sum_{\text{pixels } i} \big[x_i \log \hat x_i + (1 - x_i)\log(1 - \hat x_i)"
                      r"\big]}_{\text{BCE: how far the drawing is from the photo}}")
    term = "BCE"
drawing_terms, more_terms = "", ""  # the second line holds the colour term and the critic, when trained with them
if train_cfg.perceptual:
    drawing_terms = (r" \;+\; " + f"{train_cfg.perceptual:g}" + r" \cdot \underbrace{\sum_{\text{blocks } b} "
                     r"\text{Gaussian}\big(F_b(x), F_b(\hat x)\big)}_{\text{feature term: edges, textures, parts}}")
if train_cfg.colour:
    more_terms += (r" \;+\; " + f"{train_cfg.colour:g}" + r" \cdot \underbrace{\text{Gaussian}\big(\bar x, \bar{\hat x}\big)}"
                   r"_{\text{colour term}}")
if train_cfg.adversarial:
    more_terms += r" \;+\; \lambda \cdot \underbrace{\big(-D(\hat x)\big)}_{\text{patch critic}}"
kl = (r" \;+\; \beta \cdot \underbrace{\tfrac12 \sum_{j=1}^{" + str(cfg.latent_dim) + r"} \big(\mu_j^2 + \sigma_j^2 - "
      r"\log \sigma_j^2 - 1\big)}_{\text{KL: how far } \mathcal{N}(\mu, \sigma^2) \text{ is from } \mathcal{N}(0, I)}")
drawing = r"\underbrace{" + reconstruction + drawing_terms
st.latex(r"\begin{aligned} \mathcal{L}(x) &= " + drawing + r" \\ &" + more_terms + kl + r"\end{aligned}" if more_terms
         else r"\mathcal{L}(x) = " + drawing + kl)
if cfg.likelihood == "gaussian":
    st.caption("s is one variance shared by every pixel, set each batch to its best value, the mean squared error "
               "(σ-VAE, Rybkin et al. 2021): the drawing term weighs itself against KL as the drawings improve.")
if train_cfg.perceptual:
    mixed = "averaged over the blocks" if unequal_shares(train_cfg) is None else "weighed by those shares"
    st.caption(f"F_b: the feature maps of an ImageNet network (EfficientNet-Lite0, blocks {feature_layers_text(train_cfg)}; "
               f"the first see edges and textures, blocks 10 and up shoe parts), the same Gaussian term, times "
               f"{train_cfg.perceptual:g}, {mixed}: the drawing must also match the photo's edges, textures and parts.")
if train_cfg.decoder_only:
    card = Path(loaded.source["path"]).with_suffix(".md") if loaded.source.get("path") else None
    told = f"; the model card beside this file, `{card.name}`, gives every run" if card and card.is_file() else ""
    st.caption(f"These are the terms of this checkpoint's last training, which taught the decoder alone to draw: its "
               f"encoder, and so every style vector, comes unchanged from the run it started from "
               f"(`{Path(train_cfg.init).name if train_cfg.init else 'another checkpoint'}`{told}).")
if train_cfg.colour:
    st.caption(f"x̄: the photo at a quarter of its size (4×4 blocks averaged), its colours without the detail; the same "
               f"Gaussian term, times {train_cfg.colour:g}, so that a colour cast costs what matching the features "
               "cannot buy back.")
if train_cfg.adversarial:
    st.caption(f"D: a small critic that learns to tell the photos' patches from the drawn ones; the drawings are asked "
               f"to pass for photos, at a weight λ adapted every step to {train_cfg.adversarial:g} times the pull of the "
               "likelihood on the decoder's last layer (as latent diffusion's auto-encoder).")
history = loaded.meta.get("history") or []
last = f" After its last epoch: BCE {history[-1]['bce']:,.0f}, KL {history[-1]['kl']:,.0f} per image." if history else ""
st.markdown(f"This checkpoint was trained with **β = {beta:g}**.{last} {term} pulls towards faithful drawings; KL "
            "keeps the style vectors near a standard normal, so that nearby vectors decode to similar shoes. "
            "(BCE is reported for every model, so runs compare.)")

st.header("6 · Neighbours: what Recommend does")
matches = rec.similar(item, 5)
st.markdown(f"Every catalogue shoe has its μ, {cfg.latent_dim} numbers. For the picked shoe, Recommend finds the five "
            "whose μ **point the most the same way**: the cosine distance d = 1 − cos(angle between the two μ) is 0 "
            "for the same direction and 1 for unrelated ones; its length (how strongly a style shows) is ignored. "
            f"That is a nearest-neighbour search over all {len(cat):,} vectors, a fraction of a second, no pictures "
            "compared.")
cols = st.columns(6, gap="small")
cols[0].image(cat.images[row], caption="picked", width="stretch")
for col, m in zip(cols[1:], matches):
    col.image(cat.images[m.row], caption=f"d = {m.distance:.3f}", width="stretch")

st.header("The KL weight β")
sweep = session.ROOT / "docs" / "figures"
st.markdown("The report saw that weighting KL by 100 \"makes everything look alike\". The sweep trained the "
            "`style` preset for 5 epochs on 3,000 photos with β = 1, 4, 16 and 100 (docs/model.md, The KL weight): a "
            "larger β pulls every vector towards the origin, so samples get smoother and more alike, "
            "reconstructions blurrier and neighbours less often of the same category.")
with st.expander("The sweep's numbers and samples"):
    if (sweep / "beta_sweep.md").is_file():
        st.markdown((sweep / "beta_sweep.md").read_text())
    if (sweep / "beta_sweep_samples.png").is_file():
        st.image(charts.label_rows(str(sweep / "beta_sweep_samples.png"), [f"beta = {b}" for b in (1, 4, 16, 100)],
                                  top=40, bottom=40),
                 caption="Samples from z ~ N(0, I) of each sweep model, one row per β (scripts/figures.py)",
                 width="stretch")
