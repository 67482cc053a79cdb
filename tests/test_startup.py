"""A restarted server shows Recommend before its model loads: the page's modules import no torch, its browsing
and neighbours come from the style vectors the checkpoint left in the cache, and the model loads behind it.

Fast tier: the synthetic shapes and their tiny model (tests/conftest.py).
"""
from __future__ import annotations

import ast
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from app_support import grid_buttons, neighbour_captions, open_app, torch_threads_restored

from shoevae.ui import background, resources, session

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "sklearn", "pandas", "altair", "cv2")  # seconds to import, none needed to browse

pytestmark = pytest.mark.usefixtures(torch_threads_restored.__name__)


def shoevae_imports(path: Path) -> list[str]:
    """The shoevae modules a script imports at its top level."""
    names = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("shoevae"):
            names += [f"{node.module}.{a.name}" if node.module == "shoevae.ui" else node.module for a in node.names]
    return names


def test_the_recommend_page_and_its_frame_import_none_of_the_heavy_libraries():
    modules = sorted(set(shoevae_imports(ROOT / "app.py") + shoevae_imports(ROOT / "pages" / "recommend.py")))
    assert "shoevae.ui.guards" in modules and "shoevae.export" in modules, modules  # the parser sees them
    code = (f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
            f"print(sorted(h for h in {HEAVY!r} if h in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]", done.stdout


def _restart(source: dict, data: str) -> None:
    """As on a restarted server: no model, recommender or cached vectors in memory (the disk cache stays)."""
    resources._model.clear()
    resources._cached_shoes.clear()
    background.registry().forget(("model", source["key"]))
    background.registry().forget(("recommender", source["key"], data))


def _source(env: dict) -> dict:
    return session.path_source(env["checkpoint"])


def test_a_restarted_server_recommends_from_the_cache_while_its_model_still_loads(shapes_app_env, monkeypatch):
    at = open_app("recommend")  # the first server: embeds every shoe, remembers which vectors this file gives
    button = grid_buttons(at)[3]
    button.click().run()
    before = neighbour_captions(at)
    assert len(before) == 5

    source, data = _source(shapes_app_env), str(shapes_app_env["data"].resolve())
    _restart(source, data)
    held, real = threading.Event(), resources.load_source
    monkeypatch.setattr(resources, "load_source", lambda *a, **k: (held.wait(120), real(*a, **k))[1])
    try:
        at = open_app("recommend")
        assert grid_buttons(at), "no shoes to browse while the model loads"
        assert any("loading" in m.value for m in at.sidebar.markdown), [m.value for m in at.sidebar.markdown]
        next(b for b in grid_buttons(at) if b.key == button.key).click().run()
        assert not at.exception
        assert neighbour_captions(at) == before  # the same five, from the cache, with no model yet
        assert background.registry().get(("model", source["key"])).status().state == "running"
    finally:
        held.set()
    assert background.registry().get(("model", source["key"])).wait(120).state == "done"


def test_a_page_that_needs_the_model_never_waits_for_the_first_page(shapes_app_env, monkeypatch):
    """On a fresh server the model waits for the first page to be drawn (torch's import would stall it); a page
    that cannot draw without the model ends that wait at once, or it would hang for FIRST_PAGE_WAIT_S."""
    source, data = _source(shapes_app_env), str(shapes_app_env["data"].resolve())
    _restart(source, data)
    monkeypatch.setattr(resources, "PAGE_DRAWN", threading.Event())
    monkeypatch.setattr(resources, "MODEL_NEEDED", threading.Event())
    monkeypatch.setattr(resources, "FIRST_PAGE_WAIT_S", 600.0)
    monkeypatch.setattr(resources, "BROWSER_S", 600.0)
    monkeypatch.setattr(resources, "fresh_process", lambda: True)  # as if torch were not imported yet
    at = open_app()
    at.switch_page("pages/reconstruct.py").run(timeout=120)  # a hang would be 600 s
    assert not at.exception
    assert background.registry().get(("model", source["key"])).status().state == "done"
    assert [h.value for h in at.title] == ["Reconstruct"] and at.image
