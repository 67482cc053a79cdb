"""Which EfficientNet-Lite0 layers carry shoe style? The reasoning behind the `parts` recipe's feature layers.

    flock /tmp/shoevae-bench.lock python bench/bench_feature_layers.py --data ../shared/data/zappos \
        [--triplets ../shared/data/human-triplets]

For each block the feature term can compare (shoevae.perceptual, images at FEATURE_SIZE), the photos'
feature maps are used directly as style vectors, pooled over space and as whole maps, and also squeezed
to 20 and 100 dimensions by PCA (fitted on the training split), as small as a VAE's latent. Printed per
row: hold-out category precision@5 and coverage@5 (cosine), the numbers designs are chosen by, and, with
--triplets, agreement with the human judgements, which only checks. A layer whose maps sort the catalogue
well even at 20 dimensions is one worth making the VAE's latent reproduce.
"""
from __future__ import annotations

import argparse
import os

import numpy as np
import torch
from sklearn.decomposition import PCA

from shoevae import load_catalogue
from shoevae.config import PHOTO_SIZE
from shoevae.evaluate import score_features
from shoevae.model import prepare
from shoevae.perceptual import FEATURE_SIZE, FeatureLoss
from shoevae.split import Split
from shoevae.triplets import agreement, load_triplets

BLOCKS = (0, 2, 4, 7, 10, 12, 15)
MAPS = (10, 12)  # whole maps (and their PCA) only where they are small: block 4's is 40x12x12 = 5,760 numbers


@torch.inference_mode()
def layer_features(net: FeatureLoss, images: np.ndarray, batch: int = 128) -> dict[str, np.ndarray]:
    """{"block B pooled": (N, C), "block B map": (N, C*h*w)} for the photos (uint8, N x H x W x 3)."""
    out: dict[str, list[np.ndarray]] = {}
    for i in range(0, len(images), batch):
        for b, f in zip(net.taps, net.features(prepare(images[i:i + batch], FEATURE_SIZE))):
            out.setdefault(f"block {b} pooled", []).append(f.mean((2, 3)).numpy())
            if b in MAPS:
                out.setdefault(f"block {b} map", []).append(f.flatten(1).numpy())
    return {k: np.concatenate(v) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("SHOEVAE_DATA", "data"))
    ap.add_argument("--triplets", default=None, help="folder with triplets.csv and images/ (checks only)")
    args = ap.parse_args()
    cat = load_catalogue(args.data, PHOTO_SIZE)
    trip = load_triplets(args.triplets) if args.triplets else None
    split = Split()
    net = FeatureLoss(taps=BLOCKS)
    feats = layer_features(net, cat.images)
    tfeats = layer_features(net, trip.images) if trip else {}
    fit_rows = split.rows(cat.ids)[0]
    for name in list(feats):
        if name.endswith("map"):
            for n in (20, 100):
                pca = PCA(n, random_state=0).fit(feats[name][fit_rows])
                feats[f"{name}, PCA {n}"] = pca.transform(feats[name])
                if trip:
                    tfeats[f"{name}, PCA {n}"] = pca.transform(tfeats[name])
    print("| Lite0 features | dims | hold-out precision@5 | coverage@5 |" + (" human agreement |" if trip else ""))
    print("|---|---|---|---|" + ("---|" if trip else ""))
    for name, x in feats.items():
        s = score_features(x, cat, 5, "cosine", split)
        cell = f" {agreement(tfeats[name], trip, 'cosine'):.1%} |" if trip else ""
        print(f"| {name} | {x.shape[1]} | {s['holdout_precision@5']:.3f} | {s['coverage@5']:.3f} |" + cell, flush=True)


if __name__ == "__main__":
    main()
