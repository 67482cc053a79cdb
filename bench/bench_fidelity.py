"""Picture fidelity without a neural network: colour, structure, detail and grid artefacts of every checkpoint.

    pip install -r requirements-dev.txt     # scikit-image (colour and image metrics) comes with the app
    flock /tmp/shoevae-bench.lock python -m bench.bench_fidelity --data ../shared/data/zappos \
        weights/parts.pt weights/sharp.pt weights/style.pt weights/paper.pt [--kid] [--json runs/fidelity.json]

Reconstructions (decoded mean vectors) of N seeded hold-out photos (the split stored in the first checkpoint, which
no shipped model trained on), scored against the photos:
  - colour error: CIEDE2000 per pixel on the shoe (the photo's non-white pixels, holes filled), mean per photo;
  - off > 10: the share of shoes whose mean colour on the shoe differs by more than 10 CIEDE2000 (a wrong colour);
  - SSIM (grey-free, over RGB channels) and PSNR over the whole image;
  - detail: edge energy (mean squared Sobel magnitude of the grey image) of the drawing over the photo's;
  - grid: how far the mean power spectrum of the drawings' fine detail peaks above its own neighbourhood,
    divided by the same for the photos (1 = no periodic artefact beyond the photos' own; the stride-2 lattice
    of an upsampling decoder shows as peaks at fixed frequencies in every drawing, so they add up in the mean).
Samples from each sampler (shoevae/sampling.py: the mixture, N(0, I) through the second stage, N(0, I) straight in):
the share of blank tiles (less than 3 % of non-white pixels) and
the Frechet distance between the 3-D Gaussians of the shoes' mean CIELAB colours, samples against the hold-out photos
(0 for the photos' own colours; a sampler that draws only beige shoes, or blanks, scores high).
`--kid` adds EfficientNet-Lite2 KID (x 1e-3) as one more column; it never decides (docs/model.md).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage
from skimage.color import deltaE_ciede2000, rgb2gray, rgb2lab
from skimage.filters import sobel
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from bench.features import JUDGE, ImageNetFeatures, frechet_from_stats, kid
from shoevae import load_catalogue
from shoevae.atomic import atomic_write
from shoevae.checkpoint import load_checkpoint
from shoevae.colour import BACKGROUND, delta_e
from shoevae.config import PHOTO_SIZE
from shoevae.embedding import embed
from shoevae.model import VAE, prepare, to_uint8
from shoevae.sampling import SAMPLERS, make_sampler
from shoevae.split import Split

OFF_COLOUR = 10.0  # CIEDE2000 between mean colours above which a shoe reads as another colour
BLANK = 0.03  # a sample with fewer non-white pixels than this share is a blank tile


def shoe_mask(image: np.ndarray) -> np.ndarray:
    """(H, W) bool: the shoe in a photo on white: non-white pixels, small gaps closed, holes (white laces) filled."""
    fg = (image < BACKGROUND).any(axis=-1)
    fg = ndimage.binary_closing(fg, iterations=2)
    return ndimage.binary_fill_holes(fg)


def colour_error(photo: np.ndarray, drawing: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(mean per-pixel CIEDE2000 on the mask, CIEDE2000 between the mask's mean colours); NaN for an empty mask."""
    if not mask.any():
        return float("nan"), float("nan")
    per_pixel = delta_e(photo[None], drawing[None])[0][mask]
    a, b = rgb2lab(photo)[mask], rgb2lab(drawing)[mask]
    return float(per_pixel.mean()), float(deltaE_ciede2000(a.mean(0), b.mean(0)))


def edge_energy(image: np.ndarray) -> float:
    """Mean squared Sobel gradient magnitude of the grey image (scaled to [0, 1])."""
    return float(np.mean(sobel(rgb2gray(image)) ** 2))


def fine_power(images: np.ndarray) -> np.ndarray:
    """Mean power spectrum (H, W) of the images' fine detail (grey minus a 2-pixel Gaussian blur), DC centred."""
    grey = rgb2gray(images)  # (N, H, W)
    detail = grey - ndimage.gaussian_filter(grey, sigma=(0, 2, 2))
    return np.fft.fftshift((np.abs(np.fft.fft2(detail)) ** 2).mean(0))


