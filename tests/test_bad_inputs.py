"""Bad inputs of issue 20: odd names, special files, broken manifests, bad numbers, absurd sizes, k too large.

Each ends as one line `shoevae: error: ...` (exit 2), or as a photo or row skipped with its reason,
never as a traceback, a hang or an unbounded read.
"""
import csv
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_support import in_tmp, main, one_error_line  # noqa: F401 (in_tmp: autouse, each test in its own folder)
from synthetic import make_shoes

from shoevae import cache, cli
from shoevae import catalogue as catmod
from shoevae import images as imgmod
from shoevae.catalogue import load_catalogue
from shoevae.config import MAX_SEED, TrainConfig, VAEConfig
from shoevae.errors import ConfigError
from shoevae.images import ImageError, load_image, read_photo, safe_name
from shoevae.sampling import check_draw

ROOT = Path(__file__).resolve().parents[1]
@pytest.fixture
def few(tmp_path) -> Path:
    return make_shoes(tmp_path / "few", per_category=3)


# ----------------------------------------------------------------------------- 5: names that are not UTF-8
def test_a_name_that_is_not_utf8_is_kept_and_shown_escaped(few, shapes_checkpoint, tmp_path, capsys):
    photo = (few / "Boot" / "boot-000.jpg").read_bytes()
    (few / os.fsdecode(b"Boot/caf\xe9.jpg")).write_bytes(photo)
    (few / os.fsdecode(b"Sh\xf6e")).mkdir()
    (few / os.fsdecode(b"Sh\xf6e/x.jpg")).write_bytes(photo)
    assert main(["data", "check", "--data", str(few)]) == 0
    out = capsys.readouterr()
    assert "11 usable images" in out.out and "Sh\\xf6e 1" in out.out
    assert "caf\\xe9.jpg: the name is not valid UTF-8; kept" in out.err
    cat = load_catalogue(few, 64)
    assert "Sh\\xf6e" in cat.categories and os.fsdecode(b"Boot/caf\xe9.jpg") in "|".join(cat.paths)
    csv_out = tmp_path / "n.csv"
    assert main(["recommend", "--all", "-k", "2", "--out", str(csv_out), "--data", str(few),
                 "--checkpoint", str(shapes_checkpoint)]) == 0
    rows = list(csv.DictReader(csv_out.open(encoding="utf-8")))
    assert len(rows) == 22 and "Sh\\xf6e" in {r["neighbour_category"] for r in rows}
    assert safe_name(os.fsdecode(b"caf\xe9")) == "caf\\xe9" and safe_name("café") == "café"


# ----------------------------------------------------------------------------- 6: special files, size limit
def test_a_fifo_and_a_link_to_dev_zero_are_skipped_not_read(few, tmp_path):
    os.mkfifo(few / "Boot" / "pipe.jpg")
    (few / "Boot" / "zero.jpg").symlink_to("/dev/zero")
    cache_dir = tmp_path / "cache"
    run = subprocess.run([sys.executable, "-m", "shoevae", "data", "check", "--data", str(few)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "SHOEVAE_CACHE": str(cache_dir)})
    assert run.returncode == 0, run.stderr
    assert "pipe.jpg: not a regular file: a named pipe (FIFO)" in run.stderr
    assert "zero.jpg: not a regular file: a character device" in run.stderr
    assert "9 usable images" in run.stdout
    assert not [f for f in cache_dir.iterdir() if f.name.endswith(".tmp")]  # no partial cache file
    with pytest.raises(ImageError, match="named pipe"):
        load_image(few / "Boot" / "pipe.jpg")
    with pytest.raises(ImageError, match="a folder"):
        load_image(few / "Boot")


def test_photos_are_read_with_a_size_limit(tmp_path, monkeypatch):
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff" * 2000)
    monkeypatch.setattr(imgmod, "MAX_BYTES", 1000)
    with pytest.raises(ImageError, match="file too large"):
        read_photo(big)
    with pytest.raises(ImageError, match="empty file"):
        (tmp_path / "empty.jpg").write_bytes(b"")
        read_photo(tmp_path / "empty.jpg")
    read_size = []
    real_open = open

    class Growing:  # a file that says 10 bytes but keeps going: only MAX_BYTES + 1 bytes are ever asked for
        def __init__(self, *a, **kw):
            self.f = real_open(*a, **kw)

        def __enter__(self):
            return self

        def __exit__(self, *a):
            self.f.close()

        def read(self, n=-1):
            read_size.append(n)
            return b"x" * (n if n > 0 else 10**7)
    small = tmp_path / "small.jpg"
    small.write_bytes(b"0123456789")
    monkeypatch.setattr(imgmod, "open", Growing, raising=False)
    with pytest.raises(ImageError, match="file too large"):
        read_photo(small)
    assert read_size[0] == 11 and sum(read_size) == 1001


