"""Training lowers the loss, is repeatable, survives an interruption bit-exactly, and resumes by the rules.

Fast tier: everything runs on the synthetic shapes catalogue (tests/synthetic.py), nothing from ../shared.
"""
import math
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from shoevae import training
from shoevae.checkpoint import CheckpointError, load_checkpoint, read_checkpoint
from shoevae.config import TrainConfig
from shoevae.errors import ConfigError
from shoevae.evaluate import baselines, evaluate_model, why_not
from shoevae.presets import preset
from shoevae.split import Split
from shoevae.training import TrainingInterrupted, train

ROOT = Path(__file__).resolve().parents[1]
SMALL = preset("paper", image_size=64, latent_dim=16)  # the paper's layers, at 64 px for speed


def test_two_epochs_lower_the_loss_and_history_tracks_both_terms(shapes_catalogue, tmp_path):
    ckpt = train(SMALL, TrainConfig(epochs=2, batch_size=32), shapes_catalogue, out=tmp_path / "m.pt")
    h = ckpt["history"]
    assert [r["epoch"] for r in h] == [1, 2]
    assert h[1]["loss"] < h[0]["loss"] and h[1]["bce"] < h[0]["bce"]
    assert all(r["kl"] > 0 and "val_bce" in r for r in h)
    assert h[1]["loss"] == pytest.approx(h[1]["bce"] + h[1]["kl"], rel=1e-6)
    data = ckpt["data"]
    assert data["n_train"] + data["n_holdout"] == len(shapes_catalogue) and data["n_holdout"] > 0
    model, on_disk = load_checkpoint(tmp_path / "m.pt")
    assert on_disk["history"] == h and not model.training
    assert next(model.parameters()).dtype == torch.float32


def test_training_is_seeded(shapes_catalogue):
    tc = TrainConfig(epochs=1, batch_size=32, limit=64)
    a, b = train(SMALL, tc, shapes_catalogue), train(SMALL, tc, shapes_catalogue)
    assert a["history"][0]["loss"] == b["history"][0]["loss"]
    c = train(SMALL, TrainConfig(epochs=1, batch_size=32, limit=64, seed=1), shapes_catalogue)
    assert c["history"][0]["loss"] != a["history"][0]["loss"]


def test_stop_event_and_callback(shapes_catalogue, tmp_path):
    stop, seen = threading.Event(), []

    def callback(p):
        seen.append((p.epoch, p.batch, p.model is not None))
        if p.model is not None:
            stop.set()  # ask to stop once the first epoch is done
    ckpt = train(SMALL, TrainConfig(epochs=5, batch_size=32), shapes_catalogue, out=tmp_path / "s.pt",
                 callback=callback, stop=stop)
    assert len(ckpt["history"]) == 1 and read_checkpoint(tmp_path / "s.pt")["epoch"] == 1
    assert seen[0] == (1, 1, False) and (1, seen[-2][1], True) in seen


def _interrupt_at(epoch: int, batch: int):
    """A training callback that raises KeyboardInterrupt (what Ctrl-C or a kill does) at that batch."""
    def callback(p):
        if p.epoch == epoch and p.batch == batch and p.model is None:
            raise KeyboardInterrupt
    return callback


def test_interrupt_mid_epoch_and_resume_give_the_same_history_and_weights(shapes_catalogue, tmp_path):
    tc = TrainConfig(epochs=4, batch_size=32, cosine=True)
    full = train(SMALL, tc, shapes_catalogue, out=tmp_path / "full.pt")
    killed = tmp_path / "killed.pt"
    with pytest.raises(TrainingInterrupted) as info:  # stopped in the middle of epoch 3
        train(SMALL, tc, shapes_catalogue, out=killed, callback=_interrupt_at(3, 2))
    assert (info.value.epoch, info.value.path, info.value.saved_now) == (2, killed, True)
    assert info.value.message() == f"interrupted after epoch 2, saved to {killed}"
    assert read_checkpoint(killed)["epoch"] == 2
    resumed = train(SMALL, tc, shapes_catalogue, out=killed, resume=killed)
    a, b = full, read_checkpoint(killed)
    assert len(b["history"]) == len(resumed["history"]) == 4
    for ra, rb in zip(a["history"], b["history"]):
        assert {k: v for k, v in ra.items() if k != "seconds"} == {k: v for k, v in rb.items() if k != "seconds"}
    for k, v in a["model_state"].items():
        assert torch.equal(v, b["model_state"][k]), k


