"""AppTest tests of every page of the Streamlit app: happy paths and the bad-input paths.

Most run on the synthetic shapes (`shapes_app_env`: 120 photos, a tiny 64-px model), so they are in
the fast tier; the few that need the real 13.5K-shoe sample use `app_env` and are marked `shared`
(tests/conftest.py). Resources cached with st.cache_resource are process-wide (keyed by folder and
checkpoint), so each catalogue is decoded and embedded once per test session.
"""
from __future__ import annotations

import contextlib
import io
import re
import threading
import time
import traceback
from unittest.mock import MagicMock

import pytest
import torch
from app_support import (
    captions,
    grid_buttons,
    jpeg_bytes,
    neighbour_captions,
    open_app,
    torch_threads_restored,
    values,
)
from streamlit.testing.v1 import AppTest
from synthetic import make_shoes

from shoevae import TrainConfig, preset
from shoevae.checkpoint import load_checkpoint
from shoevae.config import METRICS
from shoevae.evaluate import baselines, evaluate_model
from shoevae.jobs import JobError, JobRegistry, safe_name
from shoevae.recommend import Recommender
from shoevae.ui import charts, resources, session

PAGES = ["home", "train", "recommend", "reconstruct", "generate", "paint", "latent_map", "evaluate", "how_it_works"]
LONG = 200  # epochs (the form's maximum) for a job that must still be running when the test ends (it is stopped then)

pytestmark = pytest.mark.usefixtures(torch_threads_restored.__name__)


@pytest.fixture
def shapes(shapes_app_env, shapes_catalogue):
    """The app on the shapes; returns the catalogue it shows (the same photos, sorted the same way)."""
    return shapes_catalogue


@pytest.fixture
def no_jobs_left():
    """Every job a test starts is stopped and waited for, so the next test may start its own."""
    yield
    for job in resources.job_registry().running():
        job.stop()
        assert job.join(60), "a training job did not stop"


# ----------------------------------------------------------------------------- every page
@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_without_errors(shapes, page):
    at = open_app(page)
    assert not at.error, values(at.error)
    assert at.title, "every page has a title"
    assert "shapes.pt" in " ".join(values(at.sidebar.markdown))


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_the_real_photos(app_env, page):
    at = open_app(page)
    assert not at.error, values(at.error)
    assert "tiny.pt" in " ".join(values(at.sidebar.markdown))


def test_home_shows_photos_and_model(shapes):
    at = open_app()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Shoes"] == "120"
    assert metrics["Preset"] == "paper" and metrics["Epochs"] == "2" and metrics["Latent size"] == "16"
    assert at.expander and "Skipped files (0)" in at.expander[0].label
    assert at.selectbox(key="shoevae.home.file").value.name == "shapes.pt"


def test_home_counts_the_real_photos(app_env):
    at = open_app()
    assert {m.label: m.value for m in at.metric}["Shoes"] == "13,533"


# ----------------------------------------------------------------------------- recommend
def test_clicking_a_shoe_shows_five_neighbours_with_distances(shapes):
    at = open_app("recommend")
    button = grid_buttons(at)[2]
    picked = button.key.removeprefix("shoevae.grid.")
    button.click().run()
    assert not at.exception and not at.error
    assert at.session_state[session.PICK] == picked
    found = neighbour_captions(at)
    assert len(found) == 5, found
    distances = [float(c.split("d=")[1]) for c in found]
    assert distances == sorted(distances) and distances[-1] > 0
    assert all(c.split()[1] in {"Boot", "Sandal", "Shoe"} for c in found)
    assert picked not in [b.key.split(".")[-1] for b in at.button if (b.key or "").startswith("shoevae.nb.")]


def test_unknown_item_id_is_a_clear_error_and_the_app_keeps_working(shapes):
    at = open_app("recommend")
    at.text_input(key="shoevae.browse.goto").input("no-such-shoe").run()
    assert not at.exception
    assert any("no shoe with item id 'no-such-shoe'" in e for e in values(at.error))
    grid_buttons(at)[0].click().run()
    assert not at.error and len(neighbour_captions(at)) == 5


