"""On-disk caches (shoevae/cache.py) and the first decode: eviction, size bound, failed writes, atomicity,
invalidation, read-back, file modes, memory bound, worker processes. Fast tier: synthetic photos only."""
from __future__ import annotations

import errno
import os
import shutil
import stat
import subprocess
import sys
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from shoevae import cache, catalogue, decoding, embedding, projection
from shoevae.atomic import atomic_write
from shoevae.cache import CacheWarning, Entry
from shoevae.catalogue import load_catalogue
from shoevae.images import load_image
from shoevae.model import VAE
from shoevae.presets import preset


@pytest.fixture(autouse=True)
def _fresh_warnings(monkeypatch):
    """Each test starts as a fresh process would: no cache warning given yet, the default bound."""
    monkeypatch.setattr(cache, "_warned", set())
    monkeypatch.delenv("SHOEVAE_CACHE_MAX_GB", raising=False)


@pytest.fixture
def photos(shapes_dir, tmp_path) -> Path:
    """A private copy of the synthetic photos (tests here change files)."""
    return Path(shutil.copytree(shapes_dir, tmp_path / "photos"))


def _entries(directory: Path, kind: str = "catalogue") -> set[str]:
    return {f.name.split(".")[0] for f in directory.glob(f"{kind}-*")}


def _model(seed: int) -> VAE:
    torch.manual_seed(seed)
    return VAE(preset("paper", image_size=64, latent_dim=16))


# --- eviction and the size bound ---------------------------------------------------------------------------

def test_a_changed_photo_replaces_the_catalogue_entry_of_that_folder(photos, tmp_path):
    store = tmp_path / "cache"
    first = load_catalogue(photos, 32, cache_dir=store)
    other_size = load_catalogue(photos, 24, cache_dir=store)  # another size is another source: kept
    assert len(_entries(store)) == 2
    old = _entries(store)
    victim = photos / "Boot" / "boot-003.jpg"
    Image.new("RGB", (136, 102), (0, 200, 0)).save(victim)
    second = load_catalogue(photos, 32, cache_dir=store)
    assert len(_entries(store)) == 2  # not 3: the 32 px entry of the old photos is gone
    assert len(old - _entries(store)) == 1 and not list(store.glob(".*"))
    row = second.paths.index(str(victim))
    assert second.images[row, 16, 16, 1] > 150 and not np.array_equal(second.images[row], first.images[row])
    assert len(other_size) == len(second)


def test_the_folder_is_kept_under_its_bound_least_recently_used_first(tmp_path, monkeypatch):
    store = tmp_path / "cache"
    block = np.zeros(1024 * 1024, np.uint8)  # 1 MiB per entry
    monkeypatch.setenv("SHOEVAE_CACHE_MAX_GB", str(2.5 / 1024))  # room for two entries
    a, b, c = (Entry(store, "embeddings", cache.digest(name), cache.digest("ids")) for name in "abc")
    assert cache.write_array(a, block) and cache.write_array(b, block)
    os.utime(a.path(), (1000, 1000))
    os.utime(b.path(), (2000, 2000))
    assert cache.read_array(a) is not None  # reading a marks it used: b is now the least recently used
    assert cache.write_array(c, block)
    assert a.path().is_file() and c.path().is_file() and not b.path().exists()
    assert sum(f.stat().st_size for f in store.iterdir()) <= 2.5 * 2**20
    # an entry larger than the whole bound is still written (and everything else makes way)
    monkeypatch.setenv("SHOEVAE_CACHE_MAX_GB", str(0.5 / 1024))
    d = Entry(store, "embeddings", cache.digest("d"), cache.digest("ids"))
    assert cache.write_array(d, block)
    assert [f.name for f in store.iterdir()] == [d.path().name]


def test_the_bound_counts_catalogues_and_spares_unrelated_files(photos, tmp_path, monkeypatch):
    store = tmp_path / "cache"
    store.mkdir()
    (store / "notes.txt").write_text("the user's")  # not ours: never deleted
    load_catalogue(photos, 32, cache_dir=store)
    monkeypatch.setenv("SHOEVAE_CACHE_MAX_GB", str(0.5 / 1024))  # smaller than one 32 px catalogue (0.37 MB) x 2
    load_catalogue(photos, 40, cache_dir=store)
    assert len(_entries(store)) == 1 and (store / "notes.txt").is_file()
    (store / "catalogue-0123456789abcdef0123.npy").write_bytes(b"old scheme")  # unreadable now: removed
    cache.enforce_bound(store)
    assert not (store / "catalogue-0123456789abcdef0123.npy").exists()


