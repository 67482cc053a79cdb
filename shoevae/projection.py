"""2D maps of the latent space (PCA or t-SNE), remembered on disk per embedding matrix."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from .atomic import atomic_write

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
    """`project`, cached as cache_dir/projection-<method>-<hash>.npy (atomic write)."""
    emb = np.ascontiguousarray(embeddings, dtype=np.float32)
    key = hashlib.sha256(emb.tobytes() + f"{method}:{seed}".encode()).hexdigest()[:20]
    path = Path(cache_dir) / f"projection-{method}-{key}.npy"
    if path.is_file():
        try:
            arr = np.load(path)
            if arr.shape == (len(emb), 2):
                return arr
        except (OSError, ValueError):
            pass
    arr = project(emb, method, seed)
    try:
        with atomic_write(path) as f:
            np.save(f, arr)
    except OSError:
        pass
    return arr
