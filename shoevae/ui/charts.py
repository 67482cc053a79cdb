"""Charts and tables: loss curves, the latent map with point selection, evaluation results.

Figure builders take plain data (a training history, 2-D coordinates, evaluation results) and
return a plotly go.Figure, an Altair chart or a DataFrame for the page to show. The latent map is
Altair (Vega-Lite), because its tooltips can show an image (plotly's hover labels cannot): hovering
a dot shows the shoe, and map_chart() makes a clicked dot this session's pick.
"""
from __future__ import annotations

import base64
import io
from typing import Any, Callable

import altair as alt
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from PIL import Image
from plotly.subplots import make_subplots

from ..catalogue import Catalogue
from .session import pick

PALETTE = ["#1f77b4", "#e8710a", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


# ----------------------------------------------------------------------------- losses
def loss_figure(history: list[dict[str, float]] | tuple, height: int = 300, steps: list[dict[str, float]] | tuple = (),
                batches_per_epoch: int = 0) -> go.Figure:
    """BCE (train and hold-out) and KL per image in two panels.

    With `steps` (one row per batch: step, bce, kl) the x axis counts batches: batch losses faintly (at most
    300, evenly spread: the chart is redrawn while training runs, on the same CPU), their running mean as a
    line, and the finished epochs' hold-out BCE as markers at the epoch ends.
    Without, one point per finished epoch (older jobs, finished histories).
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Reconstruction (BCE per image)", "KL per image"))
    mode = "lines+markers"
    if steps:
        x, thin = running_losses(steps)
        for col, key in ((1, "bce"), (2, "kl")):
            fig.add_trace(go.Scatter(x=x[thin], y=np.array([r[key] for r in steps])[thin], mode="markers",
                                     marker=dict(size=3, opacity=0.25, color="#1f77b4" if col == 1 else "#2ca02c"),
                                     name=f"{key.upper()} per batch", showlegend=False), 1, col)
            fig.add_trace(go.Scatter(x=x[thin], y=running_mean([r[key] for r in steps])[thin], mode="lines",
                                     name=f"train {key.upper()} (running mean)",
                                     line=dict(color="#1f77b4" if col == 1 else "#2ca02c")), 1, col)
        val = [(r["epoch"] * batches_per_epoch, r["val_bce"]) for r in history if "val_bce" in r]
        if val and batches_per_epoch:
            fig.add_trace(go.Scatter(x=[v[0] for v in val], y=[v[1] for v in val], name="hold-out BCE (epoch end)",
                                     mode="markers", marker=dict(size=10, symbol="diamond", color="#e8710a")), 1, 1)
    else:
        epochs = [r["epoch"] for r in history]
        fig.add_trace(go.Scatter(x=epochs, y=[r["bce"] for r in history], name="train BCE", mode=mode), 1, 1)
        if any("val_bce" in r for r in history):
            fig.add_trace(go.Scatter(x=epochs, y=[r.get("val_bce") for r in history], name="hold-out BCE",
                                     mode=mode), 1, 1)
        fig.add_trace(go.Scatter(x=epochs, y=[r["kl"] for r in history], name="KL", mode=mode), 1, 2)
        fig.update_xaxes(dtick=1 if len(epochs) < 15 else None)
    fig.update_xaxes(title_text="batches trained" if steps else "epoch", title_standoff=4)
    # the legend hangs below the axis titles (anchored at its top, so a second line grows downwards)
    fig.update_layout(height=height + 40, margin=dict(l=10, r=10, t=40, b=10), hovermode="x unified",
                      legend=dict(orientation="h", yanchor="top", y=-0.3 if steps else -0.32, x=0))
    return fig


def running_mean(values: list[float] | np.ndarray, window: int = 25) -> np.ndarray:
    """Mean of the last `window` values at each position (fewer at the start)."""
    v = np.cumsum(np.concatenate([[0.0], np.asarray(values, float)]))
    i = np.arange(1, len(v))
    return (v[i] - v[np.maximum(0, i - window)]) / np.minimum(i, window)


def running_losses(steps: list[dict[str, float]] | tuple, max_points: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """(batch numbers, indices of at most `max_points` evenly spread rows, the last always among them)."""
    x = np.array([r["step"] for r in steps])
    thin = np.unique(np.linspace(0, len(x) - 1, min(len(x), max_points)).round().astype(int))
    return x, thin


# ----------------------------------------------------------------------------- latent map
TOOLTIP_CSS = "<style>#vg-tooltip-element img {width: 120px; height: 120px;}</style>"  # thumbnails shown 2x


def thumbnail_uris(images: np.ndarray, size: int = 60, quality: int = 70,
                   progress: Callable[[int], None] | None = None) -> list[str]:
    """Small JPEG data URIs of uint8 photos (N,H,W,3), for hover tooltips (about 1.5 kB each at 60 px);
    `progress(done)` every 500 photos."""
    out = []
    for i, im in enumerate(images):
        if progress is not None and i % 500 == 0:
            progress(i)
        buf = io.BytesIO()
        Image.fromarray(np.asarray(im)).resize((size, size), Image.Resampling.BILINEAR).save(buf, "JPEG",
                                                                                            quality=quality)
        out.append("data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode())
    return out


def map_altair(xy: np.ndarray, cat: Catalogue, rows: np.ndarray, highlight: list[int], thumbs: list[str],
               height: int = 640) -> alt.LayerChart:
    """The latent map as a Vega-Lite chart: hovering a dot shows the shoe's photo (the tooltip's "image"
    field), clicking one selects its catalogue row (selection "pick"); the picked shoe and its
    neighbours are black stars; the legend sits below the chart, clear of the toolbar."""
    rows = np.asarray(rows)
    df = pd.DataFrame({"x": xy[rows, 0], "y": xy[rows, 1], "category": np.asarray(cat.categories)[rows],
                       "item": np.asarray(cat.ids)[rows], "row": rows, "image": [thumbs[r] for r in rows]})
    pick_sel = alt.selection_point(name="pick", fields=["row"], on="click", clear=False)
    scale = alt.Scale(zero=False)
    dots = alt.Chart(df).mark_circle(size=40, opacity=0.65).encode(
        x=alt.X("x:Q", axis=None, scale=scale), y=alt.Y("y:Q", axis=None, scale=scale),
        color=alt.Color("category:N", scale=alt.Scale(range=PALETTE),
                        legend=alt.Legend(orient="bottom", title=None, labelFontSize=16, symbolSize=200)),
        tooltip=[alt.Tooltip("image:N"), alt.Tooltip("category:N"), alt.Tooltip("item:N")],
    ).add_params(pick_sel)
    layers = [dots]
    if highlight:
        h = np.asarray(highlight)
        stars = pd.DataFrame({"x": xy[h, 0], "y": xy[h, 1], "item": np.asarray(cat.ids)[h],
                              "category": np.asarray(cat.categories)[h], "image": [thumbs[r] for r in h],
                              "size": [600] + [250] * (len(h) - 1)})
        layers.append(alt.Chart(stars).mark_point(shape="diamond", filled=True, color="black", stroke="white",
                                                  strokeWidth=1, opacity=1).encode(
            x="x:Q", y="y:Q", size=alt.Size("size:Q", legend=None, scale=None),
            tooltip=[alt.Tooltip("image:N"), alt.Tooltip("category:N"), alt.Tooltip("item:N")]))
    # drag pans, Shift + wheel zooms: a plain wheel scrolls the page (it used to zoom the map instead)
    zoom = alt.selection_interval(bind="scales", zoom="wheel![event.shiftKey]")
    return alt.layer(*layers).properties(height=height).add_params(zoom)


def map_chart(chart: alt.LayerChart, cat: Catalogue, key: str = "shoevae.map.chart") -> None:
    """The map with point selection: clicking a dot picks that shoe (a callback, before the rerun)."""
    st.html(TOOLTIP_CSS)
    st.altair_chart(chart, key=key, on_select=lambda: map_selected(key, cat), selection_mode="pick",
                    width="stretch")


def map_selected(chart_key: str, cat: Catalogue) -> None:
    """Callback for the map's on_select: the first selected point becomes this session's pick."""
    row = selected_row(st.session_state.get(chart_key))
    if row is not None and 0 <= row < len(cat):
        pick(cat.ids[row])


def selected_row(event: Any) -> int | None:
    """Catalogue row of the first selected point of a selection event, or None.

    Altair: {"selection": {"pick": [{"row": 12}]}}; plotly: {"selection": {"points": [{"customdata": 12}]}}.
    """
    try:
        selection = event["selection"]
    except (KeyError, TypeError):
        return None
    for p in selection.get("pick") or []:
        if isinstance(p, dict) and isinstance(p.get("row"), (int, float, np.integer)):
            return int(p["row"])
    for p in selection.get("points") or []:
        cd = p.get("customdata")
        cd = cd[0] if isinstance(cd, (list, tuple)) and cd else cd
        if isinstance(cd, (int, float, np.integer)):
            return int(cd)
    return None


def shown_options(n: int) -> list[int]:
    """The Latent map's "Shoes shown" steps: 1,000 to n in 500s, n itself always last (not the last multiple of 500)."""
    return sorted({*range(min(n, 1000), n, 500), n})


