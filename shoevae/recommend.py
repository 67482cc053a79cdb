"""Nearest shoes by distance between mean latent vectors, with the model that makes them: a person's photo,
reconstructions and decoding (the index, its two metrics and NearestShoes: shoevae/neighbours.py)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from typing import BinaryIO

import numpy as np
import torch

from . import photo, shoelike
from .catalogue import Catalogue
from .config import METRIC
from .embedding import embed, mean_encoder
from .images import load_image, load_photo
from .model import VAE, prepare, reconstruction_bce, to_uint8
from .neighbours import Match, NearestShoes

__all__ = ["Match", "PhotoQuery", "Recommender"]


@dataclass(frozen=True)
class PhotoQuery:
    """A photo's nearest shoes, the photo as the model saw it, and whether it looks like a shoe photo."""

    matches: list[Match]
    prepared: np.ndarray  # uint8 (S,S,3): what the model saw
    looks_like_shoe: bool
    note: str  # one sentence for the person: what was done, or that this does not look like a shoe


class Recommender(NearestShoes):
    """A trained VAE with its catalogue, embeddings and neighbour index: everything the app asks."""

    def __init__(self, model: VAE, catalogue: Catalogue, embeddings: np.ndarray | None = None, *,
                 metric: str = METRIC, cache_dir: str | os.PathLike | None = None) -> None:
        self.model = model.eval()
        self.cache_dir = cache_dir  # where the shoe check is remembered (None: calibrated in every process)
        super().__init__(catalogue, self._embed(catalogue.images) if embeddings is None else embeddings, metric=metric)

    def encode_image(self, source: str | os.PathLike | bytes | BinaryIO) -> np.ndarray:
        """Mean latent vector of any image file, unprepared (ImageError if unusable)."""
        img = load_image(source, self.catalogue.image_size)
        return self._embed(img[None])[0]

    def similar_to_image(self, source: str | os.PathLike | bytes | BinaryIO, k: int = 5) -> list[Match]:
        """The k catalogue shoes nearest to a new photo, prepared as photo_query prepares it."""
        return self.photo_query(source, k).matches

    def photo_query(self, source: str | os.PathLike | bytes | BinaryIO, k: int = 5, *,
                    prepare: bool = True) -> PhotoQuery:
        """A person's photo (file, bytes): prepared (shoevae/photo.py) unless `prepare` is False, its k
        nearest shoes, and the judgement whether it looks like a shoe (shoevae/shoelike.py). ImageError if unusable."""
        return self.query_array(load_photo(source, photo.WORK_SIDE), k, prepare=prepare)

    def query_array(self, img: np.ndarray, k: int = 5, *, prepare: bool = True) -> PhotoQuery:
        """photo_query for a uint8 (H,W,3) RGB photo already read."""
        size = self.catalogue.image_size
        if prepare:
            prepared = photo.prepare_photo(img, size, self.framing)
            views = photo.views(prepared, self.framing, size)
            shot, dist, rows = photo.choose_view(views, self._search(k), self.copy_distance)
        else:
            shot = photo.Prepared(photo.as_is(img, size), min(img.shape[:2]) >= photo.MIN_SIDE, "as is",
                                  (0, 0, img.shape[1], img.shape[0]))
            dist, rows = (a[0] for a in self._search(k)(shot.image[None]))
        shoe = shot.found and self.shoe_check.looks_like_shoe(dist)
        return PhotoQuery(self.matches(dist[None], rows[None]), shot.image, shoe, photo.describe(shot, shoe, prepare))

    def _search(self, k: int):
        return lambda images: self.index.kneighbors(self._embed(images), k)

    @cached_property
    def _encoder(self) -> torch.nn.Module:
        return mean_encoder(self.model)

    def _embed(self, images: np.ndarray) -> np.ndarray:
        return embed(self.model, images, encoder=self._encoder)

    @cached_property
    def framing(self) -> photo.Framing:
        """Where this catalogue's shoes sit in their photos (measured once, from 800 of them)."""
        return photo.Framing.measure(self.catalogue.images)

    @cached_property
    def copy_distance(self) -> float:
        """A photo this near a catalogue shoe is a copy of its photo (photo.choose_view): photo.COPY of the median
        distance from a catalogue shoe to its nearest other (300 of them: a tenth of a second)."""
        rows = np.random.default_rng(0).permutation(len(self.embeddings))[:300]
        return photo.COPY * float(np.median(self.index.kneighbors(self.embeddings[rows], 1, exclude=rows)[0]))

    @cached_property
    def shoe_check(self) -> shoelike.ShoeCheck:
        """The shoe / not-a-shoe threshold for this model and catalogue, calibrated at first use (shoevae/shoelike.py)
        and, with a cache_dir, remembered on disk for the next process."""
        if self.cache_dir is None:
            return self._calibrate()
        return shoelike.cached_check(self.cache_dir, self.embeddings, self._calibrate)

    def _calibrate(self) -> shoelike.ShoeCheck:
        size = self.catalogue.image_size
        shots = [photo.prepare_photo(im, size, self.framing) for im in shoelike.not_shoes(shoelike.N_DRAWN)]
        found = [photo.views(s, self.framing, size) for s in shots if s.found]  # the rest is judged without a distance
        images = [v.image for views in found for v in views]
        vectors = self._embed(np.stack(images)) if images else np.zeros((0, self.embeddings.shape[1]), np.float32)
        return shoelike.calibrate(self.embeddings, self.index, np.split(vectors, np.cumsum([len(v) for v in found])[:-1]))

    @torch.inference_mode()
    def decode(self, z: np.ndarray) -> np.ndarray:
        """Latent vectors (B,D) -> uint8 images (B,S,S,3)."""
        z = torch.as_tensor(np.atleast_2d(z), dtype=torch.float32)
        return to_uint8(self.model.decode(z))

    @torch.inference_mode()
    def reconstruct(self, rows: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """(uint8 reconstructions from the mean vector, per-image BCE) for catalogue rows."""
        x = prepare(self.catalogue.images[np.asarray(rows)], self.model.cfg.image_size)
        logits, bce = reconstruction_bce(self.model, x)
        return to_uint8(torch.sigmoid(logits)), bce.numpy()