def test_interrupt_in_the_first_epoch_saves_nothing(shapes_catalogue, tmp_path):
    with pytest.raises(TrainingInterrupted) as info:
        train(SMALL, TrainConfig(epochs=2, batch_size=32), shapes_catalogue, out=tmp_path / "x.pt",
              callback=_interrupt_at(1, 1))
    assert info.value.path is None and "nothing saved" in info.value.message()
    assert not (tmp_path / "x.pt").exists()


def test_resume_applies_epochs_time_limit_and_learning_rate_and_stores_them(shapes_catalogue, tmp_path):
    out = tmp_path / "r.pt"
    train(SMALL, TrainConfig(epochs=1, batch_size=32, limit=64, time_limit=3600), shapes_catalogue, out=out)
    new = TrainConfig(epochs=2, batch_size=32, limit=64, lr=5e-4, cosine=True, time_limit=7200)
    ckpt = train(None, new, shapes_catalogue, out=out, resume=out)
    stored = read_checkpoint(out)["train_config"]
    assert len(ckpt["history"]) == 2
    assert (stored["epochs"], stored["lr"], stored["cosine"], stored["time_limit"]) == (2, 5e-4, True, 7200)


def test_resume_refuses_settings_that_cannot_change_and_names_them(shapes_catalogue, tmp_path):
    out = tmp_path / "r.pt"
    train(SMALL, TrainConfig(epochs=1, batch_size=32, limit=64), shapes_catalogue, out=out)
    with pytest.raises(ConfigError, match=r"beta 4.0 \(the checkpoint has 1.0\)") as info:
        train(SMALL, TrainConfig(epochs=2, batch_size=16, limit=64, beta=4.0), shapes_catalogue, resume=out)
    assert "batch_size 16 (the checkpoint has 32)" in str(info.value)
    with pytest.raises(ConfigError, match="latent_dim"):
        train(preset("paper", image_size=64, latent_dim=8), TrainConfig(epochs=2, batch_size=32, limit=64),
              shapes_catalogue, resume=out)
    with pytest.raises(ConfigError, match="already has 1 epochs; epochs is the new total"):  # as the CLI says it
        train(SMALL, TrainConfig(epochs=1, batch_size=32, limit=64), shapes_catalogue, resume=out)
    assert read_checkpoint(out)["epoch"] == 1  # nothing was touched


def test_resume_refuses_other_data_and_exported_checkpoints(shapes_catalogue, tmp_path):
    tc = TrainConfig(epochs=1, batch_size=32, limit=64)
    ckpt = train(SMALL, tc, shapes_catalogue, out=tmp_path / "a.pt")
    fewer = shapes_catalogue.subset(range(0, len(shapes_catalogue), 2))
    with pytest.raises(CheckpointError, match="other images"):
        train(SMALL, TrainConfig(epochs=2, batch_size=32, limit=64), fewer, resume=tmp_path / "a.pt")
    subprocess.run([sys.executable, "-m", "shoevae", "export", str(tmp_path / "a.pt"), str(tmp_path / "small.pt")],
                   cwd=ROOT, check=True, capture_output=True)
    assert (tmp_path / "small.pt").stat().st_size < 0.6 * (tmp_path / "a.pt").stat().st_size
    model, slim = load_checkpoint(tmp_path / "small.pt")
    assert slim["optimizer_state"] is None and slim["history"] == ckpt["history"]
    with pytest.raises(CheckpointError, match="without optimizer state"):
        train(SMALL, TrainConfig(epochs=2, batch_size=32, limit=64), shapes_catalogue, resume=tmp_path / "small.pt")


def test_cosine_learning_rate_and_time_limit(shapes_catalogue):
    from shoevae.training import learning_rate
    tc = TrainConfig(lr=1e-3, cosine=True)
    lrs = [learning_rate(tc, p) for p in (0, 0.25, 0.5, 0.75, 1.0)]
    assert lrs[0] == pytest.approx(1e-3) and lrs[-1] == pytest.approx(1e-4)
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
    assert learning_rate(TrainConfig(lr=1e-3), 0.9) == 1e-3
    ckpt = train(SMALL, TrainConfig(epochs=5, batch_size=32, limit=64, time_limit=1e-6), shapes_catalogue)
    assert len(ckpt["history"]) == 1  # the first epoch always runs; the next would overrun


@pytest.mark.parametrize("bad, field", [({"epochs": 0}, "epochs"), ({"batch_size": 0}, "batch_size"),
                                        ({"beta": -1.0}, "beta"), ({"limit": -5}, "limit"), ({"lr": 0.0}, "lr"),
                                        ({"holdout": 1.0}, "holdout"), ({"time_limit": 0.0}, "time_limit"),
                                        ({"seed": -1}, "seed")])
