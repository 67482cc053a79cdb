"""Shoe catalogue: read product photos from a folder tree or a manifest CSV into a uint8 array.

Every image becomes RGB on white, padded to a square and resized to `size` x `size` (shoevae/images.py).
Files that cannot be used are skipped and reported, never fatal. The first load decodes the photos in
worker processes straight into the memory-mapped cache file (shoevae/decoding.py); the cache entry
(shoevae/cache.py) is keyed by the folder and image size (its source) and the file list with sizes
and modification times (its content), so a second load takes about a second and a changed photo
replaces the previous entry.
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Callable, Iterable, Literal

import numpy as np

from . import cache
from .atomic import commit_temp, discard_temp
from .cache import default_cache_dir
from .config import PHOTO_SIZE
from .decoding import compact_npy, decode_all, decode_target, progress_reporter
from .errors import ShoevaeError, UnknownItemError
from .images import safe_name

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
CACHE_VERSION = 2


class CatalogueError(ShoevaeError, ValueError):
    """A data folder or manifest that cannot be used (missing, empty, malformed)."""


@dataclass
class Catalogue:
    """Decoded shoe photos and their ids, paths and categories (row i of each belongs together)."""

    ids: list[str]
    paths: list[str]
    categories: list[str]
    images: np.ndarray  # (N, S, S, 3) uint8
    root: str = ""
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def image_size(self) -> int:
        return int(self.images.shape[1])

    def index_of(self, item_id: str) -> int:
        """Row of an item id, matched exactly or else case-insensitively; KeyError with a clear message if unknown."""
        if not hasattr(self, "_pos"):
            self._pos = {k: i for i, k in enumerate(self.ids)}
            self._folded: dict[str, int] = {}
            for i, k in enumerate(self.ids):
                self._folded.setdefault(k.casefold(), i)  # the first of ids differing only in case
        row = self._pos.get(item_id)
        if row is None:
            row = self._folded.get(str(item_id).strip().casefold())
        if row is None:
            raise UnknownItemError(f"no shoe with item id {item_id!r} in this catalogue")
        return row

    def counts(self) -> dict[str, int]:
        """Number of shoes per category."""
        out: dict[str, int] = {}
        for c in self.categories:
            out[c] = out.get(c, 0) + 1
        return dict(sorted(out.items()))

    def subset(self, rows: Iterable[int]) -> Catalogue:
        rows = np.asarray(list(rows), dtype=np.int64)
        return Catalogue([self.ids[i] for i in rows], [self.paths[i] for i in rows],
                         [self.categories[i] for i in rows], self.images[rows], self.root, [])


def unique_item_id(given: str, md5: str, seen: set[str]) -> str:
    """A photo's item id: the one `given` (a manifest's), else the first 12 hex digits of its MD5; `-2`, `-3`, ...
    appended while the id is in `seen` (the same photo twice keeps both, ids stay unique). Added to `seen`."""
    base = item_id = given or md5[:12]
    k = 1
    while item_id in seen:
        k += 1
        item_id = f"{base}-{k}"
    seen.add(item_id)
    return item_id


def list_sources(source: str | os.PathLike) -> tuple[Path, list[tuple[str, str, str]]]:
    """(root, [(item_id or '', path relative to root, category)]) from a folder or a manifest CSV.

    A folder holding `manifest.csv` (or one subfolder that does) is read through it; otherwise the
    first folder level under the root is the category, and files directly in the root have category "unknown".
    """
    root, rows, _ = scan_sources(source)
    return root, rows


def scan_sources(source: str | os.PathLike) -> tuple[Path, list[tuple[str, str, str]], list[tuple[str, str]]]:
    """list_sources, plus what was passed over and why: [(path, reason)] for subfolders that cannot be
    listed and manifest rows that cannot be used (no path, or a path leading outside the folder).

    CatalogueError when nothing usable is listed or the folder or manifest itself cannot be read.
    """
    src = Path(source).expanduser()
    try:
        if src.is_dir() and not (src / "manifest.csv").is_file():
            nested = sorted(src.glob("*/manifest.csv"))
            if len(nested) == 1:  # data/ holding one fetched dataset, e.g. data/zappos50k/manifest.csv
                src = nested[0].parent
        if src.is_dir() and (src / "manifest.csv").is_file():
            src = src / "manifest.csv"
        if src.is_file():
            return (src.parent, *_read_manifest(src))
        if not src.exists():
            raise CatalogueError(f"data folder {safe_name(str(src))!r} does not exist")
        if not src.is_dir():
            raise CatalogueError(f"{safe_name(str(src))!r} is neither a folder nor a manifest CSV")
        return (src, *_walk(src))
    except OSError as e:  # a folder on the way that cannot be searched
        raise CatalogueError(f"cannot read {safe_name(str(src))!r} ({e.strerror or e})") from None


def _walk(src: Path) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """The image files under a folder; a subfolder that cannot be listed is passed over and reported."""
    rows, unlisted = [], []
    for dirpath, dirnames, filenames in os.walk(src, onerror=unlisted.append):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if Path(name).suffix.lower() in IMAGE_SUFFIXES and not name.startswith("."):
                rel = Path(dirpath, name).relative_to(src)
                rows.append(("", rel.as_posix(), safe_name(rel.parts[0]) if len(rel.parts) > 1 else "unknown"))
    skipped = []
    for e in unlisted:
        if Path(e.filename or src) == src:
            raise CatalogueError(f"cannot list data folder {safe_name(str(src))!r} ({e.strerror or e})")
        skipped.append((str(e.filename), f"folder not read: cannot list it ({e.strerror or e})"))
    if not rows:
        why = f"; {len(skipped)} folder(s) could not be listed, e.g. {safe_name(skipped[0][0])!r}" if skipped else ""
        raise CatalogueError(f"no images found in {safe_name(str(src))!r} (expected <category>/<image>.jpg files; "
                             f"`python -m shoevae data fetch` downloads the full dataset){why}")
    return rows, skipped


def _manifest_path_problem(rel: str) -> str:
    """Why a manifest's path cannot be used ('' if it can): photos are read only from inside the folder."""
    if not rel:
        return "manifest row has no path"
    if "\0" in rel:
        return "manifest path holds a NUL character"
    if not rel.startswith("/") and not any(c in rel for c in ("\\", ":", "..")):
        return ""  # plainly relative and inside (the checks below cost 60 us a row: most of reading a manifest)
    if PurePosixPath(rel).is_absolute() or PureWindowsPath(rel).drive or PureWindowsPath(rel).root:
        return "manifest path is absolute: only paths inside the manifest's folder are read (link photos kept elsewhere into it)"
    if os.path.normpath(rel).replace("\\", "/").split("/")[0] == "..":
        return "manifest path leads outside the manifest's folder (..): not read (link photos kept elsewhere into it)"
    return ""


