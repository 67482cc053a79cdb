"""Is this a shoe photo? A judgement from how far a photo's style vector lies from the catalogue's shoes.

A colour gradient, noise or a drawn mug still has five nearest shoes; what tells it apart is that they
are far. The measure is the mean distance to the k nearest catalogue shoes (cosine by default, as the
index), and its threshold is calibrated for each model and catalogue when it is first needed (a few
seconds): between the distances of catalogue shoes to their own nearest others (leave-one-out: a shoe the
index has not seen) and those of pictures that are not shoes, drawn here (`not_shoes`: gradients,
noise, textures, everyday objects), which go through the same preparation as photos (`calibrate`: the
threshold keeps 99.5 % of the shoes unless that lets more than 5 % of the drawings through; then it sits
halfway). Photos in which preparation found no object are judged not shoes whatever their distance.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from . import cache
from .neighbours import ShoeIndex

KINDS = ("gradient", "noise", "texture", "object")
N_DRAWN = 48  # drawn non-shoes a calibration prepares (12 of each kind): a few seconds, once per model and catalogue
SHOE_QUANTILE = 0.995  # the threshold keeps at least this share of catalogue shoes on the shoe side...
OTHER_QUANTILE = 0.05  # ...unless that would let more than this share of the drawn non-shoes through
CALIBRATION = 2  # part of the cached check's key: raise it when the drawings or the photo preparation change


@dataclass(frozen=True)
class ShoeCheck:
    """A calibrated threshold on the mean distance to the k nearest shoes, with the distances behind it."""

    threshold: float
    shoes: np.ndarray  # catalogue shoes' mean distance to their k nearest others
    others: np.ndarray  # the drawn non-shoes' mean distance to their k nearest shoes
    k: int = 5

    def looks_like_shoe(self, distances: np.ndarray) -> bool:
        """Whether a query with these distances to its k nearest shoes is judged a shoe."""
        return bool(np.mean(distances) <= self.threshold)


def calibrate(embeddings: np.ndarray, index: ShoeIndex, others: list[np.ndarray], k: int = 5, n: int = 1000,
              seed: int = 0) -> ShoeCheck:
    """The threshold for a catalogue (its `embeddings` in `index`) and drawn non-shoes' vectors (`others`: one
    (views, D) array per picture, its views as photo.views makes them; the nearest view counts, as for photos).

    Shoes: n catalogue shoes, each against the rest. The threshold is the SHOE_QUANTILE of their mean
    distances, unless that passes more than OTHER_QUANTILE of the non-shoes; then it is the midpoint of the
    two quantiles (both sides lose a little). Computed, not stored: another model or catalogue gets its own.
    """
    rows = np.sort(np.random.default_rng(seed).permutation(len(embeddings))[:n])
    shoes = index.kneighbors(embeddings[rows], k, exclude=rows)[0].mean(axis=1)
    far = np.array([index.kneighbors(views, k)[0].mean(axis=1).min() for views in others if len(views)])
    hi = float(np.quantile(shoes, SHOE_QUANTILE))
    lo = float(np.quantile(far, OTHER_QUANTILE)) if len(far) else np.inf
    return ShoeCheck(hi if hi <= lo else (hi + lo) / 2, shoes, far, k)


def cached_check(directory: str | Path, embeddings: np.ndarray, compute: Callable[[], ShoeCheck]) -> ShoeCheck:
    """`compute()`'s check, remembered on disk (shoevae/cache.py) per catalogue style-vector matrix, so a new process
    need not calibrate again (the CLI's `recommend --image`, a restarted app). The matrix is the key: the check
    depends on the encoder and the catalogue only, and they alone make it. A damaged entry is calibrated again; a
    failed write is reported once like every cache's."""
    settings = f"{CALIBRATION}|{N_DRAWN}|{SHOE_QUANTILE}|{OTHER_QUANTILE}|{KINDS}"
    entry = cache.vectors_entry(directory, "shoe-check", embeddings, settings)
    stored = cache.read_arrays(entry, ("threshold", "shoes", "others", "k"))
    if stored is not None:
        return ShoeCheck(float(stored["threshold"]), stored["shoes"], stored["others"], int(stored["k"]))
    check = compute()
    cache.write_arrays(entry, threshold=np.float64(check.threshold), shoes=check.shoes, others=check.others,
                       k=np.int64(check.k))
    return check


# ----------------------------------------------------------------------------- pictures that are not shoes
def not_shoes(n: int, seed: int = 0, size: tuple[int, int] = (200, 150),
              kinds: tuple[str, ...] = KINDS) -> list[np.ndarray]:
    """n pictures that are not shoes (uint8 (H,W,3)), the kinds in turn, repeatable by seed."""
    rng = np.random.default_rng(seed)
    draw = {"gradient": _gradient, "noise": _noise, "texture": _texture, "object": _object}
    return [draw[kinds[i % len(kinds)]](rng, size) for i in range(n)]


def _colour(rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 256, 3).astype(np.float32)


def _gradient(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    if rng.random() < 0.5:  # linear, any direction
        t = rng.uniform(0, 2 * np.pi)
        u = x * np.cos(t) + y * np.sin(t)
    else:  # radial, from anywhere
        u = np.hypot(x - rng.uniform(0, w), y - rng.uniform(0, h))
    u = ((u - u.min()) / max(np.ptp(u), 1e-6))[..., None]
    return (_colour(rng) * (1 - u) + _colour(rng) * u).astype(np.uint8)


def _noise(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    grain = int(rng.choice([1, 2, 4, 8]))
    small = rng.integers(0, 256, (h // grain + 1, w // grain + 1, 3), dtype=np.uint8)
    if rng.random() < 0.5:  # grey noise
        small = np.repeat(small[..., :1], 3, axis=2)
    im = Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC if grain > 1 else Image.Resampling.NEAREST)
    return np.asarray(im.filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 2)))))


