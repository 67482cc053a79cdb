"""2D maps of the latent space (PCA or t-SNE), remembered on disk per embedding matrix."""
from __future__ import annotations

import contextlib
import io
import re
import sys
import threading
from pathlib import Path
from typing import Callable

import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.neighbors import NearestNeighbors

from . import cache

METHODS = ("pca", "tsne")
# t-SNE for a map to browse: half sklearn's iterations (1000) and a coarser Barnes-Hut angle than its 0.5,
# so that the first map of 6,000 shoes takes about half a minute here (docs/app.md)
TSNE_ITER, TSNE_ANGLE = 500, 0.8
_STDOUT_LOCK = threading.Lock()  # one t-SNE at a time borrows sys.stdout to read its progress


def project(embeddings: np.ndarray, method: str = "pca", seed: int = 0,
            progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """(N, D) -> (N, 2) float32 by PCA or t-SNE (seeded, so the map is the same each time).

    `progress(iteration, iterations)` follows t-SNE's optimisation (every 50 iterations).
    """
    if method == "pca":
        out = PCA(n_components=2, random_state=seed).fit_transform(embeddings)
    elif method == "tsne":
        perplexity = float(min(30, max(2, (len(embeddings) - 1) // 3)))
        tsne = TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed, max_iter=TSNE_ITER,
                    angle=TSNE_ANGLE, verbose=2 if progress else 0)
        if progress is None:
            out = tsne.fit_transform(embeddings)
        else:
            progress(0, TSNE_ITER)
            with _STDOUT_LOCK, contextlib.redirect_stdout(_TsneLog(progress, TSNE_ITER, sys.stdout)):
                out = tsne.fit_transform(embeddings)
            progress(TSNE_ITER, TSNE_ITER)
    else:
        raise ValueError(f"unknown projection {method!r}; choose from {', '.join(METHODS)}")
    return out.astype(np.float32)


def cached_project(embeddings: np.ndarray, method: str, cache_dir: str | Path, seed: int = 0,
                   progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """`project`, remembered on disk (shoevae/cache.py) per embedding matrix, method and seed."""
    if method not in METHODS:
        raise ValueError(f"unknown projection {method!r}; choose from {', '.join(METHODS)}")
    emb = np.ascontiguousarray(embeddings, dtype=np.float32)
    entry = cache.vectors_entry(cache_dir, f"projection-{method}", emb, f"seed={seed}")
    arr = cache.read_array(entry, shape=(len(emb), 2), dtype=np.float32)
    if arr is not None:
        return arr
    arr = project(emb, method, seed, progress)
    cache.write_array(entry, arr)
    return arr


def project_sample(embeddings: np.ndarray, rows: np.ndarray, method: str, cache_dir: str | Path, seed: int = 0,
                   progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """(N, 2): the map computed from embeddings[rows] only (cached); every other shoe is placed on its
    nearest shown shoe, so a picked shoe outside the sample still has a place on the map."""
    rows = np.asarray(rows)
    xy = cached_project(embeddings[rows], method, cache_dir, seed, progress=progress)
    out = np.empty((len(embeddings), 2), np.float32)
    out[rows] = xy
    others = np.setdiff1d(np.arange(len(embeddings)), rows)
    if len(others):
        nearest = NearestNeighbors(n_neighbors=1).fit(embeddings[rows]).kneighbors(
            embeddings[others], return_distance=False)[:, 0]
        out[others] = xy[nearest]
    return out


class _TsneLog(io.TextIOBase):
    """Stands in for stdout while t-SNE runs: its "Iteration k" lines become progress(k, total);
    everything else goes on to the real stdout."""

    def __init__(self, progress: Callable[[int, int], None], total: int, stdout: io.TextIOBase) -> None:
        self.progress, self.total, self.stdout = progress, total, stdout

    def write(self, text: str) -> int:
        self._line = getattr(self, "_line", "") + text
        while "\n" in self._line:
            line, self._line = self._line.split("\n", 1)
            found = re.match(r"\[t-SNE\] Iteration (\d+):", line)
            if found:
                self.progress(min(int(found.group(1)), self.total), self.total)
            elif not line.startswith("[t-SNE]"):
                self.stdout.write(line + "\n")
        return len(text)