def test_an_item_id_typed_in_another_case_is_found(shapes):
    at = open_app("recommend")
    wanted = shapes.ids[50]
    assert wanted != wanted.upper()
    at.text_input(key="shoevae.browse.goto").input(wanted.upper()).run()
    assert not at.exception and not at.error, values(at.error)
    assert len(neighbour_captions(at)) == 5
    assert any(f"`{wanted.upper()}`" in m for m in values(at.markdown))
    at.switch_page("pages/reconstruct.py").run()
    at.segmented_control(key="shoevae.recon.source").set_value("Picked shoe and its neighbours").run()
    assert not at.exception and not at.info, values(at.info)  # the picked shoe itself: nothing to explain
    assert captions(at)[0] == f"{shapes.categories[50]} · {wanted}"  # shown under its catalogue id


def test_random_pick_and_category_filter(shapes):
    at = open_app("recommend")
    at.segmented_control(key="shoevae.browse.category").set_value("Sandal").run()
    shown = [c for c in captions(at) if " · " in c and not c.startswith("#")]
    assert shown and all(c.startswith("Sandal") for c in shown)
    at.button(key="shoevae.browse.random").click().run()
    assert at.session_state[session.PICK] in shapes.ids and len(neighbour_captions(at)) == 5
    assert shapes.categories[shapes.index_of(at.session_state[session.PICK])] == "Sandal"


def test_uploaded_photo_gives_five_catalogue_shoes(shapes, shapes_app_env):
    at = open_app("recommend")
    at.file_uploader(key="shoevae.recommend.photo").set_value(
        ("mine.jpg", jpeg_bytes(shapes_app_env), "image/jpeg")).run()
    assert not at.exception and not at.error
    assert "your photo" in captions(at) and len(neighbour_captions(at)) == 5


@pytest.mark.parametrize("name,data", [("notes.jpg", b"this is not an image"), ("truncated.jpg", None)])
def test_bad_photo_upload_is_a_clear_error(shapes, shapes_app_env, name, data):
    data = data if data is not None else jpeg_bytes(shapes_app_env)[:300]
    at = open_app("recommend")
    at.file_uploader(key="shoevae.recommend.photo").set_value((name, data, "image/jpeg")).run()
    assert not at.exception
    assert any(e.startswith(f"Cannot use {name}") for e in values(at.error)), values(at.error)
    grid_buttons(at)[1].click().run()  # still works
    assert len(neighbour_captions(at)) == 5


# ----------------------------------------------------------------------------- an unknown or missing pick
def test_an_unknown_picked_shoe_is_named_on_every_page(shapes):
    """Recommend says there is no such shoe; Reconstruct and Generate say so and name the shoe they show."""
    first = shapes.ids[0]
    at = open_app("recommend", **{session.PICK: "no-such-shoe"})
    assert any("no shoe with item id 'no-such-shoe'" in e for e in values(at.error)), values(at.error)
    assert not neighbour_captions(at)

    at.switch_page("pages/reconstruct.py").run()
    at.segmented_control(key="shoevae.recon.source").set_value("Picked shoe and its neighbours").run()
    assert not at.exception
    notes = values(at.info)
    assert any("no shoe with item id `no-such-shoe`" in n and f"showing `{first}`" in n for n in notes), notes
    assert captions(at)[0] == f"{shapes.categories[0]} · {first}"

    at.switch_page("pages/generate.py").run()
    assert not at.exception
    notes = values(at.info)
    assert any("no shoe with item id `no-such-shoe`" in n and f"showing `{first}`" in n for n in notes), notes
    assert any(c.startswith(f"decoded from {shapes.categories[0]} `{first}`,") for c in captions(at))


