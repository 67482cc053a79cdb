"""On-disk caches (decoded catalogues, embeddings, projections): one folder, one naming scheme, one set of rules.

An entry is one or more files named `<kind>-<source>-<content>.<ext>`: `source` says what the entry
was made from (a photo folder at one image size, a model, an embedding matrix), `content` the
exact state it was made from (file sizes and times, the ids, a seed).

- Writes are atomic (shoevae/atomic.py); a write that fails (full or read-only disk) is reported
  once per process and kind as a `CacheWarning` and never raised: the caller keeps its result.
- Reads validate what they load; a damaged entry is deleted and the caller rebuilds it.
- Writing an entry deletes the older entries of the same kind and source (one changed photo does
  not leave the previous 0.75 GB catalogue behind).
- The folder is kept under `SHOEVAE_CACHE_MAX_GB` (default 10) by deleting the least recently used
  entries; reading an entry marks it used (its files' modification time).

The folder is `SHOEVAE_CACHE` (default ~/.cache/shoevae). Only files following the naming scheme,
this package's older single-key names and its own temporary files (`.<name>.<random>.tmp`, when
untouched for 6 hours: left by a killed process) are ever deleted.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
import time
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable

import numpy as np

from .atomic import atomic_write

if TYPE_CHECKING:
    from .model import VAE

DEFAULT_MAX_GB = 10.0
ORPHAN_SECONDS = 6 * 3600  # a temporary file untouched this long belongs to a killed process
_NAME = re.compile(r"^(?P<kind>[a-z][a-z0-9_]*(?:-[a-z][a-z0-9_]*)*)-(?P<source>[0-9a-f]{16})-(?P<content>[0-9a-f]{16})"
                   r"\.(?:npy|npz|json)$")  # every extension an entry is written with
_LEGACY = re.compile(r"^(?:catalogue|embeddings|projection-[a-z]+)-[0-9a-f]{20}\.(?:npy|json)$")  # before v2
_warned: set[str] = set()
_warned_lock = threading.Lock()


class CacheWarning(RuntimeWarning):
    """A cache that could not be written or a bad cache setting: costs speed, never results."""


def default_cache_dir() -> Path:
    """`SHOEVAE_CACHE`, else ~/.cache/shoevae."""
    return Path(os.environ.get("SHOEVAE_CACHE") or Path.home() / ".cache" / "shoevae")


def max_bytes() -> int:
    """The size bound of the cache folder in bytes, from `SHOEVAE_CACHE_MAX_GB` (default 10)."""
    raw = os.environ.get("SHOEVAE_CACHE_MAX_GB", "").strip()
    try:
        gb = float(raw) if raw else DEFAULT_MAX_GB
        if not gb > 0:
            raise ValueError
    except ValueError:
        _warn_once("setting", f"SHOEVAE_CACHE_MAX_GB={raw!r} is not a positive number of GB; "
                              f"using {DEFAULT_MAX_GB:g}")
        gb = DEFAULT_MAX_GB
    return int(gb * 2**30)


def digest(*parts: str | bytes) -> str:
    """16 hex digits of the SHA-256 of the parts (a source or content key)."""
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else p.encode("utf-8", "surrogateescape"))  # a path need not be UTF-8
        h.update(b"\0")
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Entry:
    """One cache entry: `directory/<kind>-<source>-<content>.<ext>` files."""

    directory: Path
    kind: str
    source: str
    content: str

    @property
    def stem(self) -> str:
        return f"{self.kind}-{self.source}-{self.content}"

    def path(self, ext: str = "npy") -> Path:
        return Path(self.directory) / f"{self.stem}.{ext}"

    def files(self) -> list[Path]:
        return sorted(Path(self.directory).glob(f"{self.stem}.*"))


def embeddings_entry(directory: str | os.PathLike, fingerprint: str, image_shape: tuple[int, ...],
                     ids: list[str]) -> Entry:
    """The entry of a model's mean vectors for a catalogue: source = the model (its fingerprint) and the
    image size, content = the image ids. Here, without torch, so the CLI's warm path can read it too."""
    return Entry(Path(directory), "embeddings", digest(fingerprint, str(tuple(image_shape))),
                 digest(str(len(ids)), *ids))


