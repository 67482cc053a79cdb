"""Watch it learn: the job's preview is redrawn mid-epoch from the live model without changing training,
per-batch losses reach the chart, and the Train page starts from the quick preset's defaults.

Fast tier: synthetic shapes only (no ../shared).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from shoevae import jobs
from shoevae.config import TrainConfig
from shoevae.jobs import JobError, JobRegistry
from shoevae.presets import PRESETS, RECIPES, preset, train_configs
from shoevae.tasks import Task, TaskRegistry, TaskStatus, TooManyRunning
from shoevae.ui import background, charts, resources, session

ROOT = Path(__file__).resolve().parents[1]


def run_job(catalogue, tmp_path: Path, name: str, every: float, monkeypatch) -> jobs.TrainingStatus:
    """One epoch of the quick preset on the shapes with previews every `every` seconds."""
    monkeypatch.setattr(jobs, "PREVIEW_SECONDS", every)
    job = JobRegistry().start(name, preset("quick"), TrainConfig(epochs=1, batch_size=16, lr=3e-3), catalogue,
                              tmp_path / f"{name}.pt")
    assert job.join(60)
    return job.snapshot()


def test_preview_is_redrawn_mid_epoch_and_leaves_training_unchanged(shapes_catalogue, tmp_path, monkeypatch):
    often = run_job(shapes_catalogue, tmp_path, "often", 0.0, monkeypatch)
    rarely = run_job(shapes_catalogue, tmp_path, "rarely", 1e9, monkeypatch)
    assert often.state == rarely.state == "done", (often.error, rarely.error)
    batches = often.batches
    assert batches > 2
    # one loss row per batch, numbered 1..batches, finite
    assert [r["step"] for r in often.steps] == list(range(1, batches + 1))
    assert all(np.isfinite([r["loss"], r["bce"], r["kl"]]).all() for r in often.steps)
    # previews: the last one is from the epoch's end; the images have the model's size and the sample count
    assert often.preview_step == batches and often.reconstructions.shape == (8, 64, 64, 3)
    assert often.samples.shape == (jobs.PREVIEW_SAMPLES, 64, 64, 3) and often.samples.dtype == np.uint8
    # drawing previews (eval mode, no grad) after every batch changes nothing in training: same losses,
    # same hold-out BCE (train-mode batch norm would have moved its running statistics)
    assert [r["loss"] for r in often.steps] == [r["loss"] for r in rarely.steps]
    assert often.history[0]["val_bce"] == rarely.history[0]["val_bce"]


def test_preview_follows_the_clock(shapes_catalogue, tmp_path, monkeypatch):
    monkeypatch.setattr(jobs, "PREVIEW_SECONDS", 0.0)
    seen: list[tuple[int, int, bool]] = []
    job = jobs.TrainingJob("t1", "clock", preset("quick"), TrainConfig(epochs=1, batch_size=16), shapes_catalogue,
                           tmp_path / "clock.pt")
    original = job._on_progress

    def spy(p):
        original(p)
        seen.append((p.batch, job.snapshot().preview_step, p.live.training if p.live is not None else None))
    job._on_progress = spy  # set before the thread starts: train() gets the spy as its callback
    job.start()
    assert job.join(60) and job.snapshot().state == "done"
    mid = [(b, step, training) for b, step, training in seen if training is not None]
    assert mid and all(step == b for b, step, _ in mid), "every batch redraws the preview with PREVIEW_SECONDS=0"
    assert all(training for _, _, training in mid), "the live model is handed back in train mode"

    monkeypatch.setattr(jobs, "PREVIEW_SECONDS", 1e9)
    seen.clear()
    job = jobs.TrainingJob("t2", "clock2", preset("quick"), TrainConfig(epochs=1, batch_size=16), shapes_catalogue,
                           tmp_path / "clock2.pt")
    original2 = job._on_progress

    def spy2(p):
        original2(p)
        seen.append((p.batch, job.snapshot().preview_step, p.model is not None))
    job._on_progress = spy2
    job.start()
    assert job.join(60)
    steps = [step for _, step, _ in seen]
    assert steps[0] == 1 and set(steps[:-1]) == {1}, "with a long interval only the first batch draws mid-epoch"
    assert steps[-1] == job.snapshot().batches, "and the epoch's end always does"



def test_a_training_job_is_a_task_of_the_shared_registry(shapes_catalogue, tmp_path):
    """Training goes through shoevae.tasks: the job is listed, capped, read and stopped as one of the registry's tasks."""
    tasks = TaskRegistry()
    job = JobRegistry(tasks, max_running=1).start("shared", preset("quick"), TrainConfig(epochs=500, batch_size=8),
                                                  shapes_catalogue, tmp_path / "shared.pt")
    try:
        assert isinstance(job, Task) and tasks.get(("training", job.id)) is job and tasks.running() == [job]
        with pytest.raises(TooManyRunning):  # the registry's own cap, however a training task is started
            tasks.launch(("training", "other"), lambda: Task(("training", "other"), "other", lambda progress: None), cap=1)
        for _ in range(600):
            if job.status().done >= 2:
                break
            job.wait(0.1)
        status = job.status()  # what a progress bar reads: the generic fields count batches
        assert isinstance(status, TaskStatus) and status.running and status.label == status.name == "shared"
        assert status.done >= 2 and status.total == status.epochs * status.batches and 0 < status.fraction < 1
    finally:
        job.stop()
    status = job.wait(60)
    assert status.state == "stopped" and not status.error and status.finished and not tasks.running()


