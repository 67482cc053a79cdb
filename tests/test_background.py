"""Background tasks (shoevae/tasks.py, drawn by shoevae/ui/background.py) and the app pages that use them.

The registry runs heavy page work in a thread with progress, keeps the result, reports an error
instead of raising it, and never starts the same task twice. The app tests run on the synthetic
shapes catalogue (fast tier): Home shows a progress bar, not a blank page, while the photos load;
the latent map's t-SNE is computed on the shown sample only.
"""
from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from shoevae import Recommender, projection
from shoevae.checkpoint import load_checkpoint
from shoevae.tasks import Task, TaskRegistry, TaskStopped, TooManyRunning
from shoevae.ui import background, resources

ROOT = Path(__file__).resolve().parents[1]


def test_task_runs_off_the_calling_thread_reports_progress_and_returns_the_result():
    release, reported = threading.Event(), threading.Event()
    seen = {}

    def work(progress):
        seen["thread"] = threading.get_ident()
        progress(3, 10, "decoding")
        reported.set()
        release.wait(10)
        return "catalogue"

    task = TaskRegistry().start(("catalogue", "x"), "Reading", work)
    assert reported.wait(10)
    status = task.status()
    assert status.state == "running" and (status.done, status.total, status.phase) == (3, 10, "decoding")
    assert status.fraction == pytest.approx(0.3) and "3 of 10" in status.text()
    assert seen["thread"] != threading.get_ident()
    release.set()
    status = task.wait(10)
    assert status.state == "done" and status.result == "catalogue" and not status.error


def test_an_error_is_reported_in_the_status_not_raised():
    def broken(progress):
        raise ValueError("none of the 3 files is a usable image")

    status = TaskRegistry().start(("catalogue", "bad"), "Reading", broken).wait(10)
    assert status.state == "failed" and status.result is None
    assert status.error == "none of the 3 files is a usable image"


def test_the_same_task_is_not_started_twice_by_two_sessions():
    registry, release, calls = TaskRegistry(), threading.Event(), []

    def work(progress):
        calls.append(1)
        release.wait(10)
        return len(calls)

    tasks = []
    sessions = [threading.Thread(target=lambda: tasks.append(registry.start(("recommender", "m", "d"), "E", work)))
                for _ in range(4)]
    for s in sessions:
        s.start()
    for s in sessions:
        s.join()
    release.set()
    assert len({id(t) for t in tasks}) == 1 and tasks[0].wait(10).result == 1 and calls == [1]
    # finished: asked again, the kept result comes back without running it again
    assert registry.start(("recommender", "m", "d"), "E", work) is tasks[0] and calls == [1]


def test_a_failed_task_is_not_retried_until_forgotten():
    registry, calls = TaskRegistry(), []

    def flaky(progress):
        calls.append(1)
        if len(calls) == 1:
            raise OSError("disk full")
        return "ok"

    assert registry.start(("evaluation", 1), "E", flaky).wait(10).state == "failed"
    assert registry.start(("evaluation", 1), "E", flaky).wait(10).state == "failed" and len(calls) == 1
    registry.forget(("evaluation", 1))
    assert registry.start(("evaluation", 1), "E", flaky).wait(10).result == "ok"


def test_a_task_can_be_stopped_at_its_next_progress_report():
    started, steps = threading.Event(), []

    def long_work(progress):
        for i in range(1000):
            progress(i, 1000)
            steps.append(i)
            started.set()
            threading.Event().wait(0.01)
        return "finished"

    task = TaskRegistry().start(("projection", "tsne"), "t-SNE", long_work)
    assert started.wait(10)
    task.stop()
    status = task.wait(10)
    assert status.state == "stopped" and status.result is None and not status.error
    assert len(steps) < 1000


def test_finished_tasks_are_kept_per_kind_up_to_a_limit():
    registry = TaskRegistry(keep={"projection": 2})
    for i in range(4):
        registry.start(("projection", i), "P", lambda progress, i=i: i).wait(10)
    kept = [i for i in range(4) if registry.get(("projection", i)) is not None]
    assert kept == [2, 3]



def test_a_kind_can_be_capped_to_a_number_running_at_once():
    registry, release = TaskRegistry(), threading.Event()

    def make(n: int) -> Task:
        return Task(("training", n), f"job {n}", lambda progress: release.wait(10))

    first = registry.launch(("training", 1), lambda: make(1), cap=1)
    with pytest.raises(TooManyRunning) as refused:
        registry.launch(("training", 2), lambda: make(2), cap=1)
    assert refused.value.running == [first] and registry.get(("training", 2)) is None
    assert registry.start(("catalogue", "x"), "another kind", lambda progress: 1).wait(10).result == 1
    release.set()
    assert first.wait(10).state == "done"
    assert registry.launch(("training", 2), lambda: make(2), cap=1).wait(10).state == "done"

