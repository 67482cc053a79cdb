"""Heavy page work in a background thread, with a progress bar on the page: one mechanism for all of it.

    task = background.start(("catalogue", path), "Reading the shoe photos", lambda progress: load(progress))
    status = background.show(task, wait=1.0)   # the result when done; else a progress bar, and None
    if status.state != "done": st.stop()

`TaskRegistry` (no streamlit in it) runs `fn(progress)` in a daemon thread; `progress(done, total,
phase="")` may be called any number of times. The app keeps one registry in `st.cache_resource`, shared
by every browser session, so a task with the same key is never started twice: the second session is
given the running task and shows its progress. Finished tasks keep their result (a few per kind, the
kind being the key's first element), so the registry is also where those results are cached.

`show()` draws the progress. It polls the task on the page for up to `wait` seconds (each update of the
bar is a point where a click or a page switch takes over, so the page never freezes), then hands the bar
to a fragment that refreshes it every half second and reruns the page when the task has ended. A failed
task is shown as one error line, never raised into the page.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any, Callable, Hashable

import streamlit as st

from .. import shutdown

POLL_S = 1.0  # the fragment's refresh interval (a busy 2-core server lags behind faster ones)
PAGE_WAIT_S = 120.0  # pages that cannot draw anything useful without the result wait this long on the page
KEEP = {"catalogue": 4, "recommender": 4, "projection": 8, "evaluation": 16,  # finished tasks kept per kind
        "pixels": 4, "judgements": 8, "warmup": 4}
KEEP_OTHER = 8

Progress = Callable[..., None]  # progress(done, total, phase="")


class TaskStopped(Exception):
    """Raised inside a task by its progress callback once someone asked it to stop."""


@dataclass(frozen=True)
class TaskStatus:
    """One task at one moment (immutable: safe to read from any thread)."""

    key: Hashable
    label: str
    state: str = "running"  # "running", "done", "failed" or "stopped"
    done: int = 0
    total: int = 0
    phase: str = ""
    result: Any = None
    error: str = ""
    started: float = 0.0
    finished: float | None = None

    @property
    def fraction(self) -> float:
        return min(1.0, max(0.0, self.done / self.total)) if self.total else 0.0

    @property
    def elapsed(self) -> float:
        return (self.finished or time.time()) - self.started

    def text(self) -> str:
        """What the progress bar says: label, phase, counts and time so far."""
        parts = [self.label + (f": {self.phase}" if self.phase else "")]
        if self.total:
            parts.append(f"{self.done:,} of {self.total:,}")
        parts.append(f"{self.elapsed:.0f} s")
        return " · ".join(parts)


class Task:
    """`fn(progress)` running in a daemon thread; read it through `status()`."""

    def __init__(self, key: Hashable, label: str, fn: Callable[[Progress], Any]) -> None:
        self.key, self.fn = key, fn
        self._lock = threading.Lock()
        self._ended = threading.Event()
        self._stop = threading.Event()
        self._status = TaskStatus(key, label, started=time.time())
        self._thread = threading.Thread(target=self._run, name=f"shoevae-task-{label}", daemon=True)

    def start(self) -> Task:
        self._thread.start()
        shutdown.track(self)  # stopped and joined at interpreter exit, never killed inside torch
        return self

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread; True if it has ended."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def status(self) -> TaskStatus:
        with self._lock:
            return self._status

    def wait(self, timeout: float | None = None) -> TaskStatus:
        """Block up to `timeout` seconds for the task to end; its status either way."""
        self._ended.wait(timeout)
        return self.status()

    def stop(self) -> None:
        """Ask the task to end: its next progress report raises TaskStopped inside it."""
        self._stop.set()

    def progress(self, done: int, total: int, phase: str | None = None) -> None:
        """The callback handed to fn: `done` of `total` (and, optionally, which phase of the work)."""
        if self._stop.is_set():
            raise TaskStopped
        with self._lock:
            changes: dict[str, Any] = {"done": int(done), "total": int(total)}
            if phase is not None:
                changes["phase"] = phase
            self._status = replace(self._status, **changes)

    def _run(self) -> None:
        try:
            result = self.fn(self.progress)
            end = {"state": "done", "result": result}
        except TaskStopped:
            end = {"state": "stopped"}
        except Exception as e:  # reported on the page; the thread must never die silently
            end = {"state": "failed", "error": str(e) or type(e).__name__}
        with self._lock:
            self._status = replace(self._status, finished=time.time(), **end)
        self._ended.set()


class TaskRegistry:
    """Background tasks of one process, by key. Thread-safe; a key runs at most once at a time."""

    def __init__(self, keep: dict[str, int] | None = None) -> None:
        self.keep = dict(KEEP if keep is None else keep)
        self._tasks: OrderedDict[Hashable, Task] = OrderedDict()
        self._lock = threading.Lock()

    def start(self, key: Hashable, label: str, fn: Callable[[Progress], Any]) -> Task:
        """The task under `key`: the running or finished one if there is one, else `fn` started now.

        A failed task is returned as it is (its error is shown once, not retried in a loop); `forget`
        it to try again.
        """
        with self._lock:
            task = self._tasks.get(key)
            if task is None:
                task = self._tasks[key] = Task(key, label, fn)
                self._evict(key)
                task.start()
            self._tasks.move_to_end(key)  # most recently asked for last
            return task

    def get(self, key: Hashable) -> Task | None:
        with self._lock:
            return self._tasks.get(key)

    def running(self) -> list[Task]:
        with self._lock:
            return [t for t in self._tasks.values() if t.status().state == "running"]

    def forget(self, key: Hashable) -> None:
        """Drop a finished task (a running one keeps running and stays)."""
        with self._lock:
            task = self._tasks.get(key)
            if task is not None and task.status().state != "running":
                del self._tasks[key]

    def _evict(self, key: Hashable) -> None:
        kind = _kind(key)
        limit = self.keep.get(kind, KEEP_OTHER)
        finished = [k for k, t in self._tasks.items()
                    if _kind(k) == kind and k != key and t.status().state != "running"]
        for k in finished[:max(0, len(finished) - limit + 1)]:  # least recently asked for first; the new one counts
            del self._tasks[k]


def _kind(key: Hashable) -> str:
    return str(key[0]) if isinstance(key, tuple) and key else str(key)


# ----------------------------------------------------------------------------- streamlit side
@st.cache_resource
def registry() -> TaskRegistry:
    """The app's background tasks, shared by all sessions."""
    return TaskRegistry()


