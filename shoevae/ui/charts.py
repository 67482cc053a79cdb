"""Plotly figures and tables: loss curves, the latent map with point selection, evaluation results.

Figure builders take plain data (a training history, 2-D coordinates, evaluation results) and
return a go.Figure or a DataFrame for the page to show. The latent map is also interactive:
map_chart() shows it, and selecting a dot makes that shoe this session's pick.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from ..catalogue import Catalogue
from .state import pick


# ----------------------------------------------------------------------------- losses
def loss_figure(history: list[dict[str, float]] | tuple, height: int = 300) -> go.Figure:
    """Per-epoch losses, BCE (train and hold-out) and KL in separate panels."""
    epochs = [r["epoch"] for r in history]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Reconstruction (BCE per image)", "KL per image"))
    mode = "lines+markers"
    fig.add_trace(go.Scatter(x=epochs, y=[r["bce"] for r in history], name="train BCE", mode=mode), 1, 1)
    if any("val_bce" in r for r in history):
        fig.add_trace(go.Scatter(x=epochs, y=[r.get("val_bce") for r in history], name="hold-out BCE",
                                 mode=mode), 1, 1)
    fig.add_trace(go.Scatter(x=epochs, y=[r["kl"] for r in history], name="KL", mode=mode), 1, 2)
    fig.update_xaxes(dtick=1 if len(epochs) < 15 else None)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.15),
                      hovermode="x unified")
    return fig


# ----------------------------------------------------------------------------- latent map
def map_figure(xy: np.ndarray, cat: Catalogue, rows: np.ndarray, highlight: list[int]) -> go.Figure:
    """WebGL scatter of `rows` coloured by category; hover shows id and category; highlight = stars."""
    fig = go.Figure()
    palette = ["#1f77b4", "#e8710a", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
    cats = np.asarray(cat.categories)[rows]
    ids = np.asarray(cat.ids)[rows]
    for k, c in enumerate(sorted(set(cat.categories))):
        m = cats == c
        fig.add_trace(go.Scattergl(x=xy[rows[m], 0], y=xy[rows[m], 1], mode="markers", name=c,
                                   customdata=rows[m], text=ids[m],
                                   marker=dict(size=6, opacity=0.65, color=palette[k % len(palette)]),
                                   hovertemplate=f"<b>%{{text}}</b><br>{c}<extra></extra>"))
    if highlight:
        h = np.asarray(highlight)
        fig.add_trace(go.Scattergl(x=xy[h, 0], y=xy[h, 1], mode="markers", name="picked + nearest",
                                   customdata=h, text=np.asarray(cat.ids)[h],
                                   marker=dict(size=[24] + [16] * (len(h) - 1), symbol="star", color="black",
                                               line=dict(width=1, color="white")),
                                   hovertemplate="<b>%{text}</b><extra></extra>"))
    fig.update_layout(height=640, margin=dict(l=0, r=0, t=10, b=0), dragmode="pan",
                      legend=dict(orientation="h", y=1.02, font=dict(size=16)))
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    return fig


def map_chart(fig: go.Figure, cat: Catalogue, key: str = "shoevae.map.chart") -> None:
    """The map with point selection: selecting a dot picks that shoe (a callback, before the rerun)."""
    st.plotly_chart(fig, key=key, on_select=lambda: map_selected(key, cat), selection_mode="points",
                    config={"scrollZoom": True, "displaylogo": False})


def map_selected(chart_key: str, cat: Catalogue) -> None:
    """Callback for the map's on_select: the first selected point becomes this session's pick."""
    row = selected_row(st.session_state.get(chart_key))
    if row is not None and 0 <= row < len(cat):
        pick(cat.ids[row])


def selected_row(event: Any) -> int | None:
    """Catalogue row of the first selected point of a plotly selection event (customdata), or None."""
    try:
        points = event["selection"]["points"]
    except (KeyError, TypeError):
        return None
    for p in points:
        cd = p.get("customdata")
        cd = cd[0] if isinstance(cd, (list, tuple)) and cd else cd
        if isinstance(cd, (int, float, np.integer)):
            return int(cd)
    return None


def map_rows(n: int, shown: int) -> np.ndarray:
    """A fixed, seeded sample of `shown` rows (all when shown >= n)."""
    if shown >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, shown, replace=False))


# ----------------------------------------------------------------------------- how it works
def latent_figure(mu: np.ndarray, sigma: np.ndarray, z: np.ndarray, height: int = 320) -> go.Figure:
    """Each latent dimension of one photo: its mean with a bar of +-1 spread, and the sampled z."""
    dims = np.arange(len(mu))
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=dims, y=mu, mode="markers", name="mean μ ± spread σ",
                             error_y=dict(type="data", array=sigma, thickness=1.2, width=0, color="#9bb7e0"),
                             marker=dict(size=6, color="#1f77b4"),
                             hovertemplate="dimension %{x}<br>μ = %{y:.2f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=dims, y=z, mode="markers", name="sampled z", marker=dict(size=6, symbol="x",
                             color="#e8710a"), hovertemplate="dimension %{x}<br>z = %{y:.2f}<extra></extra>"))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=10, b=10), font=dict(size=14),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0),
                      xaxis=dict(title="latent dimension"), yaxis=dict(title="value", zeroline=True))
    return fig


# ----------------------------------------------------------------------------- evaluation
def evaluation_table(results: dict[str, dict[str, float]]) -> pd.DataFrame:
    return pd.DataFrame(results).T.rename_axis("features")


def precision_figure(results: dict[str, dict[str, float]]) -> go.Figure:
    """Category precision@5 (hold-out and leave-one-out) of the model against the baselines."""
    names = list(results)
    fig = go.Figure()
    for metric, label in (("holdout_precision@5", "hold-out queries"), ("loo_precision@5", "leave-one-out")):
        vals = [results[n].get(metric, float("nan")) for n in names]
        fig.add_trace(go.Bar(x=names, y=vals, name=label, text=[f"{v:.3f}" for v in vals], textposition="outside"))
    fig.update_layout(barmode="group", height=420, yaxis=dict(range=[0, 1.08], title="category precision@5"),
                      margin=dict(l=10, r=10, t=30, b=10), font=dict(size=16), legend=dict(orientation="h", y=1.12))
    return fig
