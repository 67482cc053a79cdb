"""Painting a shoe: the style vector whose drawing best fits a person's colour strokes.

After iGAN (Zhu et al. 2016, "Generative visual manipulation on the natural image manifold"), which
did this with a GAN on Zappos shoes: z is optimised through the decoder with Adam so that the decoded
shoe matches the painted pixels, and only those (unpainted pixels are free), while a prior term keeps z
where the decoder draws shoes: the Gaussian mixture fitted to the catalogue's mean vectors (the
Generate page's sampler) or else N(0, I). Starting points matter more than steps: the optimisation
starts from the catalogue shoes whose small thumbnails best match the strokes (and from the picked
shoe when painting over it), all in one batch, and keeps the best.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from .model import VAE

STEPS = 30  # Adam steps: from a good start 30-50 fit the strokes; 120 follow them into shapes no shoe has
LR = 0.06
PRIOR_WEIGHT = 2e-4  # per latent dimension, against the mean squared colour error of the painted pixels
THUMB = 17  # thumbnails for choosing starting points (136 / 8)
STARTS = 1  # catalogue shoes to start from (each one more costs as much again; the best match is usually enough)


@dataclass(frozen=True)
class Strokes:
    """Painted colour and how much of each pixel is painted, at the model's size."""

    colour: np.ndarray  # float32 (S, S, 3) in [0, 1]
    weight: np.ndarray  # float32 (S, S) in [0, 1]

    @property
    def empty(self) -> bool:
        return float(self.weight.sum()) < 1.0


def strokes_from_canvas(rgba: np.ndarray, size: int) -> Strokes:
    """A square canvas's RGBA pixels (uint8 (H, W, 4); alpha 0 where nothing is painted) at `size`."""
    rgba = np.asarray(rgba, np.float32) / 255
    alpha = rgba[..., 3:4]
    both = np.concatenate([rgba[..., :3] * alpha, alpha], axis=2)  # premultiplied, so edges average right
    small = cv2.resize(both, (size, size), interpolation=cv2.INTER_AREA)
    weight = small[..., 3]
    colour = small[..., :3] / np.maximum(weight, 1e-6)[..., None]
    return Strokes(np.clip(colour, 0, 1).astype(np.float32), np.clip(weight, 0, 1).astype(np.float32))


def thumbnails(images: np.ndarray, size: int = THUMB) -> np.ndarray:
    """uint8 (N, size, size, 3) thumbnails of catalogue images, for `starts`."""
    out = np.empty((len(images), size, size, 3), np.uint8)
    for i, im in enumerate(images):
        out[i] = cv2.resize(np.asarray(im), (size, size), interpolation=cv2.INTER_AREA)
    return out


def starts(thumbs: np.ndarray, strokes: Strokes, k: int = STARTS) -> np.ndarray:
    """Rows of the k catalogue shoes whose thumbnails best match the painted pixels (weighted squared error)."""
    size = thumbs.shape[1]
    colour = cv2.resize(strokes.colour * strokes.weight[..., None], (size, size), interpolation=cv2.INTER_AREA)
    weight = cv2.resize(strokes.weight, (size, size), interpolation=cv2.INTER_AREA)
    colour = colour / np.maximum(weight, 1e-6)[..., None]
    keep = weight.ravel() > 0.05
    if not keep.any():
        return np.zeros(0, np.int64)
    t = thumbs.reshape(len(thumbs), -1, 3)[:, keep].astype(np.float32) / 255  # (N, P, 3)
    err = (((t - colour.reshape(-1, 3)[keep]) ** 2).sum(-1) * weight.ravel()[keep]).sum(-1)
    k = min(k, len(thumbs))
    return np.argpartition(err, k - 1)[:k] if k < len(err) else np.arange(len(err))


class MixturePrior:
    """-log density of a Gaussian mixture (weights, means, full covariances), in torch, for gradients."""

    def __init__(self, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray) -> None:
        prec_chol = np.linalg.cholesky(np.linalg.inv(covariances))  # (K, D, D): precision = L L^T
        self.means = torch.as_tensor(means, dtype=torch.float32)
        self.prec_chol = torch.as_tensor(prec_chol, dtype=torch.float32)
        d = means.shape[1]
        logdet = np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(1)
        self.const = torch.as_tensor(np.log(weights) + logdet - 0.5 * d * np.log(2 * np.pi), dtype=torch.float32)

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        diff = z[:, None, :] - self.means[None]  # (B, K, D)
        y = torch.einsum("bkd,kde->bke", diff, self.prec_chol)
        return -torch.logsumexp(self.const[None] - 0.5 * (y ** 2).sum(-1), dim=1)


def normal_prior(z: torch.Tensor) -> torch.Tensor:
    """-log N(z; 0, I) up to a constant."""
    return 0.5 * (z ** 2).sum(-1)


def fit(model: VAE, strokes: Strokes, z0: np.ndarray, prior=normal_prior, steps: int = STEPS,
        lr: float = LR, prior_weight: float = PRIOR_WEIGHT) -> tuple[np.ndarray, float]:
    """(the style vector whose drawing best fits the strokes, its colour error): Adam from each row of z0
    (B, D) at once, on the mean squared error over painted pixels + prior_weight * prior(z) / D."""
    model.eval()
    size = model.cfg.image_size
    colour = torch.from_numpy(cv2.resize(strokes.colour, (size, size))).permute(2, 0, 1)[None]
    weight = torch.from_numpy(cv2.resize(strokes.weight, (size, size)))[None, None]
    total = weight.sum().clamp_min(1.0)
    z = torch.tensor(np.atleast_2d(z0), dtype=torch.float32, requires_grad=True)
    m, v = torch.zeros_like(z), torch.zeros_like(z)
    for t in range(1, steps + 1):
        err = (((model.decode(z) - colour) ** 2).sum(1, keepdim=True) * weight).sum((1, 2, 3)) / total
        loss = err + prior_weight * prior(z) / z.shape[1]
        grad, = torch.autograd.grad(loss.sum(), [z])  # for z only: the shared model's weights are left alone
        with torch.no_grad():  # Adam (torch.optim's first construction in a process costs ~6 s of imports)
            m.mul_(0.9).add_(grad, alpha=0.1)
            v.mul_(0.999).addcmul_(grad, grad, value=0.001)
            z -= lr * (m / (1 - 0.9 ** t)) / ((v / (1 - 0.999 ** t)).sqrt() + 1e-8)
    with torch.no_grad():
        err = (((model.decode(z) - colour) ** 2).sum(1, keepdim=True) * weight).sum((1, 2, 3)) / total
    best = int(torch.argmin(err))
    return z[best].detach().numpy().copy(), float(err[best])
