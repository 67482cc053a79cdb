"""The sidebar's Presenting switch (shoevae/ui/layout.py), on the synthetic shapes (fast tier)."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from shoevae.ui import layout

ROOT = Path(__file__).resolve().parents[1]


def styles(at: AppTest) -> str:
    return "".join(h.proto.body for h in at.get("html"))


def test_presenting_enlarges_hides_explanations_and_folds_the_sidebar(shapes_app_env):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert not at.exception and layout.PRESENTING_STYLE not in styles(at)
    at.toggle(key=layout.PRESENTING).set_value(True).run()
    assert not at.exception and layout.PRESENTING_STYLE in styles(at)
    assert "stCaptionContainer" in layout.PRESENTING_STYLE and "font-size: 19px" in layout.PRESENTING_STYLE
    at.switch_page("pages/recommend.py").run()  # it follows the person from page to page
    assert at.toggle(key=layout.PRESENTING).value is True and layout.PRESENTING_STYLE in styles(at)
    at.toggle(key=layout.PRESENTING).set_value(False).run()
    assert layout.PRESENTING_STYLE not in styles(at)
