"""What commands write, and what they never lose (issue 20, items 1-4, 8, 12, 13, 15): outputs checked before any
work, a training run's --out held against a second run, no writing into the photos or files read, shipped
checkpoints never a training target, temporaries of killed writers cleaned up, a full disk in one line."""
from __future__ import annotations

import builtins
import contextlib
import errno
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_support import in_tmp, main, one_error_line  # noqa: F401 (in_tmp: autouse, each test in its own folder)
from synthetic import make_shoes

from shoevae import atomic
from shoevae import catalogue as catmod
from shoevae.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from shoevae.outputs import OutputError, hold

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--image-size", "64", "--latent-dim", "16", "--batch-size", "32", "--epochs", "1"]
@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if any catalogue is read: outputs must be checked before the work starts."""
    monkeypatch.setattr(catmod, "load_catalogue", lambda *a, **kw: pytest.fail("the work started before the check"))


def python(code: str, *args: str) -> subprocess.Popen:
    """Another process running `code` (this checkout's shoevae); its first line says it is ready."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, env=env)
    assert proc.stdout.readline().strip() == b"ready"
    return proc


HOLDER = "import sys, time\nfrom shoevae.outputs import hold\nwith hold(sys.argv[1]):\n    print('ready', flush=True)\n" \
         "    time.sleep(120)\n"
WRITER = "import sys, time\nfrom shoevae.atomic import atomic_write\nwith atomic_write(sys.argv[1]) as f:\n" \
         "    f.write(b'x' * 100000)\n    f.flush()\n    print('ready', flush=True)\n    time.sleep(120)\n"


@contextlib.contextmanager
def running(code: str, *args: str):
    proc = python(code, *args)
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait()


# ----------------------------------------------------------------------------- 1: a run holds its output
def test_a_second_train_run_with_the_same_out_is_refused_by_name(shapes_dir, tmp_path, no_work):
    out = tmp_path / "runs" / "same.pt"
    with running(HOLDER, str(out)) as other:
        assert main(["train", "--data", shapes_dir, "--out", out, "--force", *TINY]) == 2
        one_error_line(f"{out} is being written by another run (process {other.pid})", "choose another --out")
    assert not out.exists()


def test_training_holds_its_out_for_the_whole_run(shapes_catalogue, tmp_path):
    from shoevae.config import TrainConfig
    from shoevae.presets import preset
    from shoevae.training import train
    out, seen = tmp_path / "m.pt", []

    def callback(progress):
        if progress.batch == 1 and progress.model is None:  # mid-epoch: another thread asks for the same file
            refused: list[str] = []
            t = threading.Thread(target=lambda: refused.append(_refusal(out)))
            t.start(), t.join()
            seen.append(((tmp_path / ".m.pt.lock").is_file(), refused[0]))

    train(preset("paper", image_size=64, latent_dim=16), TrainConfig(epochs=1, batch_size=32), shapes_catalogue,
          out=out, callback=callback)
    assert seen and seen[0][0] and "being written by another run" in seen[0][1]
    assert read_checkpoint(out)["epoch"] == 1 and not (tmp_path / ".m.pt.lock").exists()


def _refusal(out: Path) -> str:
    try:
        with hold(out):
            return "held"
    except OutputError as e:
        return str(e)


def test_a_run_holds_its_out_against_threads_and_other_programs(tmp_path):
    out = tmp_path / "runs" / "m.pt"
    with hold(out):
        assert (tmp_path / "runs" / ".m.pt.lock").read_text().strip() == str(os.getpid())
        with hold(out):  # the same run asking again (the CLI holds it, then train() does)
            pass
        refused = []
        t = threading.Thread(target=lambda: refused.append(_refusal(out)))
        t.start(), t.join()
        assert "being written by another run" in refused[0]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        other = subprocess.run([sys.executable, "-c", HOLDER, str(out)], env=env, capture_output=True, text=True)
        assert other.returncode != 0 and f"being written by another run (process {os.getpid()})" in other.stderr
    assert not (tmp_path / "runs").exists()  # the lock file, and the folder made for it, are gone


def test_a_lock_left_by_a_killed_run_does_not_block_the_next(tmp_path):
    out = tmp_path / "m.pt"
    with running(HOLDER, str(out)) as other:
        other.send_signal(signal.SIGKILL)
        other.wait()
    assert (tmp_path / ".m.pt.lock").is_file()  # kill -9: nobody removed it
    with hold(out):  # ... but the system dropped its lock
        pass
    assert not (tmp_path / ".m.pt.lock").exists()


# ----------------------------------------------------------------------------- 2: never into what is read
def test_no_command_writes_into_the_photo_folder_or_over_a_file_it_reads(shapes_checkpoint, tmp_path, no_work):
    photos = make_shoes(tmp_path / "photos", per_category=2, manifest=True)
    manifest = (photos / "manifest.csv").read_bytes()
    ck = tmp_path / "m.pt"
    shutil.copy(shapes_checkpoint, ck)
    triplets = tmp_path / "judged"
    (triplets / "images").mkdir(parents=True)
    common = ["--data", photos, "--checkpoint", ck]
    cases = [
        (["recommend", "--all", "--out", photos / "manifest.csv", *common], "the photo folder this command reads"),
        (["recommend", "--all", "--out", photos / "manifest.csv", "--data", photos / "manifest.csv", "--checkpoint", ck],
         "the photo folder"),
        (["recommend", "--all", "--out", photos / "x.csv", *common], "the photo folder"),
        (["embed", "--out", photos / "Boot" / "e.npy", *common], "the photo folder"),
        (["embed", "--out", ck, "--force", *common], "which this command reads"),
        (["evaluate", "--json", triplets / "r.json", "--triplets", triplets, *common], "the photo folder"),
        (["evaluate", "--json", ck, *common], "which this command reads"),
        (["export", ck, ck, "--force"], "which this command reads"),
        (["generate", "--out", photos / "grid.png", *common], "the photo folder"),
        (["generate", "--out", tmp_path / "m.pt", "--force", *common], "which this command reads"),
        (["train", "--data", photos, "--out", photos / "Shoe" / "m.pt", *TINY], "the photo folder"),
    ]
    for argv, fragment in cases:
        assert main(argv) == 2, argv
        one_error_line(fragment)
    assert (photos / "manifest.csv").read_bytes() == manifest and ck.read_bytes() == shapes_checkpoint.read_bytes()
    assert sorted(p.name for p in photos.iterdir()) == ["Boot", "Sandal", "Shoe", "manifest.csv"]


def test_a_resumed_checkpoint_is_the_one_file_train_may_rewrite(shapes_dir, tmp_path):
    mine = tmp_path / "mine.pt"
    assert main(["train", "--data", shapes_dir, "--out", mine, *TINY]) == 0
    assert main(["train", "--data", shapes_dir, "--resume", mine, "--epochs", "2"]) == 0
    assert read_checkpoint(mine)["epoch"] == 2


# ----------------------------------------------------------------------------- 3: shipped checkpoints
def test_a_shipped_checkpoint_is_never_a_training_target(shapes_dir, shapes_checkpoint, tmp_path, monkeypatch, no_work):
    (tmp_path / "weights").mkdir()
    shipped = tmp_path / "weights" / "parts.pt"
    shutil.copy(shapes_checkpoint, shipped)
    for out in ("weights/parts.pt", shipped, "weights/paper.pt"):  # relative, absolute, not there yet
        assert main(["train", "--data", shapes_dir, "--out", out, "--force", *TINY]) == 2
        one_error_line("is a shipped checkpoint", "even with --force", f"python -m shoevae export THAT.pt {out} --force")
    app_weights = tmp_path / "app-weights"
    monkeypatch.setenv("SHOEVAE_WEIGHTS", str(app_weights))
    assert main(["train", "--data", shapes_dir, "--out", app_weights / "sharp.pt", *TINY]) == 2
    one_error_line("is a shipped checkpoint")
    assert shipped.read_bytes() == shapes_checkpoint.read_bytes() and not (tmp_path / "weights" / "paper.pt").exists()


def test_export_may_still_replace_a_shipped_checkpoint_when_asked(shapes_checkpoint, tmp_path):
    (tmp_path / "weights").mkdir()
    shutil.copy(shapes_checkpoint, tmp_path / "weights" / "parts.pt")
    assert main(["export", shapes_checkpoint, "weights/parts.pt"]) == 2
    one_error_line("already exists", "--force")
    assert main(["export", shapes_checkpoint, "weights/parts.pt", "--force"]) == 0  # the README's shipping recipe
    assert read_checkpoint(tmp_path / "weights" / "parts.pt")["optimizer_state"] is None


# ----------------------------------------------------------------------------- 4: temporaries of killed writers
def temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_a_killed_writers_temporary_goes_at_the_next_write_a_live_ones_stays(shapes_checkpoint, tmp_path):
    target = tmp_path / "m.pt"
    with running(WRITER, str(target)) as killed:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
    left = temps(tmp_path)
    assert len(left) == 1 and left[0].startswith(".m.pt.")  # what kill -9 during a save leaves
    other = tmp_path / ".other.pt.abcdefgh.tmp"  # another target's, not held by anyone: not ours to judge
    other.write_bytes(b"x")
    ck = read_checkpoint(shapes_checkpoint)
    with running(WRITER, str(target)):  # a writer still at work on the same target
        live = [n for n in temps(tmp_path) if n not in left and n != other.name]
        save_checkpoint(ck, target)
        assert temps(tmp_path) == sorted([*live, other.name])  # the killed one's gone, the live one's kept
        assert read_checkpoint(target)["epoch"] == ck["epoch"]


def test_a_write_never_removes_a_temporary_this_program_is_still_writing(tmp_path):
    target = tmp_path / "a.bin"
    with atomic.atomic_write(target) as first:
        first.write(b"first")
        with atomic.atomic_write(target) as second:  # e.g. another thread saving the same file meanwhile
            second.write(b"second")
        first.flush()
    assert target.read_bytes() == b"first" and temps(tmp_path) == []


def test_a_temporary_taken_for_stale_just_before_its_lock_is_replaced(tmp_path, monkeypatch):
    """The race a cleaner and a new writer can run: the writer's file is removed between its creation and its lock."""
    real = atomic.flock

    def cleaner_first(fd, wait):
        if wait and not getattr(cleaner_first, "done", False):
            cleaner_first.done = True
            os.unlink(Path(f"/proc/self/fd/{fd}").readlink())  # what remove_stale_temps did meanwhile
        return real(fd, wait)
    monkeypatch.setattr(atomic, "flock", cleaner_first)
    with atomic.atomic_write(tmp_path / "a.bin") as f:
        f.write(b"whole")
    assert (tmp_path / "a.bin").read_bytes() == b"whole" and temps(tmp_path) == []


# ----------------------------------------------------------------------------- 8: checkpoints missing a part
@pytest.mark.parametrize("part", ["train_config", "history", "data", "model_state"])
def test_a_checkpoint_missing_a_part_is_refused_by_name(shapes_checkpoint, tmp_path, part, no_work):
    ck = read_checkpoint(shapes_checkpoint)
    del ck[part]
    torch.save(ck, tmp_path / "cut.pt")
    with pytest.raises(CheckpointError, match=f"is incomplete: it has no {part}"):
        read_checkpoint(tmp_path / "cut.pt")
    assert main(["export", tmp_path / "cut.pt", tmp_path / "slim.pt"]) == 2
    one_error_line(f"has no {part}")
    assert not (tmp_path / "slim.pt").exists()


def test_a_checkpoint_with_a_mangled_part_is_refused_by_name(shapes_checkpoint, tmp_path):
    ck = read_checkpoint(shapes_checkpoint)
    torch.save({**ck, "history": "none"}, tmp_path / "a.pt")
    torch.save({**ck, "train_config": {**ck["train_config"], "holdout": float("nan")}}, tmp_path / "b.pt")
    assert main(["export", tmp_path / "a.pt", tmp_path / "o.pt"]) == 2
    one_error_line("has an unreadable history (a str)")
    assert main(["export", tmp_path / "b.pt", tmp_path / "o.pt"]) == 2
    one_error_line("has an unusable train_config", "holdout")


# ----------------------------------------------------------------------------- 12: paths that cannot be files
def test_outputs_that_cannot_be_files_are_refused_before_any_work(shapes_dir, shapes_checkpoint, tmp_path, no_work):
    common = ["--data", shapes_dir, "--checkpoint", shapes_checkpoint]
    (tmp_path / "afile").write_text("x")
    writers = {"train": lambda o: ["train", "--data", shapes_dir, "--out", o, *TINY],
               "export": lambda o: ["export", shapes_checkpoint, o],
               "generate": lambda o: ["generate", "--out", o, *common],
               "embed": lambda o: ["embed", "--out", o, *common],
               "recommend --all": lambda o: ["recommend", "--all", "--out", o, *common],
               "evaluate --json": lambda o: ["evaluate", "--json", o, *common]}
    suffix = {"train": "pt", "export": "pt", "generate": "png", "embed": "npy", "recommend --all": "csv",
              "evaluate --json": "json"}
    for command, argv in writers.items():
        name = f"out.{suffix[command]}"
        (tmp_path / f"folder.{suffix[command]}").mkdir(exist_ok=True)
        for out, fragment in [(f"{name}/", "ends in '/': give a file name"),
                              (f"{tmp_path}/{name}/", "ends in '/'"),
                              (f"{tmp_path}/folder.{suffix[command]}", "is a folder; give a file name"),
                              (f"{tmp_path}/afile/{name}", "afile is a file, not a folder")]:
            assert main(argv(out)) == 2, (command, out)
            one_error_line(fragment)
    made = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("folder."))
    assert made == ["afile"]  # nothing written, not even a folder