def _read_manifest(path: Path) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """(usable rows, [(where, why) for rows that are not]) of a manifest CSV."""
    rows, skipped = [], []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = {"path"} - set(reader.fieldnames or [])
            if missing:
                raise CatalogueError(f"manifest {safe_name(str(path))!r} has no 'path' column "
                                     "(expected columns item_id,path,category)")
            for r in reader:
                rel = r.get("path") or ""
                problem = _manifest_path_problem(rel)
                if problem:
                    skipped.append((f"{path} line {reader.line_num}" + (f" ({rel!r})" if rel else ""), problem))
                else:
                    rows.append((r.get("item_id") or "", rel, r.get("category") or "unknown"))
    except (UnicodeDecodeError, csv.Error) as e:
        raise CatalogueError(f"manifest {safe_name(str(path))!r} is not a readable CSV ({e})") from None
    except OSError as e:
        raise CatalogueError(f"cannot read manifest {safe_name(str(path))!r} ({e.strerror or e})") from None
    if not rows:
        first = f" (first problem: {skipped[0][0]}: {skipped[0][1]})" if skipped else ""
        raise CatalogueError(f"manifest {safe_name(str(path))!r} lists no usable images{first}")
    return rows, skipped


def _cache_entry(directory: Path, root: Path, rows: list[tuple[str, str, str]], size: int) -> cache.Entry:
    """Source: the folder or manifest and the image size; content: every file's id, path, category, size and mtime."""
    h = hashlib.sha256(f"v{CACHE_VERSION}".encode())
    for item_id, rel, cat in rows:
        try:
            st = os.stat(os.path.join(root, rel))  # a str: 13.5K Path objects cost a quarter of a second
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            stamp = "missing"
        h.update(f"\n{item_id}|{rel}|{cat}|{stamp}".encode("utf-8", "surrogateescape"))  # names need not be UTF-8
    return cache.Entry(directory, "catalogue", cache.digest(f"v{CACHE_VERSION}:{size}:{root.resolve()}"),
                       h.hexdigest()[:16])


