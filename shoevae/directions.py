"""Directions in style space that mean something, and blends between two style vectors.

- principal_directions: the principal axes of the catalogue's mean vectors (scikit-learn PCA),
  largest spread first, orthonormal, each with its standard deviation over the catalogue.
- category_directions: "more boot", "more sandal": from the mean of the other shoes to the mean of
  one category's shoes, as a unit vector with the spread of the catalogue along it.
- end_labels: where each end of a direction leads, for display only: the category whose mean lies
  furthest that way, plus visible traits of the photos (darker, taller...) that change along it.
- blend: linear or spherical (slerp) interpolation between two vectors; far_shoe: a default partner to blend with.
- style_directions: all of the above a catalogue offers Generate's sliders, in one bundle.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.decomposition import PCA

from .errors import ConfigError

if TYPE_CHECKING:
    from .catalogue import Catalogue

BLENDS = ("linear", "spherical")


@dataclass(frozen=True)
class Directions:
    """Unit directions (k, D), the catalogue's standard deviation along each (k,), its mean (D,)."""

    vectors: np.ndarray
    stds: np.ndarray
    mean: np.ndarray

    def scores(self, embeddings: np.ndarray) -> np.ndarray:
        """Coordinates of vectors along each direction, in the catalogue's standard deviations (N, k)."""
        return (np.atleast_2d(embeddings) - self.mean) @ self.vectors.T / self.stds

    def move(self, z: np.ndarray, amounts: np.ndarray) -> np.ndarray:
        """z moved by amounts[i] standard deviations along direction i."""
        return (z + (np.asarray(amounts, np.float32) * self.stds) @ self.vectors).astype(np.float32)


def principal_directions(embeddings: np.ndarray, k: int = 8) -> Directions:
    """The first k principal directions of the mean vectors, largest spread first."""
    x = np.asarray(embeddings, np.float64)
    k = min(k, x.shape[1], len(x))
    pca = PCA(n_components=k, random_state=0).fit(x)
    return Directions(pca.components_.astype(np.float32), np.sqrt(pca.explained_variance_).astype(np.float32),
                      pca.mean_.astype(np.float32))


def category_directions(embeddings: np.ndarray, categories: list[str]) -> dict[str, Directions]:
    """Per category: the unit vector from the other shoes' mean to its shoes' mean, and the spread along it."""
    x = np.asarray(embeddings, np.float64)
    cats = np.asarray(categories)
    out: dict[str, Directions] = {}
    for c in sorted(set(categories)):
        inside = cats == c
        if inside.all() or not inside.any():
            continue
        d = x[inside].mean(0) - x[~inside].mean(0)
        norm = np.linalg.norm(d)
        if norm < 1e-12:
            continue
        d /= norm
        out[c] = Directions(d[None].astype(np.float32), np.array([(x @ d).std()], np.float32),
                            x.mean(0).astype(np.float32))
    return out


def stack(directions: list[Directions], mean: np.ndarray) -> Directions:
    """Several single directions as one set (e.g. all category directions, one slider each)."""
    return Directions(np.concatenate([d.vectors for d in directions]), np.concatenate([d.stds for d in directions]),
                      np.asarray(mean, np.float32))


def end_labels(directions: Directions, embeddings: np.ndarray, categories: list[str],
               traits: dict[str, tuple[np.ndarray, str, str]] | None = None,
               min_correlation: float = 0.3) -> list[tuple[str, str]]:
    """(where the minus end leads, where the plus end leads) for each direction, for display.

    Each end names the category whose mean score lies furthest that way; `traits` maps a trait name
    to (a value per shoe, word for low values, word for high values), e.g. {"brightness": (b, "darker",
    "lighter")}; a trait whose correlation with the scores reaches min_correlation is added to its end.
    """
    s = directions.scores(embeddings)
    cats = np.asarray(categories)
    names = sorted(set(categories))
    means = np.stack([s[cats == c].mean(0) for c in names])  # (C, k)
    labels = []
    for i in range(s.shape[1]):
        lo, hi = [names[int(np.argmin(means[:, i]))]], [names[int(np.argmax(means[:, i]))]]
        for values, low_word, high_word in (traits or {}).values():
            r = np.corrcoef(s[:, i], values)[0, 1] if np.std(values) > 0 else 0.0
            if r >= min_correlation:
                lo.append(low_word), hi.append(high_word)
            elif r <= -min_correlation:
                lo.append(high_word), hi.append(low_word)
        labels.append((", ".join(lo), ", ".join(hi)))
    return labels


def slider_label(index: int, ends: tuple[str, str]) -> str:
    """'1 · Boot ← → Sandal, lighter': the direction's rank, then where its ends lead."""
    return f"{index + 1} · {ends[0]} ← → {ends[1]}"


