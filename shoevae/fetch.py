"""Download and unpack the UT Zappos50K dataset (square 136x136 JPEGs) with a CSV manifest.

    from shoevae.fetch import fetch_dataset
    manifest = fetch_dataset(Path("data/zappos50k"))  # resumable; a second call is a no-op

Images end up at `<dest_dir>/<Category>/<SubCategory>/<Brand>/<file>.jpg`, and
`<dest_dir>/manifest.csv` lists `item_id,path,category,subcategory,md5` for every image.
Every failure a user can hit (network, HTTP, corrupt archive, disk) raises `FetchError`
(shoevae/download.py: the resumable HTTP download).
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import shutil
import urllib.parse
import zipfile
import zlib
from pathlib import Path, PurePosixPath, PureWindowsPath

from tqdm import tqdm

from shoevae.atomic import atomic_write
from shoevae.download import FetchError, download, make_folder, one_line_reason

OFFICIAL_URL = (
    "http://vision.cs.utexas.edu/projects/finegrained/utzap50k/ut-zap50k-images-square.zip"
)
MANIFEST_NAME = "manifest.csv"
MANIFEST_HEADER = ("item_id", "path", "category", "subcategory", "md5")
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})
_TOP_DIR_PREFIX = "ut-zap50k-images"  # the archive's own top folder, dropped on extraction
# Errors a broken or corrupt zip can raise while reading; testzip() only catches BadZipFile.
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError)


class ArchiveError(FetchError):
    """The downloaded archive itself is unusable (corrupt, unsafe names, no images): fetch it again."""


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
        raise ArchiveError(f"{path} is not a valid zip archive ({one_line_reason(e)})") from None
    except OSError as e:
        raise FetchError(f"cannot read {path}: {one_line_reason(e)}") from None
    if bad is not None:
        raise ArchiveError(f"corrupt archive {path}: bad CRC for member {bad!r}")


def _md5_of(path: Path, chunk_size: int = 1 << 20) -> str:
    h = hashlib.md5(usedforsecurity=False)
    try:
        with open(path, "rb") as f:
            while chunk := f.read(chunk_size):
                h.update(chunk)
    except OSError as e:
        raise FetchError(f"cannot read {path}: {one_line_reason(e)}") from None
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
            make_folder(dest_dir)
            items = tqdm(members.items(), desc="extract", unit="img", disable=not progress)
            rows = [_extract_member(zf, info, rel, dest_dir) for rel, info in items]
    except _ZIP_ERRORS as e:
        raise ArchiveError(f"corrupt archive {archive} ({one_line_reason(e)})") from None
    except OSError as e:
        raise FetchError(f"extraction into {dest_dir} failed: {one_line_reason(e)}") from None
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
        raise FetchError(f"cannot write {path}: {one_line_reason(e)}") from None
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
