"""AppTest tests of every page of the Streamlit app: happy paths and the bad-input paths.

The app runs in-process against the real 13.5K-shoe sample and a tiny checkpoint trained once per
session (tests/conftest.py). Resources cached with st.cache_resource are process-wide, so only the
first test pays for decoding the photos and embedding them.
"""
from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from shoevae.jobs import JobError, JobRegistry, safe_name
from shoevae.ui import charts, state

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["home", "train", "recommend", "reconstruct", "generate", "latent_map", "evaluate"]
TIMEOUT = 180  # the first run embeds 13.5K photos; later runs take well under a second

pytestmark = pytest.mark.usefixtures("app_env", "torch_threads_restored")


@pytest.fixture(scope="module")
def torch_threads_restored():
    """app.py sets torch's thread count for the process; give the other test files theirs back."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def open_app(page: str | None = None) -> AppTest:
    """A fresh browser session of the app, on `page` (a pages/<page>.py name) if given."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
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


def jpeg_bytes(app_env) -> bytes:
    return next((app_env["data"] / "Sandal").glob("*.jpg")).read_bytes()


# ----------------------------------------------------------------------------- every page
@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_without_errors(page):
    at = open_app(page)
    assert not at.error, values(at.error)
    assert at.title, "every page has a title"
    assert "tiny.pt" in " ".join(values(at.sidebar.markdown))


def test_home_shows_photos_and_model(app_env):
    at = open_app()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Shoes"] == "13,533"
    assert metrics["Preset"] == "paper" and metrics["Epochs"] == "1" and metrics["Latent size"] == "100"
    assert at.expander and "Skipped files (0)" in at.expander[0].label
    assert at.selectbox(key="shoevae.home.file").value.name == "tiny.pt"


# ----------------------------------------------------------------------------- recommend
def test_clicking_a_shoe_shows_five_neighbours_with_distances():
    at = open_app("recommend")
    button = grid_buttons(at)[2]
    picked = button.key.removeprefix("shoevae.grid.")
    button.click().run()
    assert not at.exception and not at.error
    assert at.session_state[state.PICK] == picked
    found = neighbour_captions(at)
    assert len(found) == 5, found
    distances = [float(c.split("d=")[1]) for c in found]
    assert distances == sorted(distances) and distances[-1] > 0
    assert all(c.split()[1] in {"Boot", "Sandal", "Shoe"} for c in found)
    assert picked not in [b.key.split(".")[-1] for b in at.button if (b.key or "").startswith("shoevae.nb.")]


def test_unknown_item_id_is_a_clear_error_and_the_app_keeps_working():
    at = open_app("recommend")
    at.text_input(key="shoevae.browse.goto").input("no-such-shoe").run()
    assert not at.exception
    assert any("no shoe with item id 'no-such-shoe'" in e for e in values(at.error))
    grid_buttons(at)[0].click().run()
    assert not at.error and len(neighbour_captions(at)) == 5


def test_random_pick_and_category_filter():
    at = open_app("recommend")
    at.segmented_control(key="shoevae.browse.category").set_value("Sandal").run()
    assert all(c.startswith("Sandal") for c in captions(at) if " · " in c and not c.startswith("#"))
    at.button(key="shoevae.browse.random").click().run()
    assert at.session_state[state.PICK] and len(neighbour_captions(at)) == 5


def test_uploaded_photo_gives_five_catalogue_shoes(app_env):
    at = open_app("recommend")
    at.file_uploader(key="shoevae.recommend.photo").set_value(("mine.jpg", jpeg_bytes(app_env), "image/jpeg")).run()
    assert not at.exception and not at.error
    assert "your photo" in captions(at) and len(neighbour_captions(at)) == 5


@pytest.mark.parametrize("name,data", [("notes.jpg", b"this is not an image"), ("truncated.jpg", None)])
def test_bad_photo_upload_is_a_clear_error(app_env, name, data):
    data = data if data is not None else jpeg_bytes(app_env)[:300]
    at = open_app("recommend")
    at.file_uploader(key="shoevae.recommend.photo").set_value((name, data, "image/jpeg")).run()
    assert not at.exception
    assert any(e.startswith(f"Cannot use {name}") for e in values(at.error)), values(at.error)
    grid_buttons(at)[1].click().run()  # still works
    assert len(neighbour_captions(at)) == 5


# ----------------------------------------------------------------------------- checkpoints
def other_architecture(app_env) -> bytes:
    ckpt = torch.load(app_env["checkpoint"], weights_only=True)
    ckpt["model_config"]["latent_dim"] = 7  # the weights no longer fit the architecture
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    return buf.getvalue()


