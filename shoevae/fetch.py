"""Download and unpack the UT Zappos50K dataset (square 136x136 JPEGs) with a CSV manifest.

    from shoevae.fetch import fetch_dataset
    manifest = fetch_dataset(Path("data/zappos50k"))  # resumable; a second call is a no-op

Images end up at `<dest_dir>/<Category>/<SubCategory>/<Brand>/<file>.jpg`, and
`<dest_dir>/manifest.csv` lists `item_id,path,category,subcategory,md5` for every image.
Every failure a user can hit (network, HTTP, corrupt archive, disk) raises `FetchError`.
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import http.client
import io
import os
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import BinaryIO, Iterable

from tqdm import tqdm

from shoevae.atomic import atomic_write
from shoevae.errors import ShoevaeError

OFFICIAL_URL = (
    "http://vision.cs.utexas.edu/projects/finegrained/utzap50k/ut-zap50k-images-square.zip"
)
MANIFEST_NAME = "manifest.csv"
MANIFEST_HEADER = ("item_id", "path", "category", "subcategory", "md5")
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})
_TOP_DIR_PREFIX = "ut-zap50k-images"  # the archive's own top folder, dropped on extraction
_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)")
# Errors a broken or corrupt zip can raise while reading; testzip() only catches BadZipFile.
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError)


class FetchError(ShoevaeError):
    """A download, verification or extraction failure, with a one-line message for the user."""


class ArchiveError(FetchError):
    """The downloaded archive itself is unusable (corrupt, unsafe names, no images): fetch it again."""


# --- download ---------------------------------------------------------------------------------


def download(
    url: str,
    dest: Path,
    *,
    progress: bool = True,
    chunk_size: int = 1 << 20,
    timeout: float = 60,
) -> Path:
    """Download `url` to `dest` through `dest.part`, resuming a partial `.part` with HTTP Range.

    `dest` appears (atomically) only once the whole file is there; an interrupted download,
    KeyboardInterrupt included, leaves the `.part` file for the next call to resume.
    """
    dest = Path(dest)
    check_url(url, dest)
    part = dest.with_suffix(dest.suffix + ".part")
    _mkdir(dest.parent)
    offset = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        e.close()
        if e.code == 416 and offset:
            return _finish_416(part, dest, offset, e.headers.get("Content-Range"))
        raise FetchError(f"download failed: HTTP {e.code} {e.reason} for {url}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as e:
        raise FetchError(f"cannot reach {url}: {_reason(e)}") from None
    with resp:
        start, total = _response_range(resp, offset, url)
        _save_body(resp, part, start, total, chunk_size=chunk_size, progress=progress)
    _check_size(part, total)
    os.replace(part, dest)
    return dest


def check_url(url: str, archive: Path | None = None) -> None:
    """FetchError unless `url` is an http:// or https:// address (urllib would open file:// and others
    without an HTTP status); says where to put an archive the user already has."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        have = f"; to use an archive you already have, put it at {archive} and run again" if archive else ""
        raise FetchError(f"--url must be an http:// or https:// address, not {url!r}{have}")


def _response_range(
    resp: http.client.HTTPResponse, offset: int, url: str
) -> tuple[int, int | None]:
    """Return (byte offset the body starts at, total file size or None) for a 200/206 reply."""
    if resp.status == 200:
        length = resp.headers.get("Content-Length", "")
        return 0, int(length) if length.isdigit() else None
    if resp.status == 206:
        start, total = _parse_content_range(resp.headers.get("Content-Range"))
        if start != offset:
            raise FetchError(
                f"server did not honour resume from byte {offset} for {url}; "
                "delete the .part file and run again"
            )
        return start, total
    raise FetchError(f"download failed: unexpected HTTP {resp.status} for {url}")


def _parse_content_range(value: str | None) -> tuple[int | None, int | None]:
    """Parse `bytes START-END/TOTAL` (or `bytes */TOTAL`) into (START, TOTAL); None if unknown."""
    m = _CONTENT_RANGE.fullmatch((value or "").strip())
    if not m:
        return None, None
    start, total = m.groups()
    return (int(start) if start else None), (int(total) if total.isdigit() else None)


