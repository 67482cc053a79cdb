"""Every shoe's k nearest shoes in one file a shop can load: CSV (one row per pair) or JSON.

    python -m shoevae recommend --all -k 10 --out neighbours.csv     # or neighbours.json

CSV columns: item_id, rank (1 = nearest), neighbour_id, neighbour_category, distance. JSON: an object
{item_id: [{"item_id", "category", "distance"}, ...]}, nearest first. The neighbours are exactly those
of `NearestShoes.similar(item_id, k)` (a Recommender's too) (the shoe itself excluded), computed in blocks of queries.
"""
from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from .atomic import atomic_write
from .errors import ConfigError
from .neighbours import NearestShoes

if TYPE_CHECKING:
    import pandas as pd

FORMATS = ("csv", "json")
BLOCK = 2048  # queries per k-NN call: bounds the distance matrix (BLOCK x N floats)


def all_neighbours(rec: NearestShoes, k: int = 10,
                   progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(distances, rows), each (N, k): every catalogue shoe's k nearest others, nearest first."""
    n = len(rec.catalogue)
    if k < 1:
        raise ConfigError("k must be at least 1")
    k = min(k, n - 1)
    dist = np.empty((n, k), np.float32)
    rows = np.empty((n, k), np.int64)
    for start in range(0, n, BLOCK):
        q = np.arange(start, min(start + BLOCK, n))
        d, i = rec.index.kneighbors(rec.embeddings[q], k, exclude=q)
        dist[q], rows[q] = d, i
        if progress:
            progress(int(q[-1]) + 1, n)
    return dist, rows


def neighbours_table(rec: NearestShoes, k: int = 10) -> pd.DataFrame:
    """One row per (shoe, neighbour): item_id, rank, neighbour_id, neighbour_category, distance."""
    import pandas as pd  # here: Recommend's first view imports this module and needs no table
    dist, rows = all_neighbours(rec, k)
    n, k = rows.shape
    ids, cats = np.asarray(rec.catalogue.ids, dtype=object), np.asarray(rec.catalogue.categories, dtype=object)
    return pd.DataFrame({"item_id": np.repeat(ids, k), "rank": np.tile(np.arange(1, k + 1), n),
                         "neighbour_id": ids[rows.ravel()], "neighbour_category": cats[rows.ravel()],
                         "distance": dist.ravel().round(6)})


def format_of(path: str | os.PathLike) -> str:
    """'csv' or 'json' from a file name's suffix; ConfigError for anything else."""
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ConfigError(f"{str(path)!r}: the output must end in .csv or .json")
    return fmt


def neighbours_bytes(rec: NearestShoes, k: int = 10, fmt: str = "csv") -> bytes:
    """The export as a file's bytes (the app's download button)."""
    table = neighbours_table(rec, k)
    if fmt == "csv":
        buf = io.StringIO()
        table.to_csv(buf, index=False, float_format="%.6f")
        return buf.getvalue().encode()
    if fmt == "json":
        out: dict[str, list[dict[str, object]]] = {}
        for item, nb, cat, d in zip(table["item_id"], table["neighbour_id"], table["neighbour_category"],
                                    table["distance"].tolist()):
            out.setdefault(item, []).append({"item_id": nb, "category": cat, "distance": d})
        return json.dumps(out, indent=1).encode()
    raise ConfigError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")


def write_neighbours(rec: NearestShoes, path: str | os.PathLike, k: int = 10) -> int:
    """Write the export to `path` (format by suffix) atomically; returns the number of shoes."""
    data = neighbours_bytes(rec, k, format_of(path))
    with atomic_write(path) as f:
        f.write(data)
    return len(rec.catalogue)