@pytest.mark.parametrize("kind", ["junk", "truncated", "other architecture"])
def test_bad_checkpoint_upload_keeps_the_model(app_env, kind):
    data = {"junk": lambda: b"definitely not a checkpoint",
            "truncated": lambda: app_env["checkpoint"].read_bytes()[:5000],
            "other architecture": lambda: other_architecture(app_env)}[kind]()
    at = open_app()
    before = at.session_state[state.CHECKPOINT]
    at.file_uploader(key="shoevae.home.upload").set_value(("bad.pt", data, "application/octet-stream")).run()
    assert not at.exception
    assert any(e.startswith("Kept the current model") for e in values(at.error)), values(at.error)
    assert at.session_state[state.CHECKPOINT] == before
    assert {m.label: m.value for m in at.metric}["Preset"] == "paper"
    at.switch_page("pages/recommend.py").run()
    assert not at.exception and grid_buttons(at)


def test_good_checkpoint_upload_becomes_this_sessions_model(app_env):
    at = open_app()
    at.file_uploader(key="shoevae.home.upload").set_value(
        ("mine.pt", app_env["checkpoint"].read_bytes(), "application/octet-stream")).run()
    assert not at.exception and not at.error
    assert at.session_state[state.CHECKPOINT]["label"] == "mine.pt (uploaded)"
    assert "mine.pt (uploaded)" in " ".join(values(at.sidebar.markdown))


def test_loading_a_broken_file_from_weights_keeps_the_model(app_env):
    broken = app_env["weights"] / "broken.pt"
    broken.write_bytes(b"\x80\x02 not really a pickle")
    try:
        at = open_app()
        at.selectbox(key="shoevae.home.file").set_value(broken).run()
        at.button(key="shoevae.home.load").click().run()
        assert not at.exception
        assert any("Kept the current model" in e for e in values(at.error))
        assert at.session_state[state.CHECKPOINT]["label"] == "tiny.pt"
    finally:
        broken.unlink()


def test_unreadable_default_checkpoint_says_so_and_pages_ask_for_one(app_env, tmp_path, monkeypatch):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"junk")
    monkeypatch.setenv("SHOEVAE_CHECKPOINT", str(junk))
    at = open_app()
    assert any("could not be loaded" in e for e in values(at.error))
    at.switch_page("pages/recommend.py").run()
    assert not at.exception
    assert any("Train or load a checkpoint first" in w for w in values(at.warning))
    assert "Train a model" in values(at.page_link)


def test_no_checkpoint_at_all(app_env, tmp_path, monkeypatch):
    monkeypatch.delenv("SHOEVAE_CHECKPOINT")
    monkeypatch.setenv("SHOEVAE_WEIGHTS", str(tmp_path))
    for page in ("generate", "latent_map", "evaluate", "reconstruct"):
        at = open_app(page)
        assert any("Train or load a checkpoint first" in w for w in values(at.warning)), page


# ----------------------------------------------------------------------------- data folder
def test_empty_data_folder_explains_how_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOEVAE_DATA", str(tmp_path))
    at = open_app()
    assert any("python -m shoevae data fetch" in w for w in values(at.warning))
    for page in ("recommend", "train"):
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception
        assert any("No shoe photos loaded" in w for w in values(at.warning)), page


def test_typing_an_empty_data_folder_keeps_the_photos(tmp_path):
    at = open_app()
    at.text_input(key="shoevae.home.data").input(str(tmp_path)).run()
    assert not at.exception
    assert any(e.startswith("Kept the current photos") for e in values(at.error))
    assert {m.label: m.value for m in at.metric}["Shoes"] == "13,533"


# ----------------------------------------------------------------------------- other pages
def test_reconstruct_shows_originals_and_reconstructions_with_errors():
    at = open_app("reconstruct")
    errors = [c for c in captions(at) if c.startswith("error ")]
    assert len(errors) == 6 and len(at.image) == 12
    at.slider(key="shoevae.recon.n").set_value(5).run()
    at.segmented_control(key="shoevae.recon.source").set_value("Picked shoe and its neighbours").run()
    assert not at.exception and len([c for c in captions(at) if c.startswith("error ")]) == 5


def test_generate_noise_sliders_and_blend():
    at = open_app("generate")
    assert len([c for c in captions(at) if c.startswith("sample ")]) == 12
    at.segmented_control(key="shoevae.gen.mode").set_value("Raw coordinates").run()
    sliders = [s for s in at.slider if (s.key or "").startswith("shoevae.gen.dim.")]
    assert len(sliders) == 8
    decoded = [i for i in at.image if any(c.startswith("decoded from") for c in i.captions)][0]
    before = decoded.value
    sliders[0].set_value(sliders[0].max).run()
    after = [i for i in at.image if any(c.startswith("decoded from") for c in i.captions)][0]
    assert not at.exception and after.value != before, "moving a slider changes the decoded shoe"
    assert after.captions[0].endswith("1 dimension moved")
    strip = [c for c in captions(at) if re.fullmatch(r"\d+/\d+", c)]
    assert len(strip) == 8
    at.text_input(key="shoevae.gen.b").input("nope").run()
    assert not at.exception and any("no shoe with item id 'nope'" in e for e in values(at.error))