def slider_labels(labels: list[tuple[str, str]]) -> list[str]:
    """slider_label for each direction; ends that repeat an earlier direction's say so ("as 5, weaker"),
    so no two sliders read the same (a later principal direction spreads the catalogue less)."""
    out, first = [], {}
    for i, ends in enumerate(labels):
        key = tuple(sorted(ends))
        text = slider_label(i, ends)
        out.append(text if key not in first else f"{text} (as {first[key] + 1}, weaker)")
        first.setdefault(key, i)
    return out


def visible_change(strips: np.ndarray) -> np.ndarray:
    """How much each direction changes the drawing: the mean absolute difference (0-255) between the two
    ends of its preview strip. strips: uint8 (directions, steps, H, W, 3)."""
    ends = strips[:, [0, -1]].astype(np.int16)
    return np.abs(ends[:, 0] - ends[:, 1]).mean(axis=(1, 2, 3))


def blend_gap(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(angle between two style vectors in degrees, how much shorter the linear blend's midpoint is than
    the spherical one's, as a share): why the two blends look alike or not."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mid_lin, mid_sph = blend(a, b, 0.5, "linear")[0], blend(a, b, 0.5, "spherical")[0]
    cos = np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12)
    shorter = 1 - np.linalg.norm(mid_lin) / max(np.linalg.norm(mid_sph), 1e-12)
    return float(np.degrees(np.arccos(np.clip(cos, -1, 1)))), float(shorter)


def photo_traits(images: np.ndarray) -> dict[str, tuple[np.ndarray, str, str]]:
    """Visible traits of each photo (uint8 N,H,W,3 on a white background), for labelling directions.

    brightness: mean grey level of the shoe's pixels; height: share of image rows the shoe occupies.
    """
    small = images[:, ::4, ::4].astype(np.float32) / 255  # a 34x34 view is plenty for these averages
    grey = small.mean(-1)
    shoe = grey < 0.92  # not the white background
    n = np.maximum(shoe.sum((1, 2)), 1)
    brightness = (grey * shoe).sum((1, 2)) / n
    height = shoe.any(2).mean(1)
    return {"brightness": (brightness, "darker", "lighter"), "height": (height, "lower", "taller")}


def blend(a: np.ndarray, b: np.ndarray, t: np.ndarray | float, mode: str = "linear") -> np.ndarray:
    """Vectors between a and b at fractions t: a straight line, or slerp (along the arc between them)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    t = np.atleast_1d(np.asarray(t, np.float64))[:, None]
    if mode not in BLENDS:
        raise ConfigError(f"unknown blend {mode!r}; choose from {', '.join(BLENDS)}")
    cos = np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12)
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if mode == "linear" or np.sin(omega) < 1e-6:  # (nearly) parallel: slerp is the line
        return ((1 - t) * a + t * b).astype(np.float32)
    return ((np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / np.sin(omega)).astype(np.float32)


def prior_mismatch(embeddings: np.ndarray) -> tuple[float, float]:
    """(median length of the catalogue's style vectors, the typical length of a z ~ N(0, I), sqrt(D)):
    when they differ much, samples of the prior fall where the decoder has seen no shoe."""
    return float(np.median(np.linalg.norm(embeddings, axis=1))), float(np.sqrt(embeddings.shape[1]))


def far_shoe(catalogue: Catalogue, item_id: str) -> str:
    """A default partner for blending: a shoe of another category, the same one for the same first shoe."""
    cat = catalogue
    try:
        own = cat.categories[cat.index_of(item_id)]
    except KeyError:
        own = None
    others = np.flatnonzero(np.asarray(cat.categories) != own) if own else np.arange(len(cat))
    seed = int(hashlib.md5(item_id.encode()).hexdigest()[:8], 16)
    return cat.ids[int(others[seed % len(others)])] if len(others) else cat.ids[-1]


def style_directions(embeddings: np.ndarray, catalogue: Catalogue, k: int = 8) -> dict[str, Any]:
    """{"principal": Directions, "labels": [(minus end, plus end)], "categories": {name: Directions},
    "average": the catalogue's mean vector}; the ends are labelled on a seeded sample of 4,000 shoes."""
    emb, cat = embeddings, catalogue
    rows = np.sort(np.random.default_rng(0).choice(len(cat), min(len(cat), 4000), replace=False))
    principal = principal_directions(emb, k)
    labels = end_labels(principal, emb[rows], [cat.categories[r] for r in rows], photo_traits(cat.images[rows]))
    return {"principal": principal, "labels": labels, "categories": category_directions(emb, cat.categories),
            "average": emb.mean(0).astype(np.float32)}