# ----------------------------------------------------------------------------- 7: manifests and folders
def test_manifest_rows_without_a_path_or_leading_outside_are_skipped_with_a_reason(few, tmp_path, capsys):
    (tmp_path / "outside.jpg").write_bytes((few / "Boot" / "boot-000.jpg").read_bytes())
    manifest = few / "manifest.csv"
    manifest.write_text("item_id,path,category\n"
                        "onlyid\n"
                        "a1,Boot/boot-001.jpg,Boot\n"
                        f"a2,{tmp_path / 'outside.jpg'},Boot\n"
                        "a3,../outside.jpg,Boot\n"
                        "a4,Boot/../../outside.jpg,Boot\n"
                        "a5,Boot/../Boot/boot-002.jpg,Boot\n")
    cat = load_catalogue(few, 64)
    assert cat.ids == ["a1", "a5"]
    reasons = {where.rsplit(" line ", 1)[1]: why for where, why in cat.skipped}
    assert reasons["2"] == "manifest row has no path"
    assert "absolute" in reasons[f"4 ('{tmp_path / 'outside.jpg'}')"]
    assert "outside the manifest's folder" in reasons["5 ('../outside.jpg')"]
    assert "outside the manifest's folder" in reasons["6 ('Boot/../../outside.jpg')"]
    manifest.write_text("item_id,path,category\nonlyid\n../../etc/shadow\n")
    assert main(["data", "check", "--data", str(few)]) == 2
    one_error_line("lists no usable images", "line 2: manifest row has no path")


def test_an_unreadable_manifest_or_folder_is_one_line_and_an_unlistable_subfolder_is_reported(few, monkeypatch,
                                                                                            capsys):
    real_scandir = os.scandir

    def blocking(name: str):  # as root, chmod 000 does not stop reading: refuse to list one folder instead
        def scandir(path="."):
            if Path(path).name == name:
                raise PermissionError(13, "Permission denied", str(path))
            return real_scandir(path)
        return scandir
    monkeypatch.setattr(os, "scandir", blocking("Sandal"))
    assert main(["data", "check", "--data", str(few)]) == 0
    out = capsys.readouterr()
    assert f"skipped {few / 'Sandal'}: folder not read: cannot list it (Permission denied)" in out.err
    assert "6 usable images" in out.out
    monkeypatch.setattr(os, "scandir", blocking("few"))  # the data folder itself
    assert main(["data", "check", "--data", str(few)]) == 2
    one_error_line("cannot list data folder", "Permission denied")
    monkeypatch.setattr(os, "scandir", real_scandir)
    (few / "manifest.csv").write_text("item_id,path,category\na,Boot/boot-000.jpg,Boot\n")

    def refuse(*a, **kw):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(catmod, "open", refuse, raising=False)
    assert main(["data", "check", "--data", str(few)]) == 2
    one_error_line("cannot read manifest", "Permission denied")


# ----------------------------------------------------------------------------- 9: a bad stored hold-out
@pytest.mark.parametrize("split", [{"holdout": math.nan, "seed": 0}, {"holdout": 1.5, "seed": 0},
                                   {"holdout": 0.1, "seed": "x"}, {"holdout": "half"}])
def test_evaluate_refuses_a_checkpoint_with_a_bad_stored_holdout_in_one_line(shapes_checkpoint, few, tmp_path, capsys,
                                                                             split):
    ck = torch.load(shapes_checkpoint, weights_only=True)
    ck["data"]["split"] = split
    torch.save(ck, tmp_path / "bad.pt")
    assert main(["evaluate", "--data", str(few), "--checkpoint", str(tmp_path / "bad.pt")]) == 2
    one_error_line("stored hold-out split is unusable")


