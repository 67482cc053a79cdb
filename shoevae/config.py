"""Model and training hyperparameters as frozen dataclasses, and the bounds they are checked against
(the named presets and their recipes are in shoevae.presets)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from .errors import ConfigError

# Bounds on sizes a user can ask for, refused up front instead of failing in an allocation:
MAX_LATENT_DIM = 1024  # ten times the shipped models' 100; the latent layers grow with it (parts: 4096 x it x 3 weights)
PHOTO_SIZE = 136  # every catalogue is decoded at this size (app, CLI, training); each model resizes to its own
MAX_IMAGE_SIZE = 512  # the photos are 136 px squares; at 512 the 13.5K sample decodes to 10.6 GB, the cache's bound
MAX_SEED = 2**32 - 1  # what every generator takes (numpy's legacy ones need < 2**32; torch's per-epoch seed stays in range)
MAX_GENERATE = 1024  # shoes in one generated grid: 32 x 32 tiles, a 4.4K-pixel square at 136 px
MAX_DECODER_DEPTH = 4  # convolutions per decoder stage; each more at the top stage costs one 16-channel 136 px conv
MAX_DECODER_BLOCKS = 4  # residual blocks after each decoder stage below full size
MAX_FULL_SIZE_BLOCKS = 2  # residual blocks at full size, before the convolution to RGB
MAX_TEMPERATURE = 10.0  # draws this far out already leave the region the decoder learnt

DECODERS = ("transposed", "upsample", "bilinear")
LIKELIHOODS = ("bernoulli", "gaussian")
SAMPLERS = ("mixture", "normal", "prior")  # where generated style vectors come from (shoevae/sampling.py)


@dataclass(frozen=True)
class VAEConfig:
    """Everything needed to rebuild a VAE; stored in every checkpoint.

    The encoder is a stack of convolutions (`channels[i]` filters, `kernels[i]`, `strides[i]`,
    `paddings[i]`); the decoder mirrors it, back up to each encoder stage's size, with transposed
    convolutions (`decoder="transposed"`, the report's) or nearest-neighbour upsampling followed by a
    3x3 convolution (`"upsample"`: no checkerboard artefacts, Odena et al. 2016), or bilinear upsampling
    followed by one (`"bilinear"`: nor the faint 2-pixel lattice nearest-neighbour copies leave);
    `decoder_depth` > 1 adds 3x3 convolutions to each upsampling stage, so that the full-size stage, which
    otherwise draws every pixel as one linear filter of the upsampled map, has a non-linearity of its own;
    `decoder_blocks` adds residual blocks (two 3x3 convolutions and a skip) after every decoder stage but the
    full-size one, and `full_size_blocks` adds them at full size, on the upsampled map before the convolution to
    RGB, so that the drawing's finest scale is no longer one linear filter of a half-size map. Each block's last
    convolution starts at zero, so a block starts as the identity: a network grown by blocks can start from a
    checkpoint without them and draw exactly what it drew. `likelihood` is the
    reconstruction term: `"bernoulli"` (the report's BCE) or `"gaussian"` with one shared variance set
    to its optimum every batch (sigma-VAE, Rybkin et al. 2021). Sizes are derived from `image_size`,
    never hard-coded.
    """

    preset: str = "paper"
    image_size: int = 136
    latent_dim: int = 100
    channels: tuple[int, ...] = (6, 12, 24, 30, 40)
    kernels: tuple[int, ...] = (4, 3, 3, 4, 3)
    strides: tuple[int, ...] = (2, 2, 2, 1, 2)
    paddings: tuple[int, ...] = (0, 0, 0, 0, 0)
    batch_norm: bool = False
    activation: str = "relu"  # "relu" or "leaky_relu"
    decoder: str = "transposed"  # "transposed", "upsample" (nearest-neighbour) or "bilinear"
    likelihood: str = "bernoulli"  # "bernoulli" (BCE) or "gaussian" (learned shared variance)
    decoder_depth: int = 1  # 3x3 convolutions in each stage of an upsampling decoder (1: the mirror of the encoder)
    decoder_blocks: int = 0  # residual blocks after each decoder stage below full size (0: none)
    full_size_blocks: int = 0  # residual blocks at full size, before the convolution to RGB (0: none)

    def __post_init__(self) -> None:
        n = len(self.channels)
        if not (len(self.kernels) == len(self.strides) == len(self.paddings) == n):
            raise ConfigError("channels, kernels, strides and paddings must have the same length")
        if self.activation not in ("relu", "leaky_relu"):
            raise ConfigError(f"unknown activation {self.activation!r}")
        if self.decoder not in DECODERS:
            raise ConfigError(f"unknown decoder {self.decoder!r}; choose from {', '.join(DECODERS)}")
        if self.likelihood not in LIKELIHOODS:
            raise ConfigError(f"unknown likelihood {self.likelihood!r}; choose from {', '.join(LIKELIHOODS)}")
        _check(self.decoder_depth, "decoder_depth", f"a whole number from 1 to {MAX_DECODER_DEPTH}",
               _is_int(self.decoder_depth) and 1 <= self.decoder_depth <= MAX_DECODER_DEPTH)
        _check(self.decoder_blocks, "decoder_blocks", f"a whole number from 0 to {MAX_DECODER_BLOCKS}",
               _is_int(self.decoder_blocks) and 0 <= self.decoder_blocks <= MAX_DECODER_BLOCKS)
        _check(self.full_size_blocks, "full_size_blocks", f"a whole number from 0 to {MAX_FULL_SIZE_BLOCKS}",
               _is_int(self.full_size_blocks) and 0 <= self.full_size_blocks <= MAX_FULL_SIZE_BLOCKS)
        if self.decoder_depth > 1 and self.decoder == "transposed":
            raise ConfigError("decoder_depth > 1 needs an upsampling decoder (upsample or bilinear)")
        if self.full_size_blocks and self.decoder == "transposed":
            raise ConfigError("full_size_blocks needs an upsampling decoder (upsample or bilinear)")
        _check(self.latent_dim, "latent_dim", f"a whole number from 1 to {MAX_LATENT_DIM}",
               _is_int(self.latent_dim) and 1 <= self.latent_dim <= MAX_LATENT_DIM)
        _check(self.image_size, "image_size", f"a whole number from 8 to {MAX_IMAGE_SIZE}",
               _is_int(self.image_size) and 8 <= self.image_size <= MAX_IMAGE_SIZE)
        if not self._fits(self.image_size):
            smallest = next(n for n in range(8, 4096) if self._fits(n))
            raise ConfigError(f"image_size {self.image_size} is too small for this network (the smallest is {smallest})")

    def _fits(self, size: int) -> bool:
        """Whether every encoder convolution leaves at least one pixel at this input size."""
        return min(self.encoder_sizes(size)) >= 1

    def encoder_sizes(self, size: int | None = None) -> list[int]:
        """Spatial size before the first and after every encoder convolution, for input `size` (default
        image_size); a size below 1 means the network does not fit (__post_init__ refuses such a config)."""
        sizes = [self.image_size if size is None else size]
        for k, s, p in zip(self.kernels, self.strides, self.paddings):
            sizes.append((sizes[-1] + 2 * p - k) // s + 1)
        return sizes

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VAEConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        tuples = {k: tuple(v) for k, v in d.items() if isinstance(v, list)}
        return cls(**{**d, **tuples})


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check(value: Any, name: str, expected: str, ok: bool) -> None:
    if not ok:
        raise ConfigError(f"{name} must be {expected}, not {value!r}")


def check_feature_layers(layers: Any) -> None:
    """ConfigError unless `layers` is a non-empty tuple of EfficientNet-Lite0 block numbers 0..15."""
    _check(layers, "feature_layers", "a non-empty list of block numbers 0..15",
           isinstance(layers, tuple) and len(layers) > 0 and all(_is_int(b) and 0 <= b <= 15 for b in layers))


def check_feature_weights(weights: Any, layers: tuple[int, ...] | None = None) -> None:
    """ConfigError unless `weights` is a tuple of finite numbers >= 0, not all 0, one per layer (if `layers` given)."""
    count = "" if layers is None else f" ({len(layers)})"
    _check(weights, "feature_weights", f"one number >= 0 per feature layer{count}, not all 0",
           isinstance(weights, tuple) and (layers is None or len(weights) == len(layers))
           and all(_is_num(w) and w >= 0 and math.isfinite(w) for w in weights) and sum(weights) > 0)


METRICS = ("cosine", "euclidean")  # distances between style vectors; see shoevae.recommend
METRIC = "cosine"

@dataclass(frozen=True)
class TrainConfig:
    """How to train: stored in the checkpoint beside the model config."""

    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    cosine: bool = False  # decay the learning rate along a cosine to lr/10 over `epochs`
    beta: float = 1.0  # weight of the KL term; the report's "KL x 100" case is beta=100
    seed: int = 0
    limit: int | None = None  # train on at most this many images (a seeded random subset)
    time_limit: float | None = None  # seconds: start no epoch that would end past this much training time
    holdout: float = 0.1  # share of images held out by a seeded hash of their ids, never trained on
    perceptual: float = 0.0  # weight of the feature-consistency term (shoevae.perceptual; 0: none)
    feature_layers: tuple[int, ...] = (0, 2, 4)  # EfficientNet-Lite0 blocks the feature term compares (0..15)
    feature_weights: tuple[float, ...] | None = None  # each layer's share of the feature term (None: equal)
    augment: bool = False  # encode a slightly shifted and scaled copy of each photo, reconstruct the photo
    colour: float = 0.0  # weight of the colour term: the photo's colours at a quarter of its size (shoevae.perceptual)
    init: str | None = None  # a checkpoint whose weights the run starts from (fine-tuning; None: random weights)
    decoder_only: bool = False  # train the decoder alone: the encoder, and so every style vector, stays as `init` has it
    fresh_decoder: bool = False  # with decoder_only: the decoder starts from random weights, not from `init`'s
    adversarial: float = 0.0  # the patch critic's pull on the decoder, as a share of the likelihood's (shoevae.adversarial)
    adversarial_start: float = 0.2  # share of the run before that term joins (the critic learns from the first batch)

    def __post_init__(self) -> None:
        _check(self.epochs, "epochs", "a whole number >= 1", _is_int(self.epochs) and self.epochs >= 1)
        _check(self.batch_size, "batch_size", "a whole number >= 1", _is_int(self.batch_size) and self.batch_size >= 1)
        _check(self.lr, "lr", "a number > 0", _is_num(self.lr) and self.lr > 0 and math.isfinite(self.lr))
        _check(self.beta, "beta", "a number >= 0", _is_num(self.beta) and self.beta >= 0 and math.isfinite(self.beta))
        _check(self.seed, "seed", f"a whole number from 0 to {MAX_SEED}", _is_int(self.seed) and 0 <= self.seed <= MAX_SEED)
        _check(self.limit, "limit", "a whole number >= 1 (or None: all images)",
               self.limit is None or (_is_int(self.limit) and self.limit >= 1))
        _check(self.time_limit, "time_limit", "a number of seconds > 0 (or None: no limit)",
               self.time_limit is None or (_is_num(self.time_limit) and self.time_limit > 0))
        _check(self.holdout, "holdout", "a share in [0, 1)", _is_num(self.holdout) and 0 <= self.holdout < 1)
        _check(self.perceptual, "perceptual", "a number >= 0",
               _is_num(self.perceptual) and self.perceptual >= 0 and math.isfinite(self.perceptual))
        _check(self.augment, "augment", "True or False", isinstance(self.augment, bool))
        _check(self.colour, "colour", "a number >= 0",
               _is_num(self.colour) and self.colour >= 0 and math.isfinite(self.colour))
        _check(self.init, "init", "a checkpoint path (or None: random weights)",
               self.init is None or (isinstance(self.init, str) and self.init != ""))
        _check(self.decoder_only, "decoder_only", "True or False (True needs init: a trained encoder to keep)",
               isinstance(self.decoder_only, bool) and (not self.decoder_only or self.init is not None))
        _check(self.fresh_decoder, "fresh_decoder", "True or False (True needs decoder_only: an encoder to keep)",
               isinstance(self.fresh_decoder, bool) and (not self.fresh_decoder or self.decoder_only))
        _check(self.adversarial, "adversarial", "a number >= 0",
               _is_num(self.adversarial) and self.adversarial >= 0 and math.isfinite(self.adversarial))
        _check(self.adversarial_start, "adversarial_start", "a share in [0, 1)",
               _is_num(self.adversarial_start) and 0 <= self.adversarial_start < 1)
        check_feature_layers(self.feature_layers)
        if self.feature_weights is not None:
            check_feature_weights(self.feature_weights, self.feature_layers)
            _check(self.feature_layers, "feature_layers", "distinct blocks when each has its own weight",
                   len(set(self.feature_layers)) == len(self.feature_layers))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in known})
