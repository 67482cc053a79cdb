"""Shoe catalogue: read product photos from a folder tree or a manifest CSV into a uint8 array.

Every image becomes RGB on white, padded to a square and resized to `size` x `size`. Files that
cannot be used are skipped and reported, never fatal. The first load decodes the photos in worker
processes straight into the memory-mapped cache file (no second copy in memory); the cache entry
(shoevae/cache.py) is keyed by the folder and image size (its source) and the file list with sizes
and modification times (its content), so a second load takes about a second and a changed photo
replaces the previous entry.
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import os
import queue
import re
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import warnings
from concurrent.futures import Executor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import BinaryIO, Callable, Iterable, Iterator, Literal

import numpy as np
from PIL import Image, ImageOps

from . import cache
from .atomic import commit_temp, discard_temp, new_temp_beside
from .cache import default_cache_dir
from .errors import ShoevaeError, UnknownItemError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
MAX_PIXELS = 50_000_000  # larger images are refused as absurd (PIL's bomb guard is 89M)
MAX_BYTES = 100 * 1024 * 1024
CACHE_VERSION = 2
PROCESS_MIN_IMAGES = 1000  # fewer photos decode faster in threads than it takes to start processes


class ImageError(ShoevaeError, ValueError):
    """An image that cannot be used, with a one-line human reason."""


class CatalogueError(ShoevaeError, ValueError):
    """A data folder or manifest that cannot be used (missing, empty, malformed)."""


def _refuse_bombs() -> None:
    """PIL warns above 89M pixels; such images are refused (MAX_PIXELS), so the warning becomes that reason."""
    warnings.filterwarnings("error", category=Image.DecompressionBombWarning)


@contextlib.contextmanager
def _bombs_refused() -> Iterator[None]:
    with warnings.catch_warnings():  # entered once per call or decode, in the calling thread
        _refuse_bombs()
        yield


_SPECIAL = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
            (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _not_regular(mode: int) -> str:
    """'' for a regular file, else why it is not a photo file ('not a regular file: a named pipe (FIFO)')."""
    if stat.S_ISREG(mode):
        return ""
    kind = next((name for test, name in _SPECIAL if test(mode)), "a special file")
    return f"not a regular file: {kind}"


def read_photo(path: str | os.PathLike) -> bytes:
    """The bytes of a photo file: a regular file (or a link to one) of 1 byte to MAX_BYTES, read with that limit.

    Every photo read from disk goes through here, so a named pipe, a device (a link to /dev/zero),
    a folder or a socket is refused with an ImageError instead of blocking or reading without end:
    the type is checked before opening (opening a device can have effects), opening does not wait
    for a pipe's writer (O_NONBLOCK), and the open file is checked again (it may have been swapped).
    """
    try:
        why = _not_regular(os.stat(path).st_mode)
        if why:
            raise ImageError(why)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
        with open(fd, "rb", closefd=True) as f:
            st = os.fstat(fd)
            why = _not_regular(st.st_mode)
            if why:
                raise ImageError(why)
            if st.st_size > MAX_BYTES:
                raise ImageError(f"file too large ({st.st_size / 2**20:.0f} MB)")
            want = st.st_size + 1  # one byte more than it says: was it growing? (read(n) allocates n bytes first)
            data = f.read(want)
            if len(data) == want:  # it was (or the system does not know its size): read on, to the limit only
                data += f.read(MAX_BYTES + 1 - len(data))
    except ImageError:
        raise
    except (FileNotFoundError, NotADirectoryError):
        raise ImageError("file not found") from None
    except OSError as e:
        raise ImageError(f"unreadable file ({e.strerror or e})") from None
    except ValueError as e:  # a NUL character in the name
        raise ImageError(f"unusable file name ({e})") from None
    if not data:
        raise ImageError("empty file")
    if len(data) > MAX_BYTES:
        raise ImageError(f"file too large (over {MAX_BYTES / 2**20:.0f} MB)")
    return data


def safe_name(text: str) -> str:
    """A name as it can be printed and written anywhere (UTF-8): bytes of a file name that are not valid
    UTF-8 (kept by Python as surrogates, os.fsdecode) shown as \\xNN escapes; valid names unchanged."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def odd_names(paths: Iterable[str]) -> list[str]:
    """The paths whose names are not valid UTF-8 (readable as they are, shown by safe_name)."""
    return [p for p in paths if safe_name(p) != p]