def test_the_apps_training_jobs_are_tasks_of_the_apps_task_registry():
    assert resources.job_registry().tasks is background.registry()

def test_running_mean_and_thinning():
    np.testing.assert_allclose(charts.running_mean([2, 4, 6, 8], window=2), [2, 3, 5, 7])
    steps = [{"step": i + 1, "bce": float(i), "kl": 1.0} for i in range(5000)]
    x, thin = charts.running_losses(steps, max_points=100)
    assert len(thin) == 100 and thin[0] == 0 and thin[-1] == 4999 and x[thin[-1]] == 5000


def test_loss_figure_counts_batches():
    steps = [{"step": i + 1, "bce": 100.0 - i, "kl": 1.0 + i} for i in range(30)]
    history = [{"epoch": 1, "bce": 90.0, "kl": 5.0, "val_bce": 80.0}]
    fig = charts.loss_figure(history, steps=steps, batches_per_epoch=30)
    names = [t.name for t in fig.data]
    assert "train BCE (running mean)" in names and "train KL (running mean)" in names
    val = next(t for t in fig.data if t.name == "hold-out BCE (epoch end)")
    assert list(val.x) == [30] and list(val.y) == [80.0]
    # without per-batch rows (a finished history only), one point per epoch as before
    assert list(charts.loss_figure(history).data[0].x) == [1]


@pytest.fixture()
def shapes_app(shapes_dir, shapes_checkpoint, tmp_path, monkeypatch):
    """The app on the synthetic shapes with the tiny checkpoint; threads restored afterwards."""
    threads = torch.get_num_threads()
    for k, v in {"SHOEVAE_DATA": shapes_dir, "SHOEVAE_CHECKPOINT": shapes_checkpoint,
                 "SHOEVAE_CACHE": tmp_path / "cache", "SHOEVAE_WEIGHTS": tmp_path / "weights"}.items():
        monkeypatch.setenv(k, str(v))
    yield tmp_path
    torch.set_num_threads(threads)


