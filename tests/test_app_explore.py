"""AppTests of the exploring controls: samplers, direction sliders, blends, How it works, the pixel
comparison on Recommend and the latent map's hover thumbnails; plus the pieces they are drawn from
(the network description, the generate command)."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from app_support import ROOT, captions, grid_buttons, open_app, torch_threads_restored
from PIL import Image
from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df
from streamlit.testing.v1 import AppTest

from shoevae.ui import charts

pytestmark = pytest.mark.usefixtures(torch_threads_restored.__name__)


@pytest.fixture(scope="module")
def style_model(app_env):
    """The shipped `style` checkpoint instead of app_env's tiny one: the tiny model's mean vectors all but
    coincide (spread ~0.001), so no direction, blend or z visibly changes its drawings."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SHOEVAE_CHECKPOINT", str(ROOT / "weights" / "style.pt"))
        yield


def image_with(at: AppTest, prefix: str):
    return next(i for i in at.image if any(c.startswith(prefix) for c in i.captions))


def pick_third_shoe(at: AppTest) -> str:
    at.switch_page("pages/recommend.py").run()
    button = grid_buttons(at)[2]
    button.click().run()
    return button.key.removeprefix("shoevae.grid.")


# ----------------------------------------------------------------------------- Generate
@pytest.mark.usefixtures("style_model")
def test_noise_tab_draws_from_the_mixture_and_the_prior_is_one_click_away():
    at = open_app("generate")
    assert at.segmented_control(key="shoevae.gen.sampler").value == "mixture"
    mixture = [i.value for i in at.image if any(c.startswith("sample ") for c in i.captions)]
    assert len(mixture) == 12
    at.segmented_control(key="shoevae.gen.sampler").set_value("normal").run()
    normal = [i.value for i in at.image if any(c.startswith("sample ") for c in i.captions)]
    assert not at.exception and len(normal) == 12 and normal != mixture
    assert any("second stage" in c.value for c in at.caption), "the caption says what the page shows"
    at.segmented_control(key="shoevae.gen.sampler").set_value("prior").run()
    prior = [i.value for i in at.image if any(c.startswith("sample ") for c in i.captions)]
    assert not at.exception and len(prior) == 12 and prior != normal
    assert any("straight into the decoder" in c.value for c in at.caption)
    at.segmented_control(key="shoevae.gen.sampler").set_value("normal").run()
    at.slider(key="shoevae.gen.temp").set_value(1.5).run()
    warm = [i.value for i in at.image if any(c.startswith("sample ") for c in i.captions)]
    assert warm != normal, "temperature changes the samples"
    at.number_input(key="shoevae.gen.seed").set_value(7).run()
    other_seed = [i.value for i in at.image if any(c.startswith("sample ") for c in i.captions)]
    at.number_input(key="shoevae.gen.seed").set_value(0).run()
    assert [i.value for i in at.image if any(c.startswith("sample ") for c in i.captions)] == warm != other_seed


@pytest.mark.usefixtures("style_model")
def test_direction_sliders_are_labelled_previewed_and_move_the_shoe():
    at = open_app()
    item = pick_third_shoe(at)
    at.switch_page("pages/generate.py").run()
    assert any(item in m.value and "picked shoe" in m.value for m in at.markdown), "the start shoe is named"
    sliders = [s for s in at.slider if (s.key or "").startswith("shoevae.gen.dir.")]
    assert len(sliders) == 8
    assert all(re.fullmatch(r"\d · .+ ← → .+", s.label) for s in sliders), [s.label for s in sliders]
    assert [int(s.label.split(" ")[0]) for s in sliders] == list(range(1, 9)), "largest spread first"
    assert len([c for c in captions(at) if c.startswith("preview: -2")]) == 8, "a strip under each slider"
    before = image_with(at, "decoded from").value
    sliders[0].set_value(2.0).run()
    after = image_with(at, "decoded from")
    assert not at.exception and after.value != before and after.captions[0].endswith("1 direction moved")


