"""KID and Frechet distance: hand computations on small arrays, known Gaussians, same-distribution floors."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from synthetic import draw_shoe

from bench.features import frechet_distance, frechet_from_stats, kid, mmd2_unbiased, polynomial_kernel


def test_mmd2_matches_a_direct_computation():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(5, 3)), rng.normal(1.0, 2.0, size=(4, 3))
    k = lambda a, b: (a @ b / 3 + 1) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(5), 2)) / (5 * 4)
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(4), 2)) / (4 * 3)
    xy = sum(k(a, b) for a in x for b in y) / (5 * 4)
    assert mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy, rel=1e-12)
    assert polynomial_kernel(x, y).shape == (5, 4)


def test_kid_subsets_average_the_estimator():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(6, 2)), rng.normal(size=(6, 2))
    mean, std = kid(x, y, subsets=3, subset_size=6)  # subsets of the whole sets: all equal
    assert mean == pytest.approx(mmd2_unbiased(x, y)) and std == pytest.approx(0.0, abs=1e-12)


def test_kid_is_near_zero_within_a_distribution_and_large_between():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(800, 16)), rng.normal(size=(800, 16))
    same, same_std = kid(a, b, subsets=20, subset_size=400)
    shifted, _ = kid(a, rng.normal(0.5, 1.0, size=(800, 16)), subsets=20, subset_size=400)
    assert abs(same) < 3 * same_std + 1e-3  # unbiased: no positive floor for equal distributions
    assert shifted > 20 * max(abs(same), same_std)


def test_frechet_of_known_gaussians():
    d = 4
    mu1, mu2 = np.zeros(d), np.array([1.0, 2.0, 0.0, 0.0])
    # isotropic: |mu1 - mu2|^2 + d (s1 - s2)^2
    assert frechet_from_stats(mu1, 4 * np.eye(d), mu2, np.eye(d)) == pytest.approx(5 + d * (2 - 1) ** 2)
    # diagonal: sum over dimensions of (sqrt(a) - sqrt(b))^2
    a, b = np.array([1.0, 4.0, 9.0, 0.0]), np.array([4.0, 1.0, 9.0, 1.0])  # singular first covariance too
    assert frechet_from_stats(mu1, np.diag(a), mu1, np.diag(b)) == pytest.approx(((np.sqrt(a) - np.sqrt(b)) ** 2).sum())
    # a rotated pair: the distance does not depend on the basis
    q, _ = np.linalg.qr(np.random.default_rng(4).normal(size=(d, d)))
    assert frechet_from_stats(q @ mu1, q @ np.diag(a) @ q.T, q @ mu1, q @ np.diag(b) @ q.T) == pytest.approx(
        ((np.sqrt(a) - np.sqrt(b)) ** 2).sum())


def test_frechet_from_samples():
    rng = np.random.default_rng(5)
    x, y = rng.normal(0, 1, size=(20000, 3)), rng.normal(1, 2, size=(20000, 3))
    assert frechet_distance(x, y) == pytest.approx(3 * 1 + 3 * 1, rel=0.05)
    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)


def test_imagenet_features_tell_shoes_from_noise():
    pytest.importorskip("efficientnet_lite_pytorch", reason="development dependency (requirements-dev.txt)")
    from bench.features import ImageNetFeatures
    rng = np.random.default_rng(6)
    kinds = ("Boot", "Shoe", "Sandal", "Boot", "Shoe")
    shoes = [np.array(draw_shoe(c, rng).resize((96, 96))) for c in kinds]  # tests/synthetic.py's shoe photos
    noise = list(rng.integers(0, 256, (3, 96, 96, 3), dtype=np.uint8))
    judge = ImageNetFeatures(batch_size=3)
    f = judge(np.stack([*shoes, *noise]))
    assert f.shape == (8, 1280) and np.isfinite(f).all()
    assert np.allclose(judge(shoes[3][None])[0], f[3], atol=1e-4)  # alone or batched, the same features (eval mode)
    dist = np.linalg.norm(f[:, None] - f[None], axis=-1)
    np.fill_diagonal(dist, np.inf)
    nearest = dist.argmin(axis=1)
    assert all((nearest[i] < 5) == (i < 5) for i in range(8))  # every shoe's nearest picture is a shoe, noise's noise
    assert nearest[0] == 3 and nearest[1] == 4  # and a boot's is the other boot, a shoe's the other shoe
