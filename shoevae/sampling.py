"""Where to draw new style vectors from: a mixture fitted to the catalogue, N(0, I) through a second stage, or
N(0, I) straight into the decoder (the report's way).

A VAE's decoder only learnt the part of latent space that the encoder's mean vectors fill, and they need not fill
its prior: the shipped `colour` keeps about 820 nats of KL per photo, its style vectors are about 31 long where a
draw from N(0, I) is 10, so a fifth of the prior's draws (`parts`: two in three) land where the decoder has seen
no shoe and come out blank. Two ways to sample where the shoes are, both fitted to the catalogue's style vectors
after training:

- `mixture` (the default): ex-post density estimation (Ghosh et al. 2020, "From variational to deterministic
  autoencoders"), a scikit-learn GaussianMixture. Why 20 full-covariance components: fitted on the 90 % training
  split of the shared catalogue's `style` mean vectors, the held-out 10 % scored a mean log-likelihood per shoe
  of -92.1 (5 components), -85.4 (10), -82.4 (20) and -88.8 (40, overfitting); 20 fit in 11 s on 2 cores
  (bench/bench_mixture.py).
- `normal`: noise u ~ N(0, I), as the report draws it, mapped into style space by a second stage fitted to the
  style vectors (the two-stage VAE of Dai & Wipf 2019, "Diagnosing and enhancing VAE models", with a linear
  second stage): z = m + L u, m their mean and L the Cholesky factor of their covariance. The same Gaussian as a
  one-component mixture, fitted in closed form.
- `prior`: z ~ N(0, I) straight into the decoder, as the report samples (a blank tile in five with `colour`).

Every sampler shares one interface, scikit-learn style: fit(mean vectors) -> self, sample(n, temperature, seed)
-> z (n, D) float32. Temperature scales the spread around the centre (the prior's 0, the fitted mean, each
component's mean); the same seed gives the same vectors.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from . import cache
from .config import MAX_GENERATE, MAX_SEED, MAX_TEMPERATURE, PHOTO_SIZE, SAMPLERS
from .errors import ConfigError

N_COMPONENTS = 20
MAX_ITER = 25  # EM iterations: 25 scored -83.3 held out against -83.2 run to convergence (43 iterations)


class PriorSampler:
    """z ~ N(0, temperature^2 I) straight into the decoder: the prior, as the report samples."""

    def fit(self, embeddings: np.ndarray) -> PriorSampler:
        self.n_features_in_ = int(np.asarray(embeddings).shape[1])
        return self

    def sample(self, n: int, temperature: float = 1.0, seed: int = 0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return (rng.standard_normal((n, self.n_features_in_)) * temperature).astype(np.float32)


class NormalSampler:
    """u ~ N(0, I) through a linear second stage fitted to the catalogue's mean vectors: z = mean + L (temperature u)."""

    def __init__(self, *, reg_covar: float = 1e-4) -> None:
        self.reg_covar = reg_covar  # added to the covariance's diagonal, as GaussianMixture's reg_covar

    def fit(self, embeddings: np.ndarray) -> NormalSampler:
        """Fit on mean vectors (N, D): their mean and the Cholesky factor of their covariance."""
        x = np.asarray(embeddings, np.float64)
        if x.ndim != 2 or len(x) < 2:
            raise ConfigError(f"need at least 2 mean vectors of shape (N, D) to fit the second stage, got {x.shape}")
        self.mean_ = x.mean(axis=0)
        self.chol_ = np.linalg.cholesky(np.cov(x, rowvar=False) + self.reg_covar * np.eye(x.shape[1]))
        self.n_features_in_ = x.shape[1]
        return self

    def sample(self, n: int, temperature: float = 1.0, seed: int = 0) -> np.ndarray:
        u = np.random.default_rng(seed).standard_normal((n, self.n_features_in_))  # the report's noise
        return (self.mean_ + temperature * u @ self.chol_.T).astype(np.float32)