def _finish_416(part: Path, dest: Path, offset: int, content_range: str | None) -> Path:
    """Range not satisfiable: the `.part` file is complete iff its size is the server's total."""
    _, total = _parse_content_range(content_range)
    if total != offset:
        raise FetchError(
            f"server refused to resume at byte {offset} (HTTP 416, total size {total}); "
            f"delete {part} and run again"
        )
    os.replace(part, dest)
    return dest


def _save_body(
    resp: BinaryIO, part: Path, start: int, total: int | None, *, chunk_size: int, progress: bool
) -> None:
    """Stream the response body into `part`: append when resuming (start > 0), else truncate."""
    bar = tqdm(
        total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024,
        desc=part.name.removesuffix(".part"), disable=not progress,
    )
    try:
        with bar, open(part, "ab" if start else "wb") as f:
            for chunk in _read_chunks(resp, chunk_size):
                f.write(chunk)
                bar.update(len(chunk))
    except OSError as e:  # network errors were already turned into FetchError by _read_chunks
        raise FetchError(f"cannot write {part}: {_reason(e)}") from None


def _read_chunks(resp: BinaryIO, chunk_size: int) -> Iterable[bytes]:
    """Yield the body in chunks; a dropped connection becomes a FetchError."""
    while True:
        try:
            chunk = resp.read(chunk_size)
        except (OSError, http.client.HTTPException) as e:
            raise FetchError(f"download interrupted ({_reason(e)}); run again to resume") from None
        if not chunk:
            return
        yield chunk


def _check_size(part: Path, total: int | None) -> None:
    size = part.stat().st_size
    if total is not None and size != total:
        raise FetchError(f"download incomplete: got {size} of {total} bytes; run again to resume")


# --- verify -----------------------------------------------------------------------------------


def verify_zip(path: Path, expected_md5: str | None = None) -> None:
    """Raise FetchError unless `path` is a readable zip whose members all pass their CRC check.

    With `expected_md5`, the whole file's MD5 must match too (checked first).
    """
    path = Path(path)
    if expected_md5 is not None:
        digest = _md5_of(path)
        if digest != expected_md5.strip().lower():
            raise ArchiveError(f"MD5 mismatch for {path}: expected {expected_md5}, got {digest}")
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except _ZIP_ERRORS as e:
        raise ArchiveError(f"{path} is not a valid zip archive ({_reason(e)})") from None
    except OSError as e:
        raise FetchError(f"cannot read {path}: {_reason(e)}") from None
    if bad is not None:
        raise ArchiveError(f"corrupt archive {path}: bad CRC for member {bad!r}")


def _md5_of(path: Path, chunk_size: int = 1 << 20) -> str:
    h = hashlib.md5(usedforsecurity=False)
    try:
        with open(path, "rb") as f:
            while chunk := f.read(chunk_size):
                h.update(chunk)
    except OSError as e:
        raise FetchError(f"cannot read {path}: {_reason(e)}") from None
    return h.hexdigest()


# --- extract ----------------------------------------------------------------------------------


def extract(archive: Path, dest_dir: Path, *, progress: bool = True) -> Path:
    """Extract the images of `archive` into `dest_dir` and write `dest_dir/manifest.csv`.

    The top `ut-zap50k-images-square/` folder is dropped, non-images and `__MACOSX` junk are
    skipped, and unsafe member names (absolute, `..`) are rejected before anything is written.
    Returns the manifest path.
    """
    archive, dest_dir = Path(archive), Path(dest_dir)
    try:
        with zipfile.ZipFile(archive) as zf:
            members = _image_members(zf)
            if not members:
                raise ArchiveError(f"no images (.jpg/.jpeg/.png) found in {archive}")
            _mkdir(dest_dir)
            items = tqdm(members.items(), desc="extract", unit="img", disable=not progress)
            rows = [_extract_member(zf, info, rel, dest_dir) for rel, info in items]
    except _ZIP_ERRORS as e:
        raise ArchiveError(f"corrupt archive {archive} ({_reason(e)})") from None
    except OSError as e:
        raise FetchError(f"extraction into {dest_dir} failed: {_reason(e)}") from None
    return _write_manifest(dest_dir / MANIFEST_NAME, rows)


def _image_members(zf: zipfile.ZipFile) -> dict[PurePosixPath, zipfile.ZipInfo]:
    """Map each image's path relative to dest_dir to its zip entry, sorted by path."""
    members = {}
    for info in zf.infolist():
        rel = _relative_image_path(info)
        if rel is not None:
            members[rel] = info
    return dict(sorted(members.items()))


