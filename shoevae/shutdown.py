"""Background work ends before the interpreter does.

Background tasks (shoevae.tasks: page work and training jobs) run torch in daemon threads. If Python
finalises while one of them is inside a torch operation, the C++ runtime aborts ("terminate called
without an active exception", exit 134): a Ctrl-C on the Streamlit server during a training, or a test
run ending while a task runs. Every such worker is tracked here; at exit each is asked to stop (after
its current batch or progress report) and joined, for at most SHUTDOWN_WAIT_S seconds in all.
"""
from __future__ import annotations

import atexit
import threading
import time
import weakref
from typing import Protocol

SHUTDOWN_WAIT_S = 30.0


class Worker(Protocol):
    def stop(self) -> None: ...

    def join(self, timeout: float | None = None) -> bool: ...


_live: weakref.WeakSet[Worker] = weakref.WeakSet()
_lock = threading.Lock()


def track(worker: Worker) -> None:
    """Stop and join `worker` when the interpreter exits (it is forgotten once garbage-collected)."""
    with _lock:
        _live.add(worker)


@atexit.register
def stop_all(timeout: float = SHUTDOWN_WAIT_S) -> bool:
    """Ask every tracked worker to stop and wait for them; True if all have ended in time."""
    with _lock:
        workers = list(_live)
    for w in workers:
        w.stop()
    deadline = time.monotonic() + timeout
    return all([w.join(max(0.0, deadline - time.monotonic())) for w in workers])