# ----------------------------------------------------------------------------- 13: a full disk
class _FullFile:
    """A file on a disk with 4 KB left: writes past that fail as a full disk does."""

    def __init__(self, f) -> None:
        self._f, self._room = f, 4096

    def write(self, data):
        n = len(data) if isinstance(data, str) else memoryview(data).nbytes
        if n > self._room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._room -= n
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._f.close()


@pytest.fixture
def full_disk(tmp_path, monkeypatch):
    """A folder on a full disk: a real 1 MB tmpfs filled to its last 4 KB where this machine lets the tests mount
    one (root), else the same 4 KB left for every file shoevae writes there (shoevae.atomic's open patched)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = os.geteuid() == 0 and shutil.which("mount") and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True).returncode == 0
    try:
        if mounted:
            fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * 4096)
            os.ftruncate(fd, os.fstat(fd).st_size - 4096)
            os.close(fd)
        else:
            def full_open(file, mode="r", *args, **kwargs):
                f = builtins.open(file, mode, *args, **kwargs)
                return _FullFile(f) if Path(file).parent == disk else f
            monkeypatch.setattr(atomic, "open", full_open, raising=False)
        yield disk, "tmpfs" if mounted else ""
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(disk)], check=True)


def test_a_full_disk_is_one_line_and_loses_nothing(shapes_dir, shapes_checkpoint, full_disk):
    disk, device = full_disk
    before = {p.name: p.read_bytes() for p in disk.iterdir()}
    common = ["--data", shapes_dir, "--checkpoint", shapes_checkpoint]
    for argv, out in [(["train", "--data", shapes_dir, *TINY, "--out"], "m.pt"),
                      (["export", shapes_checkpoint], "slim.pt"),
                      (["recommend", "--all", *common, "--out"], "n.csv"),
                      (["embed", *common, "--out"], "e.npy"),
                      (["generate", *common, "--out"], "grid.png")]:
        assert main([*argv, disk / out]) == 2, argv
        one_error_line(f"no space left on {device}", f"writing {disk / out}; nothing lost")
        assert {p.name: p.read_bytes() for p in disk.iterdir()} == before  # no temporary file, no half file


def test_a_full_disk_leaves_the_earlier_file(shapes_checkpoint, tmp_path, monkeypatch):
    target = tmp_path / "m.pt"
    target.write_bytes(b"the earlier checkpoint")
    real = builtins.open
    monkeypatch.setattr(atomic, "open", lambda f, mode="r", *a, **k: _FullFile(real(f, mode, *a, **k))
                        if Path(f).parent == tmp_path else real(f, mode, *a, **k), raising=False)
    with pytest.raises(atomic.DiskFullError) as info:
        save_checkpoint(read_checkpoint(shapes_checkpoint), target)
    assert isinstance(info.value, OSError) and info.value.errno == errno.ENOSPC  # caches still catch it as one
    assert str(info.value).startswith(f"no space left on {atomic.device_of(target)} writing {target}; nothing lost")
    assert target.read_bytes() == b"the earlier checkpoint" and temps(tmp_path) == []


# ----------------------------------------------------------------------------- 15: embed --force, skipped photos
def test_embed_never_overwrites_without_force(shapes_dir, shapes_checkpoint, tmp_path):
    common = ["--data", shapes_dir, "--checkpoint", shapes_checkpoint]
    (tmp_path / "e.npy").write_bytes(b"the user's own")
    assert main(["embed", *common, "--out", "e.npy"]) == 2
    one_error_line("e.npy already exists; pass --force")
    (tmp_path / "f.ids.json").write_text("[]")
    assert main(["embed", *common, "--out", "f.npy"]) == 2  # the ids file beside it counts too
    one_error_line("f.ids.json already exists")
    assert main(["embed", *common, "--out", "e.npy", "--force"]) == 0
    assert np.load(tmp_path / "e.npy").shape == (120, 16)


def test_embed_recommend_and_evaluate_say_how_many_photos_they_skipped(shapes_checkpoint, tmp_path, capsys):
    photos = make_shoes(tmp_path / "photos", per_category=4)
    (photos / "Boot" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (photos / "Shoe" / "empty.png").write_bytes(b"")
    item = catmod.load_catalogue(photos, 136).ids[0]
    common = ["--data", photos, "--checkpoint", shapes_checkpoint]
    line = f"skipped 2 photos that cannot be read (`python -m shoevae data check --data {photos}` lists them)"
    for argv in (["embed", *common, "--out", tmp_path / "e.npy"], ["recommend", item, *common],
                 ["recommend", item, *common],  # the second answers from the cache, without torch
                 ["recommend", "--all", *common, "--out", tmp_path / "n.csv"], ["evaluate", *common]):
        assert main(argv) == 0, argv
        assert line in capsys.readouterr().err.splitlines(), argv