def default_shown(n: int) -> int:
    """How many shoes the Latent map shows first (its t-SNE is computed by the warm-up)."""
    return min(n, 4000)


def map_rows(n: int, shown: int) -> np.ndarray:
    """A fixed, seeded sample of `shown` rows (all when shown >= n)."""
    if shown >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, shown, replace=False))


# ----------------------------------------------------------------------------- how it works
def latent_figure(mu: np.ndarray, sigma: np.ndarray, z: np.ndarray, height: int = 420) -> go.Figure:
    """Each latent dimension of one photo: its mean μ and the sampled z (top), its spread σ on its own
    scale (bottom: beside μ's range a σ of 0.02 would be an invisible bar)."""
    dims = np.arange(len(mu))
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.62, 0.38], vertical_spacing=0.06)
    fig.add_trace(go.Scatter(x=dims, y=mu, mode="markers", name="mean μ", marker=dict(size=7, color="#1f77b4"),
                             hovertemplate="dimension %{x}<br>μ = %{y:.2f}<extra></extra>"), 1, 1)
    fig.add_trace(go.Scatter(x=dims, y=z, mode="markers", name="sampled z", marker=dict(size=6, symbol="x",
                             color="#e8710a"), hovertemplate="dimension %{x}<br>z = %{y:.2f}<extra></extra>"), 1, 1)
    fig.add_trace(go.Bar(x=dims, y=sigma, name="spread σ", marker_color="#9467bd",
                         hovertemplate="dimension %{x}<br>σ = %{y:.3f}<extra></extra>"), 2, 1)
    fig.update_yaxes(title_text="μ and z", zeroline=True, row=1, col=1)
    fig.update_yaxes(title_text="σ", rangemode="tozero", row=2, col=1)
    fig.update_xaxes(title_text="latent dimension", row=2, col=1)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), font=dict(size=14),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0))
    return fig