def test_train_page_starts_from_the_quick_preset_and_follows_the_preset(shapes_app):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.switch_page("pages/train.py").run()
    assert not at.exception, at.exception
    quick_model, quick = train_configs({"preset": "quick"})
    assert at.selectbox(key="shoevae.train.preset").value == "quick"
    assert (quick.lr, quick.batch_size, quick.epochs) == (3e-3, 32, 3)  # the quick recipe: shoes within a minute
    assert at.number_input(key="shoevae.train.lr").value == pytest.approx(quick.lr)
    assert at.number_input(key="shoevae.train.batch").value == quick.batch_size
    assert at.number_input(key="shoevae.train.latent").value == quick_model.latent_dim == PRESETS["quick"].latent_dim
    assert not any("full run" in c.value for c in at.caption)
    at.selectbox(key="shoevae.train.preset").select("paper").run()
    paper_model, paper = train_configs({"preset": "paper"})
    assert at.number_input(key="shoevae.train.lr").value == pytest.approx(paper.lr) != quick.lr
    assert at.number_input(key="shoevae.train.latent").value == paper_model.latent_dim
    assert at.number_input(key="shoevae.train.limit").value == 0 and paper.limit is None  # 0 = all photos
    assert not at.toggle(key="shoevae.train.feature_term").value
    at.selectbox(key="shoevae.train.preset").select("sharp").run()  # its recipe switches the feature term on
    assert at.toggle(key="shoevae.train.feature_term").value and at.toggle(key="shoevae.train.cosine").value
    assert not at.toggle(key="shoevae.train.augment").value
    assert at.number_input(key="shoevae.train.epochs").value == RECIPES["sharp"]["epochs"]
    # a full run says what it costs: epochs x the photos trained on (the shapes: 120, 108 after the hold-out)
    assert any("15 epochs × about 108 photos with the feature term" in c.value and "full run" in c.value
               for c in at.caption), [c.value for c in at.caption]

    at.selectbox(key="shoevae.train.preset").select("quick").run()
    assert not at.toggle(key="shoevae.train.feature_term").value
    at.number_input(key="shoevae.train.epochs").set_value(1)
    at.text_input(key="shoevae.train.name").input("live-test")
    at.button(key="shoevae.train.start").click().run()
    assert not at.exception and not at.error, (at.exception, at.error)
    job = resources.job_registry().get(at.session_state[session.JOB])
    assert job.join(60)
    at.run()
    s = job.snapshot()
    assert s.state == "done" and s.config["preset"] == "quick" and s.config["lr"] == pytest.approx(quick.lr)
    assert any("Samples" in m.value for m in at.markdown), "the samples are shown"
    assert at.get("plotly_chart"), "the loss curves are shown"
    assert (shapes_app / "weights" / "live-test.pt").is_file()


# what a user sets on the Train page, and the same on the command line
USER_SET = [({}, []),
            ({"epochs": 2, "lr": 0.002, "latent": 16, "feature_term": False},
             ["--epochs", "2", "--lr", "0.002", "--latent-dim", "16", "--perceptual", "0"])]


def test_the_train_page_and_the_command_line_train_every_preset_the_same_way(shapes_app, monkeypatch):
    """Start on the Train page hands the job the same configs as `train --preset X` with the same settings:
    the form's defaults and the flags' (none given), and a few values the user sets in both."""
    from shoevae import cli, commands
    from shoevae.ui import training
    started = []

    class Registry:  # records what Start would train, starts nothing
        def start(self, name, model_cfg, tc, cat, out):
            started.append((model_cfg, tc))
            raise JobError("recorded")
    monkeypatch.setattr(training, "job_registry", Registry)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    at.switch_page("pages/train.py").run()
    for name in PRESETS:  # each pick differs from the one before: the form refills with the preset's values
        for form, flags in USER_SET:
            at.selectbox(key="shoevae.train.preset").select(name).run()
            for key, value in form.items():
                widget = at.toggle(key=f"shoevae.train.{key}") if isinstance(value, bool) else \
                    at.number_input(key=f"shoevae.train.{key}")
                widget.set_value(value)
            at.button(key="shoevae.train.start").click().run()
            assert not at.exception, at.exception
            cli_model, cli_tc, _ = commands.train_configs(cli.build_parser().parse_args(["train", "--preset", name, *flags]))
            assert started[-1] == (cli_model, cli_tc), (name, flags)
    assert len(started) == len(PRESETS) * len(USER_SET)
    assert {tc.epochs for _, tc in started[::2]} == {3, 10, 15, 21}  # the recipes' own epochs, not one made-up value
    assert all(tc.perceptual == 0 and model.latent_dim == 16 for model, tc in started[1::2])


def test_the_train_page_trains_a_preset_with_its_recipes_feature_layers():
    """The form has no field for the feature layers: a preset's recipe sets them, as on the command line."""
    from shoevae.ui.training import form_configs, form_defaults

    def configs(name: str, **changed):
        return form_configs({**form_defaults(name), "preset": name, "feature_term": True, **changed})[1]
    sharp, style = configs("sharp"), configs("style")
    assert sharp.feature_layers == RECIPES["sharp"]["feature_layers"] != TrainConfig.feature_layers
    assert style.feature_layers == TrainConfig.feature_layers and style.perceptual == 1.0  # the toggle, weight 1
    parts = configs("parts")
    assert parts.perceptual == RECIPES["parts"]["perceptual"] and parts.feature_layers == RECIPES["parts"]["feature_layers"]
    assert parts.feature_weights == RECIPES["parts"]["feature_weights"] and sharp.feature_weights is None
    assert configs("parts", feature_term=False).perceptual == 0
    assert configs("colour").colour == RECIPES["colour"]["colour"] > 0 == configs("parts").colour  # the recipe's, no field