def load_image(source: str | os.PathLike | bytes | BinaryIO, size: int = 136) -> np.ndarray:
    """Read one image as uint8 (size, size, 3): RGB, transparency on white, padded square with white.

    Raises ImageError with a short reason for anything unusable (not an image, truncated, empty,
    absurdly large, unreadable).
    """
    with _bombs_refused():
        return _load_image(source, size)


def load_photo(source: str | os.PathLike | bytes | BinaryIO, max_side: int) -> np.ndarray:
    """Read one image as uint8 (H, W, 3) RGB as it is framed (not padded), its longer side at most `max_side`.

    The same reading and refusals (ImageError) as load_image; for photos that are prepared before use.
    """
    with _bombs_refused():
        im = _open_rgb(source, max_side)
    if max(im.size) > max_side:
        scale = max_side / max(im.size)
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.Resampling.LANCZOS)
    return np.asarray(im, dtype=np.uint8)


def _load_image(source: str | os.PathLike | bytes | BinaryIO, size: int) -> np.ndarray:
    im = _open_rgb(source, size)
    square = ImageOps.pad(im, (size, size), Image.Resampling.LANCZOS, color=(255, 255, 255))
    return np.asarray(square, dtype=np.uint8)


def _open_rgb(source: str | os.PathLike | bytes | BinaryIO, size: int) -> Image.Image:
    """The image in RGB (transparency on white), decoded at no less than `size` on its longer side where
    JPEG allows a smaller draft; ImageError for anything unusable."""
    try:
        if isinstance(source, (bytes, bytearray)):
            if len(source) == 0:
                raise ImageError("empty file")
            source = io.BytesIO(source)
        elif isinstance(source, (str, os.PathLike)):
            source = io.BytesIO(read_photo(source))
        with Image.open(source) as im:
            if im.width * im.height > MAX_PIXELS:
                raise ImageError(f"image too large ({im.width}x{im.height} pixels)")
            scale = size / max(im.size)  # JPEG: decode at 1/2, 1/4 or 1/8 scale when that still covers `size`
            im.draft("RGB", (max(1, math.ceil(im.width * scale)), max(1, math.ceil(im.height * scale))))
            im.load()  # truncated or corrupt data fails here
            ImageOps.exif_transpose(im, in_place=True)
            return _to_rgb(im)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        pixels = re.search(r"\((\d+) pixels\)", str(e))
        raise ImageError(f"image too large ({int(pixels[1]):,} pixels)" if pixels else
                         "image too large (decompression bomb guard)") from None
    except FileNotFoundError:
        raise ImageError("file not found") from None
    except Image.UnidentifiedImageError:
        raise ImageError("not an image (unrecognised format)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageError(f"unreadable image ({str(e).splitlines()[0][:80] or type(e).__name__})") from None


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, rgba)
    elif im.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16/32-bit gray: PIL's convert would clip at 255
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        if im.mode.startswith("I") and lo >= 0 and hi <= 65535:
            arr = arr / 257 if im.mode.startswith("I;16") or hi > 255 else arr  # 16-bit full scale -> 8-bit
        else:  # float or out-of-range integers: stretch what is there
            arr = (arr - lo) / ((hi - lo) or 1.0) * 255
        im = Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8))
    if im.mode != "RGB":
        im = im.convert("RGB")  # CMYK, L, 1, P, YCbCr ...
    return im


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
            st = os.stat(root / rel)
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


def _decode(path: Path, size: int) -> tuple[np.ndarray | None, str, str]:
    """(image or None, md5 hex or '', reason if skipped)."""
    try:
        data = read_photo(path)
        return _load_image(data, size), hashlib.md5(data).hexdigest(), ""
    except ImageError as e:
        return None, "", str(e)


# numpy reads an .npy header with ast.literal_eval, and CPython 3.11's compiler is not safe to run in several
# threads at once (SystemError "AST constructor recursion depth mismatch", seen in CI): one thread at a time.
_NPY_HEADER_LOCK = threading.Lock()


def _decode_rows(target: str | np.ndarray, size: int, items: list[tuple[int, str]]) -> list[tuple[int, str, str]]:
    """Decode (row, path) items into those rows of `target` (an .npy file, mapped here, or an array).

    Runs in a worker process or thread; returns (row, md5, reason if skipped) for each item.
    """
    if isinstance(target, str):
        with _NPY_HEADER_LOCK:
            arr = np.load(target, mmap_mode="r+")
    else:
        arr = target
    out = []
    for row, p in items:
        img, md5, reason = _decode(Path(p), size)
        if img is not None:
            arr[row] = img
        out.append((row, md5, reason))
    del arr  # a mapped file is shared with the parent through the page cache: nothing to copy back
    return out


