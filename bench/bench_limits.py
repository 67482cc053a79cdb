"""What limits a checkpoint's reconstructions: fit, the posterior's noise, and which frequencies the error is in.

    flock /tmp/shoevae-bench.lock python -m bench.bench_limits --data ../shared/data/zappos weights/colour.pt

For N seeded photos of each side of the checkpoint's split (bench_fidelity's measures, no neural network):
  - training photos against hold-out photos: about equal means the model underfits (more capacity or training
    would help on both), much better on the training photos means it overfits;
  - decoded mean vectors against decoded draws z = mu + sigma * eps: about equal means the posterior's noise
    costs the drawings nothing (the code is as good as deterministic);
  - the colour error on the shoe after a Gaussian blur of both images (sigma 0, 0.5, 1, 2, 4 px), beside the
    photo against its own blur (colour error and SSIM): the first falls to what the drawing gets wrong at coarse
    scales, the second is what drawing the photo that blurred would cost, so a target of E ΔE (or an SSIM of S)
    needs a drawing as sharp as the blur at which the second reaches E (or S), and coarse errors below E.
"""
from __future__ import annotations

import argparse
import os

import numpy as np
from scipy import ndimage

from bench.bench_fidelity import colour_error, fidelity, reconstruct, shoe_mask
from shoevae import load_catalogue
from shoevae.checkpoint import load_checkpoint
from shoevae.config import PHOTO_SIZE
from shoevae.split import Split

BLURS = (0, 0.5, 1, 2, 4)


def blurred(images: np.ndarray, sigma: float) -> np.ndarray:
    """uint8 (N, H, W, 3) after a Gaussian blur of `sigma` pixels (unchanged at 0)."""
    if not sigma:
        return images
    return np.clip(ndimage.gaussian_filter(images.astype(np.float32), (0, sigma, sigma, 0)) + 0.5, 0, 255).astype(np.uint8)


def shoe_error(a: np.ndarray, b: np.ndarray, masks: np.ndarray) -> float:
    """Mean over images of bench_fidelity.colour_error: the mean CIEDE2000 on each shoe's mask."""
    return float(np.nanmean([colour_error(x, y, m)[0] for x, y, m in zip(a, b, masks)]))


def row(name: str, r: dict[str, float]) -> str:
    return f"| {name} | {r['colour_error']:.2f} | {r['ssim']:.3f} | {r['psnr']:.2f} | {r['detail']:.2f} |"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--data", default=os.environ.get("SHOEVAE_DATA", "data"))
    ap.add_argument("-n", type=int, default=200, help="photos from each side of the split (default %(default)s)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    cat = load_catalogue(args.data, PHOTO_SIZE)
    for path in args.checkpoints:
        model, ckpt = load_checkpoint(path)
        train_rows, held = Split.of(ckpt).rows(cat.ids)
        rng = np.random.default_rng(args.seed)
        sides = {side: cat.images[np.sort(rng.choice(rows, min(args.n, len(rows)), replace=False))]
                 for side, rows in (("hold-out", held), ("training", train_rows))}
        photos = sides["hold-out"]
        drawings = reconstruct(model, photos)
        print(f"\n{path}\n\n| drawings of | ΔE00 | SSIM | PSNR | detail |\n|---|---|---|---|---|")
        print(row("hold-out photos, from the mean", fidelity(photos, drawings)))
        print(row("training photos, from the mean", fidelity(sides["training"], reconstruct(model, sides["training"]))))
        print(row("hold-out photos, from z = mu + sigma eps",
                  fidelity(photos, reconstruct(model, photos, seed=args.seed))))
        masks = np.stack([shoe_mask(p) for p in photos])
        print("\n| blur (px) | ΔE00, drawing against photo, both blurred | ΔE00, photo against its own blur | "
              "SSIM, photo against its own blur |\n|---|---|---|---|")
        for sigma in BLURS:
            with np.errstate(divide="ignore"):  # the photo against itself: PSNR is infinite
                own = fidelity(photos, blurred(photos, sigma))
            print(f"| {sigma} | {shoe_error(blurred(photos, sigma), blurred(drawings, sigma), masks):.2f} | "
                  f"{own['colour_error']:.2f} | {own['ssim']:.3f} |")


if __name__ == "__main__":
    main()
