"""How good are the neighbours? Category precision@k, coverage and hold-out BCE, with baselines.

Category precision@k: the share of a query's k nearest shoes that have the query's category
(no labels are used in training; they only judge). Hold-out: queries from the seeded hold-out
split, neighbours from the rest. Leave-one-out: every shoe queries all the others.
Coverage: the share of the catalogue that appears in at least one leave-one-out top k.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.decomposition import PCA

from .catalogue import Catalogue, holdout_mask
from .config import METRIC
from .embedding import embed
from .model import VAE, prepare
from .recommend import ShoeIndex
from .training import SPLIT_SEED, mean_bce

HOLDOUT = 0.1  # the same split as training's default, so a shipped model never saw its queries


def precision_at_k(features: np.ndarray, categories: list[str], query_rows: np.ndarray,
                   pool_rows: np.ndarray, k: int = 5, metric: str = METRIC) -> float:
    """Mean share of same-category shoes among each query's k nearest pool shoes."""
    cats = np.asarray(categories)
    index = ShoeIndex(n_neighbors=k, metric=metric).fit(features[pool_rows])
    _, idx = index.kneighbors(features[query_rows])
    return float((cats[pool_rows][idx] == cats[query_rows][:, None]).mean())


def leave_one_out(features: np.ndarray, categories: list[str], k: int = 5,
                  metric: str = METRIC) -> tuple[float, float]:
    """(precision@k, coverage) with every shoe as a query against all the others."""
    cats = np.asarray(categories)
    rows = np.arange(len(features))
    _, idx = ShoeIndex(n_neighbors=k, metric=metric).fit(features).kneighbors(features, k, exclude=rows)
    return float((cats[idx] == cats[:, None]).mean()), float(len(np.unique(idx)) / len(features))


def score_features(features: np.ndarray, catalogue: Catalogue, k: int = 5,
                   metric: str = METRIC) -> dict[str, float]:
    """All retrieval metrics of one feature matrix (rows aligned with the catalogue)."""
    held = holdout_mask(catalogue.ids, HOLDOUT, SPLIT_SEED)
    p_loo, cover = leave_one_out(features, catalogue.categories, k, metric)
    return {f"holdout_precision@{k}": precision_at_k(features, catalogue.categories, np.flatnonzero(held),
                                                     np.flatnonzero(~held), k, metric),
            f"loo_precision@{k}": p_loo, f"coverage@{k}": cover}


def thumbnails(images: np.ndarray, size: int = 16) -> np.ndarray:
    """Raw-pixel baseline: (N, size*size*3) float32 thumbnails in [0,1]."""
    out = [prepare(images[i:i + 1024], size).permute(0, 2, 3, 1).reshape(-1, size * size * 3).numpy()
           for i in range(0, len(images), 1024)]
    return np.concatenate(out)


def pca_pixels(catalogue: Catalogue, n_components: int, size: int = 32) -> np.ndarray:
    """PCA-of-pixels baseline, fitted on the training split only."""
    x = thumbnails(catalogue.images, size)
    held = holdout_mask(catalogue.ids, HOLDOUT, SPLIT_SEED)
    return PCA(n_components=n_components, random_state=0).fit(x[~held]).transform(x).astype(np.float32)


def evaluate_model(model: VAE, catalogue: Catalogue, k: int = 5, embeddings: np.ndarray | None = None,
                   metrics: tuple[str, ...] = (METRIC,)) -> dict[str, dict[str, float]]:
    """Per metric: retrieval metrics of the model's mean vectors plus hold-out reconstruction BCE per image.

    The embedding and the BCE (which does not depend on the metric) are computed once.
    """
    emb = embed(model, catalogue.images) if embeddings is None else embeddings
    held = np.flatnonzero(holdout_mask(catalogue.ids, HOLDOUT, SPLIT_SEED))
    with torch.inference_mode():
        bce = mean_bce(model, catalogue.images[held]) if len(held) else float("nan")
    return {m: {**score_features(emb, catalogue, k, m), "holdout_bce": bce} for m in metrics}


def baselines(catalogue: Catalogue, latent_dim: int = 100, k: int = 5,
              metrics: tuple[str, ...] = (METRIC,)) -> dict[str, dict[str, Any]]:
    """The same metrics for raw 16x16 pixels and PCA of 32x32 pixels with `latent_dim` components."""
    features = {"raw pixels 16x16": thumbnails(catalogue.images, 16),
                f"PCA of pixels ({latent_dim} dims)": pca_pixels(catalogue, latent_dim)}
    return {f"{name}, {metric}" if len(metrics) > 1 else name: score_features(f, catalogue, k, metric)
            for name, f in features.items() for metric in metrics}