def test_a_fresh_session_says_no_shoe_is_picked_and_names_the_one_shown(shapes):
    first = shapes.ids[0]
    at = open_app("reconstruct")
    at.segmented_control(key="shoevae.recon.source").set_value("Picked shoe and its neighbours").run()
    notes = values(at.info)
    assert any(n.startswith("No shoe picked yet") and f"showing `{first}`" in n for n in notes), notes
    assert captions(at)[0] == f"{shapes.categories[0]} · {first}"
    at = open_app("generate")
    notes = values(at.info)
    assert any(n.startswith("No shoe picked yet") and f"showing `{first}`" in n for n in notes), notes
    assert any(c.startswith(f"decoded from {shapes.categories[0]} `{first}`,") for c in captions(at))
    # once a shoe is picked, the sliders start from it and there is nothing to explain
    at.session_state[session.PICK] = shapes.ids[70]
    at.run()
    assert not any("showing `" in n for n in values(at.info))
    assert any(c.startswith(f"decoded from {shapes.categories[70]} `{shapes.ids[70]}`,") for c in captions(at))


def test_latent_map_says_an_unknown_picked_shoe_is_not_there(shapes):
    at = open_app("latent_map", **{session.PICK: "no-such-shoe"})
    assert any("no shoe with item id 'no-such-shoe'" in e for e in values(at.error)), values(at.error)
    assert at.get("vega_lite_chart") and not neighbour_captions(at)


# ----------------------------------------------------------------------------- checkpoints
def other_architecture(env) -> bytes:
    ckpt = torch.load(env["checkpoint"], weights_only=True)
    ckpt["model_config"]["latent_dim"] = 7  # the weights no longer fit the architecture
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    return buf.getvalue()


@pytest.mark.parametrize("kind", ["junk", "truncated", "other architecture"])
def test_bad_checkpoint_upload_keeps_the_model(shapes, shapes_app_env, kind):
    env = shapes_app_env
    data = {"junk": lambda: b"definitely not a checkpoint",
            "truncated": lambda: env["checkpoint"].read_bytes()[:5000],
            "other architecture": lambda: other_architecture(env)}[kind]()
    at = open_app()
    before = at.session_state[session.CHECKPOINT]
    at.file_uploader(key="shoevae.home.upload").set_value(("bad.pt", data, "application/octet-stream")).run()
    assert not at.exception
    assert any(e.startswith("Kept the current model") for e in values(at.error)), values(at.error)
    assert at.session_state[session.CHECKPOINT] == before
    assert {m.label: m.value for m in at.metric}["Preset"] == "paper"
    at.switch_page("pages/recommend.py").run()
    assert not at.exception and grid_buttons(at)


def test_good_checkpoint_upload_becomes_this_sessions_model(shapes, shapes_app_env):
    at = open_app()
    at.file_uploader(key="shoevae.home.upload").set_value(
        ("mine.pt", shapes_app_env["checkpoint"].read_bytes(), "application/octet-stream")).run()
    assert not at.exception and not at.error
    assert at.session_state[session.CHECKPOINT]["label"] == "mine.pt (uploaded)"
    assert "mine.pt (uploaded)" in " ".join(values(at.sidebar.markdown))


def test_loading_a_broken_file_from_weights_keeps_the_model(shapes, shapes_app_env):
    broken = shapes_app_env["weights"] / "broken.pt"
    broken.write_bytes(b"\x80\x02 not really a pickle")
    try:
        at = open_app()
        at.selectbox(key="shoevae.home.file").set_value(broken).run()
        at.button(key="shoevae.home.load").click().run()
        assert not at.exception
        assert any("Kept the current model" in e for e in values(at.error))
        assert at.session_state[session.CHECKPOINT]["label"] == "shapes.pt"
    finally:
        broken.unlink()


def test_unreadable_default_checkpoint_says_so_and_pages_ask_for_one(shapes, tmp_path, monkeypatch):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"junk")
    monkeypatch.setenv("SHOEVAE_CHECKPOINT", str(junk))
    at = open_app()
    deadline = time.monotonic() + 30
    while not any("could not be loaded" in e for e in values(at.error)) and time.monotonic() < deadline:
        time.sleep(0.2)  # Home does not wait for the load: a page drawn before it failed shows a bar, and
        at.run()  # in a browser its fragment draws the page again when the load ends (background.show)
    assert any("could not be loaded" in e for e in values(at.error))
    at.switch_page("pages/recommend.py").run()
    assert not at.exception
    assert any("Train or load a checkpoint first" in w for w in values(at.warning))
    assert "Train a model" in values(at.page_link)


