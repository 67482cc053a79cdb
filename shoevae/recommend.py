"""Nearest shoes by distance between mean latent vectors (the index: shoevae/neighbours.py).

The index and its two metrics (cosine, the default, and euclidean) are in shoevae/neighbours.py.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import torch

from .catalogue import Catalogue, load_image
from .config import METRIC
from .embedding import embed
from .model import VAE, prepare, to_uint8
from .neighbours import ShoeIndex

__all__ = ["Match", "Recommender", "ShoeIndex"]


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
