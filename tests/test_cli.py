"""The command line end to end (in process, on the synthetic shapes): outputs, resume, bad input, Ctrl-C.

Every user mistake is one line `shoevae: error: ...` with exit status 2; a real bug keeps its traceback.
"""
import json
import math
import re

import numpy as np
import pytest
import torch
from cli_support import in_tmp, main, one_error_line  # noqa: F401 (in_tmp: autouse, each test in its own folder)
from synthetic import make_shoes

from shoevae import catalogue as catmod
from shoevae import commands, embedding, training
from shoevae.checkpoint import read_checkpoint, save_checkpoint
from shoevae.errors import ShoevaeError

TINY = ["--image-size", "64", "--latent-dim", "16", "--batch-size", "32"]


# ----------------------------------------------------------------------------- train: where it writes
def test_train_writes_under_runs_never_weights_and_never_overwrites_without_force(shapes_dir, tmp_path, capsys):
    assert main(["train", "--data", str(shapes_dir), "--epochs", "1", *TINY]) == 0
    assert read_checkpoint(tmp_path / "runs" / "paper.pt")["epoch"] == 1 and not (tmp_path / "weights").exists()
    before = (tmp_path / "runs" / "paper.pt").read_bytes()
    assert main(["train", "--data", str(shapes_dir), "--epochs", "1", *TINY]) == 2
    one_error_line("runs/paper.pt already exists", "--force")
    assert (tmp_path / "runs" / "paper.pt").read_bytes() == before
    assert main(["train", "--data", str(shapes_dir), "--epochs", "1", "--seed", "1", "--force", *TINY]) == 0
    assert (tmp_path / "runs" / "paper.pt").read_bytes() != before


def test_resume_writes_to_the_resumed_file_and_applies_the_new_schedule(shapes_dir, tmp_path, capsys):
    mine = tmp_path / "runs" / "mine.pt"
    assert main(["train", "--data", str(shapes_dir), "--epochs", "1", "--minutes", "60", "--out", str(mine), *TINY]) == 0
    other = tmp_path / "other.pt"
    other.write_bytes(b"the user's file")
    assert main(["train", "--data", str(shapes_dir), "--resume", str(mine), "--epochs", "2", "--out", str(other)]) == 2
    one_error_line("other.pt already exists")
    assert main(["train", "--data", str(shapes_dir), "--resume", str(mine), "--epochs", "2", "--lr", "0.0005",
                 "--cosine", "--minutes", "90"]) == 0
    ck = read_checkpoint(mine)
    assert ck["epoch"] == 2 and other.read_bytes() == b"the user's file"
    tc = ck["train_config"]
    assert (tc["epochs"], tc["lr"], tc["cosine"], tc["time_limit"]) == (2, 0.0005, True, 5400)
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["mine.pt"]


def test_resume_refuses_fixed_settings_naming_them(shapes_dir, tmp_path, capsys):
    mine = tmp_path / "mine.pt"
    assert main(["train", "--data", str(shapes_dir), "--epochs", "1", "--out", str(mine), *TINY]) == 0
    capsys.readouterr()
    args = ["train", "--data", str(shapes_dir), "--resume", str(mine), "--epochs", "2"]
    assert main([*args, "--beta", "4", "--preset", "style"]) == 2
    one_error_line("--beta 4.0 (the checkpoint has 1.0)", "--preset style (the checkpoint has paper)")
    assert main([*args, "--batch-size", "32", "--latent-dim", "16"]) == 0  # the same values are fine
    assert main(["train", "--data", str(shapes_dir), "--resume", str(mine), "--epochs", "2"]) == 2
    one_error_line("already has 2 epochs", "pass more than 2")


def test_resume_past_the_stored_time_limit_says_so(shapes_dir, tmp_path, capsys):
    mine = tmp_path / "mine.pt"
    assert main(["train", "--data", str(shapes_dir), "--epochs", "1", "--minutes", "0.00001", "--out", str(mine),
                 *TINY]) == 0
    assert main(["train", "--data", str(shapes_dir), "--resume", str(mine), "--epochs", "3"]) == 2
    one_error_line("used its time limit", "--minutes")