def spectral_peak(power: np.ndarray, skip_radius: int = 4) -> float:
    """How far the strongest frequency stands above the median of its 7x7 neighbourhood (low frequencies skipped)."""
    h, w = power.shape
    yy, xx = np.mgrid[:h, :w]
    far = np.hypot(yy - h // 2, xx - w // 2) > skip_radius
    ratio = power / np.maximum(ndimage.median_filter(power, size=7), 1e-12)
    return float(ratio[far].max())


def grid_score(photos: np.ndarray, drawings: np.ndarray) -> float:
    """Periodic artefacts of the drawings relative to the photos' own spectrum (about 1 when there are none)."""
    return spectral_peak(fine_power(drawings)) / spectral_peak(fine_power(photos))


def fidelity(photos: np.ndarray, drawings: np.ndarray) -> dict[str, float]:
    """Every reconstruction measure of uint8 (N, H, W, 3) drawings against their photos."""
    rows = []
    for p, d in zip(photos, drawings):
        de, de_mean = colour_error(p, d, shoe_mask(p))
        rows.append((de, de_mean, structural_similarity(p, d, channel_axis=-1, data_range=255),
                     peak_signal_noise_ratio(p, d, data_range=255), edge_energy(d) / max(edge_energy(p), 1e-12)))
    de, de_mean, ssim, psnr, detail = np.array(rows, float).T
    return {"colour_error": float(np.nanmean(de)), "off_colour_share": float(np.nanmean(de_mean > OFF_COLOUR)),
            "ssim": float(ssim.mean()), "psnr": float(psnr.mean()), "detail": float(detail.mean()),
            "grid": grid_score(photos, drawings)}


def mean_colours(images: np.ndarray) -> tuple[np.ndarray, float]:
    """(mean CIELAB colour of each non-blank image's shoe (M, 3), the share of blank images)."""
    colours = []
    for im in images:
        mask = shoe_mask(im)
        if mask.mean() >= BLANK:
            colours.append(rgb2lab(im)[mask].mean(0))
    return np.array(colours).reshape(-1, 3), 1 - len(colours) / len(images)


def colour_fd(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two sets of 3-D colours (inf when one has under 2)."""
    if len(a) < 2 or len(b) < 2:
        return float("inf")
    return frechet_from_stats(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


@torch.inference_mode()
def decode(model: VAE, z: np.ndarray) -> np.ndarray:
    return np.concatenate([to_uint8(model.decode(torch.as_tensor(z[i:i + 64], dtype=torch.float32)))
                           for i in range(0, len(z), 64)])


@torch.inference_mode()
def reconstruct(model: VAE, photos: np.ndarray, seed: int | None = None) -> np.ndarray:
    """uint8 drawings of the photos decoded from their mean vectors, or with `seed` from one seeded draw
    z = mu + sigma * eps each."""
    if seed is not None:
        torch.manual_seed(seed)
    out = []
    for i in range(0, len(photos), 64):
        mu, logvar = model.encode(prepare(photos[i:i + 64], model.cfg.image_size))
        out.append(to_uint8(model.decode(mu if seed is None else model.reparameterize(mu, logvar))))
    return np.concatenate(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="+")
    ap.add_argument("--data", default=os.environ.get("SHOEVAE_DATA", "data"))
    ap.add_argument("-n", type=int, default=300, help="hold-out photos and samples per set (default %(default)s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--kid", action="store_true", help="add EfficientNet-Lite2 KID (bench only; never decides)")
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args()

    cat = load_catalogue(args.data, PHOTO_SIZE)
    ckpts = {path: load_checkpoint(path) for path in args.checkpoints}
    train_rows, held = Split.of(next(iter(ckpts.values()))[1]).rows(cat.ids)
    rng = np.random.default_rng(args.seed)
    rows = np.sort(rng.choice(held, min(args.n, len(held)), replace=False))
    photos = cat.images[rows]
    photo_colours, _ = mean_colours(photos)
    judge = ImageNetFeatures(JUDGE) if args.kid else None
    ref_features = judge(photos) if judge else None
    print(f"{len(rows)} hold-out photos; photos against themselves: grid {grid_score(photos, photos):.2f}", flush=True)

    results: dict[str, dict[str, float]] = {}
    for path, (model, _) in ckpts.items():
        t0 = time.perf_counter()
        drawings = reconstruct(model, photos)
        r = fidelity(photos, drawings)
        codes = embed(model, cat.images[train_rows])
        draws = {name: make_sampler(name).fit(codes).sample(len(rows), seed=args.seed) for name in SAMPLERS}
        for name, z in draws.items():
            samples = decode(model, z.astype(np.float32))
            colours, blank = mean_colours(samples)
            r[f"{name}_blank"], r[f"{name}_colour_fd"] = blank, colour_fd(colours, photo_colours)
            if judge:
                r[f"{name}_kid"] = kid(ref_features, judge(samples), seed=args.seed)[0] * 1e3
        if judge:
            r["recon_kid"] = kid(ref_features, judge(drawings), seed=args.seed)[0] * 1e3
        results[path] = r
        print(f"{path}: {time.perf_counter() - t0:.0f} s {json.dumps({k: round(v, 4) for k, v in r.items()})}", flush=True)

    cols = ["colour_error", "off_colour_share", "ssim", "psnr", "detail", "grid"]
    cols += [f"{name}_{m}" for name in SAMPLERS for m in ("blank", "colour_fd")]
    cols += [c for c in ("recon_kid", *(f"{name}_kid" for name in SAMPLERS)) if args.kid]
    heads = ["colour error (ΔE00, shoe)", f"off > {OFF_COLOUR:g} ΔE", "SSIM", "PSNR", "detail (edges / photo's)",
             "grid (x photos')"]
    heads += [f"{name} {m}" for name in SAMPLERS for m in ("blank", "colour FD")]
    heads += ["KID recon", *(f"KID {name}" for name in SAMPLERS)][:4 if args.kid else 0]
    print("\n| checkpoint | " + " | ".join(heads) + " |\n" + "|---" * (len(heads) + 1) + "|")
    for path, r in results.items():
        cells = [f"{r[c] * 100:.0f} %" if c.endswith(("share", "blank")) else f"{r[c]:.3g}" for c in cols]
        print(f"| `{Path(path).name}` | " + " | ".join(cells) + " |")
    if args.json:
        with atomic_write(Path(args.json)) as f:
            f.write(json.dumps({"n": len(rows), "seed": args.seed, "results": results}, indent=2).encode())


if __name__ == "__main__":
    main()
