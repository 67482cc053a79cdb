"""Nearest shoes by distance between mean latent vectors (scikit-learn NearestNeighbors).

Two metrics. "euclidean" is the report's: the distance between the vectors as they are. "cosine"
(the default) is the Euclidean distance between the vectors scaled to unit length (the ranking of
cosine similarity; distances in [0, 2]). It ignores how far a vector lies from the origin, which in a
VAE mostly says how unusual a shoe is; so a few central shoes stop being everyone's neighbours
(hubness). On the shared catalogue it raised coverage@5 from 0.87 to 0.95 and hold-out category
precision@5 from 0.92 to 0.95 (README, Metrics).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import torch
from sklearn.neighbors import NearestNeighbors

from .catalogue import Catalogue, load_image
from .config import METRIC, METRICS
from .embedding import embed
from .model import VAE, prepare, to_uint8


class ShoeIndex:
    """k-NN over embeddings, scikit-learn style: fit(X) -> self, kneighbors -> (distances, indices)."""

    def __init__(self, *, n_neighbors: int = 5, metric: str = METRIC) -> None:
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; choose from {', '.join(METRICS)}")
        self.n_neighbors = n_neighbors
        self.metric = metric

    def _vectors(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, np.float32))
        if self.metric == "cosine":
            x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        return x

    def fit(self, embeddings: np.ndarray) -> ShoeIndex:
        # brute force: one query against 13.5k x 100 floats is a single matrix product (< 1 ms)
        self.nn_ = NearestNeighbors(algorithm="brute", metric="euclidean").fit(self._vectors(embeddings))
        self.n_samples_fit_ = len(embeddings)
        return self

    def kneighbors(self, vectors: np.ndarray, n_neighbors: int | None = None,
                   exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(distances, indices), each (n_queries, k), nearest first; row i never contains exclude[i]."""
        k = min(n_neighbors or self.n_neighbors, self.n_samples_fit_ - (exclude is not None))
        vectors = self._vectors(vectors)
        extra = 1 if exclude is not None else 0
        dist, idx = self.nn_.kneighbors(vectors, n_neighbors=k + extra)
        if exclude is None:
            return dist, idx
        keep = idx != np.asarray(exclude).reshape(-1, 1)
        keep[keep.all(axis=1), -1] = False  # query not among them (ties): drop the farthest instead
        return dist[keep].reshape(len(idx), k), idx[keep].reshape(len(idx), k)


@dataclass(frozen=True)
class Match:
    """One recommended shoe."""

    row: int
    item_id: str
    category: str
    distance: float


class Recommender:
    """A trained VAE with its catalogue, embeddings and neighbour index: everything the app asks."""

    def __init__(self, model: VAE, catalogue: Catalogue, embeddings: np.ndarray | None = None, *,
                 metric: str = METRIC) -> None:
        self.model = model.eval()
        self.catalogue = catalogue
        self.embeddings = embed(model, catalogue.images) if embeddings is None else embeddings
        self.index = ShoeIndex(metric=metric).fit(self.embeddings)

    def _matches(self, dist: np.ndarray, idx: np.ndarray) -> list[Match]:
        cat = self.catalogue
        return [Match(int(i), cat.ids[i], cat.categories[i], float(d)) for d, i in zip(dist[0], idx[0])]

    def similar(self, item_id: str, k: int = 5) -> list[Match]:
        """The k shoes nearest to a catalogue item, itself excluded. KeyError for an unknown id."""
        row = self.catalogue.index_of(item_id)
        return self._matches(*self.index.kneighbors(self.embeddings[row], k, exclude=np.array([row])))

    def encode_image(self, source: str | os.PathLike | bytes | BinaryIO) -> np.ndarray:
        """Mean latent vector of any image file (ImageError if unusable)."""
        img = load_image(source, self.catalogue.image_size)
        return embed(self.model, img[None])[0]

    def similar_to_image(self, source: str | os.PathLike | bytes | BinaryIO, k: int = 5) -> list[Match]:
        """The k catalogue shoes nearest to a new photo."""
        return self._matches(*self.index.kneighbors(self.encode_image(source), k))

    @torch.inference_mode()
    def decode(self, z: np.ndarray) -> np.ndarray:
        """Latent vectors (B,D) -> uint8 images (B,S,S,3)."""
        z = torch.as_tensor(np.atleast_2d(z), dtype=torch.float32)
        return to_uint8(self.model.decode(z))

    @torch.inference_mode()
    def reconstruct(self, rows: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """(uint8 reconstructions from the mean vector, per-image BCE) for catalogue rows."""
        x = prepare(self.catalogue.images[np.asarray(rows)], self.model.cfg.image_size)
        logits = self.model.decode_logits(self.model.encode(x)[0])
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").sum((1, 2, 3))
        return to_uint8(torch.sigmoid(logits)), bce.numpy()

    def generate(self, n: int, temperature: float = 1.0, seed: int = 0) -> np.ndarray:
        """n shoes decoded from z ~ N(0, temperature^2 I), repeatable by seed."""
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.model.cfg.latent_dim, generator=g) * temperature
        return self.decode(z.numpy())
