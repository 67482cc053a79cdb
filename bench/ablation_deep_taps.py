"""Ablation extra: the feature term with a deeper tap of EfficientNet-Lite0 (block 10, 112 channels) added.

    flock /tmp/shoevae-bench.lock python bench/ablation_deep_taps.py ../shared/data/zappos runs/ablation/sharp-deep-taps.pt

The same 4-epoch budget as bench/ablation.sh's sharp-augment row (the sharp preset, --augment,
perceptual 1, cosine), with taps (0, 2, 4, 10) instead of shoevae.perceptual.TAPS. Reasoning: deeper
layers see parts rather than edges, and style is judged by parts. Not adopted (README, The shipped model).
"""
from __future__ import annotations

import functools
import sys

import shoevae.training
from shoevae import TrainConfig, load_catalogue, preset
from shoevae.perceptual import TAPS, FeatureLoss

shoevae.training.FeatureLoss = functools.partial(FeatureLoss, taps=(*TAPS, 10))
catalogue = load_catalogue(sys.argv[1], 136)
shoevae.training.train(preset("sharp"), TrainConfig(epochs=4, cosine=True, perceptual=1.0, augment=True), catalogue,
                       out=sys.argv[2], progress_bar=True)
