"""Atomic file writes: write to a temporary file beside the target, then rename over it.

The file gets the mode a plain `open()` would give it: the mode of the file it replaces, or
0666 less the umask for a new one (`tempfile.mkstemp` alone would leave 0600).

The temporary file (`.NAME.<random>.tmp`) is locked (flock) by the process writing it until it is
renamed or removed, so the lock dies with its writer, kill -9 included. The next write of the same
target deletes the temporaries whose lock it can take (their writer is gone) and leaves locked ones alone.
A full disk (or quota) is reported as DiskFullError, one line naming the device and the file.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
import tempfile
import threading
from pathlib import Path
from typing import IO, Iterator

from .errors import ShoevaeError

_umask_lock = threading.Lock()
_held: dict[str, int] = {}  # temporary file -> the descriptor holding its lock, while this process writes it
_held_lock = threading.Lock()
FULL = (errno.ENOSPC, errno.EDQUOT)
NO_LOCKS = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS)  # flock on a file system without locks


class DiskFullError(ShoevaeError, OSError):
    """No space left (or over quota) while writing: the target is as it was, no temporary file is left."""

    def __init__(self, error: OSError, path: str | os.PathLike) -> None:
        super().__init__(error.errno or errno.ENOSPC, error.strerror or os.strerror(errno.ENOSPC))
        self.filename = str(path)
        self.message = f"no space left on {device_of(path)} writing {path}; nothing lost (free some space and run it again)"

    def __str__(self) -> str:
        return self.message


def device_of(path: str | os.PathLike) -> str:
    """The file system holding `path`, for messages: its source and mount point, e.g. '/dev/sda1 (/)'."""
    mount = Path(os.path.realpath(Path(path).parent))
    while not os.path.ismount(mount) and mount != mount.parent:
        mount = mount.parent
    source = ""
    with contextlib.suppress(OSError):
        with open("/proc/self/mounts") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 2 and fields[1].replace("\\040", " ") == str(mount):
                    source = fields[0]  # the last one mounted there wins
    return f"{source} ({mount})" if source else str(mount)


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


def is_named(fd: int, path: str | os.PathLike) -> bool:
    """Whether `path` still names the file open as `fd` (not removed or replaced since it was opened)."""
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def flock(fd: int, wait: bool) -> bool:
    """flock `fd` exclusively: True once held, False if another open file holds it (`wait`: wait for it).
    OSError with an errno in NO_LOCKS where the file system has no locks."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of `path` (`.NAME.<random>.tmp`) left by writers that died; return them.

    A temporary file is stale when its lock can be taken: its writer holds it until it renames the
    file, and the system releases it when the writer dies. Others' files, other targets' files and
    any file whose lock is held are never touched.
    """
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[a-z0-9_]{{8}}\.tmp")
    gone = []
    try:
        names = [n for n in os.listdir(path.parent) if pattern.fullmatch(n)]
    except OSError:
        return gone
    for name in names:
        tmp = path.parent / name
        try:
            fd = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue  # gone already, a link, or not ours to open
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode) and flock(fd, wait=False) and is_named(fd, tmp):
                os.unlink(tmp)
                gone.append(tmp)
        except OSError:
            pass  # no locks on this file system (nothing is deleted on a guess), or gone meanwhile
        finally:
            os.close(fd)
    return gone


def new_temp_beside(path: str | os.PathLike) -> Path:
    """An empty temporary file in `path`'s folder (hidden, `.tmp`), with the mode `path` will get.

    It stays locked by this process until commit_temp or discard_temp; stale temporaries of the same
    target are deleted first (remove_stale_temps).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    while True:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            try:
                flock(fd, wait=True)  # a cleaner holds it for a moment at most
            except OSError as e:
                if e.errno not in NO_LOCKS:
                    raise  # else go on unlocked: cleaners there cannot lock it either, so they leave it
            if is_named(fd, tmp):
                os.chmod(tmp, _target_mode(path))
                break
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        os.close(fd)  # a cleaner took it for stale between its creation and its lock: make another
    with _held_lock:
        _held[tmp] = fd
    return Path(tmp)


def _release(tmp: str | os.PathLike) -> None:
    with _held_lock:
        fd = _held.pop(str(tmp), None)
    if fd is not None:
        os.close(fd)


def discard_temp(tmp: str | os.PathLike) -> None:
    """Delete a temporary file from new_temp_beside (if still there) and release its lock."""
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    finally:
        _release(tmp)


def commit_temp(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """fsync a filled temporary file and rename it over `path` (the atomic step), then release its lock."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _release(tmp)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path` to fill; on success fsync it and rename it over `path`.

    A crash or exception leaves any earlier `path` untouched and no stray temporary file; a full
    disk raises DiskFullError.
    """
    try:
        tmp = new_temp_beside(path)
    except OSError as e:
        if e.errno in FULL:
            raise DiskFullError(e, path) from None
        raise
    try:
        yield tmp
        commit_temp(tmp, path)
    except BaseException as e:
        full = _disk_full(e, tmp)  # asked before the temporary file frees its space
        discard_temp(tmp)
        if full:
            raise DiskFullError(e, path) from None
        raise


def _disk_full(error: BaseException, tmp: Path) -> bool:
    """Whether a write failed for want of space: ENOSPC/EDQUOT, or an error without errno (numpy's short
    write, "N requested and M written") on a file system with no free block left."""
    if not isinstance(error, OSError) or isinstance(error, DiskFullError):
        return False
    if error.errno is None:
        with contextlib.suppress(OSError):
            return os.statvfs(tmp.parent).f_bavail == 0
    return error.errno in FULL


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside `path`; on success fsync it and rename it over `path`.

    A crash or exception leaves any earlier `path` untouched and no stray temporary file; a full
    disk raises DiskFullError.
    """
    with atomic_path(path) as tmp, open(tmp, mode) as f:
        yield f
        f.flush()