@pytest.mark.usefixtures("style_model")
def test_average_start_category_sliders_and_raw_coordinates():
    at = open_app("generate")
    at.segmented_control(key="shoevae.gen.start").set_value("Average shoe").run()
    assert image_with(at, "decoded from").captions[0].startswith("decoded from the catalogue's average shoe")
    at.segmented_control(key="shoevae.gen.mode").set_value("Categories").run()
    labels = [s.label for s in at.slider if (s.key or "").startswith("shoevae.gen.dir.")]
    assert labels == ["more boot", "more sandal", "more shoe"]
    before = image_with(at, "decoded from").value
    next(s for s in at.slider if s.label == "more sandal").set_value(2.0).run()
    assert image_with(at, "decoded from").value != before
    at.segmented_control(key="shoevae.gen.mode").set_value("Raw coordinates").run()
    raw = [s for s in at.slider if (s.key or "").startswith("shoevae.gen.dim.")]
    assert not at.exception and len(raw) == 8 and all(s.label.startswith("dimension ") for s in raw)


@pytest.mark.usefixtures("style_model")
def test_spherical_blend_differs_from_the_linear_one_in_the_middle():
    at = open_app("generate")
    strip = lambda: [i.value for i in at.image if any(re.fullmatch(r"\d+/\d+", c) for c in i.captions)]
    linear = strip()
    at.segmented_control(key="shoevae.gen.blend").set_value("spherical").run()
    spherical = strip()
    assert not at.exception and len(spherical) == len(linear) == 8
    assert spherical[0] == linear[0] and spherical[-1] == linear[-1], "both start and end at the two shoes"
    assert spherical[3] != linear[3]


# ----------------------------------------------------------------------------- How it works
@pytest.mark.usefixtures("style_model")
def test_how_it_works_draws_the_loaded_network_and_the_picked_shoe():
    at = open_app()
    item = pick_third_shoe(at)
    at.switch_page("pages/how_it_works.py").run()
    assert not at.exception and not at.error
    dot = at.get("graphviz_chart")[0].proto.spec
    assert "Conv 3→16" in dot and "Conv 128→256" in dot, "the style preset's channels, read from the model"
    assert "μ (mean)  100" in dot
    assert any(r"\beta" in latex.value for latex in at.latex)
    assert any("β = 1**" in m.value for m in at.markdown), "beta from the checkpoint"
    from shoevae import load_checkpoint
    n_params = sum(p.numel() for p in load_checkpoint(ROOT / "weights" / "style.pt")[0].parameters())
    assert at.dataframe[0].value["parameters"].sum() == n_params, "the layer table adds up to the model"
    assert any(f"**{n_params:,}** parameters" in m.value for m in at.markdown)
    assert any(item in c for c in captions(at)), "the picked shoe goes through the network"
    assert not any("feature maps" in c.value for c in at.caption), "style trained without the feature term"
    before = image_with(at, "4 · decoded from z").value
    at.button(key="shoevae.how.redraw").click().run()
    assert not at.exception and image_with(at, "4 · decoded from z").value != before, "another z, another drawing"


@pytest.mark.usefixtures("app_env")
def test_how_it_works_names_the_feature_terms_layers_and_weight_from_the_checkpoint(monkeypatch):
    monkeypatch.setenv("SHOEVAE_CHECKPOINT", str(ROOT / "weights" / "parts.pt"))
    at = open_app("how_it_works")
    assert not at.exception and not at.error
    note = [c.value for c in at.caption if "feature maps" in c.value]
    assert len(note) == 1 and "times 6" in note[0] and "blocks 0, 4, 10, 12 (shares 1:1:2:2)" in note[0], note
    assert "weighed by those shares" in note[0]
    assert not any("colour term" in m.value for m in at.latex), "parts was trained without one"


@pytest.mark.usefixtures("app_env")
def test_how_it_works_shows_the_colour_term_and_critic_of_the_shipped_default(monkeypatch):
    monkeypatch.setenv("SHOEVAE_CHECKPOINT", str(ROOT / "weights" / "colour.pt"))
    at = open_app("how_it_works")
    assert not at.exception and not at.error
    assert len(at.latex) == 1 and r"1 \cdot \underbrace{\text{Gaussian}\big(\bar x" in at.latex[0].value
    assert r"\lambda \cdot \underbrace{\big(-D(\hat x)\big)}_{\text{patch critic}}" in at.latex[0].value
    note = [c.value for c in at.caption if c.value.startswith("x̄:")]
    assert len(note) == 1 and "times 1," in note[0], note
    critic = [c.value for c in at.caption if c.value.startswith("D: a small critic")]
    assert len(critic) == 1 and "0.15 times the pull" in critic[0], critic
    decoder_only = [c.value for c in at.caption if "taught the decoder alone" in c.value]
    assert len(decoder_only) == 1 and "(`more-lo.pt`;" in decoder_only[0], decoder_only
    assert "the model card beside this file, `colour.md`, gives every run" in decoder_only[0], "the run is not shipped"
    at.run()  # the sidebar was drawn while the model loaded
    assert any("colour · 8 epochs of its decoder · 100 latent dims" in m.value for m in at.sidebar.markdown)


