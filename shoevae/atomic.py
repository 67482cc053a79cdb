"""Atomic file writes: write to a temporary file beside the target, then rename over it.

The file gets the mode a plain `open()` would give it: the mode of the file it replaces, or
0666 less the umask for a new one (`tempfile.mkstemp` alone would leave 0600).
"""
from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import threading
from pathlib import Path
from typing import IO, Iterator

_umask_lock = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (/proc), else set and restored."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    with _umask_lock:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _target_mode(path: Path) -> int:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return 0o666 & ~current_umask()


def new_temp_beside(path: str | os.PathLike) -> Path:
    """An empty temporary file in `path`'s folder (hidden, `.tmp`), with the mode `path` will get."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        os.chmod(tmp, _target_mode(path))
    except BaseException:
        os.unlink(tmp)
        raise
    return Path(tmp)


def commit_temp(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """fsync a filled temporary file and rename it over `path` (the atomic step)."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path` to fill; on success fsync it and rename it over `path`.

    A crash or exception leaves any earlier `path` untouched and no stray temporary file.
    """
    tmp = new_temp_beside(path)
    try:
        yield tmp
        commit_temp(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside `path`; on success fsync it and rename it over `path`.

    A crash or exception leaves any earlier `path` untouched and no stray temporary file.
    """
    with atomic_path(path) as tmp, open(tmp, mode) as f:
        yield f
        f.flush()
