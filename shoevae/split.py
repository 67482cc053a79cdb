"""The train/hold-out split: which photos a model never trained on, from a seeded hash of their ids.

One definition for every part (training, its per-epoch hold-out BCE, every evaluation), stored in the
checkpoint, so it never depends on the catalogue's order or on which photos sit beside the held-out ones.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from .checkpoint import CheckpointError
from .config import TrainConfig

SPLIT_SEED = 0  # the hold-out split is the same for every run, so evaluations compare


def holdout_mask(ids: list[str], fraction: float, seed: int = 0) -> np.ndarray:
    """Boolean mask of the held-out items: a seeded hash of each id, so it never depends on order."""
    if not 0 <= fraction < 1:
        raise ValueError("holdout fraction must be in [0, 1)")
    h = [int(hashlib.md5(f"{seed}:{i}".encode()).hexdigest()[:8], 16) / 2**32 for i in ids]
    return np.asarray(h) < fraction


@dataclass(frozen=True)
class Split:
    """The train/hold-out split: `holdout` share of the photos, chosen by a `seed`ed hash of their ids.

    The one definition every part uses (training, its per-epoch hold-out BCE, every metric); stored in
    the checkpoint, so evaluation's hold-out queries are exactly the photos the model never trained on.
    """

    holdout: float = 0.1
    seed: int = SPLIT_SEED

    def rows(self, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(training-side rows, hold-out rows) of a catalogue's ids, each sorted."""
        held = holdout_mask(ids, self.holdout, self.seed)
        return np.flatnonzero(~held), np.flatnonzero(held)

    def to_dict(self) -> dict[str, Any]:
        return {"holdout": float(self.holdout), "seed": int(self.seed)}

    @classmethod
    def of(cls, ckpt: dict[str, Any]) -> Split:
        """The split a checkpoint was trained with (older files: their train config's holdout, seed 0)."""
        data = ckpt.get("data")
        stored = data.get("split") if isinstance(data, dict) else None
        if not stored:  # older files: their train config's holdout, seed 0
            stored = {"holdout": (ckpt.get("train_config") or {}).get("holdout", TrainConfig.holdout), "seed": SPLIT_SEED}
        try:
            holdout, seed = float(stored["holdout"]), stored["seed"]
            if not (0 <= holdout < 1 and isinstance(seed, int) and not isinstance(seed, bool)):
                raise ValueError
        except (TypeError, ValueError, KeyError, AttributeError):  # NaN, out of range, not numbers, missing
            raise CheckpointError(f"the checkpoint's stored hold-out split is unusable ({stored!r}): the file is damaged "
                                  "or was not written by shoevae; train again or use another checkpoint") from None
        return cls(holdout, seed)