def test_temporary_files_of_killed_processes_go_and_a_bad_bound_setting_is_named(tmp_path, monkeypatch):
    old, fresh = tmp_path / ".catalogue-x.npy.abc.tmp", tmp_path / ".catalogue-y.npy.def.tmp"
    old.write_bytes(b"left by kill -9")
    fresh.write_bytes(b"another process is still decoding")
    os.utime(old, (1000, 1000))
    cache.enforce_bound(tmp_path)
    assert not old.exists() and fresh.exists()
    monkeypatch.setenv("SHOEVAE_CACHE_MAX_GB", "lots")
    with pytest.warns(CacheWarning, match="SHOEVAE_CACHE_MAX_GB='lots'"):
        assert cache.max_bytes() == cache.DEFAULT_MAX_GB * 2**30


@pytest.mark.parametrize("damage", ["truncated", "metadata"])
def test_a_damaged_catalogue_entry_is_rebuilt(photos, tmp_path, damage):
    store = tmp_path / "cache"
    expected = np.array(load_catalogue(photos, 32, cache_dir=store).images)
    (npy,) = store.glob("catalogue-*.npy")
    if damage == "truncated":  # a copy cut short (header intact, rows missing)
        data = npy.read_bytes()
        npy.unlink()
        npy.write_bytes(data[: len(data) // 2])
    else:
        npy.with_suffix(".json").write_text('{"ids": [1, 2]')
    again = load_catalogue(photos, 32, cache_dir=store)
    assert np.array_equal(again.images, expected) and len(again.ids) == 120
    assert np.array_equal(np.load(npy), expected)  # rewritten whole


# --- failed writes: reported once per kind, never fatal -------------------------------------------------------

def test_an_unwritable_cache_warns_once_per_kind_and_still_loads(photos, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    store = blocker / "cache"  # cannot be created, even by root
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cat = load_catalogue(photos, 32, cache_dir=store)
        again = load_catalogue(photos, 32, cache_dir=store)
        emb = np.random.default_rng(0).normal(size=(len(cat), 4)).astype(np.float32)
        projection.cached_project(emb, "pca", store)
        projection.cached_project(emb, "pca", store)
    messages = [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]
    assert len(messages) == 2, messages  # one for the catalogue, one for the projection
    assert "catalogue cache" in messages[0] and str(store) in messages[0]
    assert len(cat) == 120 and np.array_equal(cat.images, again.images)
    assert np.array_equal(cat.images[5], load_image(cat.paths[5], 32))


def test_a_full_disk_during_an_embedding_write_warns_once(shapes_catalogue, tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(np, "save", full)
    model = _model(0)
    images = shapes_catalogue.images[:8]
    with pytest.warns(CacheWarning, match="No space left") as record:
        a = embedding.cached_embed(model, images, shapes_catalogue.ids[:8], tmp_path)
        b = embedding.cached_embed(model, images, shapes_catalogue.ids[:8], tmp_path)
    assert len([w for w in record if issubclass(w.category, CacheWarning)]) == 1
    assert np.array_equal(a, b) and a.shape == (8, 16)
    assert not list(tmp_path.iterdir())  # no half-written file


@pytest.mark.parametrize("step", ["rename", "metadata"])
def test_a_catalogue_entry_that_cannot_be_finished_leaves_nothing_behind(photos, tmp_path, monkeypatch, step):
    def refused(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")
    if step == "rename":
        monkeypatch.setattr(catalogue, "commit_temp", refused)
    else:
        monkeypatch.setattr(cache, "atomic_write", refused)
    store = tmp_path / "cache"
    with pytest.warns(CacheWarning, match="Read-only"):
        cat = load_catalogue(photos, 32, cache_dir=store)
    assert len(cat) == 120 and np.array_equal(cat.images[3], load_image(cat.paths[3], 32))
    assert list(store.iterdir()) == []  # no half entry, no temporary file


# --- atomicity ----------------------------------------------------------------------------------------------

def test_an_interrupted_write_leaves_the_previous_entry(tmp_path):
    entry = Entry(tmp_path, "embeddings", cache.digest("m"), cache.digest("ids"))
    cache.write_array(entry, np.arange(10, dtype=np.float32))

    def half_then_killed(f):
        f.write(b"\x93NUMPY half")
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        cache.write(entry, half_then_killed)
    assert np.array_equal(cache.read_array(entry), np.arange(10, dtype=np.float32))
    assert [p.name for p in tmp_path.iterdir()] == [entry.path().name]


def test_an_interrupted_decode_keeps_the_previous_catalogue(photos, tmp_path, monkeypatch):
    store = tmp_path / "cache"
    before = load_catalogue(photos, 32, cache_dir=store)
    expected = np.array(before.images)
    photo = photos / "Shoe" / "shoe-000.jpg"
    saved, st = photo.read_bytes(), photo.stat()
    Image.new("RGB", (136, 102), (0, 0, 255)).save(photo)  # a changed photo: the next load decodes again
    calls = []
    real = decoding._decode_rows

    def killed_midway(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args)
    monkeypatch.setattr(decoding, "_decode_rows", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        load_catalogue(photos, 32, cache_dir=store, executor="thread", workers=1)
    assert 3 <= len(calls) < 8 and not list(store.glob(".*"))  # stopped early; the half-filled file is gone
    assert len(_entries(store)) == 1  # the previous entry was not evicted by the failed one
    # the photo back as it was: the previous entry is read, nothing decoded
    photo.write_bytes(saved)
    os.utime(photo, ns=(st.st_atime_ns, st.st_mtime_ns))
    monkeypatch.setattr(decoding, "_decode_rows", lambda *a: pytest.fail("decoded instead of reading the cache"))
    after = load_catalogue(photos, 32, cache_dir=store)
    assert after.ids == before.ids and np.array_equal(after.images, expected)


def _my_decode_workers() -> list[str]:
    out = []
    for d in Path("/proc").glob("[0-9]*"):
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if ppid == os.getpid() and b"_worker_loop" in (d / "cmdline").read_bytes():
                out.append(d.name)
        except (OSError, IndexError, ValueError):
            pass
    return out


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc to find the worker processes")
def test_ctrl_c_during_a_process_decode_stops_the_workers_and_leaves_no_file(photos, tmp_path):
    store = tmp_path / "cache"
    calls = []

    def interrupt(done, total):
        calls.append(done)
        if len(calls) == 3:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        load_catalogue(photos, 48, cache_dir=store, executor="process", workers=2, progress=interrupt)
    assert calls[-1] < 120 and list(store.iterdir()) == []
    assert _my_decode_workers() == []


# --- invalidation and read-back -----------------------------------------------------------------------------

def test_a_remembered_checkpoint_is_known_until_its_file_changes(tmp_path):
    ckpt, store = tmp_path / "model.pt", tmp_path / "cache"
    ckpt.write_bytes(b"weights")
    model = _model(0)
    assert cache.cached_checkpoint(ckpt, store) is None  # never remembered
    cache.remember_checkpoint(ckpt, model, "0123456789abcdef", store)
    known = {"fingerprint": "0123456789abcdef", "image_size": model.cfg.image_size, "latent_dim": model.cfg.latent_dim}
    assert cache.cached_checkpoint(ckpt, store) == known
    assert cache.cached_checkpoint(tmp_path / "." / "model.pt", store) == known  # the same file by another name
    assert [f.name.split("-")[:2] for f in store.iterdir()] == [["checkpoint", "alias"]]  # cache.py's naming
    st = ckpt.stat()
    os.utime(ckpt, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # rewritten: another model, whatever it holds
    assert cache.checkpoint_identity(ckpt) != (ckpt.resolve(), f"{st.st_size}:{st.st_mtime_ns}")
    assert cache.cached_checkpoint(ckpt, store) is None
    assert cache.checkpoint_identity(tmp_path / "missing.pt") is None and cache.cached_checkpoint(tmp_path / "missing.pt") is None


def test_the_embedding_cache_follows_the_model(shapes_catalogue, tmp_path, monkeypatch):
    images, ids = shapes_catalogue.images[:16], shapes_catalogue.ids[:16]
    a_model, b_model = _model(0), _model(1)
    a = embedding.cached_embed(a_model, images, ids, tmp_path)
    b = embedding.cached_embed(b_model, images, ids, tmp_path)  # another model: not a's vectors
    assert np.allclose(b, embedding.embed(b_model, images)) and not np.allclose(a, b)
    with torch.no_grad():
        a_model.encoder[0].weight.add_(0.1)  # the same object, changed weights
    changed = embedding.cached_embed(a_model, images, ids, tmp_path)
    assert np.allclose(changed, embedding.embed(a_model, images)) and not np.allclose(changed, a)

    def never(*args, **kwargs):
        raise AssertionError("embedded again instead of reading the cache")
    real_embed = embedding.embed
    monkeypatch.setattr(embedding, "embed", never)
    assert np.array_equal(embedding.cached_embed(b_model, images, ids, tmp_path), b)  # read back
    assert np.array_equal(embedding.cached_embed(a_model, images, ids, tmp_path), changed)
    assert len(_entries(tmp_path, "embeddings")) == 3  # three models, one entry each
    monkeypatch.setattr(embedding, "embed", real_embed)
    embedding.cached_embed(b_model, images[:8], ids[:8], tmp_path)  # b's catalogue changed: its old entry goes
    assert len(_entries(tmp_path, "embeddings")) == 3


def test_the_projection_cache_is_read_back_and_a_damaged_one_rebuilt(tmp_path, monkeypatch):
    emb = np.random.default_rng(1).normal(size=(60, 8)).astype(np.float32)
    first = projection.cached_project(emb, "pca", tmp_path)
    real = projection.project
    monkeypatch.setattr(projection, "project", lambda *a, **k: pytest.fail("projected again"))
    assert np.array_equal(projection.cached_project(emb, "pca", tmp_path), first)
    (path,) = tmp_path.glob("projection-pca-*.npy")
    path.write_bytes(b"\x93NUMPY garbage")
    monkeypatch.setattr(projection, "project", real)
    assert np.allclose(projection.cached_project(emb, "pca", tmp_path), first)
    assert np.array_equal(np.load(path), first)


# --- file modes ---------------------------------------------------------------------------------------------

def test_written_files_get_the_umask_mode_not_0600(photos, tmp_path):
    old = os.umask(0o027)
    try:
        with atomic_write(tmp_path / "a.bin") as f:
            f.write(b"x")
        load_catalogue(photos, 24, cache_dir=tmp_path / "cache")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.bin").stat().st_mode) == 0o640
    for f in (tmp_path / "cache").iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o640, f.name
    os.chmod(tmp_path / "a.bin", 0o604)  # a replaced file keeps its mode, as with open()
    with atomic_write(tmp_path / "a.bin") as f:
        f.write(b"y")
    assert stat.S_IMODE((tmp_path / "a.bin").stat().st_mode) == 0o604


# --- the first decode ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["cache", "no cache", "memory"])
def test_the_first_decode_peaks_below_1_3x_the_final_array(shapes_dir, tmp_path, monkeypatch, where):
    load_catalogue(shapes_dir, 24, cache_dir=tmp_path / "warm-up", executor="thread")  # imports, PIL plugins
    if where == "memory":  # no file can be made anywhere: a preallocated array in memory
        monkeypatch.setattr(decoding.tempfile, "mkstemp", lambda *a, **k: (_ for _ in ()).throw(OSError("no")))
    tracemalloc.start()
    try:
        cat = load_catalogue(shapes_dir, 136, cache_dir=tmp_path / "cache", use_cache=where == "cache",
                             executor="thread", workers=2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    final = cat.images.nbytes  # 120 x 136 x 136 x 3 = 6.7 MB
    assert peak <= 1.3 * final, f"peak {peak / final:.2f}x the final array"
    assert isinstance(cat.images, np.memmap) == (where != "memory")
    assert np.array_equal(cat.images[7], load_image(cat.paths[7], 136))


def test_worker_processes_decode_the_same_images_as_one_thread(photos, tmp_path, monkeypatch):
    (photos / "Boot" / "boot-0205.jpg").write_bytes(b"broken")  # in the middle: later rows move up
    one = load_catalogue(photos, 64, cache_dir=tmp_path / "one", executor="thread", workers=1)
    real, left = decoding._decode_in_processes, []
    monkeypatch.setattr(decoding, "_decode_in_processes", lambda *a: left.append(real(*a)) or left[-1])
    monkeypatch.setattr(decoding, "_collect", lambda *a: pytest.fail("threads had to step in"))
    procs = load_catalogue(photos, 64, cache_dir=tmp_path / "procs", executor="process", workers=2)
    assert left == [[]]  # the processes did all of it
    assert procs.ids == one.ids and procs.paths == one.paths and procs.skipped == one.skipped
    assert [os.path.basename(p) for p, _ in procs.skipped] == ["boot-0205.jpg"]
    assert procs.images.shape == (120, 64, 64, 3) and np.array_equal(procs.images, one.images)
    for row in (0, 20, 21, 119):
        assert np.array_equal(procs.images[row], load_image(procs.paths[row], 64))
    reread = load_catalogue(photos, 64, cache_dir=tmp_path / "procs")  # the shrunk file reads back
    assert isinstance(reread.images, np.memmap) and np.array_equal(reread.images, one.images)


@pytest.mark.parametrize("python", ["/nonexistent/python", "/bin/false"])
def test_threads_finish_the_decode_where_worker_processes_cannot(photos, tmp_path, monkeypatch, python):
    one = load_catalogue(photos, 32, cache_dir=tmp_path / "one", executor="thread", workers=1)
    monkeypatch.setattr(sys, "executable", python)  # cannot start / dies at once
    seen = []
    cat = load_catalogue(photos, 32, cache_dir=tmp_path / "procs", executor="process", workers=2,
                         progress=lambda done, total: seen.append((done, total)))
    assert cat.ids == one.ids and np.array_equal(cat.images, one.images) and not cat.skipped
    assert seen[0] == (0, 120) and seen[-1] == (120, 120)


def test_worker_processes_do_not_rerun_the_callers_script(shapes_dir, tmp_path):
    """Streamlit runs pages as __main__ and scripts often lack a main guard: the workers must not import them."""
    script = tmp_path / "unguarded.py"
    script.write_text("import shoevae.catalogue as c\n"
                      "import shoevae.decoding as d\n"
                      "real = d._decode_in_processes\n"
                      "def spy(*a):\n"
                      "    left = real(*a)\n"
                      "    print('left for threads', len(left))\n"
                      "    return left\n"
                      "d._decode_in_processes = spy\n"
                      f"cat = c.load_catalogue({str(shapes_dir)!r}, 32, cache_dir={str(tmp_path / 'c')!r}, "
                      "executor='process', workers=2)\n"
                      "print('loaded', len(cat))\n")
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0 and out.stdout.count("loaded") == 1, out.stdout + out.stderr
    assert "left for threads 0" in out.stdout  # the worker processes did it all
    assert "Traceback" not in out.stderr, out.stderr


@pytest.mark.parametrize("executor", ["thread", "process"])
def test_a_decompression_bomb_is_a_skip_reason_not_a_raw_warning(tmp_path, capfd, executor):
    root = tmp_path / "bomb"
    (root / "Boot").mkdir(parents=True)
    Image.new("RGB", (80, 60), (200, 0, 0)).save(root / "Boot" / "fine.jpg")
    Image.new("1", (9500, 9500)).save(root / "Boot" / "bomb.png")  # 90M pixels: over PIL's warning limit
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cat = load_catalogue(root, 32, cache_dir=tmp_path / "cache", executor=executor, workers=2)
    assert [os.path.basename(p) for p in cat.paths] == ["fine.jpg"]
    assert len(cat.skipped) == 1 and "too large" in cat.skipped[0][1]
    assert not [w for w in caught if "DecompressionBomb" in w.category.__name__]
    assert "DecompressionBombWarning" not in capfd.readouterr().err
