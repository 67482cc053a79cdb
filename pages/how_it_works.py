"""How it works: the loaded network, its loss, one shoe going through it, and what the KL weight does."""
import pandas as pd
import streamlit as st

from shoevae.architecture import count_parameters, graph_dot, layers, trace
from shoevae.config import TrainConfig
from shoevae.perceptual import feature_layers_text, unequal_shares
from shoevae.ui import charts, layout, state

layout.page_header("How it works", "A variational auto-encoder squeezes each photo into a short style vector "
                   "and learns to draw the photo back from it. Everything below comes from the loaded model.")
rec = state.require_recommender()
loaded, _ = state.current_model()
model, cat = rec.model, rec.catalogue
cfg, beta = model.cfg, loaded.meta.get("train_config", {}).get("beta", 1.0)

st.header("The network")
st.markdown(f"`{loaded.source['label']}`: the **{cfg.preset}** preset, **{count_parameters(model):,}** parameters. "
            f"The encoder shrinks a {cfg.image_size}×{cfg.image_size} photo to a mean μ and a spread σ for each of "
            f"**{cfg.latent_dim}** latent dimensions; the decoder mirrors it back to a photo.")
st.graphviz_chart(graph_dot(model), width="stretch")
with st.expander("Every layer, with its output shape and parameter count"):
    table = pd.DataFrame([{"part": ly.part, "layer": ly.name, "what": ly.kind,
                           "output shape": " × ".join(map(str, ly.shape)), "parameters": ly.params}
                          for ly in layers(model)])
    st.dataframe(table, hide_index=True, width="stretch")

st.header("What it learns to minimise")
if cfg.likelihood == "gaussian":  # sigma-VAE: one shared variance s^2 at its optimum, the batch's squared error
    reconstruction = (r"\sum_{\text{pixels } i} \Big[\frac{(x_i - \hat x_i)^2}{2 s^2} + \log s\Big]"
                      r"}_{\text{Gaussian: how far the drawing is from the photo}}")
else:
    reconstruction = (r"-\sum_{\text{pixels } i} \big[x_i \log \hat x_i + (1 - x_i)\log(1 - \hat x_i)"
                      r"\big]}_{\text{BCE: how far the drawing is from the photo}}")
st.latex(r"\mathcal{L}(x) = \underbrace{" + reconstruction + r" \;+\; \beta \cdot \underbrace{\tfrac12 "
         r"\sum_{j=1}^{" + str(cfg.latent_dim) + r"} \big(\mu_j^2 + \sigma_j^2 - \log \sigma_j^2 - 1\big)}"
         r"_{\text{KL: how far } \mathcal{N}(\mu, \sigma^2) \text{ is from } \mathcal{N}(0, I)}")
if cfg.likelihood == "gaussian":
    st.caption("s is one variance shared by every pixel, set each batch to its best value, the mean squared error "
               "(σ-VAE, Rybkin et al. 2021): the drawing term weighs itself against KL as the drawings improve.")
train_cfg = TrainConfig.from_dict(loaded.meta.get("train_config") or {})
if train_cfg.perceptual:
    mixed = "averaged over the blocks" if unequal_shares(train_cfg) is None else "weighed by those shares"
    st.caption(f"Training added the same Gaussian term, times {train_cfg.perceptual:g}, on the feature maps of an "
               f"ImageNet network (EfficientNet-Lite0, blocks {feature_layers_text(train_cfg)}; the first see edges "
               f"and textures, blocks 10 and up shoe parts), {mixed}: "
               "the drawing must also match the photo's edges, textures and parts.")
history = loaded.meta.get("history") or []
last = f" After its last epoch: BCE {history[-1]['bce']:,.0f}, KL {history[-1]['kl']:,.0f} per image." if history else ""
st.markdown(f"This checkpoint was trained with **β = {beta:g}**.{last} BCE pulls towards faithful drawings; KL "
            "keeps the style vectors near a standard normal, so that nearby vectors decode to similar shoes.")

st.header("One shoe, through the network")
item, note = state.shoe_to_show(rec)
if note:
    st.info(note, icon=":material/info:")
row = cat.index_of(item)
seed = st.session_state.get("shoevae.how.seed", 0)
t = trace(model, cat.images[row], seed)
photo, chart, drawn = st.columns([1, 3, 1.2], gap="medium")
photo.image(cat.images[row], caption=f"1 · the photo: {cat.categories[row]} {item}", width="stretch")
with chart:
    st.markdown(f"**2 · mean μ and spread σ of each of the {cfg.latent_dim} dimensions, 3 · one sampled z**")
    st.plotly_chart(charts.latent_figure(t.mu, t.sigma, t.z), key="shoevae.how.latent")
with drawn:
    st.image(t.from_z, caption=f"4 · decoded from z (BCE {t.bce:,.0f}, KL {t.kl:,.0f})", width="stretch")
    st.image(t.from_mu, caption="decoded from μ (what Recommend compares)", width="stretch")
    if st.button("Draw another z", icon=":material/casino:", key="shoevae.how.redraw", width="stretch"):
        st.session_state["shoevae.how.seed"] = seed + 1
        st.rerun()

st.header("The KL weight β")
sweep = state.ROOT / "docs" / "figures"
st.markdown("The report saw that weighting KL by 100 \"makes everything look alike\". The sweep trained the "
            "`style` preset for 5 epochs on 3,000 photos with β = 1, 4, 16 and 100 (README, The KL weight): a "
            "larger β pulls every vector towards the origin, so samples get smoother and more alike, "
            "reconstructions blurrier and neighbours less often of the same category.")
if (sweep / "beta_sweep.md").is_file():
    st.markdown((sweep / "beta_sweep.md").read_text())
if (sweep / "beta_sweep_samples.png").is_file():
    st.image(str(sweep / "beta_sweep_samples.png"), caption="Samples from z ~ N(0, I) of each sweep model "
             "(scripts/figures.py)", width="stretch")
