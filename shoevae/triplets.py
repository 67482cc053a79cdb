"""Do the neighbours agree with people? Triplet agreement on human similarity judgements.

    from shoevae.triplets import load_triplets, agreement, baseline_features
    t = load_triplets("../shared/data/human-triplets")     # triplets.csv (head, close, far) + images/N.jpg
    agreement(embed(model, t.images), t, "cosine")         # share of rows where close is nearer to head

A row counts as agreement when `close` is strictly nearer to `head` than `far` (ties are wrong; chance
is 50 %). Distances are those of shoevae.neighbours.ShoeIndex: "euclidean" on the vectors as they are,
"cosine" on the vectors scaled to unit length. Baselines: RGB pixels and a binary silhouette
(grey < 240) of a 34x26 thumbnail of each photo, as in the data's README (60.2 % and 64.3 %), and PCA of
32x32 pixels fitted on the catalogue's training split (the same as shoevae.evaluate's baseline).
"""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .catalogue import Catalogue
from .config import METRICS, PHOTO_SIZE
from .errors import ShoevaeError
from .images import ImageError, load_image, read_photo
from .neighbours import ShoeIndex

THUMB = (34, 26)  # (width, height): a quarter of the 136x102 photos


class TripletsError(ShoevaeError, ValueError):
    """A triplets folder that cannot be used, with a one-line reason."""


@dataclass(frozen=True)
class Triplets:
    """The judged photos and the judgements (rows of `rows` index `names`, `images`, `thumbs`)."""

    names: list[str]  # file stems, as triplets.csv names them ("26")
    images: np.ndarray  # (N, S, S, 3) uint8, padded square on white as the catalogue's photos
    thumbs: np.ndarray  # (N, 26, 34, 3) uint8, the photo shrunk as it is (not padded)
    rows: np.ndarray  # (M, 3) int: head, close, far

    def __len__(self) -> int:
        return len(self.rows)


def load_triplets(folder: str | os.PathLike, size: int = PHOTO_SIZE) -> Triplets:
    """Read triplets.csv and the photos it names from `folder` (TripletsError if unusable)."""
    folder = Path(folder)
    csv_path = folder / "triplets.csv"
    if not csv_path.is_file():
        raise TripletsError(f"no triplets.csv in {str(folder)!r} (expected columns head, close, far and images/N.jpg)")
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        if not {"head", "close", "far"} <= set(reader.fieldnames or ()):
            raise TripletsError(f"{csv_path} needs the columns head, close, far (found {reader.fieldnames})")
        named = [(r["head"].strip(), r["close"].strip(), r["far"].strip()) for r in reader]
    if not named:
        raise TripletsError(f"{csv_path} holds no judgements")
    names = sorted({n for row in named for n in row}, key=lambda n: (len(n), n))
    images, thumbs = [], []
    for n in names:
        path = folder / "images" / f"{n}.jpg"
        try:
            data = read_photo(path)  # a regular file, size-limited, read once for both
            images.append(load_image(data, size))
            with Image.open(io.BytesIO(data)) as im:
                thumbs.append(np.asarray(im.convert("RGB").resize(THUMB, Image.Resampling.BICUBIC), np.uint8))
        except (ImageError, OSError) as e:
            raise TripletsError(f"{path}: {e}") from None
    index = {n: i for i, n in enumerate(names)}
    rows = np.array([[index[n] for n in row] for row in named], dtype=np.int64)
    return Triplets(names, np.stack(images), np.stack(thumbs), rows)


def agrees(features: np.ndarray, triplets: Triplets, metric: str = "cosine") -> np.ndarray:
    """Per judgement: whether `close` is strictly nearer to `head` than `far` is (bool, one per row)."""
    x = ShoeIndex(metric=metric)._vectors(np.asarray(features, np.float64).reshape(len(features), -1))
    h, c, f = (x[triplets.rows[:, i]] for i in range(3))
    return np.linalg.norm(h - c, axis=1) < np.linalg.norm(h - f, axis=1)