# ----------------------------------------------------------------------------- Ctrl-C
def _train_interrupted_at(monkeypatch, epoch: int, batch: int) -> None:
    real = training.train

    def callback(p):
        if (p.epoch, p.batch) == (epoch, batch) and p.model is None:
            raise KeyboardInterrupt  # what Ctrl-C does, at a chosen batch
    monkeypatch.setattr(training, "train", lambda *a, **kw: real(*a, **kw, callback=callback))


def test_ctrl_c_says_which_epoch_was_kept_and_exits_130(shapes_dir, tmp_path, capsys, monkeypatch):
    _train_interrupted_at(monkeypatch, 2, 2)
    out = tmp_path / "c.pt"
    assert main(["train", "--data", str(shapes_dir), "--epochs", "3", "--out", str(out), *TINY]) == 130
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == f"shoevae: interrupted after epoch 1, saved to {out}"
    assert read_checkpoint(out)["epoch"] == 1


def test_ctrl_c_in_the_first_epoch_says_nothing_was_saved(shapes_dir, tmp_path, capsys, monkeypatch):
    _train_interrupted_at(monkeypatch, 1, 1)
    assert main(["train", "--data", str(shapes_dir), "--epochs", "3", "--out", str(tmp_path / "c.pt"), *TINY]) == 130
    assert capsys.readouterr().err.strip().splitlines()[-1] == "shoevae: interrupted during epoch 1: nothing saved"
    assert not (tmp_path / "c.pt").exists()


