"""Recommendations are deterministic, exclude the query, and evaluation scores what it should.

Fast tier: the synthetic shapes catalogue and the tiny shapes model (tests/conftest.py).
"""
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import shoevae.projection
from shoevae.checkpoint import load_checkpoint
from shoevae.cli import main
from shoevae.evaluate import leave_one_out, mean_bce, precision_at_k
from shoevae.images import ImageError
from shoevae.model import prepare, to_uint8
from shoevae.neighbours import ShoeIndex
from shoevae.projection import cached_project
from shoevae.recommend import Recommender
from shoevae.sampling import PriorSampler

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def setup(tmp_path_factory, shapes_dir, shapes_catalogue, shapes_checkpoint):
    """(work folder, photo folder, catalogue, model): the shapes and the tiny model trained on them."""
    d = tmp_path_factory.mktemp("rec")
    (d / "m.pt").write_bytes(shapes_checkpoint.read_bytes())
    model, _ = load_checkpoint(d / "m.pt")
    return d, shapes_dir, shapes_catalogue, model


def test_recommendations_are_identical_across_calls_and_never_the_query(setup):
    _, _, cat, model = setup
    rec_a, rec_b = Recommender(model, cat), Recommender(model, cat)
    assert np.array_equal(rec_a.embeddings, rec_b.embeddings)  # mean vectors, not sampled z
    for item in cat.ids[::17]:
        a, b = rec_a.similar(item), rec_a.similar(item)
        assert a == b == rec_b.similar(item)
        assert len(a) == 5 and item not in [m.item_id for m in a]
        assert [m.distance for m in a] == sorted(m.distance for m in a)
    with pytest.raises(KeyError):
        rec_a.similar("not-an-id")


def test_exclusion_holds_with_exact_duplicates():
    emb = np.zeros((6, 3), np.float32)  # all tied at distance 0
    index = ShoeIndex(n_neighbors=5).fit(emb)
    for q in range(6):
        d, i = index.kneighbors(emb[q], exclude=np.array([q]))
        assert q not in i[0] and len(i[0]) == 5
    d, i = index.kneighbors(emb[:2], n_neighbors=10)
    assert i.shape == (2, 6)  # k is capped at the catalogue size


def test_query_by_photo_matches_query_by_item(setup):
    _, _, cat, model = setup
    rec = Recommender(model, cat)
    row = 5
    by_photo = rec.similar_to_image(cat.paths[row], k=6)
    assert by_photo[0].item_id == cat.ids[row] and by_photo[0].distance < 1e-3
    assert [m.item_id for m in by_photo[1:]] == [m.item_id for m in rec.similar(cat.ids[row], k=5)]
    png = io.BytesIO()
    Image.fromarray(cat.images[row]).convert("RGBA").save(png, "PNG")
    assert len(rec.similar_to_image(png.getvalue())) == 5
    with pytest.raises(ImageError):
        rec.similar_to_image(b"definitely not an image")


def test_decode_and_reconstruct(setup):
    _, _, cat, model = setup
    rec = Recommender(model, cat)
    rows = [0, 50, 100]
    out, bce = rec.reconstruct(rows)
    assert out.shape == (3, 64, 64, 3) and out.dtype == np.uint8
    # the error is the BCE of each shown reconstruction against its own photo, summed over its pixels
    x = prepare(cat.images[rows], 64).double()
    with torch.no_grad():
        p = model.decode(model.encode(prepare(cat.images[rows], 64))[0]).double()
    expected = -(x * torch.log(p) + (1 - x) * torch.log1p(-p)).sum((1, 2, 3)).numpy()
    assert bce == pytest.approx(expected, rel=1e-4)
    assert np.abs(out.astype(int) - to_uint8(p).astype(int)).max() <= 1
    assert mean_bce(model, cat.images[rows]) == pytest.approx(bce.mean(), rel=1e-4)
    assert rec.reconstruct(rows[::-1])[1] == pytest.approx(bce[::-1], rel=1e-5)  # each error stays with its shoe
    prior = PriorSampler().fit(rec.embeddings)  # shoes from N(0, I): the sampler draws, the recommender decodes
    assert np.array_equal(rec.decode(prior.sample(4, seed=1)), rec.decode(prior.sample(4, seed=1)))
    assert not np.array_equal(rec.decode(prior.sample(4, seed=1)), rec.decode(prior.sample(4, seed=2)))
    assert rec.decode(np.zeros(16)).shape == (1, 64, 64, 3)


