"""How good are the neighbours? Category precision@k, coverage and hold-out BCE, with baselines.

Category precision@k: the share of a query's k nearest shoes that have the query's category
(no labels are used in training; they only judge). Hold-out: queries from the checkpoint's own
hold-out split (`Split.of(checkpoint)`: photos it never trained on), neighbours from the rest.
Leave-one-out: every shoe queries all the others. Coverage: the share of the catalogue that appears
in at least one leave-one-out top k. A k larger than the shoes there are to choose from cannot be
computed (a capped k would print a number for a question that was not asked).

A metric that cannot be computed on a catalogue (too few photos, no hold-out) is NaN, and
`why_not(...)` says why in words.
"""
from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch

from .catalogue import Catalogue
from .config import METRIC
from .embedding import embed
from .model import VAE, prepare, reconstruction_bce
from .neighbours import ShoeIndex
from .split import Split

HOLDOUT = Split().holdout  # the default split's share (training's default); use Split.of(checkpoint) instead
if TYPE_CHECKING:
    from sklearn.decomposition import PCA

__all__ = ["HOLDOUT", "baselines", "evaluate_model", "mean_bce", "precision_at_k", "leave_one_out",
           "score_features", "why_not"]


def why_not(catalogue: Catalogue, split: Split, k: int = 5) -> dict[str, str]:
    """{metric name: why it cannot be computed} for this catalogue and split (empty when all can be)."""
    train_rows, held = split.rows(catalogue.ids)
    out: dict[str, str] = {}
    if split.holdout == 0:
        reason = "the model was trained with no hold-out (--holdout 0): every photo was trained on"
    elif len(held) == 0:
        reason = f"none of the {len(catalogue)} photos falls in the {split.holdout:.0%} hold-out split"
    elif len(train_rows) == 0:
        reason = "every photo is in the hold-out split: there are no other shoes to recommend"
    elif k > len(train_rows):
        reason = f"k={k} is more than the {len(train_rows)} training-side shoes a hold-out photo can be matched with"
    else:
        reason = ""
    if reason:
        out[f"holdout_precision@{k}"] = reason
        if len(held) == 0:
            out["holdout_bce"] = reason
    if len(catalogue) < 2:
        reason = "needs at least 2 photos"
        out[f"loo_precision@{k}"] = out[f"coverage@{k}"] = reason
    elif k > len(catalogue) - 1:
        reason = f"k={k} is more than the {len(catalogue) - 1} other shoes each photo can be matched with"
        out[f"loo_precision@{k}"] = out[f"coverage@{k}"] = reason
    return out


@torch.no_grad()
def mean_bce(model: VAE, images: np.ndarray, batch_size: int = 256, device: torch.device | str = "cpu") -> float:
    """Mean per-image reconstruction BCE (decoding the mean, no sampling; model.reconstruction_bce)."""
    model.eval()
    total = 0.0
    for i in range(0, len(images), batch_size):
        total += reconstruction_bce(model, prepare(images[i:i + batch_size], model.cfg.image_size, device))[1].sum().item()
    return total / max(1, len(images))


def precision_at_k(features: np.ndarray, categories: list[str], query_rows: np.ndarray,
                   pool_rows: np.ndarray, k: int = 5, metric: str = METRIC) -> float:
    """Mean share of same-category shoes among each query's k nearest pool shoes (NaN without queries, or
    with fewer than k pool shoes)."""
    if len(query_rows) == 0 or len(pool_rows) < max(1, k):
        return math.nan
    cats = np.asarray(categories)
    index = ShoeIndex(n_neighbors=k, metric=metric).fit(features[pool_rows])
    _, idx = index.kneighbors(features[query_rows])
    return float((cats[pool_rows][idx] == cats[query_rows][:, None]).mean())


def leave_one_out(features: np.ndarray, categories: list[str], k: int = 5,
                  metric: str = METRIC) -> tuple[float, float]:
    """(precision@k, coverage) with every shoe as a query against all the others (NaN below k + 1 shoes)."""
    if len(features) < max(2, k + 1):
        return math.nan, math.nan
    cats = np.asarray(categories)
    rows = np.arange(len(features))
    _, idx = ShoeIndex(n_neighbors=k, metric=metric).fit(features).kneighbors(features, k, exclude=rows)
    return float((cats[idx] == cats[:, None]).mean()), float(len(np.unique(idx)) / len(features))


def score_features(features: np.ndarray, catalogue: Catalogue, k: int = 5, metric: str = METRIC,
                   split: Split | None = None) -> dict[str, float]:
    """All retrieval metrics of one feature matrix (rows aligned with the catalogue).

    Hold-out queries come from `split` (pass `Split.of(checkpoint)`; None: the default split).
    """
    split = split or Split()
    pool, held = split.rows(catalogue.ids)
    p_loo, cover = leave_one_out(features, catalogue.categories, k, metric)
    p_held = math.nan if split.holdout == 0 else precision_at_k(features, catalogue.categories, held, pool, k, metric)
    return {f"holdout_precision@{k}": p_held, f"loo_precision@{k}": p_loo, f"coverage@{k}": cover}