def test_no_checkpoint_at_all(shapes, tmp_path, monkeypatch):
    monkeypatch.delenv("SHOEVAE_CHECKPOINT")
    monkeypatch.setenv("SHOEVAE_WEIGHTS", str(tmp_path))
    for page in ("generate", "latent_map", "evaluate", "reconstruct"):
        at = open_app(page)
        assert any("Train or load a checkpoint first" in w for w in values(at.warning)), page


# ----------------------------------------------------------------------------- data folder
def test_empty_data_folder_explains_how_to_fetch(shapes, tmp_path, monkeypatch):
    monkeypatch.setenv("SHOEVAE_DATA", str(tmp_path))
    at = open_app()
    assert any("python -m shoevae data fetch" in w for w in values(at.warning))
    for page in ("recommend", "train"):
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception
        assert any("No shoe photos loaded" in w for w in values(at.warning)), page


def test_typing_an_empty_data_folder_keeps_the_photos(shapes, tmp_path):
    at = open_app()
    at.text_input(key="shoevae.home.data").input(str(tmp_path)).run()
    assert not at.exception
    assert any(e.startswith("Kept the current photos") for e in values(at.error))
    assert {m.label: m.value for m in at.metric}["Shoes"] == "120"


# ----------------------------------------------------------------------------- other pages
def test_reconstruct_shows_originals_and_reconstructions_with_errors(shapes):
    at = open_app("reconstruct")
    errors = [c for c in captions(at) if c.startswith("ΔE ")]
    assert len(errors) == 6 and len(at.image) == 18  # originals, reconstructions, difference pictures
    at.slider(key="shoevae.recon.n").set_value(5).run()
    at.segmented_control(key="shoevae.recon.source").set_value("Picked shoe and its neighbours").run()
    assert not at.exception and len([c for c in captions(at) if c.startswith("ΔE ")]) == 5


def test_generate_noise_sliders_and_blend(shapes):
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


def test_latent_map_of_a_small_catalogue_shows_every_shoe_without_a_broken_slider(shapes):
    at = open_app("latent_map")
    assert not at.exception and not at.error
    assert not [s for s in at.slider if s.key == "shoevae.map.shown"], "no slider whose minimum exceeds the shoes"
    assert f"All {len(shapes):,} shoes shown." in [c.value for c in at.caption]


def test_latent_map_shows_the_picked_shoe_and_its_neighbours(shapes):
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


# ----------------------------------------------------------------------------- evaluate
def test_evaluate_shows_the_models_and_the_baselines_numbers(shapes, shapes_app_env):
    at = open_app("evaluate")
    assert any("all 120 shoes loaded" in i for i in values(at.info)), values(at.info)
    at.button(key="shoevae.eval.run").click().run()
    assert not at.exception and not at.error, values(at.error)
    table = at.dataframe[0].value
    assert len(table) == 6 and "holdout_precision@5" in table.columns  # the VAE and 2 baselines, 2 metrics each
    assert {i.rsplit(", ", 1)[1] for i in table.index} == {"cosine", "euclidean"}
    # the very numbers shoevae.evaluate gives for these shoes, each in its own row
    model, _ = load_checkpoint(shapes_app_env["checkpoint"])
    emb = Recommender(model, shapes).embeddings
    expected = {f"VAE (paper, 16 dims), {m}": r
                for m, r in evaluate_model(model, shapes, embeddings=emb, metrics=METRICS).items()}
    expected.update(baselines(shapes, 16, metrics=METRICS))
    assert sorted(table.index) == sorted(expected)
    for row, scores in expected.items():
        for metric, value in scores.items():
            shown = table.loc[row, metric]  # text with 4 decimals; "–" where it cannot be computed (never "None")
            assert (shown == "–") if value != value else float(shown) == pytest.approx(value, rel=1e-5, abs=5e-5), (row, metric)
    assert any("On all 120 shoes loaded" in c for c in values(at.caption))