def agreement(features: np.ndarray, triplets: Triplets, metric: str = "cosine") -> float:
    """Share of judgements where `close` is strictly nearer to `head` than `far` is."""
    return float(np.mean(agrees(features, triplets, metric)))


def agreement_interval(features: np.ndarray, triplets: Triplets, metric: str = "cosine", level: float = 0.95,
                       resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Bootstrap interval of the agreement over the judged photos: the photos shown as `head` are drawn
    again with replacement, each bringing all its judgements. The judgements of one photo hang together
    (35,310 rows, but only a few dozen photos), so this is the honest width, far wider than a binomial's."""
    ok = agrees(features, triplets, metric)
    heads = triplets.rows[:, 0]
    n = len(triplets.names)
    hits, counts = np.bincount(heads, ok, minlength=n), np.bincount(heads, minlength=n).astype(float)
    shown = np.flatnonzero(counts)
    draws = np.random.default_rng(seed).multinomial(len(shown), np.full(len(shown), 1 / len(shown)), size=resamples)
    shares = (draws @ hits[shown]) / (draws @ counts[shown])
    return float(np.quantile(shares, (1 - level) / 2)), float(np.quantile(shares, (1 + level) / 2))


def pixel_features(triplets: Triplets) -> np.ndarray:
    """RGB pixels of the 34x26 thumbnails, in [0, 1]."""
    return triplets.thumbs.reshape(len(triplets.thumbs), -1).astype(np.float32) / 255


def silhouette_features(triplets: Triplets) -> np.ndarray:
    """Binary silhouette of the 34x26 thumbnails: 1 where the grey level is below 240 (not background)."""
    grey = np.asarray([np.asarray(Image.fromarray(t).convert("L")) for t in triplets.thumbs])
    return (grey < 240).reshape(len(grey), -1).astype(np.float32)


def pca_features(triplets: Triplets, catalogue: Catalogue, n_components: int = 100, split=None) -> np.ndarray:
    """The catalogue's PCA-of-pixels baseline (shoevae.evaluate.fit_pixel_pca: 32x32 pixels, fitted on the
    training side of `split`), applied to the judged photos."""
    from .evaluate import fit_pixel_pca, pixel_features
    return fit_pixel_pca(catalogue, n_components, 32, split).transform(pixel_features(triplets.images, 32)).astype(np.float32)


def baseline_features(triplets: Triplets, catalogue: Catalogue | None = None,
                      n_components: int = 100, split=None) -> dict[str, np.ndarray]:
    """Named baseline feature matrices; PCA only when a catalogue to fit it on is given."""
    out = {"RGB pixels 34x26": pixel_features(triplets), "silhouette 34x26": silhouette_features(triplets)}
    if catalogue is not None:
        out[f"PCA of pixels ({n_components} dims)"] = pca_features(triplets, catalogue, n_components, split)
    return out


def agreement_table(features: dict[str, np.ndarray], triplets: Triplets,
                    metrics: tuple[str, ...] = METRICS) -> dict[str, dict[str, float]]:
    """{name: {"triplet agreement, <metric>": share}} for every feature matrix and metric."""
    return {name: {f"triplet agreement, {m}": agreement(x, triplets, m) for m in metrics}
            for name, x in features.items()}


def model_table(triplets: Triplets, model, name: str, catalogue: Catalogue | None = None,
                baselines: bool = False, metrics: tuple[str, ...] = METRICS, split=None) -> dict[str, dict[str, float]]:
    """Agreement of a VAE's mean vectors (and, with `baselines`, of the baselines), rows named "triplets: ..."."""
    from .embedding import embed
    features = {name: embed(model, triplets.images)}
    if baselines:
        features.update(baseline_features(triplets, catalogue, split=split))
    return {f"triplets: {k}": v for k, v in agreement_table(features, triplets, metrics).items()}
