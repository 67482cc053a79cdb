"""shoevae: a CNN variational auto-encoder that recommends shoes of similar style.

Importing this package has no side effects and is quick: torch and scikit-learn load only when
one of the names below is first used (so `python -m shoevae data fetch` never pays for them).
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Catalogue": "catalogue", "CatalogueError": "catalogue", "ImageError": "images",
    "load_catalogue": "catalogue", "load_image": "images",
    "CheckpointError": "checkpoint", "load_checkpoint": "checkpoint", "save_checkpoint": "checkpoint",
    "PRESETS": "presets", "TrainConfig": "config", "VAEConfig": "config", "preset": "presets",
    "embed": "embedding", "VAE": "model", "vae_loss": "model",
    "Match": "neighbours", "NearestShoes": "neighbours", "Recommender": "recommend", "ShoeIndex": "neighbours",
    "Progress": "training", "train": "training",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'shoevae' has no attribute {name!r}")
