"""shoevae.fetch against a tiny zip served from a local HTTP server (127.0.0.1 only)."""
from __future__ import annotations

import csv
import hashlib
import io
import socket
import struct
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterator

import pytest
from PIL import Image

from shoevae import download as dl
from shoevae.download import FetchError, download
from shoevae.fetch import extract, fetch_dataset, verify_zip

TOP = "ut-zap50k-images-square"
ARCHIVE_NAME = f"{TOP}.zip"
HEADER = "item_id,path,category,subcategory,md5"


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _image(fmt: str, color: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), color).save(buf, fmt)
    return buf.getvalue()


def _zip(entries: dict[str, bytes]) -> bytes:
    """A zip of `entries`; names ending in '/' become directory entries, half are deflated."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i, (name, data) in enumerate(entries.items()):
            method = zipfile.ZIP_DEFLATED if i % 2 else zipfile.ZIP_STORED
            zf.writestr(zipfile.ZipInfo(name), data, compress_type=method)
    return buf.getvalue()


@pytest.fixture
def images() -> dict[str, bytes]:
    """Image bytes by path below the dataset root; the last one duplicates the first's bytes."""
    jpg = _image("JPEG", (200, 10, 10))
    return {
        "Shoes/Oxfords/BrandX/a.jpg": jpg,
        "Shoes/Oxfords/BrandX/b.png": _image("PNG", (10, 200, 10)),
        "Boots/Ankle/BrandY/c.jpeg": _image("JPEG", (10, 10, 200)),
        "Sandals/Flat/Brand Z/d.JPG": _image("JPEG", (90, 90, 90)),
        "Slippers/Slipper Flats/BrandW/a-copy.jpg": jpg,
    }


