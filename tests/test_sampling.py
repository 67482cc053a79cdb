"""The samplers: seeded and reproducible, fitted on the given vectors, temperature scales the spread; the second stage
carries the report's N(0, I) noise to where the style vectors lie."""
from __future__ import annotations

import numpy as np
import pytest

from shoevae.sampling import MixtureSampler, NormalSampler, PriorSampler, cached_mixture, make_sampler


def two_clusters(n: int = 400, d: int = 6, seed: int = 0) -> np.ndarray:
    """Vectors in two tight clusters far from the origin (where N(0, I) never goes)."""
    rng = np.random.default_rng(seed)
    centre = np.zeros(d)
    centre[0] = 8.0
    return np.concatenate([centre + 0.1 * rng.standard_normal((n // 2, d)),
                           -centre + 0.1 * rng.standard_normal((n // 2, d))]).astype(np.float32)


@pytest.mark.parametrize("kind", ["mixture", "normal", "prior"])
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
    prior = PriorSampler().fit(x).sample(500, 1.0, seed=0)
    assert np.all(np.abs(prior[:, 0]) < 6), "the prior knows nothing of the clusters"


def test_refitting_on_other_vectors_moves_the_samples():
    x = two_clusters()
    shifted = x + np.float32(20.0)
    a = MixtureSampler(n_components=2).fit(x).sample(100, seed=0)
    b = MixtureSampler(n_components=2).fit(shifted).sample(100, seed=0)
    assert abs((b - a).mean() - 20.0) < 0.5


@pytest.mark.parametrize("kind", ["mixture", "prior"])
def test_temperature_scales_the_spread_around_the_centre(kind):
    x = two_clusters()
    s = (MixtureSampler(n_components=2) if kind == "mixture" else PriorSampler()).fit(x)
    cold, warm = s.sample(2000, 0.5, seed=1), s.sample(2000, 2.0, seed=1)
    centre = lambda z: np.sign(z[:, :1]) * np.array([8.0] + [0.0] * 5) if kind == "mixture" else 0.0
    spread = lambda z: (z - centre(z))[:, 1:].std()
    assert spread(warm) == pytest.approx(4 * spread(cold), rel=0.1)
    zero = s.sample(10, 0.0, seed=1)
    if kind == "mixture":
        assert np.all(np.isin(np.round(zero[:, 0]), [-8.0, 8.0])), "temperature 0: the component means"
    else:
        assert np.all(zero == 0)


def far_codes(n: int = 4000, d: int = 8, seed: int = 0) -> np.ndarray:
    """Style vectors as a VAE that kept much KL leaves them: far from the origin, long, correlated."""
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((d, d)) * 2.0
    return (12.0 + rng.standard_normal((n, d)) @ mix.T).astype(np.float32)


def test_the_second_stage_draws_where_the_style_vectors_lie_and_the_prior_does_not():
    x = far_codes()
    z = NormalSampler().fit(x).sample(20000, 1.0, seed=0)
    assert np.allclose(z.mean(0), x.mean(0), atol=0.3), "centred on the vectors' mean"
    cov_z, cov_x = np.cov(z, rowvar=False), np.cov(x, rowvar=False)
    assert np.linalg.norm(cov_z - cov_x) < 0.1 * np.linalg.norm(cov_x), "spread and correlated as the vectors are"
    prior = PriorSampler().fit(x).sample(20000, 1.0, seed=0)
    assert np.abs(prior.mean(0)).max() < 0.1 and np.abs(x.mean(0)).min() > 10, "the prior stays at the origin"


def test_the_second_stage_maps_the_reports_noise_and_temperature_scales_it():
    x = far_codes(d=5)
    s = NormalSampler().fit(x)
    u = PriorSampler().fit(x).sample(7, 1.0, seed=3)  # the report's draw, z ~ N(0, I)
    np.testing.assert_allclose(s.sample(7, 1.0, seed=3), s.mean_ + u.astype(np.float64) @ s.chol_.T, rtol=1e-5)
    np.testing.assert_allclose(s.sample(7, 0.0, seed=3), np.repeat(s.mean_[None], 7, 0), rtol=1e-6)
    cold, warm = s.sample(4000, 0.5, seed=1) - s.mean_, s.sample(4000, 2.0, seed=1) - s.mean_
    assert warm.std() == pytest.approx(4 * cold.std(), rel=1e-5)
    with pytest.raises(ValueError, match="at least 2"):
        NormalSampler().fit(np.zeros((1, 4)))


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