def start(key: Hashable, label: str, fn: Callable[[Progress], Any]) -> Task:
    return registry().start(key, label, fn)


def show(task: Task, *, wait: float = 0.0, report_error: bool = True, retry: bool = False,
         stoppable: bool = False) -> TaskStatus:
    """The task's status after drawing what the page needs to see about it.

    Done: nothing is drawn. Running: a progress bar, polled here for up to `wait` seconds, then kept
    moving by a fragment that reruns the page when the task ends (with `stoppable`, a Stop button beside
    it). Failed: one st.error line (unless `report_error` is False: the caller words it) and, with
    `retry`, a button that starts it again (also after a stop). Nothing is raised.
    """
    status = task.status()
    if status.state == "running" and wait > 0:
        box = st.empty()
        with box.container():
            slot = st.empty()
            if stoppable:
                slot, stop = st.columns([6, 1], vertical_alignment="bottom")
                if stop.button("Stop", icon=":material/stop:", key=f"shoevae.task.stop.page.{abs(hash(task.key))}",
                               width="stretch"):
                    task.stop()
                slot = slot.empty()
            deadline = time.monotonic() + wait
            while status.state == "running" and time.monotonic() < deadline:
                slot.progress(status.fraction, text=status.text())  # a click or page switch takes over here
                status = task.wait(min(0.25, max(0.0, deadline - time.monotonic())))
        box.empty()
    if status.state == "running":
        _progress_fragment(task.key, stoppable)
    elif status.state in ("failed", "stopped"):
        if status.state == "stopped":
            st.info(f"{status.label}: stopped.", icon=":material/stop_circle:")
        elif report_error:
            st.error(f"{status.label} failed: {status.error}", icon=":material/error:")
        if retry and st.button("Try again", key=f"shoevae.task.retry.{abs(hash(task.key))}",
                               icon=":material/refresh:"):
            registry().forget(task.key)
            st.rerun()
    return status


@st.fragment(run_every=POLL_S)
def _progress_fragment(key: Hashable, stoppable: bool = False) -> None:
    task = registry().get(key)
    status = task.status() if task is not None else None
    if status is None or status.state != "running":
        st.rerun()  # the whole page, now with the result (or the error)
    if not stoppable:
        st.progress(status.fraction, text=status.text())
        return
    bar, button = st.columns([6, 1], vertical_alignment="bottom")
    bar.progress(status.fraction, text=status.text())
    if button.button("Stop", icon=":material/stop:", key=f"shoevae.task.stop.{abs(hash(key))}", width="stretch"):
        task.stop()