def test_train_config_refuses_values_out_of_range(bad, field):
    with pytest.raises(ConfigError, match=f"^{field} must be"):
        TrainConfig(**bad)


def test_model_config_refuses_latent_dim_zero_and_images_too_small_for_its_layers():
    with pytest.raises(ConfigError, match="latent_dim must be"):
        preset("paper", latent_dim=0)
    with pytest.raises(ConfigError, match="image_size 32 is too small for this network"):
        preset("paper", image_size=32)


def test_per_epoch_holdout_bce_scores_a_random_sample_of_every_category(shapes_catalogue, monkeypatch):
    # the catalogue is sorted by category (Boot, Sandal, Shoe); the first rows of its hold-out are all boots
    scored = []
    real = training.mean_bce

    def spy(model, images, **kw):
        scored.append(np.asarray(images))
        return real(model, images, **kw)
    monkeypatch.setattr(training, "mean_bce", spy)
    monkeypatch.setattr(training, "VAL_IMAGES", 12)
    train(SMALL, TrainConfig(epochs=1, batch_size=32, holdout=0.5), shapes_catalogue)
    images = shapes_catalogue.images
    rows = [int(np.flatnonzero((images == im).all(axis=(1, 2, 3)))[0]) for im in scored[0]]
    held = Split(0.5).rows(shapes_catalogue.ids)[1]
    assert len(rows) == 12 and set(rows) <= set(held.tolist())
    assert {shapes_catalogue.categories[r] for r in rows} == {"Boot", "Sandal", "Shoe"}


def test_the_checkpoint_stores_its_split_and_evaluation_uses_it(shapes_catalogue, tmp_path, monkeypatch):
    ckpt = train(SMALL, TrainConfig(epochs=1, batch_size=32, holdout=0.3), shapes_catalogue, out=tmp_path / "h.pt")
    assert ckpt["data"]["split"] == {"holdout": 0.3, "seed": 0}
    split = Split.of(read_checkpoint(tmp_path / "h.pt"))
    _, held = split.rows(shapes_catalogue.ids)
    assert len(held) == ckpt["data"]["n_holdout"]
    seen = []
    import shoevae.evaluate as ev
    real = ev.mean_bce
    monkeypatch.setattr(ev, "mean_bce", lambda model, images, **kw: seen.append(len(images)) or real(model, images))
    model, _ = load_checkpoint(tmp_path / "h.pt")
    result = evaluate_model(model, shapes_catalogue, split=split)["cosine"]
    assert seen == [len(held)]  # the BCE is scored on the model's own hold-out, not a fixed 10 %
    assert 0 <= result["holdout_precision@5"] <= 1
    # old checkpoints without a stored split: their train config's holdout, seed 0
    assert Split.of({"train_config": {"holdout": 0.05}, "data": {}}) == Split(0.05, 0)


def test_with_no_holdout_the_holdout_metrics_say_they_cannot_be_computed(shapes_catalogue, tmp_path):
    ckpt = train(SMALL, TrainConfig(epochs=1, batch_size=32, holdout=0.0), shapes_catalogue, out=tmp_path / "z.pt")
    split = Split.of(ckpt)
    assert split.holdout == 0 and ckpt["data"]["n_holdout"] == 0
    model, _ = load_checkpoint(tmp_path / "z.pt")
    r = evaluate_model(model, shapes_catalogue, split=split)["cosine"]
    assert math.isnan(r["holdout_precision@5"]) and math.isnan(r["holdout_bce"])
    assert 0 <= r["loo_precision@5"] <= 1
    assert "no hold-out" in why_not(shapes_catalogue, split)["holdout_precision@5"]
    for row in baselines(shapes_catalogue, 16, split=split).values():
        assert math.isnan(row["holdout_precision@5"]) and not math.isnan(row["loo_precision@5"])


def test_baselines_work_from_a_handful_of_photos(shapes_catalogue):
    few = shapes_catalogue.subset([0, 1, 40, 41, 80, 81])  # two of each category
    out = baselines(few, latent_dim=100, k=5)
    pca = next(name for name in out if name.startswith("PCA"))
    assert "PCA of pixels (" in pca and int(pca.split("(")[1].split()[0]) <= 6  # capped by the photos
    for row in out.values():
        assert 0 <= row["loo_precision@5"] <= 1 and 0 < row["coverage@5"] <= 1
