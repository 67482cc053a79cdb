"""Training lowers the loss, is repeatable, survives a kill, and checkpoints refuse foreign files."""
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from shoe_data import write_manifest
from shoevae.catalogue import load_catalogue
from shoevae.checkpoint import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from shoevae.config import TrainConfig, preset
from shoevae.training import train

ROOT = Path(__file__).resolve().parents[1]
SMALL = preset("paper", image_size=64, latent_dim=16)  # the paper's layers, at 64 px for speed


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    d = tmp_path_factory.mktemp("cat")
    return load_catalogue(write_manifest(d, per_category=100), 64, cache_dir=d / "cache")


def test_two_epochs_lower_the_loss_and_history_tracks_both_terms(catalogue, tmp_path):
    ckpt = train(SMALL, TrainConfig(epochs=2, batch_size=32), catalogue, out=tmp_path / "m.pt")
    h = ckpt["history"]
    assert [r["epoch"] for r in h] == [1, 2]
    assert h[1]["loss"] < h[0]["loss"] and h[1]["bce"] < h[0]["bce"]
    assert all(r["kl"] > 0 and "val_bce" in r for r in h)
    assert h[1]["loss"] == pytest.approx(h[1]["bce"] + h[1]["kl"], rel=1e-6)
    assert ckpt["data"]["n_train"] + ckpt["data"]["n_holdout"] == len(catalogue) and ckpt["data"]["n_holdout"] > 0
    model, on_disk = load_checkpoint(tmp_path / "m.pt")
    assert on_disk["history"] == h and not model.training
    assert next(model.parameters()).dtype == torch.float32


def test_training_is_seeded(catalogue):
    tc = TrainConfig(epochs=1, batch_size=32, limit=96)
    a, b = train(SMALL, tc, catalogue), train(SMALL, tc, catalogue)
    assert a["history"][0]["loss"] == b["history"][0]["loss"]
    c = train(SMALL, TrainConfig(epochs=1, batch_size=32, limit=96, seed=1), catalogue)
    assert c["history"][0]["loss"] != a["history"][0]["loss"]


def test_stop_event_and_callback(catalogue, tmp_path):
    stop, seen = threading.Event(), []

    def callback(p):
        seen.append((p.epoch, p.batch, p.model is not None))
        if p.model is not None:
            stop.set()  # ask to stop once the first epoch is done
    ckpt = train(SMALL, TrainConfig(epochs=5, batch_size=32), catalogue, out=tmp_path / "s.pt",
                 callback=callback, stop=stop)
    assert len(ckpt["history"]) == 1 and read_checkpoint(tmp_path / "s.pt")["epoch"] == 1
    assert seen[0] == (1, 1, False) and (1, seen[-2][1], True) in seen


def _cli_train(manifest, out, extra=()):
    cmd = [sys.executable, "-m", "shoevae", "train", "--data", str(manifest), "--epochs", "4",
           "--image-size", "64", "--latent-dim", "16", "--batch-size", "32", "--out", str(out), *extra]
    return subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "SHOEVAE_CACHE": str(out.parent / "cache")},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_kill_and_resume_gives_the_same_history(catalogue, tmp_path):
    manifest = write_manifest(tmp_path / "m", per_category=100)
    full = tmp_path / "full.pt"
    assert _cli_train(manifest, full).wait(300) == 0
    killed = tmp_path / "killed.pt"
    proc = _cli_train(manifest, killed)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:  # kill -9 once epoch 2 is on disk
        if killed.exists() and read_checkpoint(killed)["epoch"] >= 2:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait(60)
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    partial = read_checkpoint(killed)["epoch"]
    assert 2 <= partial < 4
    resumed = _cli_train(manifest, killed, ["--resume", str(killed)])
    assert resumed.wait(300) == 0, resumed.stderr.read()
    a, b = read_checkpoint(full), read_checkpoint(killed)
    assert len(b["history"]) == 4
    for ra, rb in zip(a["history"], b["history"]):
        assert {k: v for k, v in ra.items() if k != "seconds"} == {k: v for k, v in rb.items() if k != "seconds"}
    for k, v in a["model_state"].items():
        assert torch.equal(v, b["model_state"][k]), k


def test_resume_refuses_other_data_and_exported_checkpoints(catalogue, tmp_path):
    ckpt = train(SMALL, TrainConfig(epochs=1, batch_size=32, limit=64), catalogue, out=tmp_path / "a.pt")
    with pytest.raises(CheckpointError, match="other images"):
        train(SMALL, TrainConfig(epochs=2, limit=32), catalogue, resume=tmp_path / "a.pt")
    subprocess.run([sys.executable, "-m", "shoevae", "export", str(tmp_path / "a.pt"), str(tmp_path / "small.pt")],
                   cwd=ROOT, check=True, capture_output=True)
    assert (tmp_path / "small.pt").stat().st_size < 0.6 * (tmp_path / "a.pt").stat().st_size
    model, slim = load_checkpoint(tmp_path / "small.pt")
    assert slim["optimizer_state"] is None and slim["history"] == ckpt["history"]
    with pytest.raises(CheckpointError, match="without optimizer state"):
        train(SMALL, TrainConfig(epochs=2, batch_size=32, limit=64), catalogue, resume=tmp_path / "small.pt")


def test_foreign_truncated_and_mismatched_checkpoints_are_refused(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt")
    torch.save({"state_dict": {"w": torch.zeros(2)}}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not a shoevae checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    (tmp_path / "junk.pt").write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(tmp_path / "junk.pt")
    from shoevae.checkpoint import make_checkpoint
    from shoevae.model import VAE
    good = make_checkpoint(VAE(SMALL), TrainConfig(), optimizer=None, history=[], data={}, train_seconds=0)
    save_checkpoint(good, tmp_path / "good.pt")
    blob = (tmp_path / "good.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(tmp_path / "cut.pt")
    assert load_checkpoint(blob)[0].cfg == SMALL  # bytes (an upload) work too
    good["model_state"]["fc_mu.weight"] = torch.zeros(3, 3)
    save_checkpoint(good, tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match="does not match"):
        load_checkpoint(tmp_path / "mismatch.pt")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temp files left


def test_cosine_learning_rate_and_time_limit(catalogue):
    from shoevae.training import learning_rate
    tc = TrainConfig(lr=1e-3, cosine=True)
    lrs = [learning_rate(tc, p) for p in (0, 0.25, 0.5, 0.75, 1.0)]
    assert lrs[0] == pytest.approx(1e-3) and lrs[-1] == pytest.approx(1e-4)
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
    assert learning_rate(TrainConfig(lr=1e-3), 0.9) == 1e-3
    ckpt = train(SMALL, TrainConfig(epochs=5, batch_size=32, limit=64, time_limit=1e-6), catalogue)
    assert len(ckpt["history"]) == 1  # the first epoch always runs; the next would overrun