def checkpoint_identity(checkpoint: str | os.PathLike) -> tuple[Path, str] | None:
    """(resolved path, "size:mtime_ns") of a checkpoint file, None if it cannot be read: a rewritten file is
    another model. The one identity the app's model cache and the CLI's checkpoint alias key on."""
    try:
        path = Path(checkpoint).resolve()
        st = path.stat()
    except OSError:
        return None
    return path, f"{st.st_size}:{st.st_mtime_ns}"


def _checkpoint_alias(checkpoint: str | os.PathLike, directory: str | os.PathLike | None) -> Entry | None:
    """The entry naming a checkpoint file's model: source = its resolved path, content = its size and mtime."""
    identity = checkpoint_identity(checkpoint)
    if identity is None:
        return None
    path, stamp = identity
    return Entry(Path(directory) if directory is not None else default_cache_dir(), "checkpoint-alias",
                 digest(str(path)), digest(*stamp.split(":")))


def remember_checkpoint(checkpoint: str | os.PathLike, model: VAE, fingerprint: str,
                        directory: str | os.PathLike | None = None) -> None:
    """Remember which model a checkpoint file holds (its fingerprint, image size and latent size), so
    cached_checkpoint can find its cached embeddings without loading it (the CLI's recommend without torch)."""
    alias = _checkpoint_alias(checkpoint, directory)
    if alias is None:
        return
    known = {"fingerprint": fingerprint, "image_size": model.cfg.image_size, "latent_dim": model.cfg.latent_dim}
    if write(alias, lambda f: json.dump(known, f), ext="json", mode="w"):
        committed(alias)


def cached_checkpoint(checkpoint: str | os.PathLike, directory: str | os.PathLike | None = None) -> dict[str, Any] | None:
    """What remember_checkpoint stored for this very file ({"fingerprint": str, "image_size": int, "latent_dim": int}),
    or None: never remembered, rewritten since, or unreadable."""
    alias = _checkpoint_alias(checkpoint, directory)
    known = read_json(alias) if alias else None
    try:
        return {"fingerprint": str(known["fingerprint"]), "image_size": int(known["image_size"]),
                "latent_dim": int(known["latent_dim"])}
    except (TypeError, KeyError, ValueError):
        return None


def cached_vectors(checkpoint: str | os.PathLike, ids: list[str], image_shape: tuple[int, ...],
                   directory: str | os.PathLike | None = None) -> np.ndarray | None:
    """The style vectors a checkpoint file (unchanged since) gave these photos, read without loading it (no torch):
    its alias (remember_checkpoint) names the model, embeddings_entry the vectors. None when either is missing."""
    known = cached_checkpoint(checkpoint, directory)
    if known is None:
        return None
    entry = embeddings_entry(directory if directory is not None else default_cache_dir(), known["fingerprint"],
                             image_shape, ids)
    return read_array(entry, shape=(len(ids), known["latent_dim"]), dtype=np.float32)


def report_failure(kind: str, directory: str | os.PathLike, error: BaseException) -> None:
    """Warn once per process and kind that a cache write failed (full or read-only disk)."""
    reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
    _warn_once(kind, f"could not write the {kind} cache in {str(directory)!r} ({reason}); "
                     "it will be rebuilt next time (set SHOEVAE_CACHE to a writable folder)")


def _warn_once(key: str, message: str) -> None:
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    warnings.warn(f"shoevae: {message}", CacheWarning, stacklevel=3)


def touch(entry: Entry) -> None:
    """Mark an entry as just used (least-recently-used order); silent on a read-only folder."""
    for f in entry.files():
        with contextlib.suppress(OSError):
            os.utime(f)


def discard(entry: Entry) -> None:
    """Delete an entry's files (a damaged or stale entry)."""
    for f in entry.files():
        with contextlib.suppress(OSError):
            f.unlink()


def vectors_entry(directory: str | os.PathLike, kind: str, vectors: np.ndarray, settings: str) -> Entry:
    """The entry of something computed from a matrix of style vectors alone (a mixture, a projection, the shoe
    check): keyed by the matrix itself (shape and float32 bytes) and the settings that shaped the result."""
    x = np.ascontiguousarray(vectors, np.float32)
    return Entry(Path(directory), kind, digest(str(x.shape), x.tobytes()), digest(settings))