# ----------------------------------------------------------------------------- Recommend and Latent map
@pytest.mark.usefixtures("app_env")
def test_compare_toggle_shows_the_pixel_baselines_five_beside_the_vaes():
    at = open_app()
    pick_third_shoe(at)
    assert at.toggle(key="shoevae.recommend.compare").value is False
    n_before = len([c for c in captions(at) if re.match(r"#\d ", c)])
    at.toggle(key="shoevae.recommend.compare").set_value(True).run()
    titles = [m.value for m in at.markdown if "dims)" in m.value]
    assert not at.exception and len(titles) == 2
    assert titles[0].startswith("**VAE style vectors") and titles[1].startswith("**PCA of pixels")
    assert all(re.search(r"\d of 5 are (Boot|Sandal|Shoe)s", t) for t in titles)
    assert len([c for c in captions(at) if re.match(r"#\d ", c)]) == n_before + 10


def test_compare_toggle_waits_for_a_picked_shoe(app_env):
    at = open_app("recommend")
    assert at.toggle(key="shoevae.recommend.compare").disabled


@pytest.mark.usefixtures("app_env")
def test_latent_map_dots_carry_thumbnails_and_the_legend_sits_below():
    at = open_app("latent_map")
    proto = at.get("vega_lite_chart")[0].proto
    spec = json.loads(proto.spec)
    dots = spec["layer"][0]
    assert {"field": "image", "type": "nominal"} in dots["encoding"]["tooltip"], "hover shows the photo"
    assert dots["encoding"]["color"]["legend"]["orient"] == "bottom", "the legend is clear of the toolbar (top right)"
    assert any(p["name"] == "pick" for p in spec["params"]), "a click selects a shoe"
    assert proto.selection_mode == ["pick"]
    data = convert_arrow_bytes_to_pandas_df(proto.datasets[0].data.data)
    assert len(data) == 4000 and data["image"].str.startswith("data:image/jpeg;base64,").all()


def test_selection_events_of_both_chart_kinds_give_the_catalogue_row():
    assert charts.selected_row({"selection": {"pick": [{"row": 42}]}}) == 42
    assert charts.selected_row({"selection": {"pick": []}}) is None
    assert charts.selected_row({"selection": {"points": [{"customdata": 7}]}}) == 7


def test_thumbnails_are_small_jpeg_data_uris():
    images = np.zeros((2, 136, 136, 3), np.uint8)
    images[1] = 255
    uris = charts.thumbnail_uris(images, size=40)
    assert len(uris) == 2 and all(u.startswith("data:image/jpeg;base64,") for u in uris)
    assert uris[0] != uris[1] and len(uris[0]) < 3000


# ----------------------------------------------------------------------------- architecture and CLI (fast tier)
def test_architecture_is_read_from_the_model(shapes_checkpoint):
    from shoevae import load_checkpoint
    from shoevae.architecture import count_parameters, graph_dot, layers, trace
    model, _ = load_checkpoint(shapes_checkpoint)
    rows = layers(model)
    assert sum(r.params for r in rows) == count_parameters(model)
    assert rows[0].shape[0] == model.cfg.channels[0] and rows[-1].shape == (3, 64, 64)
    assert next(r for r in rows if r.name == "fc_mu").shape == (16,)
    assert [r.name for r in rows].index("reparameterize") < [r.name for r in rows].index("fc_dec")
    dot = graph_dot(model)
    assert dot.count("Transposed conv") == len(model.cfg.channels) and "μ (mean)  16" in dot
    t = trace(model, np.full((136, 136, 3), 180, np.uint8), seed=1)
    assert t.mu.shape == t.sigma.shape == t.z.shape == (16,) and np.all(t.sigma > 0)
    assert t.from_z.shape == (64, 64, 3) and t.kl >= 0
    np.testing.assert_array_equal(trace(model, np.full((136, 136, 3), 180, np.uint8), seed=1).z, t.z)