def _relative_image_path(info: zipfile.ZipInfo) -> PurePosixPath | None:
    """Path of an image member below the dataset root, None to skip it; FetchError if unsafe."""
    name = info.filename.replace("\\", "/")
    path = PurePosixPath(name)
    if path.is_absolute() or PureWindowsPath(name).drive or ".." in path.parts:
        raise ArchiveError(f"unsafe member name in archive: {info.filename!r}")
    if info.is_dir() or path.suffix.lower() not in IMAGE_SUFFIXES:
        return None
    parts = path.parts
    if parts[0] == "__MACOSX" or path.name.startswith("._"):  # macOS resource-fork junk
        return None
    if len(parts) > 1 and parts[0].startswith(_TOP_DIR_PREFIX):
        parts = parts[1:]
    return PurePosixPath(*parts)


def _extract_member(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, rel: PurePosixPath, dest_dir: Path
) -> dict[str, str]:
    """Write one image to `dest_dir/rel`, hashing it on the way; return its manifest row."""
    target = dest_dir.joinpath(*rel.parts)
    target.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.md5(usedforsecurity=False)
    with zf.open(info) as src, open(target, "wb") as dst:
        while chunk := src.read(1 << 20):
            h.update(chunk)
            dst.write(chunk)
    folders = rel.parts[:-1]
    return {
        "path": rel.as_posix(),
        "category": folders[0] if folders else "",
        "subcategory": folders[1] if len(folders) > 1 else "",
        "md5": h.hexdigest(),
    }


def _write_manifest(path: Path, rows: list[dict[str, str]]) -> Path:
    """Write the manifest atomically; item ids by the catalogue's rule (md5[:12], `-2`, `-3` appended on clashes)."""
    from shoevae.catalogue import unique_item_id  # here: fetching needs numpy and PIL only when it writes the manifest

    seen: set[str] = set()
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_HEADER, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({"item_id": unique_item_id("", row["md5"], seen), **row})
    try:
        with atomic_write(path, "wb") as f:
            f.write(buf.getvalue().encode("utf-8"))
    except OSError as e:
        raise FetchError(f"cannot write {path}: {_reason(e)}") from None
    return path


# --- the one-call entry point -----------------------------------------------------------------


def fetch_dataset(
    dest_dir: Path = Path("data/zappos50k"),
    *,
    url: str = OFFICIAL_URL,
    expected_md5: str | None = None,
    keep_archive: bool = False,
    progress: bool = True,
) -> Path:
    """Download (resumably), verify and extract the dataset into `dest_dir`; return the manifest.

    The archive is kept at `dest_dir.parent/<name from url>` until extraction succeeds (and
    afterwards with `keep_archive`). An existing non-empty manifest is returned at once.
    """
    dest_dir = Path(dest_dir)
    manifest = dest_dir / MANIFEST_NAME
    if manifest.is_file() and manifest.stat().st_size > 0:
        return manifest
    archive = dest_dir.parent / _archive_name(url)
    new_folders = [p for p in (dest_dir, *dest_dir.parents) if not p.exists()]  # made by this run, removed on failure
    try:
        if not archive.exists():  # an earlier run may have downloaded it and failed later
            download(url, archive, progress=progress)
        try:
            verify_zip(archive, expected_md5)
            manifest = extract(archive, dest_dir, progress=progress)
        except ArchiveError as e:  # the archive is bad (not the disk): the next run downloads it again
            archive.unlink(missing_ok=True)
            if dest_dir in new_folders:
                shutil.rmtree(dest_dir, ignore_errors=True)  # what a bad archive put there
            raise ArchiveError(f"{e}; deleted the archive, run again to download it afresh") from None
    except BaseException:
        for folder in new_folders:  # deepest first; a folder holding a partial download (.part) stays
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    if not keep_archive:
        archive.unlink(missing_ok=True)
    return manifest


def _archive_name(url: str) -> str:
    name = PurePosixPath(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name
    return name if name not in ("", ".", "..") else "ut-zap50k-images-square.zip"


def _mkdir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FetchError(f"cannot create folder {path}: {_reason(e)}") from None


def _reason(e: BaseException) -> str:
    """A short one-line reason for an exception (URLError wraps the real one in .reason)."""
    reason = getattr(e, "reason", None) or e
    text = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
    return " ".join(str(text).split())
