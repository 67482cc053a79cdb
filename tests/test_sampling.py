"""The samplers: seeded and reproducible, fitted on the given vectors, temperature scales the spread."""
from __future__ import annotations

import numpy as np
import pytest

from shoevae.sampling import MixtureSampler, NormalSampler, cached_mixture, make_sampler


def two_clusters(n: int = 400, d: int = 6, seed: int = 0) -> np.ndarray:
    """Vectors in two tight clusters far from the origin (where N(0, I) never goes)."""
    rng = np.random.default_rng(seed)
    centre = np.zeros(d)
    centre[0] = 8.0
    return np.concatenate([centre + 0.1 * rng.standard_normal((n // 2, d)),
                           -centre + 0.1 * rng.standard_normal((n // 2, d))]).astype(np.float32)


@pytest.mark.parametrize("kind", ["mixture", "normal"])
def test_same_seed_same_vectors_other_seed_others(kind):
    s = make_sampler(kind).fit(two_clusters())
    a, b, c = s.sample(16, 1.0, seed=3), s.sample(16, 1.0, seed=3), s.sample(16, 1.0, seed=4)
    assert a.shape == (16, 6) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_mixture_samples_lie_where_the_fitted_vectors_are():
    x = two_clusters()
    z = MixtureSampler(n_components=2).fit(x).sample(500, 1.0, seed=0)
    assert np.all(np.abs(np.abs(z[:, 0]) - 8.0) < 1.0), "every sample sits in one of the two clusters"
    assert 0.3 < np.mean(z[:, 0] > 0) < 0.7, "both clusters are drawn, by their weights"
    prior = NormalSampler().fit(x).sample(500, 1.0, seed=0)
    assert np.all(np.abs(prior[:, 0]) < 6), "the prior knows nothing of the clusters"


def test_refitting_on_other_vectors_moves_the_samples():
    x = two_clusters()
    shifted = x + np.float32(20.0)
    a = MixtureSampler(n_components=2).fit(x).sample(100, seed=0)
    b = MixtureSampler(n_components=2).fit(shifted).sample(100, seed=0)
    assert abs((b - a).mean() - 20.0) < 0.5


@pytest.mark.parametrize("kind", ["mixture", "normal"])
def test_temperature_scales_the_spread_around_the_centre(kind):
    x = two_clusters()
    s = (MixtureSampler(n_components=2) if kind == "mixture" else NormalSampler()).fit(x)
    cold, warm = s.sample(2000, 0.5, seed=1), s.sample(2000, 2.0, seed=1)
    centre = lambda z: np.sign(z[:, :1]) * np.array([8.0] + [0.0] * 5) if kind == "mixture" else 0.0
    spread = lambda z: (z - centre(z))[:, 1:].std()
    assert spread(warm) == pytest.approx(4 * spread(cold), rel=0.1)
    zero = s.sample(10, 0.0, seed=1)
    if kind == "mixture":
        assert np.all(np.isin(np.round(zero[:, 0]), [-8.0, 8.0])), "temperature 0: the component means"
    else:
        assert np.all(zero == 0)


def test_few_vectors_get_fewer_components_and_bad_input_is_refused():
    assert MixtureSampler().fit(two_clusters(n=10)).gmm_.n_components == 5
    with pytest.raises(ValueError, match="at least 2"):
        MixtureSampler().fit(np.zeros((1, 4)))
    with pytest.raises(ValueError, match="unknown sampler"):
        make_sampler("uniform")


def test_cached_mixture_is_written_once_and_gives_the_same_samples(tmp_path):
    x = two_clusters()
    first = cached_mixture(x, tmp_path)
    files = list(tmp_path.glob("mixture-*.npz"))
    assert len(files) == 1 and not list(tmp_path.glob(".*.tmp"))
    again = cached_mixture(x, tmp_path)  # read back from disk
    np.testing.assert_array_equal(first.sample(8, 1.2, seed=5), again.sample(8, 1.2, seed=5))
    cached_mixture(x[:200], tmp_path)
    assert len(list(tmp_path.glob("mixture-*.npz"))) == 2, "other vectors, another fit"
    files[0].write_bytes(b"garbage")
    np.testing.assert_array_equal(cached_mixture(x, tmp_path).sample(4, seed=0), first.sample(4, seed=0))
