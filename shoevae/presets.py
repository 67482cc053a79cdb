"""The named presets (network shapes), the training recipe each brings, and the one resolver that turns a
preset and what the user set into the configs to train with, for the command line and the app alike.

    model_cfg, tc = train_configs({"preset": "parts", "epochs": 3})   # (VAEConfig, TrainConfig)

Precedence, lowest first: the dataclass defaults (VAEConfig, TrainConfig) <- the preset (PRESETS) and its
recipe (RECIPES) <- what the user set (flags, the Train page's form). There is no layer for where a run
happens: nothing in these configs depends on the place (training picks the device, the caller the output
file), so `train --preset X` and the Train page's defaults for X are the same run. A resumed run starts
from the checkpoint's configs instead; training.check_resume says which may change.
"""
from __future__ import annotations

from dataclasses import fields, replace
from typing import Any, Callable, Mapping

from .config import TrainConfig, VAEConfig
from .errors import ConfigError

# Deeper features, batch norm, leaky ReLU, padded k4/s2 convolutions (136 -> 68 -> 34 -> 17 -> 8 -> 4):
# narrow where the images are large (cheap on a CPU), wide where they are small.
_STYLE = VAEConfig(
    preset="style",
    channels=(16, 32, 64, 128, 256),
    kernels=(4, 4, 4, 4, 4),
    strides=(2, 2, 2, 2, 2),
    paddings=(1, 1, 1, 1, 1),
    batch_norm=True,
    activation="leaky_relu",
)

_SHARP = replace(_STYLE, preset="sharp", decoder="upsample", likelihood="gaussian")

PRESETS: dict[str, VAEConfig] = {
    # The report's network (its Figure 2): 3-6-12-24-30-40, 40x6x6 = 1440 features, ReLU.
    "paper": VAEConfig(),
    "style": _STYLE,
    # The Train page's default, to watch a VAE learn in a minute on a laptop CPU: 64 px images, the
    # style net's shape one layer shorter (64 -> 32 -> 16 -> 8 -> 4), 32 latent dims; its recipe trains
    # briefly at a high learning rate (docs/app.md, Watch it learn).
    "quick": replace(_STYLE, preset="quick", image_size=64, latent_dim=32, channels=(16, 32, 64, 128),
                     kernels=(4,) * 4, strides=(2,) * 4, paddings=(1,) * 4),
    # The default before parts: the style encoder (so embedding stays as fast), a decoder that upsamples
    # and convolves instead of transposed convolutions, and a Gaussian likelihood with a learned shared
    # variance; its recipe (RECIPES) adds the feature-consistency term, on early layers and one deeper
    # layer (block 10: parts rather than edges; docs/model.md, The default before: parts). Shift/scale augmentation
    # (--augment) is left out: it lowered category precision with and without the other changes.
    "sharp": _SHARP,
    # The default before colour (after sharp): the same network, trained so that its latent is organised by shoe parts
    # rather than by colour and outline. Its recipe leads the feature term with part-level layers (blocks 10
    # and 12, whose maps sort the catalogue by category at 0.97-0.98 against <= 0.89 for blocks 0-4,
    # bench/bench_feature_layers.py): they pull twice as hard as the pixels, while the edge and texture layers
    # (blocks 0 and 4), which keep the drawings' colours and outlines, pull as hard as the pixels (docs/model.md,
    # The default before: parts).
    "parts": replace(_SHARP, preset="parts"),
    # The shipped default (after parts): parts' network with bilinear instead of nearest-neighbour upsampling (the
    # copies' 2-pixel lattice was the drawings' grid), trained with parts' recipe and a colour term, so that the
    # feature term cannot trade the photo's colours away; the shipped file's decoder was then fine-tuned alone
    # with the patch critic, and last grown by two residual blocks a stage (they start as the identity) and
    # fine-tuned again (docs/model.md, The shipped model: colour). A run from scratch has the blocks from the start.
    "colour": replace(_SHARP, preset="colour", decoder="bilinear", decoder_blocks=2),
}
SHIPPED = ("colour", "parts", "sharp", "style", "paper")  # the checkpoints in weights/ (<name>.pt), the default first