def _read_cached(entry: cache.Entry, root: Path, size: int) -> Catalogue | None:
    """The cached catalogue if its entry is complete and consistent; a damaged entry is deleted."""
    meta_path = entry.path("json")
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        n = len(meta["ids"])
        if not (len(meta["paths"]) == len(meta["categories"]) == n):
            raise ValueError("inconsistent metadata")
    except (OSError, ValueError, KeyError, TypeError):
        cache.discard(entry)
        return None
    images = cache.read_array(entry, shape=(n, size, size, 3), dtype=np.uint8, mmap=True)
    if images is None:
        cache.discard(entry)
        return None
    return Catalogue(meta["ids"], meta["paths"], meta["categories"], images, str(root),
                     [tuple(s) for s in meta["skipped"]])


def load_catalogue(source: str | os.PathLike, size: int = PHOTO_SIZE, *, cache_dir: str | os.PathLike | None = None,
                   use_cache: bool = True, progress: Callable[[int, int], None] | bool = False,
                   workers: int | None = None,
                   executor: Literal["auto", "process", "thread"] = "auto") -> Catalogue:
    """Load a catalogue from a folder tree or manifest CSV; see the module docstring.

    `progress` is True for a terminal bar, or a callback(done, total) (the app's st.progress).
    `workers` (default: the CPUs this process may use) decode in parallel: processes for large
    catalogues (`executor="auto"`), threads for small ones or where processes cannot start.
    Peak memory stays near the final array: the images go straight into a memory-mapped file.
    """
    root, rows, passed_over = scan_sources(source)
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    entry = _cache_entry(directory, root, rows, size)
    if use_cache:
        cat = _read_cached(entry, root, size)
        if cat is not None:
            cat.skipped[:0] = passed_over  # the listing's own, as it is now (the cache holds the decoding's)
            return cat

    shape = (len(rows), size, size, 3)
    tmp, in_cache = decode_target(entry, shape, use_cache)
    target: str | np.ndarray = str(tmp) if tmp is not None else np.empty(shape, np.uint8)
    paths = [root / rel for _, rel, _ in rows]
    try:
        report = progress_reporter(progress, len(rows))
        try:
            results = decode_all(target, size, paths, workers, executor if tmp is not None else "thread", report)
        finally:
            report(None)
        ids, kept_paths, cats, kept, skipped, seen = [], [], [], [], [], set()
        for row, ((item_id, _, cat), path, (md5, reason)) in enumerate(zip(rows, paths, results)):
            if not md5:
                skipped.append((str(path), reason or "not decoded"))
                continue
            item_id = unique_item_id(item_id, md5, seen)
            ids.append(item_id), kept_paths.append(str(path)), cats.append(cat), kept.append(row)
        if not ids:
            raise CatalogueError(f"none of the {len(rows)} files in {str(root)!r} is a usable image "
                                 f"(first problem: {skipped[0][1]})")
        if tmp is None:
            arr = target
            for new, old in enumerate(kept):
                if new != old:
                    arr[new] = arr[old]
            return Catalogue(ids, kept_paths, cats, arr[:len(kept)], str(root), passed_over + skipped)
        compact_npy(tmp, kept)
    except BaseException:
        if tmp is not None:
            with contextlib.suppress(OSError):
                discard_temp(tmp)
        raise

    meta = {"ids": ids, "paths": kept_paths, "categories": cats, "skipped": skipped}
    if in_cache:
        try:
            commit_temp(tmp, entry.path("npy"))
            tmp = entry.path("npy")
        except OSError as e:
            cache.report_failure("catalogue", directory, e)
            in_cache = False
    images = np.load(tmp, mmap_mode="r")  # read back from disk; the mapping outlives the file's name
    if in_cache:  # the metadata is written last: its presence marks a complete entry
        if cache.write(entry, lambda f: json.dump(meta, f), "json", "w"):
            cache.committed(entry)
        else:
            cache.discard(entry)
    else:  # a temporary file of our own
        with contextlib.suppress(OSError):
            discard_temp(tmp)
    return Catalogue(ids, kept_paths, cats, images, str(root), passed_over + skipped)