def test_evaluate_on_a_handful_of_photos_says_why_instead_of_a_traceback(shapes, tmp_path, monkeypatch):
    few = make_shoes(tmp_path / "few", per_category=2, seed=3)  # 6 photos: too few for PCA with 16 components
    monkeypatch.setenv("SHOEVAE_DATA", str(few))
    at = open_app("evaluate")
    assert any("all 6 shoes loaded" in i for i in values(at.info)), values(at.info)
    at.button(key="shoevae.eval.run").click().run()
    assert not at.exception and not at.error, (at.exception, values(at.error))
    table = at.dataframe[0].value  # what cannot be computed is marked in the table, and the caption says why
    assert "VAE (paper, 16 dims), cosine" in table.index and "PCA of pixels (6 dims), cosine" in table.index
    assert (table["holdout_precision@5"] == "–").all() and (table["holdout_bce"] == "–").all()  # no hold-out shoe
    assert table.loc["VAE (paper, 16 dims), cosine", "loo_precision@5"] != "–"  # what can be computed is
    why = "–: cannot be computed here (too few shoes, or no hold-out)."
    assert any(c.startswith("On all 6 shoes loaded.") and c.endswith(why) for c in values(at.caption)), values(at.caption)
    # the app still works on these photos
    at.switch_page("pages/recommend.py").run()
    assert not at.exception and len(grid_buttons(at)) == 6


def test_evaluate_compares_with_baselines_on_the_real_photos(app_env):
    at = open_app("evaluate")
    assert any("13,533 shoes loaded" in i for i in values(at.info)), values(at.info)
    at.segmented_control(key="shoevae.eval.n").set_value(2000).run()
    at.button(key="shoevae.eval.run").click().run()
    assert not at.exception and not at.error
    table = at.dataframe[0].value
    assert len(table) == 6 and {i.rsplit(", ", 1)[1] for i in table.index} == {"cosine", "euclidean"}
    vae = [i for i in table.index if i.startswith("VAE")]
    assert (table.drop(columns="holdout_bce") != "–").all().all() and (table.loc[vae, "holdout_bce"] != "–").all()
    assert (table.drop(index=vae)["holdout_bce"] == "–").all()  # the baselines have no reconstruction
    assert any("On 2,000 of the 13,533 shoes loaded" in c for c in values(at.caption))


# ----------------------------------------------------------------------------- training
def job_of(at: AppTest):
    job = resources.job_registry().get(at.session_state[session.JOB])
    assert job is not None
    return job


def wait_for_job(at: AppTest, timeout: float = 120):
    job = job_of(at)
    assert job.join(timeout), "the training job did not finish in time"
    return job


def start_training(epochs: int, limit: int, name: str, batch: int = 64) -> AppTest:
    """The Train page with a job started from its form (limit 0: all photos)."""
    at = open_app("train")
    at.number_input(key="shoevae.train.epochs").set_value(epochs)
    at.number_input(key="shoevae.train.limit").set_value(limit)
    at.number_input(key="shoevae.train.batch").set_value(batch)
    at.text_input(key="shoevae.train.name").input(name)
    at.button(key="shoevae.train.start").click().run()
    return at


def test_training_runs_in_the_background_and_the_result_can_be_used(shapes, shapes_app_env, no_jobs_left):
    at = start_training(epochs=1, limit=64, name="apptest-run.pt")  # a typed .pt is not doubled
    assert not at.exception and not at.error
    job = wait_for_job(at)
    at.run()
    snap = job.snapshot()
    assert snap.state == "done" and len(snap.history) == 1, snap.error
    assert snap.reconstructions is not None and snap.reconstructions.shape[0] == 8
    assert (shapes_app_env["weights"] / "apptest-run.pt").is_file()
    assert not (shapes_app_env["weights"] / "apptest-run.pt.pt").exists()
    assert any(s.startswith("Saved as `apptest-run.pt`") and "/" not in s for s in values(at.success)), \
        values(at.success)  # the file's name, not the server's path
    assert at.get("plotly_chart"), "the loss curves are shown"
    at.button(key="shoevae.train.use").click().run()
    assert at.session_state[session.CHECKPOINT]["label"] == "apptest-run.pt"
    # the same name again is refused: saved models are never overwritten
    at.text_input(key="shoevae.train.name").input("apptest-run").run()
    at.button(key="shoevae.train.start").click().run()
    assert any("already exists" in e for e in values(at.error))


