"""Catalogue embeddings: the encoder's mean vector mu for every shoe (deterministic, no sampling)."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .atomic import atomic_write
from .model import VAE, prepare


@torch.inference_mode()
def embed(model: VAE, images: np.ndarray, batch_size: int = 64,
          progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """uint8 images (N,H,W,3) -> mu (N, latent_dim) float32 (batches of 64 measured fastest on 2 cores)."""
    model.eval()
    device = next(model.parameters()).device
    out = np.empty((len(images), model.cfg.latent_dim), dtype=np.float32)
    for i in range(0, len(images), batch_size):
        mu, _ = model.encode(prepare(images[i:i + batch_size], model.cfg.image_size, device))
        out[i:i + len(mu)] = mu.float().cpu().numpy()
        if progress:
            progress(min(i + batch_size, len(images)), len(images))
    return out


def model_fingerprint(model: VAE) -> str:
    """Hash of the weights and config: embeddings cached under it go stale when the model changes."""
    h = hashlib.sha256(repr(sorted(model.cfg.to_dict().items())).encode())
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def cached_embed(model: VAE, images: np.ndarray, ids: list[str], cache_dir: str | Path,
                 progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """`embed`, remembered on disk per (model, image ids, image size); written atomically."""
    key = hashlib.sha256(f"{model_fingerprint(model)}|{images.shape}|{'|'.join(ids)}".encode()).hexdigest()[:20]
    path = Path(cache_dir) / f"embeddings-{key}.npy"
    if path.is_file():
        try:
            arr = np.load(path)
            if arr.shape == (len(ids), model.cfg.latent_dim):
                return arr
        except (OSError, ValueError):
            pass
    arr = embed(model, images, progress=progress)
    try:
        with atomic_write(path) as f:
            np.save(f, arr)
    except OSError:
        pass
    return arr


def rank_dimensions(embeddings: np.ndarray) -> np.ndarray:
    """Latent dimensions ordered by the variance of mu over the catalogue, most informative first.

    Dimensions the KL term switched off have mu ~ 0 for every shoe: they come last.
    """
    return np.argsort(-embeddings.var(axis=0), kind="stable")
