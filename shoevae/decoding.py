"""Decoding many photos at once into one uint8 array (N, S, S, 3): in worker processes for large
catalogues, in threads for small ones (PIL releases the GIL while decoding).

The rows are written straight into a memory-mapped .npy file (in the cache folder, else a temporary
file, else an array in memory), so peak memory stays near the final array. The workers are plain
subprocesses speaking JSON lines (not multiprocessing): nothing of the caller is re-imported. Rows that
could not be decoded are squeezed out afterwards by rewriting the .npy header in place (compact_npy).
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import Executor, ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Callable

import numpy as np

from . import cache
from .atomic import discard_temp, new_temp_beside
from .images import ImageError, bombs_refused, read_photo, refuse_bombs, square_image

PROCESS_MIN_IMAGES = 1000  # fewer photos decode faster in threads than it takes to start processes


def _decode(path: Path, size: int) -> tuple[np.ndarray | None, str, str]:
    """(image or None, md5 hex or '', reason if skipped)."""
    try:
        data = read_photo(path)
        return square_image(data, size), hashlib.md5(data).hexdigest(), ""
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


def decode_all(target: str | np.ndarray, size: int, paths: list[Path], workers: int | None,
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
        with bombs_refused(), ThreadPoolExecutor(workers) as pool:
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
    refuse_bombs()
    header = json.loads(sys.stdin.readline())
    for line in sys.stdin:
        decoded = _decode_rows(header["target"], header["size"], [(row, p) for row, p in json.loads(line)])
        sys.stdout.write(json.dumps(decoded) + "\n")
        sys.stdout.flush()


def create_npy(path: Path, shape: tuple[int, ...]) -> None:
    """Write an .npy header for a uint8 array of `shape` and reserve the disk space (fails now, not mid-way)."""
    with open(path, "r+b") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False, "shape": shape})
        total = f.tell() + int(np.prod(shape))
        if hasattr(os, "posix_fallocate"):
            os.posix_fallocate(f.fileno(), 0, total)  # ENOSPC here, instead of SIGBUS while writing the map
        else:
            f.truncate(total)


def compact_npy(path: Path, kept: list[int]) -> None:
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


def decode_target(entry: cache.Entry, shape: tuple[int, ...], use_cache: bool) -> tuple[Path | None, bool]:
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
            create_npy(tmp, shape)
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
        create_npy(tmp, shape)
        return tmp, False
    except OSError:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()
        return None, False


def progress_reporter(progress: Callable[[int, int], None] | bool, total: int) -> Callable[[int | None], None]:
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