@pytest.fixture
def archive_bytes(images: dict[str, bytes]) -> bytes:
    """The dataset zip: images under the top folder, plus directories and junk to skip."""
    entries = {f"{TOP}/": b"", f"{TOP}/Shoes/": b""}
    entries |= {f"{TOP}/{rel}": data for rel, data in images.items()}
    entries[f"__MACOSX/{TOP}/Shoes/Oxfords/BrandX/._a.jpg"] = b"\x00\x05\x16\x07mac junk"
    entries[f"{TOP}/README.txt"] = b"not an image"
    return _zip(entries)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    payload: bytes
    mode: str  # "range", "norange", "drop" (first reply cut half-way), "wrongrange", "404"
    seen: list[str | None]  # the Range header of every request


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        srv = self.server
        rng = self.headers.get("Range")
        srv.seen.append(rng)
        if srv.mode == "404":
            self.send_error(404)
        elif srv.mode == "drop" and len(srv.seen) == 1:
            self._reply(200, srv.payload, body=srv.payload[: len(srv.payload) // 2])
        elif srv.mode == "norange" or rng is None:
            self._reply(200, srv.payload)
        else:
            self._reply_range(int(rng.removeprefix("bytes=").removesuffix("-")))

    def _reply_range(self, start: int) -> None:
        total = len(self.server.payload)
        if start >= total:
            self._reply(416, b"", content_range=f"bytes */{total}")
            return
        if self.server.mode == "wrongrange":
            start = 0
        body = self.server.payload[start:]
        self._reply(206, body, content_range=f"bytes {start}-{total - 1}/{total}")

    def _reply(self, code: int, data: bytes, *, body: bytes | None = None,
               content_range: str | None = None) -> None:
        """Announce `data`'s length but send `body` (default: all of it), then close."""
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        if content_range:
            self.send_header("Content-Range", content_range)
        self.end_headers()
        self.wfile.write(data if body is None else body)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("no_proxy", "*")


@pytest.fixture
def serve() -> Iterator[Callable[..., tuple[str, _Server]]]:
    """serve(payload, mode) -> (url, server), served from a background thread on 127.0.0.1."""
    servers: list[_Server] = []

    def start(payload: bytes, mode: str = "range") -> tuple[str, _Server]:
        srv = _Server(("127.0.0.1", 0), _Handler)
        srv.payload, srv.mode, srv.seen = payload, mode, []
        threading.Thread(target=srv.serve_forever, args=(0.02,), daemon=True).start()
        servers.append(srv)
        return f"http://127.0.0.1:{srv.server_address[1]}/data/{ARCHIVE_NAME}", srv

    yield start
    for srv in servers:
        srv.shutdown()
        srv.server_close()


@pytest.fixture
def dead_url() -> Iterator[str]:
    """A URL whose port is bound but not listening, so connecting is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{s.getsockname()[1]}/{ARCHIVE_NAME}"


def _read_manifest(path: Path) -> list[dict[str, str]]:
    assert path.read_text().splitlines()[0] == HEADER
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _flip_member_byte(data: bytes, member: str) -> bytes:
    """Corrupt one byte in the middle of `member`'s compressed data."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.getinfo(member)
    off = info.header_offset  # local file header: 30 fixed bytes, then name and extra field
    name_len, extra_len = struct.unpack("<HH", data[off + 26: off + 30])
    pos = off + 30 + name_len + extra_len + info.compress_size // 2
    corrupt = bytearray(data)
    corrupt[pos] ^= 0xFF
    return bytes(corrupt)


# --- full fetch -------------------------------------------------------------------------------


def test_fetch_extracts_images_and_writes_manifest(tmp_path, serve, images, archive_bytes):
    url, _ = serve(archive_bytes)
    dest = tmp_path / "zappos"
    manifest = fetch_dataset(dest, url=url, expected_md5=_md5(archive_bytes), progress=False)

    assert manifest == dest / "manifest.csv"
    rows = _read_manifest(manifest)
    got = {r["path"]: (r["category"], r["subcategory"], r["md5"]) for r in rows}
    want = {rel: (*rel.split("/")[:2], _md5(data)) for rel, data in images.items()}
    assert len(rows) == len(images) and got == want
    for rel, data in images.items():
        assert (dest / rel).read_bytes() == data
    # only the images and the manifest: no junk, no top folder, no temp files
    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert files == sorted([*images, "manifest.csv"])
    assert list(tmp_path.iterdir()) == [dest]  # archive deleted, no .part left


def test_duplicate_images_get_suffixed_item_ids(tmp_path, serve, images, archive_bytes):
    url, _ = serve(archive_bytes)
    manifest = fetch_dataset(tmp_path / "z", url=url, progress=False)
    ids = {r["path"]: r["item_id"] for r in _read_manifest(manifest)}
    first = _md5(images["Shoes/Oxfords/BrandX/a.jpg"])[:12]
    assert ids.pop("Shoes/Oxfords/BrandX/a.jpg") == first
    assert ids.pop("Slippers/Slipper Flats/BrandW/a-copy.jpg") == f"{first}-2"
    assert ids == {rel: _md5(images[rel])[:12] for rel in ids}


def test_second_fetch_is_a_noop(tmp_path, serve, archive_bytes, dead_url):
    url, srv = serve(archive_bytes)
    manifest = fetch_dataset(tmp_path / "z", url=url, progress=False)
    before = (manifest.read_bytes(), manifest.stat().st_mtime_ns, len(srv.seen))

    assert fetch_dataset(tmp_path / "z", url=dead_url, progress=False) == manifest
    assert fetch_dataset(tmp_path / "z", url=url, progress=False) == manifest
    assert (manifest.read_bytes(), manifest.stat().st_mtime_ns, len(srv.seen)) == before


def test_keep_archive_keeps_it_with_progress_bars(tmp_path, serve, images, archive_bytes, capsys):
    url, _ = serve(archive_bytes)
    manifest = fetch_dataset(tmp_path / "z", url=url, keep_archive=True, progress=True)
    assert (tmp_path / ARCHIVE_NAME).read_bytes() == archive_bytes
    assert len(_read_manifest(manifest)) == len(images)
    assert ARCHIVE_NAME in capsys.readouterr().err  # tqdm draws on stderr


# --- resuming ---------------------------------------------------------------------------------


def test_broken_download_leaves_part_and_next_call_resumes(tmp_path, serve, archive_bytes):
    url, srv = serve(archive_bytes, "drop")
    part = tmp_path / f"{ARCHIVE_NAME}.part"
    with pytest.raises(FetchError, match="run again to resume"):
        fetch_dataset(tmp_path / "z", url=url, keep_archive=True, progress=False)
    n = part.stat().st_size
    assert 0 < n < len(archive_bytes)
    assert part.read_bytes() == archive_bytes[:n]
    assert not (tmp_path / ARCHIVE_NAME).exists() and not (tmp_path / "z" / "manifest.csv").exists()

    manifest = fetch_dataset(tmp_path / "z", url=url, keep_archive=True, progress=False)
    assert srv.seen == [None, f"bytes={n}-"]
    assert (tmp_path / ARCHIVE_NAME).read_bytes() == archive_bytes
    assert not part.exists() and manifest.stat().st_size > 0


def test_server_ignoring_range_restarts_from_scratch(tmp_path, serve, archive_bytes):
    url, srv = serve(archive_bytes, "norange")
    dest = tmp_path / ARCHIVE_NAME
    Path(f"{dest}.part").write_bytes(b"stale!" * 20)
    assert download(url, dest, progress=False, chunk_size=64) == dest
    assert srv.seen == ["bytes=120-"]
    assert dest.read_bytes() == archive_bytes and not Path(f"{dest}.part").exists()


def test_complete_part_file_is_accepted_on_416(tmp_path, serve, archive_bytes):
    url, srv = serve(archive_bytes)
    dest = tmp_path / ARCHIVE_NAME
    Path(f"{dest}.part").write_bytes(archive_bytes)
    download(url, dest, progress=False)
    assert srv.seen == [f"bytes={len(archive_bytes)}-"]
    assert dest.read_bytes() == archive_bytes and not Path(f"{dest}.part").exists()


def test_oversized_part_file_on_416_raises(tmp_path, serve, archive_bytes):
    url, _ = serve(archive_bytes)
    dest = tmp_path / ARCHIVE_NAME
    Path(f"{dest}.part").write_bytes(archive_bytes + b"extra")
    with pytest.raises(FetchError, match="416"):
        download(url, dest, progress=False)
    assert not dest.exists()


def test_wrong_content_range_raises(tmp_path, serve, archive_bytes):
    url, _ = serve(archive_bytes, "wrongrange")
    dest = tmp_path / ARCHIVE_NAME
    Path(f"{dest}.part").write_bytes(archive_bytes[:100])
    with pytest.raises(FetchError, match="did not honour resume"):
        download(url, dest, progress=False)
    assert Path(f"{dest}.part").read_bytes() == archive_bytes[:100] and not dest.exists()


def test_keyboard_interrupt_keeps_part_file(tmp_path, serve, archive_bytes, monkeypatch):
    def interrupted(resp, chunk_size):
        yield resp.read(100)
        raise KeyboardInterrupt

    monkeypatch.setattr(dl, "_read_chunks", interrupted)
    url, _ = serve(archive_bytes)
    dest = tmp_path / ARCHIVE_NAME
    with pytest.raises(KeyboardInterrupt):
        download(url, dest, progress=False)
    assert Path(f"{dest}.part").read_bytes() == archive_bytes[:100] and not dest.exists()


# --- network and HTTP failures ----------------------------------------------------------------


def test_http_404_raises_with_status(tmp_path, serve, archive_bytes):
    url, _ = serve(archive_bytes, "404")
    with pytest.raises(FetchError, match="HTTP 404") as exc:
        fetch_dataset(tmp_path / "z", url=url, progress=False)
    assert "\n" not in str(exc.value)
    assert list(tmp_path.iterdir()) == []


def test_connection_refused_raises(tmp_path, dead_url):
    with pytest.raises(FetchError, match="cannot reach .*refused"):
        fetch_dataset(tmp_path / "z", url=dead_url, progress=False)
    assert list(tmp_path.iterdir()) == []


# --- corrupt archives -------------------------------------------------------------------------


@pytest.fixture(params=["flip", "truncate", "not-a-zip"])
def corrupt_bytes(request, archive_bytes) -> bytes:
    if request.param == "flip":
        return _flip_member_byte(archive_bytes, f"{TOP}/Shoes/Oxfords/BrandX/a.jpg")
    if request.param == "truncate":
        return archive_bytes[: len(archive_bytes) * 2 // 3]
    return b"<html>not found</html>"


def test_verify_zip_rejects_corrupt_archive(tmp_path, archive_bytes, corrupt_bytes):
    good, bad = tmp_path / "good.zip", tmp_path / "bad.zip"
    good.write_bytes(archive_bytes)
    bad.write_bytes(corrupt_bytes)
    verify_zip(good, _md5(archive_bytes).upper())
    with pytest.raises(FetchError):
        verify_zip(bad)


def test_corrupt_download_is_deleted(tmp_path, serve, corrupt_bytes):
    url, _ = serve(corrupt_bytes)
    with pytest.raises(FetchError, match="run again"):
        fetch_dataset(tmp_path / "z", url=url, keep_archive=True, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_wrong_md5_raises_and_deletes(tmp_path, serve, archive_bytes):
    url, _ = serve(archive_bytes)
    with pytest.raises(FetchError, match="MD5 mismatch"):
        fetch_dataset(tmp_path / "z", url=url, expected_md5="0" * 32, progress=False)
    assert list(tmp_path.iterdir()) == []


# --- extraction -------------------------------------------------------------------------------


@pytest.mark.parametrize("evil", ["../evil.jpg", f"{TOP}/../../evil.jpg", "ABS", "C:\\evil.jpg"])
def test_path_traversal_is_rejected(tmp_path, images, evil):
    evil = str(tmp_path / "abs-evil.jpg") if evil == "ABS" else evil
    jpg = images["Shoes/Oxfords/BrandX/a.jpg"]
    archive = tmp_path / "evil.zip"
    archive.write_bytes(_zip({f"{TOP}/Shoes/Oxfords/BrandX/a.jpg": jpg, evil: jpg}))
    out = tmp_path / "deep" / "out"
    with pytest.raises(FetchError, match="unsafe"):
        extract(archive, out, progress=False)
    assert not out.exists()  # rejected before anything was written
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["evil.zip"]


def test_extract_without_top_folder(tmp_path, images):
    jpg = images["Shoes/Oxfords/BrandX/a.jpg"]
    archive = tmp_path / "flat.zip"
    archive.write_bytes(_zip({"Shoes/Oxfords/a.jpg": jpg, "Boots/b.jpg": jpg, "Boots/": b""}))
    rows = _read_manifest(extract(archive, tmp_path / "out", progress=False))
    got = [(r["path"], r["category"], r["subcategory"], r["item_id"]) for r in rows]
    m = _md5(jpg)[:12]
    assert got == [
        ("Boots/b.jpg", "Boots", "", m),
        ("Shoes/Oxfords/a.jpg", "Shoes", "Oxfords", f"{m}-2"),
    ]
    assert (tmp_path / "out" / "Shoes" / "Oxfords" / "a.jpg").read_bytes() == jpg


def test_extract_raises_when_no_images(tmp_path):
    archive = tmp_path / "empty.zip"
    entries = {f"{TOP}/": b"", f"{TOP}/README.txt": b"hi", "__MACOSX/._a.jpg": b"x"}
    archive.write_bytes(_zip(entries))
    with pytest.raises(FetchError, match="no images"):
        extract(archive, tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "manifest.csv").exists()


# --- the command line and the catalogue, end to end -------------------------------------------


def test_cli_fetch_then_catalogue_reads_the_data_folder(tmp_path, serve, images, archive_bytes, monkeypatch):
    from shoevae.catalogue import load_catalogue
    from shoevae.cli import main

    url, srv = serve(archive_bytes)
    data = tmp_path / "data"
    assert main(["data", "fetch", "--url", url, "--dest", str(data / "zappos50k")]) == 0
    cat = load_catalogue(data, 32, cache_dir=tmp_path / "cache")  # finds data/zappos50k/manifest.csv
    assert cat.counts() == {"Boots": 1, "Sandals": 1, "Shoes": 2, "Slippers": 1}
    assert not cat.skipped and len(set(cat.ids)) == len(images)


def test_cli_fetch_failure_is_one_line_and_status_2(tmp_path, dead_url, capsys):
    from shoevae.cli import main

    assert main(["data", "fetch", "--url", dead_url, "--dest", str(tmp_path / "z")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("shoevae: error: cannot reach") and "\n" not in err


# --- a failed fetch leaves nothing to trip over (issue 20, item 17) ----------------------------


def test_a_failed_fetch_into_a_new_folder_leaves_no_folder(tmp_path, serve, archive_bytes):
    url, _ = serve(archive_bytes, "404")
    dest = tmp_path / "new" / "deeper" / "z"
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch_dataset(dest, url=url, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_a_bad_archive_is_deleted_with_what_it_unpacked_and_a_rerun_fetches_again(tmp_path, serve, images,
                                                                                   archive_bytes):
    no_images = _zip({f"{TOP}/README.txt": b"hi"})
    url, srv = serve(no_images)
    dest = tmp_path / "new" / "z"
    with pytest.raises(FetchError, match="no images .*deleted the archive, run again"):
        fetch_dataset(dest, url=url, progress=False)
    assert list(tmp_path.iterdir()) == []
    srv.payload = archive_bytes  # the server has it right now: the rerun downloads it again
    manifest = fetch_dataset(dest, url=url, progress=False)
    assert len(srv.seen) == 2 and len(_read_manifest(manifest)) == len(images)


def test_a_file_url_is_refused_plainly(tmp_path, capsys):
    from shoevae.cli import main
    (tmp_path / "mine.zip").write_bytes(b"PK")
    assert main(["data", "fetch", "--url", f"file://{tmp_path}/mine.zip", "--dest", str(tmp_path / "d" / "z")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("shoevae: error: --url must be an http:// or https:// address") and "\n" not in err
    assert f"put it at {tmp_path / 'd' / 'mine.zip'}" in err and sorted(p.name for p in tmp_path.iterdir()) == ["mine.zip"]