def test_stop_ends_a_running_job(shapes, shapes_app_env, no_jobs_left):
    at = start_training(epochs=LONG, limit=0, name="apptest-stopped", batch=8)
    job = job_of(at)
    assert job.snapshot().running
    at.button(key="shoevae.train.stop").click().run()
    wait_for_job(at, timeout=60)
    at.run()
    snap = job.snapshot()
    assert snap.state == "stopped" and len(snap.history) < LONG
    saved = shapes_app_env["weights"] / "apptest-stopped.pt"
    if snap.history:  # an epoch may have finished before Stop arrived: that one is kept
        assert saved.is_file() and any("Saved as" in s for s in values(at.success))
        assert len(load_checkpoint(saved)[1]["history"]) == len(snap.history)
    else:
        assert not saved.exists() and any("nothing was saved" in w for w in values(at.warning))


def test_stop_before_the_first_epoch_saves_nothing(app_env, no_jobs_left):
    at = start_training(epochs=50, limit=5000, name="apptest-stopped")  # minutes per epoch: Stop comes first
    job = job_of(at)
    assert job.snapshot().running
    at.button(key="shoevae.train.stop").click().run()
    t0 = time.time()
    wait_for_job(at, timeout=60)
    at.run()
    assert job.snapshot().state == "stopped" and time.time() - t0 < 60
    assert not (app_env["weights"] / "apptest-stopped.pt").exists()
    assert any("nothing was saved" in w for w in values(at.warning))


def test_a_second_job_is_refused_while_one_runs(shapes, shapes_app_env, no_jobs_left):
    first = start_training(epochs=LONG, limit=0, name="apptest-first")
    job = job_of(first)
    assert job.snapshot().running
    second = start_training(epochs=1, limit=0, name="apptest-second")  # another browser session
    assert not second.exception
    assert any("another training job is running (apptest-first)" in e for e in values(second.error)), \
        values(second.error)
    assert session.JOB not in second.session_state
    assert [j.id for j in resources.job_registry().running()] == [job.id] and job.snapshot().running
    assert any("Someone else is training `apptest-first`" in i for i in values(second.info))
    job.stop()
    assert job.join(60)
    # once the first has ended, the second session may train
    second.button(key="shoevae.train.start").click().run()
    assert not second.error, values(second.error)
    assert job_of(second).join(120) and (shapes_app_env["weights"] / "apptest-second.pt").is_file()


def test_registry_refuses_a_second_job_and_unsafe_names(shapes, tmp_path):
    assert safe_name(" my model/../x ") == "my-model-..-x"
    assert safe_name("x.pt") == safe_name("x.PT ") == "x" and safe_name("v1.2") == "v1.2"
    for bad in ("../", ".pt", "  "):
        with pytest.raises(JobError):
            safe_name(bad)
    registry = JobRegistry(max_running=1)
    cfg = preset("paper", image_size=64, latent_dim=8)
    first = registry.start("a", cfg, TrainConfig(epochs=LONG, batch_size=8), shapes, tmp_path / "a.pt")
    try:
        assert first.snapshot().running
        with pytest.raises(JobError, match=r"another training job is running \(a\)"):
            registry.start("b", cfg, TrainConfig(epochs=1, batch_size=8), shapes, tmp_path / "b.pt")
        assert [j.id for j in registry.running()] == [first.id] and not (tmp_path / "b.pt").exists()
    finally:
        first.stop()
        assert first.join(60)
    (tmp_path / "taken.pt").write_bytes(b"someone's model")
    with pytest.raises(JobError, match="already exists"):
        registry.start("taken", cfg, TrainConfig(epochs=1), shapes, tmp_path / "taken.pt")
    assert (tmp_path / "taken.pt").read_bytes() == b"someone's model"
    second = registry.start("b", cfg, TrainConfig(epochs=1, batch_size=8), shapes, tmp_path / "b.pt")
    assert second.join(60) and second.snapshot().state == "done" and (tmp_path / "b.pt").is_file()