def test_projection_is_computed_once_then_read_from_the_cache(setup, tmp_path, monkeypatch):
    _, _, cat, model = setup
    emb = Recommender(model, cat).embeddings[::3]  # 40 shoes: t-SNE in a moment
    calls = []
    real_project = shoevae.projection.project
    monkeypatch.setattr(shoevae.projection, "project",
                        lambda e, method="pca", seed=0, progress=None: calls.append(method)
                        or real_project(e, method, seed, progress))
    for method in ("pca", "tsne"):
        a = cached_project(emb, method, tmp_path)
        assert a.shape == (len(emb), 2) and np.isfinite(a).all()
        assert np.array_equal(a, cached_project(emb, method, tmp_path))
    assert calls == ["pca", "tsne"], "the second call of each reads the cache"
    assert len(list(tmp_path.glob("projection-*.npy"))) == 2
    moved = cached_project(emb + 1, "pca", tmp_path)  # other embeddings (another model): computed afresh
    assert calls == ["pca", "tsne", "pca"] and moved.shape == (len(emb), 2)


def test_precision_and_coverage_on_known_features():
    cats = ["a"] * 10 + ["b"] * 10
    separable = np.concatenate([np.random.default_rng(0).normal(0, 1, (10, 4)),
                                np.random.default_rng(1).normal(100, 1, (10, 4))])
    rows = np.arange(20)
    assert precision_at_k(separable, cats, rows[::5], np.setdiff1d(rows, rows[::5]), k=3, metric="euclidean") == 1.0
    p, cover = leave_one_out(separable, cats, k=3, metric="euclidean")
    d = np.linalg.norm(separable[:, None] - separable[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    shown = np.unique(np.argsort(d, axis=1)[:, :3])  # every shoe's 3 nearest others, by brute force
    assert p == 1.0 and cover == len(shown) / 20 and len(shown) < 20  # some shoe is nobody's neighbour
    mixed = separable.copy()
    mixed[10:] = mixed[:10]  # category b now sits exactly on category a
    assert leave_one_out(mixed, cats, k=3, metric="euclidean")[0] < 0.8


def test_cli_recommend_and_errors(setup, monkeypatch, capsys):
    """`python -m shoevae recommend`: five lines; every mistake one line on stderr and exit status 2.

    In-process through shoevae.cli.main (an interpreter per call costs seconds); one call goes through
    `python -m shoevae` to check what the user sees: the exit status and a single line, no traceback.
    """
    d, photos, cat, _ = setup
    (d / "empty").mkdir()
    (d / "notes.txt").write_text("not a checkpoint")
    monkeypatch.setenv("SHOEVAE_CACHE", str(d / "cache"))
    ckpt = ["--checkpoint", str(d / "m.pt")]
    assert main(["recommend", cat.ids[0], "--data", str(photos), *ckpt]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 5 and cat.ids[0] not in "\n".join(lines)
    for args, message in [(("recommend", "nope", "--data", str(photos), *ckpt), "no shoe with item id"),
                          (("recommend", "x", "--data", str(d / "missing"), *ckpt), "does not exist"),
                          (("recommend", "x", "--data", str(photos), "--checkpoint", str(d / "notes.txt")),
                           "not a readable checkpoint"),
                          (("train", "--data", str(d / "empty"), "--epochs", "1"), "no images found")]:
        assert main(list(args)) == 2, args
        err = capsys.readouterr().err
        assert err.startswith("shoevae: error: ") and message in err and len(err.strip().splitlines()) == 1, err
    r = subprocess.run([sys.executable, "-m", "shoevae", "recommend", "nope", "--data", str(photos), *ckpt],
                       cwd=ROOT, capture_output=True, text=True,
                       env={"SHOEVAE_CACHE": str(d / "cache"), "PATH": "/usr/bin:/bin", "HOME": str(d)})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "no shoe with item id 'nope'" in r.stderr, r.stderr


def test_coverage_counts_distinct_recommended_shoes():
    x = np.array([[0.0], [1.0], [3.0], [6.0], [10.0]])
    # nearest neighbours: 0->1, 1->0, 3->1, 6->3, 10->6: shoes 0, 1, 3, 6 are ever shown, 10 never
    precision, coverage = leave_one_out(x, ["a", "a", "a", "b", "b"], k=1, metric="euclidean")
    assert coverage == pytest.approx(4 / 5)
    assert precision == pytest.approx(4 / 5)  # only 6 -> 3 crosses categories


def test_cosine_metric_compares_directions_and_euclidean_compares_positions():
    # a central shoe (short vector) is the nearest of many by position, of nobody by direction
    x = np.array([[0.1, 0.05], [1.0, 0.0], [3.0, 0.2], [0.0, 1.0], [0.3, 2.0]], np.float32)
    by_position = ShoeIndex(n_neighbors=1, metric="euclidean").fit(x)
    by_direction = ShoeIndex(n_neighbors=1).fit(x)
    rows = np.arange(5)
    assert by_position.kneighbors(x, exclude=rows)[1][:, 0].tolist() == [1, 0, 1, 0, 3]
    d, i = by_direction.kneighbors(x, exclude=rows)
    assert i[:, 0].tolist() == [2, 2, 1, 4, 3] and d.max() <= 2
    assert by_direction.kneighbors(10 * x[2])[1][0, 0] == 2  # length does not matter, direction does
    with pytest.raises(ValueError, match="unknown metric"):
        ShoeIndex(metric="manhattan")