def test_latent_map_shows_the_picked_shoe_and_its_neighbours():
    at = open_app("latent_map")
    assert at.get("vega_lite_chart") and not at.error
    at.switch_page("pages/recommend.py").run()
    grid_buttons(at)[3].click().run()
    at.switch_page("pages/latent_map.py").run()
    assert not at.exception and len(neighbour_captions(at)) == 5


def test_map_selection_event_gives_the_catalogue_row():
    assert charts.selected_row({"selection": {"points": [{"customdata": 42, "point_index": 3}]}}) == 42
    assert charts.selected_row({"selection": {"points": [{"customdata": [7], "point_index": 0}]}}) == 7
    assert charts.selected_row({"selection": {"points": []}}) is None
    assert charts.selected_row(None) is None


def test_evaluate_compares_with_baselines():
    at = open_app("evaluate")
    at.segmented_control(key="shoevae.eval.n").set_value(2000).run()
    at.button(key="shoevae.eval.run").click().run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert len(table) == 6 and "holdout_precision@5" in table.columns  # the VAE and 2 baselines, 2 metrics each
    assert {i.rsplit(", ", 1)[1] for i in table.index} == {"cosine", "euclidean"}
    assert table["loo_precision@5"].between(0, 1).all()


# ----------------------------------------------------------------------------- training
def wait_for_job(at: AppTest, timeout: float = 120):
    job = state.job_registry().get(at.session_state[state.JOB])
    assert job is not None
    assert job.join(timeout), "the training job did not finish in time"
    return job


def start_training(epochs: int, limit: int, name: str) -> AppTest:
    """The Train page with a job started from its form."""
    at = open_app("train")
    at.number_input(key="shoevae.train.epochs").set_value(epochs)
    at.number_input(key="shoevae.train.limit").set_value(limit)
    at.text_input(key="shoevae.train.name").input(name)
    at.button(key="shoevae.train.start").click().run()
    return at


def test_training_runs_in_the_background_and_the_result_can_be_used(app_env):
    at = start_training(epochs=1, limit=128, name="apptest-run")
    assert not at.exception and not at.error
    job = wait_for_job(at)
    at.run()
    snap = job.snapshot()
    assert snap.state == "done" and len(snap.history) == 1, snap.error
    assert snap.reconstructions is not None and snap.reconstructions.shape[0] == 8
    assert (app_env["weights"] / "apptest-run.pt").is_file()
    assert any("Saved to" in s for s in values(at.success))
    assert at.get("plotly_chart"), "the loss curves are shown"
    at.button(key="shoevae.train.use").click().run()
    assert at.session_state[state.CHECKPOINT]["label"] == "apptest-run.pt"
    # the same name again is refused: saved models are never overwritten
    at.text_input(key="shoevae.train.name").input("apptest-run").run()
    at.button(key="shoevae.train.start").click().run()
    assert any("already exists" in e for e in values(at.error))


def test_stop_ends_a_running_job(app_env):
    at = start_training(epochs=50, limit=5000, name="apptest-stopped")
    job = state.job_registry().get(at.session_state[state.JOB])
    assert job.snapshot().running
    at.button(key="shoevae.train.stop").click().run()
    t0 = time.time()
    wait_for_job(at, timeout=60)
    at.run()
    assert job.snapshot().state == "stopped" and time.time() - t0 < 60
    assert not (app_env["weights"] / "apptest-stopped.pt").exists()
    assert any("nothing was saved" in w for w in values(at.warning))


def test_registry_refuses_a_second_job_and_unsafe_names(app_env):
    assert safe_name(" my model/../x ") == "my-model-..-x"
    with pytest.raises(JobError):
        safe_name("../")
    with pytest.raises(JobError, match="already exists"):
        JobRegistry().start("tiny", None, None, None, app_env["checkpoint"])


# ----------------------------------------------------------------------------- sessions
def test_two_sessions_keep_separate_selections():
    first, second = open_app("recommend"), open_app("recommend")
    a, b = grid_buttons(first)[0], grid_buttons(second)[5]
    a.click().run()
    b.click().run()
    first.run()
    assert first.session_state[state.PICK] == a.key.removeprefix("shoevae.grid.")
    assert second.session_state[state.PICK] == b.key.removeprefix("shoevae.grid.")
    assert first.session_state[state.PICK] != second.session_state[state.PICK]