class MixtureSampler:
    """A Gaussian mixture fitted to the catalogue's mean vectors (ex-post density estimation)."""

    def __init__(self, *, n_components: int = N_COMPONENTS, covariance_type: str = "full",
                 reg_covar: float = 1e-4, max_iter: int = MAX_ITER, random_state: int = 0) -> None:
        self.n_components = n_components
        self.max_iter = max_iter
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.random_state = random_state

    def fit(self, embeddings: np.ndarray) -> MixtureSampler:
        """Fit on mean vectors (N, D); fewer components when there are few vectors (at least 2 each)."""
        x = np.asarray(embeddings, np.float64)
        if x.ndim != 2 or len(x) < 2:
            raise ConfigError(f"need at least 2 mean vectors of shape (N, D) to fit a mixture, got {x.shape}")
        k = max(1, min(self.n_components, len(x) // 2))
        self.gmm_ = GaussianMixture(k, covariance_type=self.covariance_type, reg_covar=self.reg_covar,
                                    max_iter=self.max_iter, random_state=self.random_state)
        with warnings.catch_warnings():  # stopping at max_iter is a choice here (see MAX_ITER), not a failure
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.gmm_.fit(x)
        self.n_features_in_ = x.shape[1]
        return self

    def sample(self, n: int, temperature: float = 1.0, seed: int = 0) -> np.ndarray:
        """n vectors: a component by its weight, then its mean + temperature * (its spread) * noise."""
        g, rng = self.gmm_, np.random.default_rng(seed)
        comp = rng.choice(len(g.weights_), size=n, p=g.weights_ / g.weights_.sum())
        eps = rng.standard_normal((n, self.n_features_in_))
        cov = g.covariances_
        if self.covariance_type == "full":
            chol = np.linalg.cholesky(cov)  # (K, D, D)
            noise = np.einsum("nij,nj->ni", chol[comp], eps)
        elif self.covariance_type == "diag":
            noise = np.sqrt(cov[comp]) * eps
        elif self.covariance_type == "spherical":
            noise = np.sqrt(cov[comp])[:, None] * eps
        else:  # tied
            noise = eps @ np.linalg.cholesky(cov).T
        return (g.means_[comp] + temperature * noise).astype(np.float32)


def check_draw(n: int, temperature: float, seed: int) -> None:
    """ConfigError unless 1 <= n <= MAX_GENERATE, 0 <= temperature <= MAX_TEMPERATURE (finite) and 0 <= seed <= MAX_SEED."""
    if not 1 <= n <= MAX_GENERATE:
        raise ConfigError(f"--n must be from 1 to {MAX_GENERATE}, got {n}")
    if not 0 <= temperature <= MAX_TEMPERATURE:  # NaN fails too
        raise ConfigError(f"--temperature must be a number from 0 to {MAX_TEMPERATURE:g}, got {temperature}")
    if not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"--seed must be a whole number from 0 to {MAX_SEED}, got {seed}")


Sampler = MixtureSampler | NormalSampler | PriorSampler


def make_sampler(kind: str) -> Sampler:
    """An unfitted sampler by name (SAMPLERS); ConfigError for another name."""
    if kind == "mixture":
        return MixtureSampler()
    if kind == "normal":
        return NormalSampler()
    if kind == "prior":
        return PriorSampler()
    raise ConfigError(f"unknown sampler {kind!r}; choose from {', '.join(SAMPLERS)}")


def cached_mixture(embeddings: np.ndarray, cache_dir: str | Path) -> MixtureSampler:
    """A MixtureSampler fitted on `embeddings`, remembered on disk (shoevae/cache.py) per embedding matrix.

    The entry is a .npz of the fitted weights, means and covariances (all that sample() needs); a damaged
    one is fitted again, and a failed write is reported once like every other cache's.
    """
    x = np.ascontiguousarray(embeddings, np.float32)
    sampler = MixtureSampler()
    settings = (f"{sampler.n_components}|{sampler.covariance_type}|{sampler.reg_covar}|{sampler.max_iter}|"
                f"{sampler.random_state}")
    entry = cache.vectors_entry(cache_dir, "mixture", x, settings)
    stored = cache.read_arrays(entry, ("weights", "means", "covariances"))  # None if missing or damaged: fit again
    if stored is not None:
        return _restore(sampler, stored["weights"], stored["means"], stored["covariances"])
    sampler.fit(x)
    g = sampler.gmm_
    cache.write_arrays(entry, weights=g.weights_, means=g.means_, covariances=g.covariances_)
    return sampler


def _restore(sampler: MixtureSampler, weights: np.ndarray, means: np.ndarray,
             covariances: np.ndarray) -> MixtureSampler:
    """A fitted sampler from stored parameters (sample() needs only these)."""
    g = GaussianMixture(len(weights), covariance_type=sampler.covariance_type, reg_covar=sampler.reg_covar,
                        random_state=sampler.random_state)
    g.weights_, g.means_, g.covariances_ = weights, means, covariances
    sampler.gmm_, sampler.n_features_in_ = g, means.shape[1]
    return sampler


def image_grid(images: np.ndarray, columns: int | None = None, pad: int = 2) -> np.ndarray:
    """uint8 images (N,H,W,3) tiled into one uint8 image on white, `columns` wide (about square by default)."""
    n, h, w, _ = images.shape
    if columns is None:  # about square, and no half-empty last row when a divisor is near
        root = int(np.ceil(np.sqrt(n)))
        columns = next((c for c in range(root, 2 * root + 1) if n % c == 0), root)
    rows = -(-n // columns)
    grid = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, 3), 255, np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, columns)
        grid[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = im
    return grid


def image_format(path: str | Path) -> str:
    """PIL's format for an image file name's suffix; ConfigError if PIL cannot write that type."""
    from PIL import Image
    suffix = Path(path).suffix
    fmt = Image.registered_extensions().get(suffix.lower())
    if fmt is None or fmt not in Image.SAVE:
        raise ConfigError(f"cannot write images of type {suffix or '(no suffix)'!r}: use .png or .jpg")
    return fmt


def save_image(image: np.ndarray, path: str | Path, *, force: bool = False) -> Path:
    """Write a uint8 image atomically, format by suffix; FileExistsError rather than overwrite without force."""
    from PIL import Image

    from .atomic import atomic_write
    path = Path(path)
    fmt = image_format(path)
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists: choose another --out, or add --force to overwrite it")
    with atomic_write(path) as f:
        Image.fromarray(image).save(f, format=fmt)
    return path


def generate_grid(checkpoint: str | Path, n: int, *, sampler: str = "mixture", temperature: float = 1.0,
                  seed: int = 0, data: str | Path | None = None, cache_dir: str | Path | None = None,
                  progress: bool = False) -> np.ndarray:
    """A grid of n shoes decoded from a checkpoint's style vectors drawn by `sampler`.

    The mixture and the second stage are fitted on the mean vectors of the catalogue in `data` (embeddings and the
    mixture cached in cache_dir, default $SHOEVAE_CACHE); the prior needs no photos.
    """
    import torch

    from .cache import default_cache_dir
    from .catalogue import load_catalogue
    from .checkpoint import load_checkpoint
    from .embedding import cached_embed
    from .model import to_uint8
    check_draw(n, temperature, seed)
    drawer = make_sampler(sampler)
    model, _ = load_checkpoint(checkpoint)
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    if isinstance(drawer, PriorSampler):
        drawer.fit(np.zeros((1, model.cfg.latent_dim), np.float32))
    elif data is None:
        raise ConfigError(f"the {sampler} sampler is fitted to the catalogue's style vectors: give --data")
    else:
        cat = load_catalogue(data, PHOTO_SIZE, progress=progress)
        emb = cached_embed(model, cat.images, cat.ids, cache)
        drawer = cached_mixture(emb, cache) if sampler == "mixture" else drawer.fit(emb)
    z = drawer.sample(n, temperature, seed)
    with torch.inference_mode():
        return image_grid(to_uint8(model.decode(torch.from_numpy(z))))
