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
def loss_figure(history: list[dict[str, float]] | tuple, height: int = 300, steps: list[dict[str, float]] | tuple = (),
                batches_per_epoch: int = 0) -> go.Figure:
    """BCE (train and hold-out) and KL per image in two panels.

    With `steps` (one row per batch: step, bce, kl) the x axis counts batches: batch losses faintly (at most
    300, evenly spread: the chart is redrawn while training runs, on the same CPU), their running mean as a line, and the finished epochs' hold-out BCE as markers at the epoch ends.
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
        fig.update_xaxes(title_text="batches trained")
    else:
        epochs = [r["epoch"] for r in history]
        fig.add_trace(go.Scatter(x=epochs, y=[r["bce"] for r in history], name="train BCE", mode=mode), 1, 1)
        if any("val_bce" in r for r in history):
            fig.add_trace(go.Scatter(x=epochs, y=[r.get("val_bce") for r in history], name="hold-out BCE",
                                     mode=mode), 1, 1)
        fig.add_trace(go.Scatter(x=epochs, y=[r["kl"] for r in history], name="KL", mode=mode), 1, 2)
        fig.update_xaxes(dtick=1 if len(epochs) < 15 else None)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), hovermode="x unified",
                      legend=dict(orientation="h", y=-0.45 if steps else -0.15))
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