# ----------------------------------------------------------------------------- 10, 11: numbers
@pytest.mark.parametrize("argv, fragment", [
    (["generate", "--temperature", "nan"], "--temperature: must be a finite number"),
    (["generate", "--temperature", "inf"], "--temperature: must be a finite number"),
    (["generate", "--temperature", "11"], "--temperature: must be at most 10"),
    (["generate", "--seed", "-1"], "--seed: must be >= 0"),
    (["generate", "--seed", str(MAX_SEED + 1)], f"--seed: must be at most {MAX_SEED}"),
    (["train", "--seed", "99999999999999999999"], f"--seed: must be at most {MAX_SEED}"),
    (["train", "--latent-dim", "1000000000"], "--latent-dim: must be at most 1024"),
    (["train", "--image-size", "100000"], "--image-size: must be at most 512"),
    (["data", "check", "--image-size", "100000"], "--image-size: must be at most 512"),
    (["generate", "--n", "1000000"], "--n: must be at most 1024"),
    (["generate", "--n", "0"], "--n: must be >= 1"),
    (["train", "--beta", "inf"], "--beta: must be a finite number"),
])
def test_bad_numbers_are_refused_by_the_parser(argv, fragment, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    one_error_line(fragment)


def test_the_bounds_are_stated_in_the_help_and_kept_by_the_library(capsys):
    for command, texts in {"train": ["latent size, 1 to 1024", "8 to 512 pixels", f"0 to {MAX_SEED}"],
                           "generate": ["1 to 1024", "0 to 10", f"0 to {MAX_SEED}"]}.items():
        with pytest.raises(SystemExit):
            main([command, "--help"])
        shown = " ".join(capsys.readouterr().out.split())
        assert all(t in shown for t in texts), (command, shown)
    for bad in ({"latent_dim": 10**9}, {"image_size": 100_000}):
        with pytest.raises(ConfigError):
            VAEConfig(**bad)
    with pytest.raises(ConfigError):
        TrainConfig(seed=MAX_SEED + 1)
    for n, t, seed in ((10**6, 1, 0), (4, math.nan, 0), (4, math.inf, 0), (4, 1, -1)):
        with pytest.raises(ConfigError):
            check_draw(n, t, seed)
    np.random.default_rng(MAX_SEED), torch.manual_seed(MAX_SEED * 100_003 + 1000)  # the bound every generator takes


# ----------------------------------------------------------------------------- 14: k larger than possible
def test_evaluate_says_a_k_larger_than_the_shoes_cannot_be_computed(shapes_checkpoint, few, capsys):
    assert main(["evaluate", "--data", str(few), "--checkpoint", str(shapes_checkpoint), "-k", "100000"]) == 0
    out = capsys.readouterr().out
    assert "0." not in out.split("holdout_bce")[0].split("\n", 1)[1]  # no number before the BCE
    assert "loo_precision@100000   cannot be computed: k=100000 is more than the 8 other shoes" in out
    assert "coverage@100000        cannot be computed" in out
    assert main(["evaluate", "--data", str(few), "--checkpoint", str(shapes_checkpoint), "-k", "8"]) == 0
    assert "loo_precision@8        0." in capsys.readouterr().out  # 8 of 8 others: a number


# ----------------------------------------------------------------------------- 16: the cache bound
def test_the_cache_bound_counts_and_evicts_mixture_files(tmp_path):
    old = cache.Entry(tmp_path, "mixture", "a" * 16, "b" * 16)
    new = cache.Entry(tmp_path, "embeddings", "c" * 16, "d" * 16)
    np.savez(old.path("npz"), weights=np.zeros(4000))
    np.save(new.path("npy"), np.zeros(10))
    os.utime(old.path("npz"), (1, 1))  # least recently used
    gone = cache.enforce_bound(tmp_path, limit=5000)
    assert gone == [old.path("npz")] and new.path("npy").exists()


# ----------------------------------------------------------------------------- 17: the program's name
def test_usage_names_the_program_as_it_was_started():
    assert cli.program_name("/usr/local/bin/shoevae") == "shoevae"
    assert cli.program_name("/x/shoevae/__main__.py") == "python -m shoevae"
    assert cli.program_name("/x/app.py") == "python -m shoevae"  # main() inside another program
    run = subprocess.run([sys.executable, "-m", "shoevae", "--help"], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert run.stdout.startswith("usage: python -m shoevae ")