def _texture(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """Stripes, checks, planks or a woven look in two colours."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    period = rng.uniform(6, 40)
    t = rng.uniform(0, np.pi)
    u, v = x * np.cos(t) + y * np.sin(t), -x * np.sin(t) + y * np.cos(t)
    pattern = int(rng.integers(4))
    if pattern == 0:
        m = (np.sin(2 * np.pi * u / period) > 0).astype(np.float32)
    elif pattern == 1:
        m = ((np.floor(u / period) + np.floor(v / period)) % 2).astype(np.float32)
    elif pattern == 2:  # planks: bands with grain
        m = 0.5 + 0.5 * np.sin(2 * np.pi * u / period + 3 * np.sin(v / (period * 2)))
    else:  # woven: two crossing sines
        m = 0.5 + 0.25 * (np.sin(2 * np.pi * u / period) + np.sin(2 * np.pi * v / period))
    m = np.clip(m + rng.normal(0, 0.08, m.shape), 0, 1)[..., None]
    return (_colour(rng) * (1 - m) + _colour(rng) * m).astype(np.uint8)


def _object(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """An everyday thing drawn on a plain or light background: a mug, a ball, a house, a tree, a car, a face,
    a bottle, a lamp, or a few letters."""
    w, h = size
    bg = tuple(int(c) for c in (rng.integers(200, 256, 3) if rng.random() < 0.7 else rng.integers(0, 256, 3)))
    im = Image.new("RGB", size, bg)
    d = ImageDraw.Draw(im)

    def c() -> tuple[int, int, int]:
        return tuple(int(v) for v in rng.integers(0, 220, 3))
    cx, cy, s = w * rng.uniform(0.35, 0.65), h * rng.uniform(0.35, 0.65), min(w, h) * rng.uniform(0.25, 0.45)
    kind = int(rng.integers(9))
    if kind == 0:  # mug
        d.rectangle([cx - s * 0.6, cy - s, cx + s * 0.4, cy + s], fill=c())
        d.ellipse([cx + s * 0.2, cy - s * 0.5, cx + s * 0.9, cy + s * 0.4], outline=c(), width=max(2, int(s / 6)))
    elif kind == 1:  # ball
        d.ellipse([cx - s, cy - s, cx + s, cy + s], fill=c(), outline=c(), width=3)
        d.arc([cx - s, cy - s * 0.3, cx + s, cy + s * 0.3], 0, 180, fill=c(), width=3)
    elif kind == 2:  # house
        d.rectangle([cx - s, cy - s * 0.2, cx + s, cy + s], fill=c())
        d.polygon([(cx - s * 1.2, cy - s * 0.2), (cx, cy - s * 1.1), (cx + s * 1.2, cy - s * 0.2)], fill=c())
        d.rectangle([cx - s * 0.2, cy + s * 0.3, cx + s * 0.2, cy + s], fill=c())
    elif kind == 3:  # tree
        d.rectangle([cx - s * 0.15, cy, cx + s * 0.15, cy + s * 1.1], fill=(110, 70, 30))
        d.ellipse([cx - s * 0.8, cy - s * 1.1, cx + s * 0.8, cy + s * 0.3], fill=(40, int(rng.integers(100, 200)), 40))
    elif kind == 4:  # car
        d.rectangle([cx - s * 1.3, cy - s * 0.2, cx + s * 1.3, cy + s * 0.4], fill=c())
        d.polygon([(cx - s * 0.7, cy - s * 0.2), (cx - s * 0.4, cy - s * 0.7), (cx + s * 0.5, cy - s * 0.7),
                   (cx + s * 0.8, cy - s * 0.2)], fill=c())
        for dx in (-0.8, 0.8):
            d.ellipse([cx + s * dx - s * 0.3, cy + s * 0.2, cx + s * dx + s * 0.3, cy + s * 0.8], fill=(20, 20, 20))
    elif kind == 5:  # face
        d.ellipse([cx - s, cy - s, cx + s, cy + s], fill=(235, 190, 150))
        for dx in (-0.35, 0.35):
            d.ellipse([cx + s * dx - s * 0.1, cy - s * 0.3, cx + s * dx + s * 0.1, cy - s * 0.1], fill=(30, 30, 30))
        d.arc([cx - s * 0.5, cy - s * 0.1, cx + s * 0.5, cy + s * 0.6], 20, 160, fill=(150, 40, 40), width=3)
    elif kind == 6:  # bottle
        d.rectangle([cx - s * 0.35, cy - s * 0.4, cx + s * 0.35, cy + s * 1.1], fill=c())
        d.rectangle([cx - s * 0.12, cy - s * 1.1, cx + s * 0.12, cy - s * 0.4], fill=c())
    elif kind == 7:  # lamp
        d.polygon([(cx - s * 0.7, cy - s * 0.1), (cx - s * 0.35, cy - s), (cx + s * 0.35, cy - s),
                   (cx + s * 0.7, cy - s * 0.1)], fill=c())
        d.line([(cx, cy - s * 0.1), (cx, cy + s)], fill=c(), width=max(2, int(s / 8)))
        d.rectangle([cx - s * 0.5, cy + s * 0.9, cx + s * 0.5, cy + s * 1.05], fill=c())
    else:  # letters
        for i, ch in enumerate(rng.choice(list("ABCDEFGHKMNPRSTXYZ"), 4)):
            d.text((cx - s + i * s * 0.5, cy - s * 0.3), str(ch), fill=c(), font_size=int(s * 0.7))
    return np.asarray(im)
