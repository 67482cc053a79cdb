"""Shoe catalogue: read product photos from a folder tree or a manifest CSV into a uint8 array.

Every image becomes RGB on white, padded to a square and resized to `size` x `size`. Files that
cannot be used are skipped and reported, never fatal. The decoded array is cached on disk, keyed
by the file list (paths, sizes, mtimes) and the image size, so a second load takes about a second.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable, Iterable

import numpy as np
from PIL import Image, ImageOps

from .atomic import atomic_write
from .errors import ShoevaeError, UnknownItemError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
MAX_PIXELS = 50_000_000  # larger images are refused as absurd (PIL's bomb guard is 89M)
MAX_BYTES = 100 * 1024 * 1024
CACHE_VERSION = 1


class ImageError(ShoevaeError, ValueError):
    """An image that cannot be used, with a one-line human reason."""


class CatalogueError(ShoevaeError, ValueError):
    """A data folder or manifest that cannot be used (missing, empty, malformed)."""


def default_cache_dir() -> Path:
    return Path(os.environ.get("SHOEVAE_CACHE", Path.home() / ".cache" / "shoevae"))


def load_image(source: str | os.PathLike | bytes | BinaryIO, size: int = 136) -> np.ndarray:
    """Read one image as uint8 (size, size, 3): RGB, transparency on white, padded square with white.

    Raises ImageError with a short reason for anything unusable (not an image, truncated, empty,
    absurdly large, unreadable).
    """
    try:
        if isinstance(source, (bytes, bytearray)):
            if len(source) == 0:
                raise ImageError("empty file")
            source = io.BytesIO(source)
        elif isinstance(source, (str, os.PathLike)):
            n = os.path.getsize(source)
            if n == 0:
                raise ImageError("empty file")
            if n > MAX_BYTES:
                raise ImageError(f"file too large ({n / 2**20:.0f} MB)")
        with Image.open(source) as im:
            if im.width * im.height > MAX_PIXELS:
                raise ImageError(f"image too large ({im.width}x{im.height} pixels)")
            im.draft("RGB", (size, size))  # JPEG: decode at reduced scale when much larger
            im.load()  # truncated or corrupt data fails here
            im = ImageOps.exif_transpose(im)
            return _to_square_rgb(im, size)
    except ImageError:
        raise
    except Image.DecompressionBombError:
        raise ImageError("image too large (decompression bomb guard)") from None
    except FileNotFoundError:
        raise ImageError("file not found") from None
    except Image.UnidentifiedImageError:
        raise ImageError("not an image (unrecognised format)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"unreadable image ({str(e).splitlines()[0][:80] or type(e).__name__})") from None


def _to_square_rgb(im: Image.Image, size: int) -> np.ndarray:
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, rgba)
    elif im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        arr = np.asarray(im, dtype=np.float64)
        span = float(arr.max() - arr.min()) or 1.0
        im = Image.fromarray(((arr - arr.min()) / span * 255).astype(np.uint8))
    im = im.convert("RGB")  # CMYK, L, 1, P, YCbCr ...
    side = max(im.size)
    square = Image.new("RGB", (side, side), (255, 255, 255))
    square.paste(im, ((side - im.width) // 2, (side - im.height) // 2))
    if side != size:
        square = square.resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(square, dtype=np.uint8)


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

    def subset(self, rows: Iterable[int]) -> "Catalogue":
        rows = np.asarray(list(rows), dtype=np.int64)
        return Catalogue([self.ids[i] for i in rows], [self.paths[i] for i in rows],
                         [self.categories[i] for i in rows], self.images[rows], self.root, [])


def holdout_mask(ids: list[str], fraction: float, seed: int = 0) -> np.ndarray:
    """Boolean mask of the held-out items: a seeded hash of each id, so it never depends on order."""
    if not 0 <= fraction < 1:
        raise ValueError("holdout fraction must be in [0, 1)")
    h = [int(hashlib.md5(f"{seed}:{i}".encode()).hexdigest()[:8], 16) / 2**32 for i in ids]
    return np.asarray(h) < fraction


def list_sources(source: str | os.PathLike) -> tuple[Path, list[tuple[str, str, str]]]:
    """(root, [(item_id or '', path relative to root, category)]) from a folder or a manifest CSV.

    A folder holding `manifest.csv` (or one subfolder that does) is read through it; otherwise the
    first folder level under the root is the category, and files directly in the root have category "unknown".
    """
    src = Path(source).expanduser()
    if src.is_dir() and not (src / "manifest.csv").is_file():
        nested = sorted(src.glob("*/manifest.csv"))
        if len(nested) == 1:  # data/ holding one fetched dataset, e.g. data/zappos50k/manifest.csv
            src = nested[0].parent
    if src.is_dir() and (src / "manifest.csv").is_file():
        src = src / "manifest.csv"
    if src.is_file():
        return src.parent, _read_manifest(src)
    if not src.exists():
        raise CatalogueError(f"data folder {str(src)!r} does not exist")
    if not src.is_dir():
        raise CatalogueError(f"{str(src)!r} is neither a folder nor a manifest CSV")
    rows = []
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if Path(name).suffix.lower() in IMAGE_SUFFIXES and not name.startswith("."):
                rel = Path(dirpath, name).relative_to(src)
                rows.append(("", rel.as_posix(), rel.parts[0] if len(rel.parts) > 1 else "unknown"))
    if not rows:
        raise CatalogueError(f"no images found in {str(src)!r} (expected <category>/<image>.jpg files; "
                             "`python -m shoevae data fetch` downloads the full dataset)")
    return src, rows


def _read_manifest(path: Path) -> list[tuple[str, str, str]]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = {"path"} - set(reader.fieldnames or [])
            if missing:
                raise CatalogueError(f"manifest {str(path)!r} has no 'path' column "
                                     "(expected columns item_id,path,category)")
            rows = [(r.get("item_id") or "", r["path"], r.get("category") or "unknown") for r in reader]
    except (UnicodeDecodeError, csv.Error) as e:
        raise CatalogueError(f"manifest {str(path)!r} is not a readable CSV ({e})") from None
    if not rows:
        raise CatalogueError(f"manifest {str(path)!r} lists no images")
    return rows


def _cache_key(root: Path, rows: list[tuple[str, str, str]], size: int) -> str:
    h = hashlib.sha256(f"v{CACHE_VERSION}:{size}:{root.resolve()}".encode())
    for item_id, rel, cat in rows:
        try:
            st = os.stat(root / rel)
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            stamp = "missing"
        h.update(f"\n{item_id}|{rel}|{cat}|{stamp}".encode())
    return h.hexdigest()[:20]


def _decode(path: Path, size: int) -> tuple[np.ndarray | None, str, str]:
    """(image or None, md5 hex or '', reason if skipped)."""
    try:
        data = path.read_bytes() if path.stat().st_size <= MAX_BYTES else None
        if data is None:
            raise ImageError("file too large")
        return load_image(data, size), hashlib.md5(data).hexdigest(), ""
    except ImageError as e:
        return None, "", str(e)
    except OSError as e:
        return None, "", f"unreadable file ({e.strerror or e})"


def load_catalogue(source: str | os.PathLike, size: int = 136, *, cache_dir: str | os.PathLike | None = None,
                   use_cache: bool = True, progress: Callable[[int, int], None] | bool = False,
                   workers: int | None = None) -> Catalogue:
    """Load a catalogue from a folder tree or manifest CSV; see the module docstring.

    `progress` is True for a terminal bar, or a callback(done, total) (the app's st.progress).
    """
    root, rows = list_sources(source)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = _cache_key(root, rows, size)
    meta_path, img_path = cache / f"catalogue-{key}.json", cache / f"catalogue-{key}.npy"
    if use_cache and meta_path.is_file() and img_path.is_file():
        try:
            meta = json.loads(meta_path.read_text())
            images = np.load(img_path, mmap_mode="r")
            if images.shape == (len(meta["ids"]), size, size, 3):
                return Catalogue(meta["ids"], meta["paths"], meta["categories"], images, str(root),
                                 [tuple(s) for s in meta["skipped"]])
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache is rebuilt below

    report = _progress_reporter(progress, len(rows))
    paths = [root / rel for _, rel, _ in rows]
    with ThreadPoolExecutor(workers or min(4, (os.cpu_count() or 2))) as pool:  # PIL releases the GIL
        results = []
        for i, r in enumerate(pool.map(lambda p: _decode(p, size), paths, chunksize=1)):
            results.append(r)
            if i % 64 == 0 or i == len(paths) - 1:
                report(i + 1)
    report(None)

    ids, kept_paths, cats, images, skipped, seen = [], [], [], [], [], set()
    for (item_id, rel, cat), path, (img, md5, reason) in zip(rows, paths, results):
        if img is None:
            skipped.append((str(path), reason))
            continue
        item_id = item_id or md5[:12]
        base, n = item_id, 1
        while item_id in seen:  # the same photo twice: keep both, ids stay unique
            n += 1
            item_id = f"{base}-{n}"
        seen.add(item_id)
        ids.append(item_id), kept_paths.append(str(path)), cats.append(cat), images.append(img)
    if not images:
        raise CatalogueError(f"none of the {len(rows)} files in {str(root)!r} is a usable image "
                             f"(first problem: {skipped[0][1]})")
    arr = np.stack(images)
    if use_cache:
        try:
            with atomic_write(img_path) as f:
                np.save(f, arr)
            with atomic_write(meta_path, "w") as f:  # written last: its presence marks a complete cache
                json.dump({"ids": ids, "paths": kept_paths, "categories": cats, "skipped": skipped}, f)
        except OSError:
            pass  # a read-only or full disk only costs the next load its speed
    return Catalogue(ids, kept_paths, cats, arr, str(root), skipped)


def _progress_reporter(progress: Callable[[int, int], None] | bool, total: int) -> Callable[[int | None], None]:
    if callable(progress):
        return lambda done: progress(done, total) if done is not None else None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=total, unit="img", desc="decoding images")

        def report(done: int | None) -> None:
            if done is None:
                bar.close()
            else:
                bar.update(done - bar.n)
        return report
    return lambda done: None
