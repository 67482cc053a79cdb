"""Where commands write: every output checked before any work, and a training run's output held while it runs.

`check_output` refuses, by name, before anything is loaded: a path ending in '/' or naming a folder, a
place that cannot be written, a file the command reads or anything inside a photo folder it reads, a
shipped checkpoint (presets.SHIPPED in a `weights/` folder) as a training target, and an existing file
without --force. `hold` keeps a lock file `.NAME.lock` beside a target while a run writes it, so a second
run asking for the same file is refused; the system drops the lock when its holder dies (kill -9 too),
so a lock file left behind never blocks the next run.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from pathlib import Path
from typing import Iterable, Iterator

from .atomic import NO_LOCKS, flock, is_named
from .errors import ShoevaeError
from .presets import SHIPPED

Target = str | os.PathLike

_held: dict[str, int] = {}  # resolved target -> the thread holding it, in this process
_held_lock = threading.Lock()


class OutputError(ShoevaeError):
    """An output a command must not or cannot write, with a one-line reason."""


def photo_folder(data: Target | None) -> Path | None:
    """The folder a --data argument reads photos from: the folder itself, or a manifest's folder."""
    if data is None:
        return None
    path = Path(data).expanduser()
    return path if path.is_dir() else path.parent if path.is_file() else None


def shipped(path: Target) -> bool:
    """Whether `path` is one of the shipped checkpoints: <name>.pt of presets.SHIPPED in a `weights/` folder
    (or in $SHOEVAE_WEIGHTS, where the app looks for them)."""
    path = Path(os.path.realpath(path))
    if path.name not in {f"{name}.pt" for name in SHIPPED}:
        return False
    app_weights = os.environ.get("SHOEVAE_WEIGHTS")
    return path.parent.name == "weights" or (bool(app_weights) and path.parent == Path(os.path.realpath(app_weights)))


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def refuse_existing(path: Path, force: bool, what: str = "--out") -> None:
    """Nothing the user made is overwritten without being asked: an existing file needs --force."""
    if path.exists() and not force:
        raise OutputError(f"{path} already exists; pass --force to overwrite it, or choose another {what}")


def check_output(target: Target, what: str = "--out", *, force: bool = False, reads: Iterable[Target | None] = (),
                 photos: Iterable[Target | None] = (), training: bool = False) -> Path:
    """Refuse, before any work, an output that must not or cannot be written; return it as a Path.

    `reads`: files the command reads (never written over); `photos`: --data arguments (nothing is
    written inside their photo folder); `training`: a shipped checkpoint is refused even with `force`.
    Creates nothing: missing folders are made when the result is written.
    """
    raw = os.fspath(target)
    path = Path(raw)
    if raw.endswith(("/", os.sep)):
        raise OutputError(f"{what} {raw} ends in '/': give a file name, e.g. {raw.rstrip('/' + os.sep) or 'out'}")
    if path.is_dir():
        raise OutputError(f"{what} {path} is a folder; give a file name")
    if training and shipped(path):
        names = ", ".join(f"{n}.pt" for n in SHIPPED)
        raise OutputError(f"{path} is a shipped checkpoint ({names} in weights/): training never writes it, even with "
                          f"--force; train into another --out (default runs/<preset>.pt), then `python -m shoevae export "
                          f"THAT.pt {path} --force` if you really mean to replace it")
    for read in reads:
        if read is not None and _same(path, Path(read)):
            raise OutputError(f"{what} {path} is {read}, which this command reads; write to another file")
    for data in photos:
        folder = photo_folder(data)
        if folder is not None and Path(os.path.realpath(path)).is_relative_to(os.path.realpath(folder)):
            raise OutputError(f"{what} {path} is inside {folder}, the photo folder this command reads; "
                              "write it somewhere else")
    refuse_existing(path, force, what)
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise OutputError(f"cannot write {what} {path} ({folder} is a file, not a folder)")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as e:
        raise OutputError(f"cannot write {what} {path} ({e.strerror or e})") from None
    return path


@contextlib.contextmanager
def hold(target: Target, what: str = "--out") -> Iterator[Path]:
    """Hold `target` for this run (a lock file `.NAME.lock` beside it, removed at the end); OutputError
    naming the target if another run holds it. Nested calls in the same thread share the hold."""
    path = Path(target)
    key, me = os.path.realpath(path), threading.get_ident()
    with _held_lock:
        owner = _held.get(key)
    if owner is not None and owner != me:
        raise OutputError(f"{path} is being written by another run in this program; choose another {what}")
    if owner == me:  # held further up this thread's stack (the CLI holds it, then train() asks again)
        yield path
        return
    made = [p for p in [path.parent, *path.parent.parents] if not p.exists()]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot write {what} {path} ({e.strerror or e})") from None
    lock = path.parent / f".{path.name}.lock"
    try:
        fd = _take(lock, path, what)
    except BaseException:
        _remove_empty(made)
        raise
    with _held_lock:
        _held[key] = me
    try:
        yield path
    finally:
        with _held_lock:
            del _held[key]
        if fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(lock)  # while still holding it: a run waiting on this file takes a fresh one
            os.close(fd)
        _remove_empty(made)


def _take(lock: Path, path: Path, what: str) -> int | None:
    """The locked descriptor of `lock`, with this process's id in it; None where the file system has no locks."""
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
        except OSError as e:
            raise OutputError(f"cannot write {what} {path} ({e.strerror or e})") from None
        try:
            if not flock(fd, wait=False):
                raise OutputError(f"{path} is being written by another run{_holder(lock)}; wait for it to finish "
                                  f"or choose another {what}")
        except OSError as e:
            os.close(fd)
            if e.errno in NO_LOCKS:
                return None  # no locks here: go on unguarded, as before
            raise
        except BaseException:
            os.close(fd)
            raise
        if is_named(fd, lock):
            break
        os.close(fd)  # its holder finished and removed it between our open and lock: take a fresh one
    with contextlib.suppress(OSError):  # only for the message of a run refused (a full disk may refuse it)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _holder(lock: Path) -> str:
    with contextlib.suppress(OSError, ValueError):
        return f" (process {int(lock.read_text().strip())})"
    return ""


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders hold() made, deepest first, where the run left them empty."""
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()