def run_cli(*args: str, env_cache: Path) -> subprocess.CompletedProcess:
    """`python -m shoevae ARGS` in this process (a subprocess re-imports torch: seconds per call)."""
    import contextlib
    import io
    import os

    from shoevae.cli import main
    out, err, before = io.StringIO(), io.StringIO(), os.environ.get("SHOEVAE_CACHE")
    os.environ["SHOEVAE_CACHE"] = str(env_cache)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as e:  # argparse's own errors
                code = e.code
    finally:
        if before is None:
            os.environ.pop("SHOEVAE_CACHE", None)
        else:
            os.environ["SHOEVAE_CACHE"] = before
    return subprocess.CompletedProcess(["python", "-m", "shoevae", *args], code, out.getvalue(), err.getvalue())


def test_generate_command_writes_a_grid_and_never_overwrites_without_force(shapes_checkpoint, shapes_dir, tmp_path):
    out = tmp_path / "grid.png"
    base = ["generate", "--checkpoint", str(shapes_checkpoint), "--data", str(shapes_dir), "--n", "6"]
    r = run_cli(*base, "--out", str(out), env_cache=tmp_path / "cache")
    assert r.returncode == 0, r.stderr
    grid = np.asarray(Image.open(out))
    assert grid.shape == (2 * 66 + 2, 3 * 66 + 2, 3), "6 shoes of 64 px in 3 columns, 2 px apart"
    first = out.read_bytes()
    r = run_cli(*base, "--out", str(out), "--seed", "1", env_cache=tmp_path / "cache")
    assert r.returncode == 2 and r.stderr.strip().startswith("shoevae: error:") and "--force" in r.stderr
    assert out.read_bytes() == first, "the existing file is untouched"
    r = run_cli(*base, "--out", str(out), "--seed", "1", "--force", env_cache=tmp_path / "cache")
    assert r.returncode == 0 and out.read_bytes() != first
    again = tmp_path / "again.png"
    assert run_cli(*base, "--out", str(again), "--seed", "1", env_cache=tmp_path / "cache").returncode == 0
    assert again.read_bytes() == out.read_bytes(), "same seed, same grid"
    prior = tmp_path / "prior.png"
    r = run_cli("generate", "--checkpoint", str(shapes_checkpoint), "--sampler", "prior", "--n", "4",
                "--temperature", "0.5", "--out", str(prior), env_cache=tmp_path / "cache")
    assert r.returncode == 0 and "prior (temperature 0.5" in r.stdout, "the prior needs no photos"
    normal = tmp_path / "normal.png"
    (tmp_path / "no-photos").mkdir()
    r = run_cli("generate", "--checkpoint", str(shapes_checkpoint), "--sampler", "normal", "--n", "4",
                "--data", str(tmp_path / "no-photos"), "--out", str(normal), env_cache=tmp_path / "cache")
    assert r.returncode == 2 and "no images found" in r.stderr, "fitted to the photos: without them, one line"
    assert len(r.stderr.strip().splitlines()) == 1 and not normal.exists()
    r = run_cli(*base[:-2], "--sampler", "normal", "--n", "4", "--out", str(normal), env_cache=tmp_path / "cache")
    assert r.returncode == 0 and "normal (temperature 1" in r.stdout and normal.is_file()
    assert not list(tmp_path.glob(".*.tmp"))


def test_generate_command_refuses_bad_input_in_one_line(shapes_checkpoint, tmp_path):
    for args, message in ((["--n", "0"], "--n: must be >= 1"), (["--out", str(tmp_path / "g.txt")], "cannot write"),
                          (["--temperature", "-1"], "--temperature: must be >= 0")):
        r = run_cli("generate", "--checkpoint", str(shapes_checkpoint), "--sampler", "prior",
                    *(["--out", str(tmp_path / "g.png")] if "--out" not in args else []), *args, env_cache=tmp_path)
        assert r.returncode == 2 and r.stderr.strip().startswith("shoevae: error:") and message in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1


def test_generate_checks_its_output_before_any_work(tmp_path):
    """A bad --out is the error even when nothing else could load: it is checked first (issue 8, item 7)."""
    missing = str(tmp_path / "no-such.pt")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for out, message in ((tmp_path / "g.txt", "cannot write images of type"), (blocker / "g.png", "cannot write --out")):
        r = run_cli("generate", "--checkpoint", missing, "--sampler", "prior", "--out", str(out), env_cache=tmp_path)
        assert r.returncode == 2 and message in r.stderr and "no-such.pt" not in r.stderr, r.stderr
