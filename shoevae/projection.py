"""2D maps of the latent space (PCA or t-SNE), remembered on disk per embedding matrix."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from . import cache

METHODS = ("pca", "tsne")


def project(embeddings: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """(N, D) -> (N, 2) float32 by PCA or t-SNE (seeded, so the map is the same each time)."""
    if method == "pca":
        out = PCA(n_components=2, random_state=seed).fit_transform(embeddings)
    elif method == "tsne":
        perplexity = float(min(30, max(2, (len(embeddings) - 1) // 3)))
        out = TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed).fit_transform(embeddings)
    else:
        raise ValueError(f"unknown projection {method!r}; choose from {', '.join(METHODS)}")
    return out.astype(np.float32)


def cached_project(embeddings: np.ndarray, method: str, cache_dir: str | Path, seed: int = 0) -> np.ndarray:
    """`project`, remembered on disk (shoevae/cache.py) per embedding matrix, method and seed."""
    if method not in METHODS:
        raise ValueError(f"unknown projection {method!r}; choose from {', '.join(METHODS)}")
    emb = np.ascontiguousarray(embeddings, dtype=np.float32)
    entry = cache.Entry(Path(cache_dir), f"projection-{method}", cache.digest(str(emb.shape), emb.tobytes()),
                        cache.digest(f"seed={seed}"))
    arr = cache.read_array(entry, shape=(len(emb), 2), dtype=np.float32)
    if arr is not None:
        return arr
    arr = project(emb, method, seed)
    cache.write_array(entry, arr)
    return arr