# ----------------------------------------------------------------------------- sessions
@contextlib.contextmanager
def apptests_in_threads():
    """Let AppTest sessions run at once, in threads, as a server's sessions do.

    Around every run AppTest sets, then resets, two process-wide things: the Streamlit runtime
    (Runtime._instance, reset to None) and config.get_option (patched, then restored). Two runs at once
    undo each other's (seen: a KeyError on a widget id; a leaked config patch). Inside this block both
    are set once, as in a real server, where one runtime serves every session. The app's own code
    (pages, cached resources, the job registry) runs unchanged.
    """
    import streamlit.testing.v1.app_test as harness
    from streamlit.runtime import Runtime
    from streamlit.testing.v1.util import patch_config_options

    runtime = MagicMock(spec=Runtime)  # what AppTest builds for each run, built once
    runtime.media_file_mgr = harness.MediaFileManager(harness.MemoryMediaFileStorage("/mock/media"))
    runtime.dataframe_source_mgr = harness.DataframeSourceManager()
    runtime.cache_storage_manager = harness.MemoryCacheStorageManager()
    runtime.bidi_component_registry = harness.BidiComponentManager()
    runtime.bidi_component_registry.discover_and_register_components(start_file_watching=False)
    with patch_config_options({"global.appTest": True}), pytest.MonkeyPatch.context() as mp:
        mp.setattr(harness, "patch_config_options", lambda overrides: contextlib.nullcontext())
        mp.setattr(harness, "Runtime", type("RuntimePerRun", (Runtime,), {}))  # its per-run set/reset goes here
        mp.setattr(Runtime, "_instance", runtime)
        yield


def test_two_sessions_at_once_while_one_trains(shapes, no_jobs_left):
    """Two browser sessions pick different shoes at the same time, in threads, while a third trains."""
    trainer = start_training(epochs=LONG, limit=0, name="apptest-busy")
    job = job_of(trainer)
    ready, both_picked = threading.Barrier(2, timeout=120), threading.Barrier(2, timeout=120)
    seen: dict[int, dict] = {}

    def browse(slot: int) -> None:
        try:
            at = open_app("recommend")
            button = grid_buttons(at)[slot]
            ready.wait()  # both sessions are open: now both click
            button.click().run()
            both_picked.wait()  # both have picked: each reruns and must still see its own pick
            at.run()
            mine = button.key.removeprefix("shoevae.grid.")
            at.switch_page("pages/reconstruct.py").run()
            at.segmented_control(key="shoevae.recon.source").set_value("Picked shoe and its neighbours").run()
            seen[slot] = {"mine": mine, "pick": at.session_state[session.PICK], "exception": at.exception,
                          "errors": values(at.error), "first": captions(at)[0], "training": job.snapshot().running}
        except Exception:  # reported below, in the test's thread
            seen[slot] = {"failed": traceback.format_exc()}
            ready.abort()
            both_picked.abort()

    threads = [threading.Thread(target=browse, args=(slot,)) for slot in (0, 5)]
    with apptests_in_threads():
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
    assert job.snapshot().running, "the job trained all along"
    assert sorted(seen) == [0, 5], seen
    for s in seen.values():
        assert "failed" not in s, s["failed"]
        assert not s["exception"] and not s["errors"], s
        assert s["pick"] == s["mine"], "a session sees its own pick, not the other's"
        assert s["first"].endswith(f" · {s['mine']}"), "and shows that shoe"
        assert s["training"]
    assert seen[0]["mine"] != seen[5]["mine"]
    job.stop()
    assert job.join(60)
