"""Model and training hyperparameters as frozen dataclasses, plus the named model presets."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class VAEConfig:
    """Everything needed to rebuild a VAE; stored in every checkpoint.

    The encoder is a stack of convolutions (`channels[i]` filters, `kernels[i]`, `strides[i]`,
    `paddings[i]`); the decoder mirrors it with transposed convolutions. Sizes are derived from
    `image_size`, never hard-coded.
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

    def __post_init__(self) -> None:
        n = len(self.channels)
        if not (len(self.kernels) == len(self.strides) == len(self.paddings) == n):
            raise ValueError("channels, kernels, strides and paddings must have the same length")
        if self.activation not in ("relu", "leaky_relu"):
            raise ValueError(f"unknown activation {self.activation!r}")
        if self.latent_dim < 1 or self.image_size < 8:
            raise ValueError("latent_dim must be >= 1 and image_size >= 8")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "VAEConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        tuples = {k: tuple(v) for k, v in d.items() if isinstance(v, list)}
        return cls(**{**d, **tuples})


METRICS = ("cosine", "euclidean")  # distances between style vectors; see shoevae.recommend
METRIC = "cosine"

PRESETS: dict[str, VAEConfig] = {
    # The report's network (its Figure 2): 3-6-12-24-30-40, 40x6x6 = 1440 features, ReLU.
    "paper": VAEConfig(),
    # Deeper features, batch norm, leaky ReLU, padded k4/s2 convolutions (136 -> 68 -> 34 -> 17 -> 8 -> 4):
    # narrow where the images are large (cheap on a CPU), wide where they are small.
    "style": VAEConfig(
        preset="style",
        channels=(16, 32, 64, 128, 256),
        kernels=(4, 4, 4, 4, 4),
        strides=(2, 2, 2, 2, 2),
        paddings=(1, 1, 1, 1, 1),
        batch_norm=True,
        activation="leaky_relu",
    ),
    # The Train page's default, to watch a VAE learn in a minute on a laptop CPU: 64 px images, the
    # style net's shape one layer shorter (64 -> 32 -> 16 -> 8 -> 4), 32 latent dims. Its learning
    # rate is in shoevae.jobs.PRESET_DEFAULTS (README, Watch it learn).
    "quick": VAEConfig(
        preset="quick",
        image_size=64,
        latent_dim=32,
        channels=(16, 32, 64, 128),
        kernels=(4, 4, 4, 4),
        strides=(2, 2, 2, 2),
        paddings=(1, 1, 1, 1),
        batch_norm=True,
        activation="leaky_relu",
    ),
}


def preset(name: str, **overrides: Any) -> VAEConfig:
    """The named preset with some fields replaced, e.g. preset("paper", latent_dim=32)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return replace(PRESETS[name], **overrides)


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})
