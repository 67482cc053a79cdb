"""Heavy page work in a background thread, with a progress bar on the page: one mechanism for all of it.

    task = background.start(("catalogue", path), "Reading the shoe photos", lambda progress: load(progress))
    status = background.show(task, wait=1.0)   # the result when done; else a progress bar, and None
    if status.state != "done": st.stop()

The work itself runs in shoevae.tasks (`fn(progress)` in a daemon thread, no streamlit). The app keeps
one TaskRegistry in `st.cache_resource`, shared by every browser session, so a task with the same key is
never started twice: the second session is given the running task and shows its progress. Finished tasks
keep their result (a few per kind), so the registry is also where those results are cached; training
jobs live there too (shoevae.jobs, kind "training").

`show()` draws the progress. It polls the task on the page for up to `wait` seconds (each update of the
bar is a point where a click or a page switch takes over, so the page never freezes), then hands the bar
to a fragment that refreshes it every POLL_S seconds and reruns the page when the task has ended. A failed
task is shown as one error line, never raised into the page.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Hashable

import streamlit as st

from ..tasks import Progress, Task, TaskRegistry, TaskStatus

POLL_S = 1.0  # the fragment's refresh interval (a busy 2-core server lags behind faster ones)
PAGE_WAIT_S = 120.0  # pages that cannot draw anything useful without the result wait this long on the page


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
