"""Checkpoints: written atomically, and every unusable file refused with one whole, plain sentence."""
import pickle

import pytest
import torch

from shoevae import checkpoint as ckmod
from shoevae.checkpoint import CheckpointError, load_checkpoint, make_checkpoint, read_checkpoint, save_checkpoint
from shoevae.config import TrainConfig
from shoevae.errors import ShoevaeError
from shoevae.model import VAE
from shoevae.presets import preset

SMALL = preset("paper", image_size=64, latent_dim=16)


class Foreign:
    """Some other program's object, pickled into a .pt file."""

    def __init__(self):
        self.weights = torch.zeros(3)


@pytest.fixture
def good(tmp_path):
    ck = make_checkpoint(VAE(SMALL), TrainConfig(), optimizer=None, history=[], data={}, train_seconds=0)
    save_checkpoint(ck, tmp_path / "good.pt")
    return ck, tmp_path / "good.pt"


def refusal(source, **kw) -> str:
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(source, **kw)
    message = str(info.value)
    assert "\x1b" not in message and "weights_only" not in message and "\n" not in message
    return message


def test_missing_folder_foreign_and_garbage_files_are_told_apart(tmp_path):
    assert "no checkpoint at" in refusal(tmp_path / "missing.pt")
    assert "is a folder" in refusal(tmp_path)
    torch.save({"state_dict": {"w": torch.zeros(2)}}, tmp_path / "foreign.pt")
    assert "not a shoevae checkpoint" in refusal(tmp_path / "foreign.pt")
    torch.save({"model": Foreign()}, tmp_path / "objects.pt")  # a valid torch file that weights_only refuses
    message = refusal(tmp_path / "objects.pt")
    assert "not a shoevae checkpoint" in message and "corrupt" not in message
    (tmp_path / "plain.pkl").write_bytes(pickle.dumps({"a": [1, 2, 3]}))
    message = refusal(tmp_path / "plain.pkl")
    assert "not a shoevae checkpoint" in message and "pickle" in message
    (tmp_path / "junk.pt").write_bytes(b"\x00" * 100)
    assert refusal(tmp_path / "junk.pt") == (f"{str(tmp_path / 'junk.pt')!r} is not a readable checkpoint (corrupt or "
                                             "truncated, or not a checkpoint file at all)")  # whole, torch's words gone
    (tmp_path / "empty.pt").write_bytes(b"")
    assert "is empty" in refusal(tmp_path / "empty.pt")


def test_cut_files_are_corrupt_or_truncated(good, tmp_path):
    blob = good[1].read_bytes()
    (tmp_path / "cut.pt").write_bytes(blob[: len(blob) // 2])
    assert "corrupt or truncated" in refusal(tmp_path / "cut.pt")
    cut_pickle = pickle.dumps({"a": list(range(100))})
    assert "corrupt or truncated" in refusal(cut_pickle[: len(cut_pickle) // 2])
    assert load_checkpoint(blob)[0].cfg == SMALL  # bytes (an upload) work too


def test_odd_versions_and_mismatched_weights(good, tmp_path):
    ck, _ = good
    save_checkpoint({**ck, "version": "1.0"}, tmp_path / "v.pt")
    assert "unreadable format version ('1.0')" in refusal(tmp_path / "v.pt")
    save_checkpoint({**ck, "version": 99}, tmp_path / "new.pt")
    assert "newer shoevae" in refusal(tmp_path / "new.pt")
    state = dict(ck["model_state"], **{"fc_mu.weight": torch.zeros(3, 3)})
    save_checkpoint({**ck, "model_state": state}, tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match="does not match") as info:
        load_checkpoint(tmp_path / "mismatch.pt")
    assert "size mismatch for fc_mu.weight" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_weights_that_are_not_numbers_are_refused(good, tmp_path, bad):
    ck, _ = good
    state = {k: v.clone() for k, v in ck["model_state"].items()}
    state["fc_mu.weight"][0, 0] = bad
    save_checkpoint({**ck, "model_state": state}, tmp_path / "nan.pt")
    message = refusal(tmp_path / "nan.pt")
    assert "not numbers (NaN or inf in fc_mu.weight)" in message


def test_messages_name_an_upload_by_its_file_name(good):
    data = good[1].read_bytes()
    message = refusal(data[:100], name="'mine.pt (uploaded)'")
    assert message.startswith("'mine.pt (uploaded)' is not a readable checkpoint")
    assert refusal(b"\x00" * 10).startswith("the uploaded file ")


def test_checkpoint_errors_are_the_projects_own(good):
    assert issubclass(CheckpointError, ShoevaeError)


def test_a_write_interrupted_midway_leaves_the_previous_checkpoint_intact(good, tmp_path, monkeypatch):
    ck, path = good
    before = path.read_bytes()

    def half_then_fail(obj, f):
        f.write(before[: len(before) // 2])  # the new file is half written when the disk fills up
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(ckmod.torch, "save", half_then_fail)
    with pytest.raises(OSError):
        save_checkpoint({**ck, "epoch": 7}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before and read_checkpoint(path)["epoch"] == 0
    assert [p.name for p in tmp_path.iterdir()] == ["good.pt"]  # no temporary file left behind


def test_the_app_names_an_uploaded_file_in_its_message():
    from shoevae.ui import resources, session
    junk = b"\x80\x02 not really a pickle"
    with pytest.raises(CheckpointError) as info:
        resources.load_source(session.upload_source("mine.pt", junk), junk)
    assert str(info.value).startswith("'mine.pt (uploaded)' is not a readable checkpoint (corrupt or truncated")