def label_rows(path: str, labels: list[str], width: int = 150, top: int = 0, bottom: int = 0) -> Image.Image:
    """A figure with one label per row of pictures written in a white margin on its left (the rows fill
    the figure's height between `top` and `bottom` pixels, e.g. a title above them)."""
    from PIL import ImageDraw, ImageFont
    im = Image.open(path).convert("RGB")
    out = Image.new("RGB", (im.width + width, im.height), "white")
    out.paste(im, (width, 0))
    draw, font = ImageDraw.Draw(out), ImageFont.load_default(size=max(14, im.height // (6 * len(labels))))
    step = (im.height - top - bottom) / len(labels)
    for i, label in enumerate(labels):
        draw.text((10, top + (i + 0.5) * step), label, fill="black", font=font, anchor="lm")
    return out


# ----------------------------------------------------------------------------- evaluation
def evaluation_table(results: dict[str, dict[str, float]]) -> pd.DataFrame:
    return pd.DataFrame(results).T.rename_axis("compared by")


def readable(table: pd.DataFrame, fmt: str = "{:.4f}", missing: str = "–") -> pd.DataFrame:
    """The table's numbers as text, a missing one as `missing` (st.dataframe shows NaN as "None")."""
    return table.apply(lambda col: [missing if pd.isna(v) else fmt.format(v) for v in col])


def precision_figure(results: dict[str, dict[str, float]]) -> go.Figure:
    """Category precision@5 (hold-out and leave-one-out) of the model against the baselines.

    Horizontal bars (the long names fit, the value labels never collide), on an axis that starts near the
    smallest value so that 0.96 and 0.90 look different; the axis title says where it starts.
    """
    names = list(results)
    values = [results[n].get(m, float("nan")) for n in names for m in ("holdout_precision@5", "loo_precision@5")]
    finite = [v for v in values if np.isfinite(v)]
    low = max(0.0, np.floor((min(finite) - 0.05) * 10) / 10) if finite else 0.0
    fig = go.Figure()
    for metric, label in (("holdout_precision@5", "hold-out queries"), ("loo_precision@5", "leave-one-out")):
        vals = [results[n].get(metric, float("nan")) for n in names]
        fig.add_trace(go.Bar(y=names, x=vals, name=label, orientation="h", text=[f"{v:.3f}" for v in vals],
                             textposition="outside", cliponaxis=False))
    fig.update_layout(barmode="group", height=90 + 58 * len(names), font=dict(size=15),
                      xaxis=dict(range=[low, 1.0], title=f"category precision@5 (axis from {low:g})"),
                      yaxis=dict(autorange="reversed", automargin=True),
                      margin=dict(l=10, r=60, t=40, b=10), legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0))
    return fig
