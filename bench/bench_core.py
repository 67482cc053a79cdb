"""Core speed benchmark: training step, catalogue embedding, top-5 query latency.

    python bench/bench_core.py [--data ../shared/data/zappos] [--steps 8]   # after pip install -e .
    python -m bench.bench_core                                            # or from the repository root

Everything runs in one process on the same batch, so the ratios are fair on any machine:
- the report's training step as its notebook ran it (float64 tensors, BCE on sigmoid outputs,
  NCHW) against shoevae's step (float32, channels-last, BCE with logits) for each preset with its
  recipe (sharp, parts: with the feature term), and on a GPU when there is one; for the feature term,
  also with the photos' own feature maps computed every step (as before PhotoFeatures kept them); and parts'
  network with the adversarial patch term (the critic's step and the adapted weight) against the same step without;
- catalogue embedding (mean vectors) in images/s for each preset;
- top-5 query latency over the whole catalogue (p50, p99).
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from shoevae.adversarial import Adversary
from shoevae.catalogue import load_catalogue
from shoevae.config import METRICS, PHOTO_SIZE, TrainConfig
from shoevae.embedding import embed
from shoevae.model import VAE
from shoevae.neighbours import ShoeIndex
from shoevae.perceptual import FeatureLoss, PhotoFeatures
from shoevae.presets import RECIPES, preset
from shoevae.training import TrainingPhotos, batch_loss, update, use_bfloat16

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "zappos"


def images_per_second(step, batch: int, steps: int) -> float:
    step(), step()  # warm-up
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - t)


def reference_step(images: np.ndarray):
    """The report notebook's step: float64 model and data, sigmoid output, BCE(sum) + KL, Adam."""
    torch.manual_seed(0)
    model = VAE(preset("paper")).double().to(memory_format=torch.contiguous_format)  # NCHW, as the notebook
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    x = torch.from_numpy(np.array(images)).permute(0, 3, 1, 2).double().div(255).contiguous()

    def step():
        mu, logvar = model.encode(x)
        recon = model.decode(model.reparameterize(mu, logvar))
        bce = F.binary_cross_entropy(recon, x, reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        opt.zero_grad()
        (bce + kld).backward()
        opt.step()
    return step


def shoevae_step(images: np.ndarray, name: str, device: torch.device = torch.device("cpu"), keep_features: bool = True,
                 adversarial: float = 0.0):
    """shoevae's step for a preset and its recipe, as shoevae.training.train runs it on `device` (on a GPU:
    the photos already on the device as uint8, bfloat16 autocast, channels-last). With the feature term, the
    photos' own feature maps are kept after the first step (PhotoFeatures), as training keeps them after a
    photo's first batch; `keep_features=False` computes them every step, as training did before. `adversarial`:
    the patch critic's term at this weight, joined from the first step, and the critic's own step after each."""
    torch.manual_seed(0)
    model = VAE(preset(name)).to(device)  # channels-last weights, as VAE builds them
    tc = TrainConfig(**{k: v for k, v in RECIPES.get(name, {}).items() if k in ("perceptual", "feature_layers", "feature_weights",
                                                                              "augment", "colour")})
    features = FeatureLoss(taps=tc.feature_layers, weights=tc.feature_weights).to(device) if tc.perceptual else None
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    photos = TrainingPhotos(images, np.arange(len(images)), model.cfg.image_size, device)
    rows, amp = np.arange(len(images)), use_bfloat16(device)
    kept = PhotoFeatures(features, rows) if features is not None and keep_features else None
    adversary = Adversary(model.decoder[-1], adversarial, 1e-3, device) if adversarial else None

    def step():
        x = photos.batch(rows)
        update(opt, batch_loss(model, x, tc, features, amp, kept(rows, x) if kept else None), x, adversary)
        if device.type == "cuda":
            torch.cuda.synchronize()
    return step


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=os.environ.get("SHOEVAE_DATA", str(SHARED)))
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--queries", type=int, default=1000)
    args = p.parse_args()
    cat = load_catalogue(args.data, PHOTO_SIZE, progress=True)
    batch = np.asarray(cat.images[:args.batch])
    print(f"catalogue: {len(cat)} images; torch {torch.__version__}, {torch.get_num_threads()} threads")

    ref = images_per_second(reference_step(batch), args.batch, max(2, args.steps // 2))
    print(f"train  paper, report's float64 step : {ref:8.1f} img/s  (1.00x)")
    for name in ("paper", "style", "sharp", "parts", "colour"):
        ips = images_per_second(shoevae_step(batch, name), args.batch, args.steps)
        line = f"train  {name:<6}, shoevae float32 step: {ips:8.1f} img/s  ({ips / ref:.2f}x the reference)"
        if torch.cuda.is_available():  # the same step on the GPU, beside the CPU's
            gpu = images_per_second(shoevae_step(batch, name, torch.device("cuda")), args.batch, args.steps * 4)
            line += f";  GPU ({torch.cuda.get_device_name()}, bf16={use_bfloat16(torch.device('cuda'))}): {gpu:8.1f} img/s"
        print(line, flush=True)
        if RECIPES.get(name, {}).get("perceptual"):  # the same step computing the photos' features every time
            every = images_per_second(shoevae_step(batch, name, keep_features=False), args.batch, args.steps)
            print(f"       {name:<5}, photos' features computed every step: {every:8.1f} img/s  (kept: "
                  f"{ips / every:.2f}x faster)", flush=True)
        if name == "parts":  # the patch critic's cost on the default's network and recipe
            gan = images_per_second(shoevae_step(batch, name, adversarial=0.5), args.batch, args.steps)
            print(f"       {name:<5}, with the patch critic (--adversarial 0.5): {gan:8.1f} img/s  "
                  f"({ips / gan:.2f}x the time of the step without)", flush=True)

    for name in ("paper", "style", "sharp"):
        model = VAE(preset(name)).eval()
        embed(model, cat.images[:256])  # warm-up
        t = time.perf_counter()
        emb = embed(model, cat.images)
        print(f"embed  {name:<5}: {len(cat) / (time.perf_counter() - t):8.0f} img/s over {len(cat)} images")

    rows = np.random.default_rng(0).integers(0, len(cat), args.queries)
    for metric in METRICS:
        index = ShoeIndex(n_neighbors=5, metric=metric).fit(emb)
        times = []
        for r in rows:
            t = time.perf_counter()
            index.kneighbors(emb[r], 5, exclude=np.array([r]))
            times.append(time.perf_counter() - t)
        ms = np.array(times) * 1000
        print(f"query  top-5 of {len(cat)}, {metric:<9}: p50 {np.percentile(ms, 50):.2f} ms, "
              f"p99 {np.percentile(ms, 99):.2f} ms ({args.queries} queries)")

if __name__ == "__main__":
    main()
