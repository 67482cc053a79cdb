"""Watch it learn: seconds from pressing Start to the first recognisable reconstruction.

    flock /tmp/shoevae-bench.lock python bench/bench_live_training.py --data ../shared/data/zappos

Drives the Train page's job code (shoevae.jobs.JobRegistry.start) with the page's defaults (preset
`quick` and its recipe, presets.RECIPES; torch threads as the app sets them: half the cores), polls the job's
snapshot once a second as the page does, and scores every new preview of the 8 fixed shoes:

- silhouette IoU: overlap of the shoe masks (grey < 240 on a white background) of photo and reconstruction;
- colour error: distance (0-255 RGB) between the mean colours inside the photo's and the reconstruction's masks.

A preview counts as recognisable when the mean IoU >= 0.75 and the mean colour error <= 20 (thresholds set
by looking at the saved grids: below them shoes are grey blobs or the wrong colour). Each preview is saved
as a PNG grid (photos, reconstructions, samples) under --out, which git ignores: the grids show catalogue
photos and must never be committed. Other work on the machine slows the job: run it under the lock.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from shoevae import load_catalogue
from shoevae.jobs import JobRegistry
from shoevae.presets import train_configs

MIN_IOU, MAX_COLOUR = 0.75, 20.0


def masks(images: np.ndarray) -> np.ndarray:
    """(B,H,W,3) uint8 -> (B,H,W) bool: pixels darker than the white background (grey < 240)."""
    return images.astype(np.float32).mean(axis=-1) < 240


def silhouette_iou(originals: np.ndarray, recons: np.ndarray) -> np.ndarray:
    """Per image: intersection over union of the two shoe masks."""
    a, b = masks(originals), masks(recons)
    inter, union = (a & b).sum((1, 2)), (a | b).sum((1, 2))
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


def colour_error(originals: np.ndarray, recons: np.ndarray) -> np.ndarray:
    """Per image: RGB distance between the mean colour inside each image's own shoe mask."""
    def mean_colour(imgs: np.ndarray) -> np.ndarray:
        m = masks(imgs)[..., None]
        return (imgs * m).sum((1, 2)) / np.maximum(m.sum((1, 2)), 1)
    return np.linalg.norm(mean_colour(originals.astype(np.float32)) - mean_colour(recons.astype(np.float32)), axis=1)


def grid(rows: list[np.ndarray], pad: int = 2) -> Image.Image:
    """Rows of (n,S,S,3) uint8 images -> one white-padded picture."""
    n, s = max(len(r) for r in rows), rows[0].shape[1]
    out = np.full((len(rows) * (s + pad) + pad, n * (s + pad) + pad, 3), 255, np.uint8)
    for i, r in enumerate(rows):
        for j, img in enumerate(r):
            out[pad + i * (s + pad):pad + i * (s + pad) + s, pad + j * (s + pad):pad + j * (s + pad) + s] = img
    return Image.fromarray(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("SHOEVAE_DATA", "data"))
    ap.add_argument("--preset", default="quick")
    ap.add_argument("--seconds", type=float, default=75, help="stop the job after this long")
    ap.add_argument("--lr", type=float, default=None, help="override the preset's recipe")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--image-size", type=int, default=None)
    ap.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) // 2),
                    help="torch threads (default: half the cores, as the app)")
    ap.add_argument("--out", default="docs/figures/local/live", help="where the preview grids go (git-ignored)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    cfg, tc = train_configs({"preset": args.preset, "lr": args.lr, "batch_size": args.batch_size,
                             "image_size": args.image_size})  # the page's form with these fields changed
    cat = load_catalogue(args.data, 136)  # the app's catalogue size; the job resizes per batch
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"preset {args.preset} ({cfg.image_size} px, latent {cfg.latent_dim}), {tc}, {torch.get_num_threads()} "
          f"thread(s), {len(cat)} photos; grids -> {out}/")

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        job = JobRegistry().start("bench-live", cfg, tc, cat, Path(tmp) / "bench-live.pt")
        seen, first = -1, None
        print(f"{'seconds':>8} {'batches':>8} {'images/s':>9} {'IoU':>6} {'colour':>7}  recognisable")
        while time.time() - t0 < args.seconds and job.snapshot().running:
            time.sleep(1.0)
            s = job.snapshot()
            if s.reconstructions is None or s.preview_step == seen:
                continue
            seen, at = s.preview_step, s.started + s.preview_seconds - t0
            iou = float(silhouette_iou(s.originals, s.reconstructions).mean())
            col = float(colour_error(s.originals, s.reconstructions).mean())
            ok = iou >= MIN_IOU and col <= MAX_COLOUR
            if ok and first is None:
                first = at
            rate = s.preview_step * tc.batch_size / max(at, 1e-9)
            print(f"{at:8.1f} {s.preview_step:8d} {rate:9.0f} {iou:6.3f} {col:7.1f}  {'yes' if ok else 'no'}", flush=True)
            grid([s.originals, s.reconstructions, s.samples]).save(out / f"{args.preset}-t{at:05.1f}s.png")
        job.stop()
        job.join(30)
    print(f"first recognisable reconstruction: "
          f"{f'{first:.1f} s after Start' if first is not None else f'none within {args.seconds:.0f} s'}")


if __name__ == "__main__":
    main()