def _usable_cpus() -> int:
    with contextlib.suppress(AttributeError, OSError):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _decode_all(target: str | np.ndarray, size: int, paths: list[Path], workers: int | None,
                executor: str, report: Callable[[int | None], None]) -> list[tuple[str, str]]:
    """(md5, reason) per path, the images written into `target`'s rows; in worker processes where possible."""
    n = len(paths)
    workers = max(1, workers or _usable_cpus())
    if executor == "auto":
        executor = "process" if isinstance(target, str) and workers > 1 and n >= PROCESS_MIN_IMAGES else "thread"
    if executor == "process" and not isinstance(target, str):
        raise ValueError("worker processes need a file to decode into")
    chunk = max(8, min(256, n // (workers * 8)))
    tasks = [[(i, str(paths[i])) for i in range(a, min(a + chunk, n))] for a in range(0, n, chunk)]
    results: list[tuple[str, str]] = [("", "not decoded")] * n
    done = 0

    def record(decoded: list) -> None:  # in the calling thread, so a page's progress bar can be updated
        nonlocal done
        for row, md5, reason in decoded:
            results[row] = (md5, reason)
        done += len(decoded)
        report(done)
    if executor == "process":
        with contextlib.suppress(OSError):  # processes cannot start here: threads do it all
            tasks = _decode_in_processes(str(target), size, tasks, workers, record)
    if tasks:  # PIL releases the GIL while decoding, so threads help too
        with _bombs_refused(), ThreadPoolExecutor(workers) as pool:
            _collect(pool, target, size, tasks, record)
    return results


def _collect(pool: Executor, target: str | np.ndarray, size: int, tasks: list[list[tuple[int, str]]],
             record: Callable[[list], None]) -> None:
    futures = [pool.submit(_decode_rows, target, size, t) for t in tasks]
    try:
        for fut in as_completed(futures):
            record(fut.result())
    except BaseException:  # Ctrl-C or a failed decode: drop the queued chunks, finish the running ones
        for f in futures:
            f.cancel()
        raise


def _decode_in_processes(target: str, size: int, tasks: list[list[tuple[int, str]]], workers: int,
                         record: Callable[[list], None]) -> list[list[tuple[int, str]]]:
    """Decode chunks in `workers` fresh Python processes writing rows of the mapped file `target`.

    Plain subprocesses (not multiprocessing): nothing of the caller is re-imported, so this works
    from a Streamlit page, a threaded server or a script without a main guard. Each worker takes
    the next chunk when it finishes one. Returns the chunks left undone if a worker failed (the
    caller decodes them in threads); raises OSError if no process could start.
    """
    todo: queue.SimpleQueue = queue.SimpleQueue()
    for t in tasks:
        todo.put(t)
    events: queue.SimpleQueue = queue.SimpleQueue()
    if not sys.executable:
        raise OSError("no Python executable to start workers with")
    root = str(Path(__file__).resolve().parents[1])  # the workers import this very package, wherever it is
    cmd = [sys.executable, "-c", f"import sys; sys.path.insert(0, {root!r}); from {__name__} import _worker_loop; "
                                 "sys.path.remove(sys.path[0]); _worker_loop()"]

    def feed(proc: subprocess.Popen) -> None:
        task = None
        try:
            proc.stdin.write(json.dumps({"target": target, "size": size}) + "\n")
            while True:
                try:
                    task = todo.get_nowait()
                except queue.Empty:
                    break
                proc.stdin.write(json.dumps(task) + "\n")
                proc.stdin.flush()
                line = proc.stdout.readline()
                if not line:
                    raise OSError(f"decoding worker stopped (exit status {proc.wait()})")
                events.put(json.loads(line))
                task = None
            events.put(None)
        except (OSError, ValueError) as e:
            if task is not None:
                todo.put(task)  # decoded again by the caller's threads
            events.put(e)

    procs: list[subprocess.Popen] = []
    try:
        for _ in range(workers):
            procs.append(subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        for proc in procs:
            threading.Thread(target=feed, args=(proc,), daemon=True).start()
        finished = 0
        while finished < len(procs):
            event = events.get()
            if event is None or isinstance(event, Exception):
                finished += 1
            else:
                record(event)
    except OSError:
        if not procs:
            raise
    except BaseException:  # Ctrl-C or a failing progress callback: stop the workers now
        for proc in procs:
            proc.kill()
        raise
    finally:
        for proc in procs:
            with contextlib.suppress(OSError, ValueError):
                proc.stdin.close()  # end of work: the worker exits
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    left = []
    while not todo.empty():
        left.append(todo.get())
    return left


def _worker_loop() -> None:
    """A decoding worker process: a JSON header line on stdin, then one chunk per line; one result line out each."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops us
    _refuse_bombs()
    header = json.loads(sys.stdin.readline())
    for line in sys.stdin:
        decoded = _decode_rows(header["target"], header["size"], [(row, p) for row, p in json.loads(line)])
        sys.stdout.write(json.dumps(decoded) + "\n")
        sys.stdout.flush()


def _create_npy(path: Path, shape: tuple[int, ...]) -> None:
    """Write an .npy header for a uint8 array of `shape` and reserve the disk space (fails now, not mid-way)."""
    with open(path, "r+b") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False, "shape": shape})
        total = f.tell() + int(np.prod(shape))
        if hasattr(os, "posix_fallocate"):
            os.posix_fallocate(f.fileno(), 0, total)  # ENOSPC here, instead of SIGBUS while writing the map
        else:
            f.truncate(total)


def _compact_npy(path: Path, kept: list[int]) -> None:
    """Move the kept rows of an .npy file up over the skipped ones and cut the file to len(kept) rows."""
    arr = np.load(path, mmap_mode="r+")
    shape = arr.shape
    if len(kept) == shape[0]:
        return
    for new, old in enumerate(kept):
        if new != old:
            arr[new] = arr[old]
    arr.flush()
    del arr
    with open(path, "r+b") as f:
        np.lib.format.read_magic(f)
        np.lib.format.read_array_header_1_0(f)
        offset = f.tell()
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False,
                                                      "shape": (len(kept), *shape[1:])})
        if header.tell() != offset:  # numpy pads headers so the first axis can grow or shrink in place
            raise OSError(f"cannot shrink {path}: header length changed")
        f.seek(0)
        f.write(header.getvalue())
        f.truncate(offset + len(kept) * int(np.prod(shape[1:])))


def load_catalogue(source: str | os.PathLike, size: int = 136, *, cache_dir: str | os.PathLike | None = None,
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
    tmp, in_cache = _decode_file(entry, shape, use_cache)
    target: str | np.ndarray = str(tmp) if tmp is not None else np.empty(shape, np.uint8)
    paths = [root / rel for _, rel, _ in rows]
    try:
        report = _progress_reporter(progress, len(rows))
        try:
            results = _decode_all(target, size, paths, workers, executor if tmp is not None else "thread", report)
        finally:
            report(None)
        ids, kept_paths, cats, kept, skipped, seen = [], [], [], [], [], set()
        for row, ((item_id, _, cat), path, (md5, reason)) in enumerate(zip(rows, paths, results)):
            if not md5:
                skipped.append((str(path), reason or "not decoded"))
                continue
            item_id = item_id or md5[:12]
            base, k = item_id, 1
            while item_id in seen:  # the same photo twice: keep both, ids stay unique
                k += 1
                item_id = f"{base}-{k}"
            seen.add(item_id)
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
        _compact_npy(tmp, kept)
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


def _decode_file(entry: cache.Entry, shape: tuple[int, ...], use_cache: bool) -> tuple[Path | None, bool]:
    """(a temporary .npy file to decode into, whether it is in the cache folder); (None, False): decode in memory.

    The cache folder first (made room for by least-recently-used eviction); where it cannot take the
    file (read-only, full) that is reported once and the system's temporary folder is used.
    """
    nbytes = int(np.prod(shape))
    if use_cache:
        cache.enforce_bound(entry.directory, incoming=nbytes)
        tmp = None
        try:
            tmp = new_temp_beside(entry.path("npy"))
            _create_npy(tmp, shape)
            return tmp, True
        except OSError as e:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    discard_temp(tmp)
            cache.report_failure("catalogue", entry.directory, e)
    tmp = None
    try:
        fd, name = tempfile.mkstemp(prefix="shoevae-decode-", suffix=".npy")
        os.close(fd)
        tmp = Path(name)
        _create_npy(tmp, shape)
        return tmp, False
    except OSError:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()
        return None, False


def _progress_reporter(progress: Callable[[int, int], None] | bool, total: int) -> Callable[[int | None], None]:
    if callable(progress):
        progress(0, total)
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