def read_array(entry: Entry, *, shape: tuple[int, ...] | None = None, dtype: np.dtype | str | None = None,
               mmap: bool = False) -> np.ndarray | None:
    """The entry's .npy array if present and of the expected shape and dtype; else None (a damaged one is deleted)."""
    path = entry.path("npy")
    if not path.is_file():
        return None
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        arr = None
    if arr is None or (shape is not None and arr.shape != tuple(shape)) or \
            (dtype is not None and arr.dtype != np.dtype(dtype)):
        discard(entry)
        return None
    touch(entry)
    return arr


def read_arrays(entry: Entry, names: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """The arrays `names` of the entry's .npz file if present and readable; else None (a damaged one is deleted)."""
    path = entry.path("npz")
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {name: f[name] for name in names}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        discard(entry)
        return None
    touch(entry)
    return arrays


def read_json(entry: Entry) -> dict | None:
    """The entry's .json object if present and readable; else None (a damaged one is deleted)."""
    path = entry.path("json")
    if not path.is_file():
        return None
    try:
        obj = json.loads(path.read_text())
    except (OSError, ValueError):
        obj = None
    if not isinstance(obj, dict):
        discard(entry)
        return None
    touch(entry)
    return obj


def write(entry: Entry, writer: Callable[[IO], None], ext: str = "npy", mode: str = "wb") -> bool:
    """Write one file of `entry` atomically with `writer(file)`; False (and one warning) if that failed."""
    try:
        with atomic_write(entry.path(ext), mode) as f:
            writer(f)
    except OSError as e:
        report_failure(entry.kind, entry.directory, e)
        return False
    return True


def write_array(entry: Entry, arr: np.ndarray) -> bool:
    """Save `arr` as the entry's .npy file, then evict stale entries and keep the folder bound."""
    ok = write(entry, lambda f: np.save(f, arr, allow_pickle=False))
    if ok:
        committed(entry)
    return ok


def write_arrays(entry: Entry, **arrays: np.ndarray) -> bool:
    """Save `arrays` as the entry's .npz file, then evict stale entries and keep the folder bound."""
    ok = write(entry, lambda f: np.savez(f, **arrays), ext="npz")
    if ok:
        committed(entry)
    return ok


def committed(entry: Entry) -> None:
    """After a complete entry is written: delete older entries of its source, then enforce the bound."""
    evict_stale(entry)
    enforce_bound(entry.directory, keep={entry.stem})


def evict_stale(entry: Entry) -> list[Path]:
    """Delete the entries of the same kind and source with another content; return the deleted files."""
    gone = []
    with contextlib.suppress(OSError):
        for f in Path(entry.directory).iterdir():
            m = _NAME.match(f.name)
            if m and m["kind"] == entry.kind and m["source"] == entry.source and m["content"] != entry.content:
                with contextlib.suppress(OSError):
                    f.unlink()
                    gone.append(f)
    return gone


def enforce_bound(directory: str | os.PathLike, limit: int | None = None, keep: set[str] = frozenset(),
                  incoming: int = 0) -> list[Path]:
    """Delete least recently used entries until the folder (plus `incoming` bytes) fits `limit`.

    Entries named in `keep` (stems) stay whatever their size. Files of this package's older
    naming scheme (unreadable now) and temporary files left by killed processes go first.
    """
    directory = Path(directory)
    limit = max_bytes() if limit is None else limit
    gone: list[Path] = []
    now = time.time()
    entries: dict[str, list[tuple[Path, os.stat_result]]] = {}
    with contextlib.suppress(OSError):
        for f in directory.iterdir():
            try:
                st = f.stat()
            except OSError:
                continue
            if f.name.startswith(".") and f.name.endswith(".tmp") and now - st.st_mtime > ORPHAN_SECONDS:
                with contextlib.suppress(OSError):
                    f.unlink()
                    gone.append(f)
            elif _LEGACY.match(f.name):
                with contextlib.suppress(OSError):
                    f.unlink()
                    gone.append(f)
            elif _NAME.match(f.name):
                entries.setdefault(f.name.split(".", 1)[0], []).append((f, st))
    total = incoming + sum(st.st_size for files in entries.values() for _, st in files)
    by_age = sorted(entries, key=lambda s: max(st.st_mtime for _, st in entries[s]))
    for stem in by_age:
        if total <= limit:
            break
        if stem in keep:
            continue
        for f, st in entries[stem]:
            with contextlib.suppress(OSError):
                f.unlink()
                gone.append(f)
                total -= st.st_size
    return gone
