"""Background work: `fn(progress)` in a daemon thread, a frozen status readable from any thread, stop and join.

    registry = TaskRegistry()
    task = registry.start(("catalogue", path), "Reading the shoe photos", lambda progress: load(path, progress))
    task.status()      # state, done of total, phase, and the result once done (or the error, one line)
    task.stop()        # its next progress report raises TaskStopped inside it
    task.wait(10)      # the status after up to 10 s

`progress(done, total, phase="")` may be called any number of times. A registry keeps tasks by key (a
tuple whose first element names the kind), never runs a key twice at once, keeps a few finished tasks
per kind (so it is also where their results are cached) and can cap how many of a kind run at once.
Every task is stopped and joined at interpreter exit (shoevae.shutdown). A subclass may carry more in
its status and watch the stop event itself (shoevae.jobs.TrainingJob: training stops after a batch).
No streamlit here: shoevae.ui.background draws the progress on a page.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any, Callable, Hashable

from . import shutdown

KEEP = {"catalogue": 4, "recommender": 4, "projection": 8, "evaluation": 16,  # finished tasks kept per kind
        "pixels": 4, "judgements": 8, "warmup": 4, "training": 20}
KEEP_OTHER = 8

Progress = Callable[..., None]  # progress(done, total, phase="")


class TaskStopped(Exception):
    """Raised inside a task by its progress callback once someone asked it to stop."""


class TooManyRunning(RuntimeError):
    """A task refused because its kind already runs as many as allowed; `running` lists those tasks."""

    def __init__(self, kind: str, running: list[Task]) -> None:
        super().__init__(f"{len(running)} {kind} task(s) running already")
        self.running = running


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
    def running(self) -> bool:
        return self.state == "running"

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
    """`fn(progress)` running in a daemon thread; read it through `status()`.

    `status`: the first status (a subclass of TaskStatus carries more); a subclass updates it with `_update`.
    """

    def __init__(self, key: Hashable, label: str, fn: Callable[[Progress], Any], status: TaskStatus | None = None) -> None:
        self.key, self.fn = key, fn
        self._lock = threading.Lock()
        self._ended = threading.Event()
        self._stop = threading.Event()  # set by stop(); a subclass may hand it to code that watches it
        self._status = TaskStatus(key, label, started=time.time()) if status is None else status
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
        changes: dict[str, Any] = {"done": int(done), "total": int(total)}
        if phase is not None:
            changes["phase"] = phase
        self._update(**changes)

    @staticmethod
    def describe(error: Exception) -> str:
        """A failure as the status reports it."""
        return str(error) or type(error).__name__

    def _update(self, **changes: Any) -> None:
        with self._lock:
            self._status = replace(self._status, **changes)

    def _run(self) -> None:
        try:
            result = self.fn(self.progress)
            end = {"state": "done", "result": result}
        except TaskStopped:
            end = {"state": "stopped"}
        except Exception as e:  # reported on the page; the thread must never die silently
            end = {"state": "failed", "error": self.describe(e)}
        self._update(finished=time.time(), **end)
        self._ended.set()


class TaskRegistry:
    """Background tasks of one process, by key. Thread-safe; a key runs at most once at a time."""

    def __init__(self, keep: dict[str, int] | None = None) -> None:
        self.keep = dict(KEEP if keep is None else keep)
        self._tasks: OrderedDict[Hashable, Task] = OrderedDict()
        self._lock = threading.RLock()  # re-entrant: launch's `make` may look at the registry

    def start(self, key: Hashable, label: str, fn: Callable[[Progress], Any]) -> Task:
        """The task under `key`: the running or finished one if there is one, else `fn` started now.

        A failed task is returned as it is (its error is shown once, not retried in a loop); `forget`
        it to try again.
        """
        return self.launch(key, lambda: Task(key, label, fn))

    def launch(self, key: Hashable, make: Callable[[], Task], cap: int | None = None) -> Task:
        """The task under `key` if there is one, else `make()` started now.

        With `cap`, TooManyRunning if that many tasks of the key's kind run already. `make` is called under
        the registry's lock (nothing else starts meanwhile) and may refuse by raising.
        """
        with self._lock:
            task = self._tasks.get(key)
            if task is None:
                running = self.running(kind(key))
                if cap is not None and len(running) >= cap:
                    raise TooManyRunning(kind(key), running)
                task = self._tasks[key] = make()
                self._evict(key)
                task.start()
            self._tasks.move_to_end(key)  # most recently asked for last
            return task

    def get(self, key: Hashable) -> Task | None:
        with self._lock:
            return self._tasks.get(key)

    def running(self, of_kind: str | None = None) -> list[Task]:
        """The running tasks (of one kind, if given), oldest first."""
        with self._lock:
            return [t for k, t in self._tasks.items()
                    if t.status().running and (of_kind is None or kind(k) == of_kind)]

    def forget(self, key: Hashable) -> None:
        """Drop a finished task (a running one keeps running and stays)."""
        with self._lock:
            task = self._tasks.get(key)
            if task is not None and not task.status().running:
                del self._tasks[key]

    def _evict(self, key: Hashable) -> None:
        limit = self.keep.get(kind(key), KEEP_OTHER)
        finished = [k for k, t in self._tasks.items()
                    if kind(k) == kind(key) and k != key and not t.status().running]
        for k in finished[:max(0, len(finished) - limit + 1)]:  # least recently asked for first; the new one counts
            del self._tasks[k]


def kind(key: Hashable) -> str:
    """A key's kind: its first element (the key itself if it is not a tuple)."""
    return str(key[0]) if isinstance(key, tuple) and key else str(key)
