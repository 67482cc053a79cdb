"""What the AppTest tests share: a fresh browser session of the app on a page, torch's thread count given
back after a test file, and readers of what a page shows."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 300  # the first run on the real photos embeds 13.5K of them and may fit the mixture; later runs take < 1 s


@pytest.fixture(scope="module")
def torch_threads_restored():
    """app.py sets torch's thread count for the process; give the other test files theirs back."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def open_app(page: str | None = None, **session) -> AppTest:
    """A fresh browser session of the app, on `page` (a pages/<page>.py name) if given.

    `session` sets session-state keys before the first run (e.g. a picked shoe).
    """
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    for key, value in session.items():
        at.session_state[key] = value
    at.run()
    if page:
        at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


def values(elements) -> list[str]:
    return [e.value for e in elements]


def captions(at: AppTest) -> list[str]:
    return [c for img in at.image for c in img.captions]


def neighbour_captions(at: AppTest) -> list[str]:
    return [c for c in captions(at) if re.match(r"#\d ", c)]


def grid_buttons(at: AppTest):
    return [b for b in at.button if (b.key or "").startswith("shoevae.grid.")]


def jpeg_bytes(env) -> bytes:
    return next((env["data"] / "Sandal").glob("*.jpg")).read_bytes()