# Training settings a preset brings with it (TrainConfig fields), under what the user sets.
RECIPES: dict[str, dict[str, Any]] = {
    # recognisable shoes within a minute on a 2-core CPU (bench/bench_live_training.py): 3e-3 learnt the colours
    # sooner than 1.5e-3, 6e-3 made them flicker
    "quick": {"epochs": 3, "lr": 3e-3, "batch_size": 32},
    "sharp": {"perceptual": 1.0, "feature_layers": (0, 2, 4, 10), "epochs": 15, "cosine": True},
    # weight 6 shared 1:1:2:2 over the four layers: each tap's weight is 1, 1, 2, 2 times the pixels'
    "parts": {"perceptual": 6.0, "feature_layers": (0, 4, 10, 12), "feature_weights": (1.0, 1.0, 2.0, 2.0),
              "epochs": 15, "cosine": True},
}
# parts' recipe, the colour term as strong as the pixels, and the 21 epochs the shipped file had (its run was
# --epochs 40 --minutes 100, which the time limit ended after 21; weights/colour.md)
RECIPES["colour"] = {**RECIPES["parts"], "colour": 1.0, "epochs": 21}


def preset(name: str, **overrides: Any) -> VAEConfig:
    """The named preset with some fields replaced, e.g. preset("paper", latent_dim=32)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
    return replace(PRESETS[name], **overrides)


DEFAULT = VAEConfig.preset  # the preset trained when none is named ("paper")
MODEL_SETTINGS = frozenset(f.name for f in fields(VAEConfig))
TRAIN_SETTINGS = frozenset(f.name for f in fields(TrainConfig))
CHANGEABLE_ON_RESUME = ("epochs", "time_limit", "lr", "cosine")  # the rest must stay as the checkpoint has it


def train_configs(given: Mapping[str, Any] | None = None, *,
                  resuming: Mapping[str, Any] | None = None) -> tuple[VAEConfig, TrainConfig]:
    """(model config, train config) for what the user set: VAEConfig and TrainConfig fields, "preset" among
    them; None means not set. New runs start from the preset and its recipe; feature layers set without
    their shares drop the recipe's shares (they belong to the recipe's layers). `resuming`: a checkpoint
    dict, whose configs are the start instead (nothing checked here: see training.check_resume)."""
    given = {k: v for k, v in (given or {}).items() if v is not None}
    unknown = set(given) - MODEL_SETTINGS - TRAIN_SETTINGS
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}")
    model = {k: v for k, v in given.items() if k in MODEL_SETTINGS}
    train = {k: v for k, v in given.items() if k in TRAIN_SETTINGS}
    if resuming is not None:
        return (replace(VAEConfig.from_dict(resuming["model_config"]), **model),
                replace(TrainConfig.from_dict(resuming["train_config"]), **train))
    name = model.pop("preset", DEFAULT)
    settings = {**RECIPES.get(name, {}), **train}
    if "feature_layers" in train and "feature_weights" not in train:
        settings.pop("feature_weights", None)
    return preset(name, **model), TrainConfig(**settings)


def named_as(cfg: VAEConfig, name: str) -> VAEConfig:
    """`cfg` under the preset name `name`, to ship a run under its recipe's name (`export --preset`); refused
    unless the network is that preset's."""
    target = preset(name)
    differ = [f.name for f in fields(VAEConfig) if f.name != "preset" and getattr(cfg, f.name) != getattr(target, f.name)]
    if differ:
        raise ConfigError(f"the network is not preset {name!r}'s: its {', '.join(differ)} differ")
    return target


def preset_defaults(setting: str) -> dict[str, Any]:
    """{preset: the value train_configs gives `setting` when the user sets nothing else}, for help texts."""
    values = {}
    for name in PRESETS:
        model_cfg, tc = train_configs({"preset": name})
        values[name] = getattr(tc if setting in TRAIN_SETTINGS else model_cfg, setting)
    return values


def changeable_on_resume(name: Callable[[str], str] = str) -> str:
    """'epochs, time_limit, lr and cosine' (CHANGEABLE_ON_RESUME), each called by `name` (the command line: its flag)."""
    names = [name(k) for k in CHANGEABLE_ON_RESUME]
    return ", ".join(names[:-1]) + f" and {names[-1]}"
