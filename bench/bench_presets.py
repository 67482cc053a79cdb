"""One table for model recipes: human agreement, category precision, coverage, picture quality, cost.

    pip install -r requirements-dev.txt
    flock /tmp/shoevae-bench.lock python -m bench.bench_presets --data ../shared/data/zappos \
        --triplets ../shared/data/human-triplets weights/style.pt weights/paper.pt runs/ablation/*.pt

Per checkpoint, in one run on one machine:
  - triplet agreement of the mean vectors with people (shoevae.triplets), cosine and Euclidean, and the
    cosine figure's 95 % bootstrap interval over the judged photos (agreement_interval);
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
import math
import os
import time
from pathlib import Path

import numpy as np
import torch

from bench.bench_quality import cached_features, decode_all, reconstructions
from bench.features import JUDGE, NETWORKS, ImageNetFeatures, kid
from shoevae import load_catalogue
from shoevae.cache import default_cache_dir
from shoevae.checkpoint import load_checkpoint
from shoevae.config import PHOTO_SIZE, TrainConfig
from shoevae.embedding import embed
from shoevae.evaluate import evaluate_model
from shoevae.perceptual import feature_layers_text
from shoevae.sampling import MixtureSampler
from shoevae.split import Split
from shoevae.triplets import agreement, agreement_interval, load_triplets


def recipe(ckpt: dict) -> str:
    """What differs from the report's recipe, in a few words."""
    m, t = ckpt["model_config"], ckpt["train_config"]
    parts = [m["preset"]]
    parts += [m.get("decoder", "transposed")] if m.get("decoder", "transposed") != "transposed" else []
    parts += [m.get("likelihood", "bernoulli")] if m.get("likelihood", "bernoulli") != "bernoulli" else []
    layers = feature_layers_text(TrainConfig.from_dict(t))  # older files: the default layers
    parts += [f"perceptual {t['perceptual']:g} (layers {layers})"] if t.get("perceptual") else []
    parts += ["augment"] if t.get("augment") else []
    return ", ".join(parts) + f"; {ckpt['epoch']} epochs"


def embed_speed(model, images: np.ndarray) -> float:
    """Photos per second through the encoder (the app's embed: batch 64), after one warm-up batch."""
    embed(model, images[:64])
    t0 = time.perf_counter()
    embed(model, images)
    return len(images) / (time.perf_counter() - t0)


def pictures(model, cat, train_emb: np.ndarray, ref_rows: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Reconstructions of the reference photos, decodings of z ~ N(0, I) and of the Gaussian mixture's draws."""
    n = len(ref_rows)
    z_normal = torch.randn(n, model.cfg.latent_dim, generator=torch.Generator().manual_seed(seed)).numpy()
    return {"recon": reconstructions(model, cat, ref_rows, n, seed), "normal": decode_all(model, z_normal),
            "mixture": decode_all(model, MixtureSampler().fit(train_emb).sample(n, seed=seed))}


def kid_cell(row: dict, key: str, ref_row: dict | None = None, ref_key: str = "") -> str:
    """KID x 1e-3, with its ratio to the reference row's `ref_key` column."""
    value = row.get(f"kid_{key}", math.nan)
    if math.isnan(value):
        return "–"
    return f"{value * 1e3:.1f}" + (f" ({value / ref_row[f'kid_{ref_key}']:.2f}x)" if ref_row else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="+", help="the first is the reference of the ratios (today's style.pt)")
    ap.add_argument("--data", default=os.environ.get("SHOEVAE_DATA", "data"))
    ap.add_argument("--triplets", required=True, help="folder with triplets.csv and images/")
    ap.add_argument("-n", type=int, default=1000, help="images per picture-quality set (default %(default)s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--judge", default=JUDGE, choices=NETWORKS)
    ap.add_argument("--json", default=None, help="also write the rows here")
    ap.add_argument("--no-pictures", action="store_true", help="skip the KID columns (the slow part: the judge network)")
    args = ap.parse_args()

    cat = load_catalogue(args.data, PHOTO_SIZE)
    trip = load_triplets(args.triplets)
    train_rows, held = Split().rows(cat.ids)
    rng = np.random.default_rng(args.seed)
    ref_rows = np.sort(rng.choice(held, min(args.n, len(held)), replace=False))
    speed_rows = np.sort(rng.choice(len(cat), 2048, replace=False))
    speed_images = np.ascontiguousarray(cat.images[speed_rows])
    fx = None if args.no_pictures else ImageNetFeatures(args.judge)
    ref = None if fx is None else cached_features(fx, cat, ref_rows, default_cache_dir())
    print(f"{len(cat)} photos, {len(trip.rows)} human judgements, judge {args.judge}", flush=True)

    rows: list[dict] = []
    for path in args.checkpoints:
        t0 = time.perf_counter()
        model, ckpt = load_checkpoint(path)
        split = Split.of(ckpt)
        emb = embed(model, cat.images)
        scores = evaluate_model(model, cat, embeddings=emb, split=split)["cosine"]
        images = {} if args.no_pictures else pictures(model, cat, emb[split.rows(cat.ids)[0]], ref_rows, args.seed)
        trip_emb = embed(model, trip.images)
        row = {"checkpoint": path, "recipe": recipe(ckpt), "train_min": ckpt["train_seconds"] / 60,
               "triplets_cosine": agreement(trip_emb, trip, "cosine"),
               "triplets_cosine_95": agreement_interval(trip_emb, trip, "cosine"),
               "triplets_euclidean": agreement(trip_emb, trip, "euclidean"),
               "precision@5": scores["holdout_precision@5"], "coverage@5": scores["coverage@5"],
               **{f"kid_{k}": kid(ref, fx(v), seed=args.seed)[0] if fx else math.nan for k, v in images.items()},
               "embed_per_s": embed_speed(model, speed_images)}
        rows.append(row)
        print(f"{path}: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()
                                      if k != "checkpoint") + f" ({time.perf_counter() - t0:.0f} s)", flush=True)

    ref_row = rows[0]
    print("\n| checkpoint | recipe | human agreement, cosine [95 % interval over photos] (Euclidean) | precision@5 "
          "| coverage@5 | KID x1e-3: "
          "reconstructions (ratio to the first row's) | samples N(0, I) | mixture samples (ratio to the first row's "
          "N(0, I)) | train min | embed photos/s (ratio) |\n|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        low, high = r["triplets_cosine_95"]
        print(f"| {Path(r['checkpoint']).name} | {r['recipe']} | {r['triplets_cosine']:.1%} [{low:.1%}, {high:.1%}] "
              f"({r['triplets_euclidean']:.1%}) "
              f"| {r['precision@5']:.3f} | {r['coverage@5']:.3f} "
              f"| {kid_cell(r, 'recon', ref_row, 'recon')} | {kid_cell(r, 'normal')} "
              f"| {kid_cell(r, 'mixture', ref_row, 'normal')} "
              f"| {r['train_min']:.1f} | {r['embed_per_s']:.0f} ({r['embed_per_s'] / ref_row['embed_per_s']:.2f}x) |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