def pixel_features(images: np.ndarray, size: int = 16) -> np.ndarray:
    """The raw-pixel baseline's features: each image shrunk to size x size, flattened, (N, size*size*3) float32 in [0, 1]."""
    out = [prepare(images[i:i + 1024], size).permute(0, 2, 3, 1).reshape(-1, size * size * 3).numpy()
           for i in range(0, len(images), 1024)]
    return np.concatenate(out)


def pca_components(n_components: int, n_fit: int, n_features: int) -> int:
    """PCA can have at most min(samples, features) components."""
    return max(0, min(n_components, n_fit, n_features))


def fit_pixel_pca(catalogue: Catalogue, n_components: int, size: int = 32, split: Split | None = None,
                  thumbs: np.ndarray | None = None) -> PCA:
    """The PCA-of-pixels baseline's PCA, fitted on the training side of `split` (all photos if it holds
    none out); `thumbs`: the catalogue's pixel_features(images, size) when the caller has them already.

    The number of components is capped by the photos and pixels there are (see pca_components).
    """
    from sklearn.decomposition import PCA  # here, not at the top: training imports this module for mean_bce

    x = pixel_features(catalogue.images, size) if thumbs is None else thumbs
    fit_rows = (split or Split()).rows(catalogue.ids)[0]
    if len(fit_rows) == 0:  # everything held out: there are no hold-out scores to protect anyway
        fit_rows = np.arange(len(x))
    n = pca_components(n_components, len(fit_rows), x.shape[1])
    with warnings.catch_warnings():  # one training photo: its variance is 0/0, and the one axis is still usable
        warnings.simplefilter("ignore", RuntimeWarning)
        return PCA(n_components=n, random_state=0).fit(x[fit_rows])


def pca_pixels(catalogue: Catalogue, n_components: int, size: int = 32, split: Split | None = None) -> np.ndarray:
    """PCA-of-pixels baseline features of every catalogue photo (see fit_pixel_pca)."""
    x = pixel_features(catalogue.images, size)
    return fit_pixel_pca(catalogue, n_components, size, split, x).transform(x).astype(np.float32)


Steps = Callable[[str], None]  # called with the name of each step as it starts (a progress report)


def _quiet(step: str) -> None:
    pass


def evaluate_model(model: VAE, catalogue: Catalogue, k: int = 5, embeddings: np.ndarray | None = None,
                   metrics: tuple[str, ...] = (METRIC,), *, split: Split | None = None,
                   step: Steps = _quiet) -> dict[str, dict[str, float]]:
    """Per metric: retrieval metrics of the model's mean vectors plus hold-out reconstruction BCE per image.

    `split`: the model's own train/hold-out split, `Split.of(checkpoint)` (None: the default split).
    The embedding and the BCE (which does not depend on the metric) are computed once. Metrics that
    cannot be computed are NaN; why_not() says why. `step(name)` is called as each of its
    1 + len(metrics) steps starts.
    """
    split = split or Split()
    step("hold-out reconstruction error")
    emb = embed(model, catalogue.images) if embeddings is None else embeddings
    _, held = split.rows(catalogue.ids)
    with torch.inference_mode():
        bce = mean_bce(model, catalogue.images[held]) if len(held) else math.nan
    out = {}
    for m in metrics:
        step(f"style vectors, {m} neighbours")
        out[m] = {**score_features(emb, catalogue, k, m, split), "holdout_bce": bce}
    return out


def baselines(catalogue: Catalogue, latent_dim: int = 100, k: int = 5, metrics: tuple[str, ...] = (METRIC,),
              *, split: Split | None = None, step: Steps = _quiet) -> dict[str, dict[str, Any]]:
    """The same metrics for raw 16x16 pixels and PCA of 32x32 pixels with `latent_dim` components (fewer
    when there are fewer training photos: the name says how many). `step(name)` is called as each of
    its 1 + 2 * len(metrics) steps starts."""
    split = split or Split()
    step("fitting the PCA of pixels")
    pca = pca_pixels(catalogue, latent_dim, split=split)
    features = {"raw pixels 16x16": pixel_features(catalogue.images, 16),
                f"PCA of pixels ({pca.shape[1]} dims)": pca}
    out = {}
    for name, f in features.items():
        for metric in metrics:
            step(f"{name.split(' (')[0]}, {metric} neighbours")
            out[f"{name}, {metric}" if len(metrics) > 1 else name] = score_features(f, catalogue, k, metric, split)
    return out


def pixel_baseline(catalogue: Catalogue, n_components: int) -> tuple[np.ndarray, ShoeIndex]:
    """The PCA-of-pixels baseline of a catalogue as the app compares with it: every photo's features
    (see pca_pixels) and a ShoeIndex over them."""
    features = pca_pixels(catalogue, n_components)
    return features, ShoeIndex().fit(features)
