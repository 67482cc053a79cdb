"""Catalogue embeddings: the encoder's mean vector mu for every shoe (deterministic, no sampling)."""
from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.fx.experimental.optimization import fuse

from . import cache
from .model import VAE, prepare


def mean_encoder(model: VAE) -> nn.Module:
    """Images -> mu only (no log variance) as the model in eval mode computes it, with batch norm folded into
    the convolutions (torch.fx's `fuse`, on a copy in eval mode: the model's weights and its train/eval mode stay
    as they are): the same mean vectors to float rounding, in fewer passes over memory."""
    net = nn.Sequential(model.encoder, model.fc_mu)
    if model.cfg.batch_norm:  # without batch norm the layers behave the same in either mode: no copy needed
        net = fuse(copy.deepcopy(net).eval(), inplace=True).to(memory_format=torch.channels_last)  # folded: NCHW
    return net


@torch.inference_mode()
def embed(model: VAE, images: np.ndarray, batch_size: int = 64,
          progress: Callable[[int, int], None] | None = None, encoder: nn.Module | None = None) -> np.ndarray:
    """uint8 images (N,H,W,3) -> mu (N, latent_dim) float32 (batches of 64 measured fastest on 2 cores).

    `encoder`: the model's mean_encoder when the caller keeps one (folding batch norm costs ~0.1 s a call)."""
    encoder = encoder or mean_encoder(model)
    device = next(model.parameters()).device
    out = np.empty((len(images), model.cfg.latent_dim), dtype=np.float32)
    for i in range(0, len(images), batch_size):
        mu = encoder(prepare(images[i:i + batch_size], model.cfg.image_size, device))
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
                 progress: Callable[[int, int], None] | None = None, fingerprint: str | None = None) -> np.ndarray:
    """`embed`, remembered on disk (shoevae/cache.py) per model and image size, for these image ids.

    The entry's source is the model (its weights and config): a changed model never reads another
    model's vectors; a changed catalogue replaces that model's previous entry. `fingerprint`: the
    model's model_fingerprint when the caller has it already (hashing the weights again is not free).
    """
    entry = cache.embeddings_entry(cache_dir, fingerprint or model_fingerprint(model), images.shape[1:], ids)
    arr = cache.read_array(entry, shape=(len(ids), model.cfg.latent_dim), dtype=np.float32)
    if arr is not None:
        return arr
    arr = embed(model, images, progress=progress)
    cache.write_array(entry, arr)
    return arr


def rank_dimensions(embeddings: np.ndarray) -> np.ndarray:
    """Latent dimensions ordered by the variance of mu over the catalogue, most informative first.

    Dimensions the KL term switched off have mu ~ 0 for every shoe: they come last.
    """
    return np.argsort(-embeddings.var(axis=0), kind="stable")
