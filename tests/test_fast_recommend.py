"""`recommend ITEM` with warm caches answers without torch or scikit-learn, and says what the full path says.

Fast tier: the synthetic shapes catalogue and the tiny shapes model (tests/conftest.py).
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.neighbors import NearestNeighbors

import shoevae.checkpoint
import shoevae.neighbours
from shoevae.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from shoevae.cli import main
from shoevae.neighbours import ShoeIndex
from shoevae.recommend import Recommender

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- the numpy index
def _sklearn(fit: np.ndarray, queries: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    index = ShoeIndex(metric=metric)  # only for its unit-length scaling
    nn = NearestNeighbors(algorithm="brute", metric="euclidean").fit(index._vectors(fit))
    return nn.kneighbors(index._vectors(queries), n_neighbors=k)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_numpy_index_matches_sklearn(metric, monkeypatch):
    monkeypatch.setattr(shoevae.neighbours, "CHUNK", 64)  # several chunks of queries
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(300, 8)).astype(np.float32)
    index = ShoeIndex(n_neighbors=7, metric=metric).fit(emb)
    queries = rng.normal(size=(150, 8)).astype(np.float32)
    d, i = index.kneighbors(queries)
    d_ref, i_ref = _sklearn(emb, queries, 7, metric)
    assert np.array_equal(i, i_ref) and np.allclose(d, d_ref, atol=1e-5)
    # leave-one-out: the sklearn answer for k+1 with the query itself removed
    d, i = index.kneighbors(emb, exclude=np.arange(len(emb)))
    d_ref, i_ref = _sklearn(emb, emb, 8, metric)
    assert (i_ref[:, 0] == np.arange(len(emb))).all()
    assert np.array_equal(i, i_ref[:, 1:]) and np.allclose(d, d_ref[:, 1:], atol=1e-5)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_numpy_index_with_duplicates_matches_sklearn_distances(metric, monkeypatch):
    monkeypatch.setattr(shoevae.neighbours, "CHUNK", 16)
    rng = np.random.default_rng(1)
    base = rng.normal(size=(20, 4)).astype(np.float32)
    emb = base[rng.integers(0, 20, size=60)]  # each vector about three times: many exact ties
    index = ShoeIndex(n_neighbors=5, metric=metric).fit(emb)
    d, i = index.kneighbors(emb, exclude=np.arange(len(emb)))
    assert i.shape == (60, 5) and not (i == np.arange(60)[:, None]).any()
    d_ref, _ = _sklearn(emb, emb, 6, metric)
    assert np.allclose(d, d_ref[:, 1:], atol=1e-5)  # which of tied shoes comes first may differ, not the distances
    for q in range(len(emb)):  # every neighbour is really at the distance reported
        assert np.allclose(np.linalg.norm(index._vectors(emb[i[q]]) - index._vectors(emb[q]), axis=1), d[q], atol=1e-5)
    assert np.array_equal(i, index.kneighbors(emb, exclude=np.arange(len(emb)))[1])  # repeatable


# ----------------------------------------------------------------------------- the CLI without torch
@pytest.fixture
def warm(tmp_path, shapes_dir, shapes_checkpoint, monkeypatch):
    """(checkpoint copy, cache folder, base command): an own cache, empty."""
    ckpt = tmp_path / "m.pt"
    ckpt.write_bytes(shapes_checkpoint.read_bytes())
    cache_dir = tmp_path / "cache"
    monkeypatch.setenv("SHOEVAE_CACHE", str(cache_dir))
    return ckpt, cache_dir, ["recommend", "--data", str(shapes_dir), "--checkpoint", str(ckpt)]


def _no_checkpoint_loading(mp: pytest.MonkeyPatch) -> None:
    mp.setattr(shoevae.checkpoint, "load_checkpoint", lambda *a, **kw: pytest.fail("took the full path"))


def test_fast_path_prints_what_the_full_path_prints(warm, shapes_catalogue, capsys):
    ckpt, cache_dir, base = warm
    items = [shapes_catalogue.ids[0], shapes_catalogue.ids[77]]
    for item in items:
        for extra in ([], ["-k", "3"], ["--metric", "euclidean", "-k", "9"]):
            assert main([*base, item, *extra]) == 0  # the first call: the full path, which writes the alias
            full = capsys.readouterr().out
            with pytest.MonkeyPatch.context() as mp:
                _no_checkpoint_loading(mp)
                assert main([*base, item, *extra]) == 0
            fast = capsys.readouterr().out
            assert fast == full and len(fast.splitlines()) == (int(extra[-1]) if extra else 5)
    assert len(list(cache_dir.glob("checkpoint-alias-*.json"))) == 1
    with pytest.MonkeyPatch.context() as mp:  # an unknown id: the same one error line
        _no_checkpoint_loading(mp)
        assert main([*base, "no-such-shoe"]) == 2
    assert "no shoe with item id 'no-such-shoe'" in capsys.readouterr().err


def test_fast_path_imports_neither_torch_nor_sklearn(warm, shapes_catalogue, capsys):
    ckpt, cache_dir, base = warm
    item = shapes_catalogue.ids[5]
    assert main([*base, item]) == 0
    full = capsys.readouterr().out
    code = ("import sys; from shoevae.cli import main; rc = main(sys.argv[1:]); "
            "sys.stderr.write(' '.join(m for m in ('torch', 'sklearn') if m in sys.modules)); sys.exit(rc)")
    out = subprocess.run([sys.executable, "-c", code, *base, item], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "SHOEVAE_CACHE": str(cache_dir)}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout == full
    assert "torch" not in out.stderr.split() and "sklearn" not in out.stderr.split()


def test_a_rewritten_checkpoint_never_reads_a_stale_alias(warm, shapes_catalogue, capsys):
    ckpt, cache_dir, base = warm
    item = shapes_catalogue.ids[3]
    assert main([*base, item]) == 0
    old = capsys.readouterr().out
    ck = read_checkpoint(ckpt)  # the same architecture (likely the same size), other weights
    g = torch.Generator().manual_seed(0)
    ck["model_state"] = {k: v + 0.05 * torch.randn(v.shape, generator=g) if v.is_floating_point() else v
                         for k, v in ck["model_state"].items()}
    save_checkpoint(ck, ckpt)
    model, _ = load_checkpoint(ckpt)
    rec = Recommender(model, shapes_catalogue)
    expected = "".join(f"{r}. {m.item_id}  {m.category:<8} distance {m.distance:.3f}  {shapes_catalogue.paths[m.row]}\n"
                       for r, m in enumerate(rec.similar(item), 1))
    assert expected != old  # the test can tell the two models apart
    assert main([*base, item]) == 0
    assert capsys.readouterr().out == expected
    with pytest.MonkeyPatch.context() as mp:  # and the new alias is used from then on
        _no_checkpoint_loading(mp)
        assert main([*base, item]) == 0
    assert capsys.readouterr().out == expected
    assert len(list(cache_dir.glob("checkpoint-alias-*.json"))) == 1  # the stale alias was replaced