# ----------------------------------------------------------------------------- arguments
@pytest.mark.parametrize("argv, fragment", [
    (["train", "--batch-size", "0"], "--batch-size: must be >= 1"),
    (["train", "--epochs", "0"], "--epochs: must be >= 1"),
    (["train", "--latent-dim", "0"], "--latent-dim: must be >= 1"),
    (["train", "--limit", "-5"], "--limit: must be >= 1"),
    (["train", "--beta", "-1"], "--beta: must be >= 0"),
    (["train", "--holdout", "1"], "--holdout: must be a share in [0, 1)"),
    (["train", "--lr", "0"], "--lr: must be > 0"),
    (["train", "--seed", "-1"], "--seed: must be >= 0"),
    (["recommend", "x", "-k", "-3"], "-k: must be >= 1"),
    (["recommend", "x", "-k", "0"], "-k: must be >= 1"),
    (["evaluate", "-k", "0"], "-k: must be >= 1"),
    (["recommend", "abc", "--image", "shoe.jpg"], "an item id, --image PATH or --all, not both"),
    (["recommend"], "give an item id, --image PATH or --all"),
])
def test_bad_arguments_are_one_line_and_status_2(argv, fragment, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    one_error_line(fragment)


def test_latent_dim_is_never_silently_replaced(shapes_dir, tmp_path):
    assert main(["train", "--data", str(shapes_dir), "--epochs", "1", "--latent-dim", "7", "--image-size", "64",
                 "--out", str(tmp_path / "l.pt")]) == 0
    assert read_checkpoint(tmp_path / "l.pt")["model_config"]["latent_dim"] == 7


def test_image_errors_name_the_file(shapes_dir, shapes_checkpoint, tmp_path, capsys):
    (tmp_path / "notes.jpg").write_text("not a photo")
    base = ["recommend", "--data", str(shapes_dir), "--checkpoint", str(shapes_checkpoint)]
    assert main([*base, "--image", str(tmp_path / "missing.jpg")]) == 2
    one_error_line(f"--image {tmp_path / 'missing.jpg'}: file not found")
    assert main([*base, "--image", str(tmp_path / "notes.jpg")]) == 2
    one_error_line(f"--image {tmp_path / 'notes.jpg'}: not an image")


# ----------------------------------------------------------------------------- outputs checked first
@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if any catalogue is read: outputs must be checked before the work starts."""
    def refuse(*a, **kw):
        raise AssertionError("the work started before the output was checked")
    monkeypatch.setattr(catmod, "load_catalogue", refuse)


def test_unwritable_outputs_are_refused_before_any_work(shapes_dir, shapes_checkpoint, tmp_path, capsys, no_work):
    (tmp_path / "afile").write_text("x")
    blocked = tmp_path / "afile" / "out"  # a folder that cannot exist: its parent is a file
    common = ["--data", str(shapes_dir), "--checkpoint", str(shapes_checkpoint)]
    cases = [(["train", "--data", str(shapes_dir), "--out", str(blocked / "m.pt")], "cannot write --out"),
             (["evaluate", *common, "--json", str(blocked / "r.json")], "cannot write --json"),
             (["embed", *common, "--out", str(blocked / "e.npy")], "cannot write --out"),
             (["export", str(shapes_checkpoint), str(blocked / "s.pt")], "cannot write output"),
             (["embed", *common, "--out", str(tmp_path)], "is a folder")]
    for argv, fragment in cases:
        assert main(argv) == 2, argv
        one_error_line(fragment)


# ----------------------------------------------------------------------------- errors: the project's own only
def test_only_the_projects_own_errors_are_user_errors(monkeypatch, capsys):
    def buggy(args):
        raise ValueError("a bug deep in the library")
    monkeypatch.setattr(commands, "cmd_data", buggy)
    with pytest.raises(ValueError, match="a bug deep"):  # a traceback, not a one-line 'user error'
        main(["data", "check"])
    monkeypatch.setattr(commands, "cmd_data", lambda args: {}["missing"])
    with pytest.raises(KeyError):
        main(["data", "check"])
    from shoevae.catalogue import CatalogueError
    from shoevae.checkpoint import CheckpointError
    from shoevae.download import FetchError
    from shoevae.errors import UnknownItemError
    from shoevae.images import ImageError
    assert all(issubclass(e, ShoevaeError) for e in (CatalogueError, ImageError, CheckpointError, FetchError,
                                                     UnknownItemError, commands.UserError))


def test_a_checkpoint_with_nan_weights_is_one_line(shapes_dir, shapes_checkpoint, tmp_path, capsys):
    ck = read_checkpoint(shapes_checkpoint)
    ck["model_state"]["fc_mu.bias"] = torch.full_like(ck["model_state"]["fc_mu.bias"], float("nan"))
    save_checkpoint(ck, tmp_path / "nan.pt")
    assert main(["recommend", "x", "--data", str(shapes_dir), "--checkpoint", str(tmp_path / "nan.pt")]) == 2
    one_error_line("NaN or inf in fc_mu.bias")


# ----------------------------------------------------------------------------- recommend, embed, evaluate, data check
def test_recommend_checks_the_id_first_and_reuses_cached_embeddings(shapes_dir, shapes_checkpoint, shapes_catalogue,
                                                                    capsys):
    base = ["recommend", "--data", str(shapes_dir), "--checkpoint", str(shapes_checkpoint)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(embedding, "embed", lambda *a, **kw: pytest.fail("embedded before checking the id"))
        assert main([*base, "no-such-shoe"]) == 2
        one_error_line("no shoe with item id 'no-such-shoe'")
    item = shapes_catalogue.ids[0]
    assert main([*base, item]) == 0
    first = capsys.readouterr().out
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(embedding, "embed", lambda *a, **kw: pytest.fail("embedded again: the cache was not used"))
        assert main([*base, item.upper(), "-k", "3"]) == 0  # ids match case-insensitively
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines == first.strip().splitlines()[:3]


def test_embed_end_to_end(shapes_dir, shapes_checkpoint, shapes_catalogue, tmp_path, capsys):
    out = tmp_path / "e" / "emb.npy"
    assert main(["embed", "--data", str(shapes_dir), "--checkpoint", str(shapes_checkpoint), "--out", str(out)]) == 0
    emb = np.load(out)
    assert emb.shape == (len(shapes_catalogue), 16) and np.isfinite(emb).all()
    assert json.loads(out.with_suffix(".ids.json").read_text()) == shapes_catalogue.ids
    from shoevae.checkpoint import load_checkpoint
    from shoevae.embedding import embed
    model, _ = load_checkpoint(shapes_checkpoint)
    assert np.allclose(emb[:5], embed(model, shapes_catalogue.images[:5]), atol=1e-5)


def test_evaluate_end_to_end_uses_the_checkpoints_split(shapes_dir, shapes_checkpoint, tmp_path, capsys):
    report = tmp_path / "r.json"
    assert main(["evaluate", "--data", str(shapes_dir), "--checkpoint", str(shapes_checkpoint), "--baselines",
                 "--json", str(report)]) == 0
    out = capsys.readouterr().out
    n_holdout = read_checkpoint(shapes_checkpoint)["data"]["n_holdout"]
    assert f"hold-out: the checkpoint's split, 10% of photos by a seeded hash of their ids ({n_holdout} of 120" in out
    assert "cannot be computed" not in out
    saved = json.loads(report.read_text())
    assert {n.rsplit(", ", 1)[0] for n in saved} >= {"raw pixels 16x16", "PCA of pixels (16 dims)"}
    for row in saved.values():
        assert all(0 <= row[k] <= 1 for k in ("holdout_precision@5", "loo_precision@5", "coverage@5"))


def test_evaluate_without_holdout_and_on_a_handful_of_photos_says_why(shapes_catalogue, tmp_path, capsys):
    few = make_shoes(tmp_path / "few", per_category=2)  # six photos
    from shoevae.catalogue import load_catalogue
    from shoevae.config import TrainConfig
    from shoevae.presets import preset
    from shoevae.training import train
    cat = load_catalogue(few, 136)
    train(preset("paper", image_size=64, latent_dim=16), TrainConfig(epochs=1, batch_size=4, holdout=0.0), cat,
          out=tmp_path / "z.pt")
    report = tmp_path / "r.json"
    assert main(["evaluate", "--data", str(few), "--checkpoint", str(tmp_path / "z.pt"), "--baselines",
                 "--json", str(report)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"holdout_precision@5 +cannot be computed: the model was trained with no hold-out", out)
    assert re.search(r"holdout_bce +cannot be computed", out) and "hold-out: none" in out
    saved = json.loads(report.read_text())
    assert any(n.startswith("PCA of pixels (6 dims)") for n in saved)  # capped by the photos
    for row in saved.values():
        assert row["holdout_precision@5"] is None and 0 <= row["loo_precision@5"] <= 1
        assert "no hold-out" in row["cannot_compute"]["holdout_precision@5"]


def test_data_check_end_to_end(tmp_path, capsys):
    d = make_shoes(tmp_path / "d", per_category=3)
    (d / "Boot" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    assert main(["data", "check", "--data", str(d)]) == 0
    captured = capsys.readouterr()
    assert "9 usable images" in captured.out and "Boot 3, Sandal 3, Shoe 3" in captured.out
    assert "broken.jpg" in captured.err and "skipped" in captured.err
    assert main(["data", "check", "--data", str(tmp_path / "nowhere")]) == 2
    one_error_line("does not exist")


def test_export_refuses_a_foreign_file_plainly(tmp_path, capsys):
    torch.save({"w": torch.zeros(2)}, tmp_path / "f.pt")
    assert main(["export", str(tmp_path / "f.pt"), str(tmp_path / "o.pt")]) == 2
    one_error_line("not a shoevae checkpoint")
    assert not (tmp_path / "o.pt").exists()


def test_export_never_overwrites_a_file_without_force(shapes_checkpoint, tmp_path, capsys):
    out = tmp_path / "mine.pt"
    out.write_bytes(b"the user's own checkpoint")
    assert main(["export", str(shapes_checkpoint), str(out)]) == 2
    one_error_line("--force")
    assert out.read_bytes() == b"the user's own checkpoint"
    assert main(["export", str(shapes_checkpoint), str(out), "--force"]) == 0
    from shoevae.checkpoint import read_checkpoint
    assert read_checkpoint(out)["optimizer_state"] is None


def test_holdout_metrics_are_nan_not_made_up_for_a_checkpoint_without_holdout(shapes_catalogue):
    from shoevae.evaluate import score_features
    from shoevae.split import Split
    feats = np.random.default_rng(0).normal(size=(len(shapes_catalogue), 4)).astype(np.float32)
    row = score_features(feats, shapes_catalogue, 5, split=Split(0.0))
    assert math.isnan(row["holdout_precision@5"]) and not math.isnan(row["loo_precision@5"])


def test_resuming_an_exported_checkpoint_is_refused_before_any_work(shapes_dir, shapes_checkpoint, tmp_path, capsys,
                                                                    monkeypatch):
    slim = tmp_path / "slim.pt"
    assert main(["export", str(shapes_checkpoint), str(slim)]) == 0
    monkeypatch.setattr(catmod, "load_catalogue", lambda *a, **kw: pytest.fail("the catalogue was read first"))
    assert main(["train", "--data", str(shapes_dir), "--resume", str(slim), "--epochs", "5"]) == 2
    one_error_line("exported without optimizer state")
