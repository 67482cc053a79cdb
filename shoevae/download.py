"""Downloading one file over HTTP(S), resumably: through `<dest>.part`, continued with a Range request.

Every failure a user can hit (network, HTTP, disk) raises `FetchError` with a one-line message;
shoevae/fetch.py builds the dataset download on it.
"""
from __future__ import annotations

import http.client
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import BinaryIO, Iterable

from tqdm import tqdm

from shoevae.errors import ShoevaeError

_CONTENT_RANGE = re.compile(r"bytes\s+(?:(\d+)-\d+|\*)/(\d+|\*)")


class FetchError(ShoevaeError):
    """A download, verification or extraction failure, with a one-line message for the user."""



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
    make_folder(dest.parent)
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
        raise FetchError(f"cannot reach {url}: {one_line_reason(e)}") from None
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
        raise FetchError(f"cannot write {part}: {one_line_reason(e)}") from None


def _read_chunks(resp: BinaryIO, chunk_size: int) -> Iterable[bytes]:
    """Yield the body in chunks; a dropped connection becomes a FetchError."""
    while True:
        try:
            chunk = resp.read(chunk_size)
        except (OSError, http.client.HTTPException) as e:
            raise FetchError(f"download interrupted ({one_line_reason(e)}); run again to resume") from None
        if not chunk:
            return
        yield chunk


def _check_size(part: Path, total: int | None) -> None:
    size = part.stat().st_size
    if total is not None and size != total:
        raise FetchError(f"download incomplete: got {size} of {total} bytes; run again to resume")


def make_folder(path: Path) -> None:
    """mkdir -p, or a FetchError saying why not."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FetchError(f"cannot create folder {path}: {one_line_reason(e)}") from None


def one_line_reason(e: BaseException) -> str:
    """A short one-line reason for an exception (URLError wraps the real one in .reason)."""
    reason = getattr(e, "reason", None) or e
    text = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
    return " ".join(str(text).split())