# ----------------------------------------------------------------------------- the app (fast tier)
@pytest.fixture
def shapes_app(shapes_dir, shapes_checkpoint, tmp_path, monkeypatch):
    """The app on the synthetic shapes with the tiny model, a fresh cache and a fresh task registry."""
    monkeypatch.setenv("SHOEVAE_DATA", str(shapes_dir))
    monkeypatch.setenv("SHOEVAE_CHECKPOINT", str(shapes_checkpoint))
    monkeypatch.setenv("SHOEVAE_WEIGHTS", str(Path(shapes_checkpoint).parent))
    monkeypatch.setenv("SHOEVAE_CACHE", str(tmp_path / "cache"))
    background.registry.clear()
    yield
    background.registry.clear()


def test_home_shows_a_progress_bar_while_the_photos_load(shapes_app, monkeypatch):
    release, started = threading.Event(), threading.Event()
    real_load = resources.load_catalogue

    def slow_load(path, size, progress):  # decodes for real, after reporting a first step and waiting
        progress(40, 120)
        started.set()
        release.wait(30)
        return real_load(path, size, progress=progress)

    monkeypatch.setattr(resources, "load_catalogue", slow_load)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    assert started.is_set() and not at.exception
    bars = at.get("progress")
    assert bars and "Reading the shoe photos: decoding · 40 of 120" in bars[0].proto.text
    assert at.title[0].value == "ShoeVAE" and at.header and "loading" in " ".join(v.value for v in at.sidebar.markdown)
    release.set()
    for _ in range(60):  # decoding, then embedding, each in the background: Home shows their progress meanwhile
        if not at.get("progress"):
            break
        for task in background.registry().running():
            task.wait(10)
        at.run()
    assert not at.exception and not at.get("progress")
    assert {m.label: m.value for m in at.metric}["Shoes"] == "120"
    assert "Similar shoes" in [p.label for p in at.get("page_link")]


def test_the_sidebar_shows_the_photos_once_a_page_has_waited_for_them(shapes_app, monkeypatch):
    """A page that waits for the photos on the page (Recommend) draws the frame again when they arrive:
    the sidebar, drawn while they loaded, must not keep saying "loading"."""
    real_load = resources.load_catalogue

    def slow_load(path, size, progress):
        progress(40, 120)
        threading.Event().wait(1.0)  # still decoding when the sidebar is drawn
        return real_load(path, size, progress=progress)

    monkeypatch.setattr(resources, "load_catalogue", slow_load)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.switch_page("pages/recommend.py")
    at.run()
    assert not at.exception
    sidebar = " ".join(m.value for m in at.sidebar.markdown)
    assert "120 shoes" in sidebar and "loading" not in sidebar, sidebar


def test_tsne_is_computed_on_the_shown_sample_only(shapes_catalogue, shapes_checkpoint, tmp_path, monkeypatch):
    sizes = []
    real = projection.cached_project

    def spy(embeddings, method, cache_dir, seed=0, progress=None):
        sizes.append((method, len(embeddings)))
        return real(embeddings, method, cache_dir, seed, progress=progress)

    monkeypatch.setattr(projection, "cached_project", spy)
    emb = Recommender(load_checkpoint(shapes_checkpoint)[0], shapes_catalogue).embeddings
    rows = np.arange(0, 120, 3)  # 40 of the 120 shapes are shown
    steps = []
    xy = projection.project_sample(emb, rows, "tsne", tmp_path, progress=lambda done, total: steps.append(done))
    assert sizes == [("tsne", 40)]
    assert steps[0] == 0 and steps[-1] == projection.TSNE_ITER and len(steps) > 3, steps
    assert xy.shape == (120, 2) and np.isfinite(xy).all()
    # a shoe outside the sample sits exactly on a shown shoe, its nearest in style space
    shown = {tuple(p) for p in xy[rows]}
    assert all(tuple(p) in shown for p in xy[np.setdiff1d(np.arange(120), rows)])


def test_a_stopped_tsne_ends_early_and_gives_stdout_back():
    emb = np.random.default_rng(0).normal(size=(300, 8)).astype(np.float32)
    before, seen = sys.stdout, []

    def progress(done, total):
        seen.append(done)
        if done >= 100:
            raise TaskStopped

    with pytest.raises(TaskStopped):
        projection.project(emb, "tsne", progress=progress)
    assert sys.stdout is before and seen[-1] == 100


def test_recommend_page_offers_every_shoes_neighbours_for_download(shapes_app):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.switch_page("pages/recommend.py").run()  # waits on the page (with a progress bar) for the embedding
    assert not at.exception and not at.get("progress")
    buttons = at.get("download_button")
    assert len(buttons) == 1 and "10 nearest" in buttons[0].proto.label and buttons[0].proto.label.endswith("CSV)")
