"""One table for model recipes: human agreement, category precision, coverage, picture quality, cost.

    pip install -r requirements-dev.txt
    flock /tmp/shoevae-bench.lock python bench/bench_presets.py --data ../shared/data/zappos \
        --triplets ../shared/data/human-triplets weights/style.pt weights/paper.pt runs/ablation/*.pt

Per checkpoint, in one run on one machine:
  - triplet agreement of the mean vectors with people (shoevae.triplets), cosine and Euclidean;
  - hold-out category precision@5 and coverage@5, cosine (shoevae.evaluate, the checkpoint's own split);
  - KID (x 1e-3) to 1,000 real hold-out photos of: reconstructions, samples of z ~ N(0, I), samples of the
    Gaussian mixture (bench_quality.py's harness; judge EfficientNet-Lite2, which no recipe trains with);
  - training minutes (the checkpoint's own clock) and embedding speed, photos/s through the encoder
    (2,048 photos, batch 64, after a warm-up; the first checkpoint's speed is the reference of the ratio).
Ratios against the first checkpoint (today's `style`) are printed for the targets of issue 9.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from bench_quality import cached_features, decode_all, reconstructions

from shoevae import load_catalogue
from shoevae.catalogue import default_cache_dir
from shoevae.checkpoint import load_checkpoint
from shoevae.embedding import embed
from shoevae.evaluate import evaluate_model
from shoevae.features import JUDGE, NETWORKS, ImageNetFeatures, kid
from shoevae.sampling import MixtureSampler
from shoevae.training import Split
from shoevae.triplets import agreement, load_triplets


def recipe(ckpt: dict) -> str:
    """What differs from the report's recipe, in a few words."""
    m, t = ckpt["model_config"], ckpt["train_config"]
    parts = [m["preset"]]
    parts += [m.get("decoder", "transposed")] if m.get("decoder", "transposed") != "transposed" else []
    parts += [m.get("likelihood", "bernoulli")] if m.get("likelihood", "bernoulli") != "bernoulli" else []
    parts += [f"perceptual {t['perceptual']:g}"] if t.get("perceptual") else []
    parts += ["augment"] if t.get("augment") else []
    return ", ".join(parts) + f"; {ckpt['epoch']} epochs"


def embed_speed(model, images: np.ndarray) -> float:
    """Photos per second through the encoder (the app's embed: batch 64), after one warm-up batch."""
    embed(model, images[:64])
    t0 = time.perf_counter()
    embed(model, images)
    return len(images) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="+", help="the first is the reference of the ratios (today's style.pt)")
    ap.add_argument("--data", default=os.environ.get("SHOEVAE_DATA", "data"))
    ap.add_argument("--triplets", required=True, help="folder with triplets.csv and images/")
    ap.add_argument("-n", type=int, default=1000, help="images per picture-quality set (default %(default)s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--judge", default=JUDGE, choices=NETWORKS)
    ap.add_argument("--json", default=None, help="also write the rows here")
    args = ap.parse_args()

    cat = load_catalogue(args.data, 136)
    trip = load_triplets(args.triplets)
    train_rows, held = Split().rows(cat.ids)
    rng = np.random.default_rng(args.seed)
    ref_rows = np.sort(rng.choice(held, min(args.n, len(held)), replace=False))
    speed_rows = np.sort(rng.choice(len(cat), 2048, replace=False))
    speed_images = np.ascontiguousarray(cat.images[speed_rows])
    fx = ImageNetFeatures(args.judge)
    ref = cached_features(fx, cat, ref_rows, default_cache_dir())
    print(f"{len(cat)} photos, {len(trip.rows)} human judgements, judge {args.judge}", flush=True)

    rows: list[dict] = []
    for path in args.checkpoints:
        t0 = time.perf_counter()
        model, ckpt = load_checkpoint(path)
        split = Split.of(ckpt)
        emb = embed(model, cat.images)
        scores = evaluate_model(model, cat, embeddings=emb, split=split)["cosine"]
        z_normal = torch.randn(args.n, model.cfg.latent_dim, generator=torch.Generator().manual_seed(args.seed)).numpy()
        mixture = MixtureSampler().fit(emb[split.rows(cat.ids)[0]])
        images = {"recon": reconstructions(model, cat, ref_rows, args.n, args.seed),
                  "normal": decode_all(model, z_normal),
                  "mixture": decode_all(model, mixture.sample(args.n, seed=args.seed))}
        trip_emb = embed(model, trip.images)
        row = {"checkpoint": path, "recipe": recipe(ckpt), "train_min": ckpt["train_seconds"] / 60,
               "triplets_cosine": agreement(trip_emb, trip, "cosine"),
               "triplets_euclidean": agreement(trip_emb, trip, "euclidean"),
               "precision@5": scores["holdout_precision@5"], "coverage@5": scores["coverage@5"],
               **{f"kid_{k}": kid(ref, fx(v), seed=args.seed)[0] for k, v in images.items()},
               "embed_per_s": embed_speed(model, speed_images)}
        rows.append(row)
        print(f"{path}: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()
                                      if k != "checkpoint") + f" ({time.perf_counter() - t0:.0f} s)", flush=True)

    ref_row = rows[0]
    print("\n| checkpoint | recipe | human agreement, cosine (Euclidean) | precision@5 | coverage@5 | KID x1e-3: "
          "reconstructions (ratio to the first row's) | samples N(0, I) | mixture samples (ratio to the first row's "
          "N(0, I)) | train min | embed photos/s (ratio) |\n|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {Path(r['checkpoint']).name} | {r['recipe']} | {r['triplets_cosine']:.1%} ({r['triplets_euclidean']:.1%}) "
              f"| {r['precision@5']:.3f} | {r['coverage@5']:.3f} "
              f"| {r['kid_recon'] * 1e3:.1f} ({r['kid_recon'] / ref_row['kid_recon']:.2f}x) "
              f"| {r['kid_normal'] * 1e3:.1f} | {r['kid_mixture'] * 1e3:.1f} ({r['kid_mixture'] / ref_row['kid_normal']:.2f}x) "
              f"| {r['train_min']:.1f} | {r['embed_per_s']:.0f} ({r['embed_per_s'] / ref_row['embed_per_s']:.2f}x) |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
