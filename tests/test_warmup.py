"""The background warm-up of a fresh server (shoevae/ui/warmup.py), on the synthetic shapes (fast tier)."""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from shoevae.ui import background, warmup

ROOT = Path(__file__).resolve().parents[1]


def markdown(at: AppTest) -> list[str]:
    return [m.value for m in at.sidebar.markdown] + [c.value for c in at.sidebar.caption]


def test_a_first_page_view_warms_every_slow_step_up_and_the_sidebar_says_ready(shapes_app_env, monkeypatch):
    monkeypatch.setenv("SHOEVAE_WARMUP", "1")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert not at.exception, at.exception
    keys = [k for k in background.registry()._tasks if k[0] == "warmup"]
    assert keys, "no warm-up task was started"
    task = background.registry().get(keys[-1])
    status = task.wait(240)
    assert status.state == "done", (status.state, status.error)
    assert status.result == len(warmup.STEPS)
    kinds = {k[0] for k, t in background.registry()._tasks.items() if t.status().state == "done"}
    assert {"catalogue", "recommender", "pixels", "shoe-check", "mixture", "evaluation", "tooltips", "projection"} <= kinds, kinds
    rec = background.registry().get(("recommender", *keys[-1][1:])).wait().result  # this warm-up's model and photos
    assert "shoe_check" in vars(rec), "the first photo would still calibrate the shoe check"  # (no judgements here)
    at.run()
    assert any(text.startswith("Ready") for text in markdown(at)), markdown(at)
    # the first use after the warm-up finds its result: the evaluation answers in this run, no progress bar
    at.switch_page("pages/evaluate.py").run()
    t = time.perf_counter()
    at.button(key="shoevae.eval.run").click().run()
    assert not at.get("progress") and at.dataframe, "the evaluation was not warmed up"
    assert time.perf_counter() - t < 10
    # and the Latent map draws its map with the hover pictures at once
    at.switch_page("pages/latent_map.py").run()
    assert not at.exception and not at.get("progress") and at.get("vega_lite_chart"), "the hover pictures were not warmed up"


def test_switched_off_it_starts_nothing(shapes_app_env, monkeypatch):
    monkeypatch.setenv("SHOEVAE_WARMUP", "0")
    before = set(background.registry()._tasks)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert not at.exception
    assert not [k for k in set(background.registry()._tasks) - before if k[0] == "warmup"]
    assert not any(text.startswith(("Ready", "Getting ready")) for text in markdown(at))


@pytest.mark.parametrize("n,last", [(13_533, 13_533), (4_000, 4_000), (120, 120), (1_250, 1_250)])
def test_the_maps_shoes_shown_end_at_every_shoe(n, last):
    from shoevae.ui import charts
    options = charts.shown_options(n)
    assert options[-1] == last and options == sorted(set(options))
    assert charts.default_shown(n) in options

