"""Make a ~50K-photo test catalogue from the shared 13.5K sample, for benchmarks at UT Zappos50K's size.

    python bench/make_catalogue.py /tmp/zappos50k-test [--data ../shared/data/zappos]

Each photo is written in four variants (mirrored, shifted, slightly tinted, rescaled up 1.6-2.6x so
JPEG draft decoding has work to do) as <category>/<name>-<variant>.jpg, with a manifest.csv
(item_id = the original id + variant). The folder must be outside the repository: these are
derived from the shared photos and are never committed. Seeded: the same folder every time.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

REPO = Path(__file__).resolve().parents[1]
VARIANTS = ("mirror", "shift", "tint", "rescale")


def variant(im: Image.Image, kind: str, rng: np.random.Generator) -> Image.Image:
    """One variant of an RGB product photo on white."""
    if kind == "mirror":
        return ImageOps.mirror(im)
    if kind == "shift":
        out = Image.new("RGB", im.size, (255, 255, 255))
        dx, dy = (int(v) for v in rng.integers(-10, 11, 2))
        out.paste(im, (dx, dy))
        return out
    if kind == "tint":
        tint = tuple(int(v) for v in rng.integers(0, 256, 3))
        return Image.blend(im, Image.new("RGB", im.size, tint), float(rng.uniform(0.05, 0.12)))
    if kind == "rescale":
        f = float(rng.uniform(1.6, 2.6))
        return im.resize((round(im.width * f), round(im.height * f)), Image.Resampling.LANCZOS)
    raise ValueError(kind)


def _make(job: tuple[str, str, str, str, str]) -> list[tuple[str, str, str]]:
    src, item_id, rel, category, dest = job
    rows = []
    with Image.open(src) as im:
        im = im.convert("RGB")
        for kind in VARIANTS:
            rng = np.random.default_rng(int(hashlib.md5(f"{item_id}:{kind}".encode()).hexdigest()[:8], 16))
            out_rel = f"{category}/{Path(rel).stem}-{kind}.jpg"
            variant(im, kind, rng).save(Path(dest) / out_rel, quality=90)
            rows.append((f"{item_id}-{kind}", out_rel, category))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dest", type=Path, help="new folder outside the repository, e.g. /tmp/zappos50k-test")
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "zappos",
                   help="the shared sample (folder with manifest.csv; default %(default)s)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = p.parse_args(argv)
    dest = args.dest.expanduser().resolve()
    if dest == REPO or REPO in dest.parents:
        p.error(f"{dest} is inside the repository; these photos must never be committed")
    if dest.exists() and any(dest.iterdir()):
        p.error(f"{dest} exists and is not empty; remove it or pick a new folder")
    manifest = args.data / "manifest.csv"
    if not manifest.is_file():
        p.error(f"no manifest.csv in {args.data}")
    with open(manifest, newline="") as f:
        src = list(csv.DictReader(f))
    for cat in {r["category"] for r in src}:
        (dest / cat).mkdir(parents=True, exist_ok=True)
    jobs = [(str(args.data / r["path"]), r["item_id"], r["path"], r["category"], str(dest)) for r in src]
    from tqdm import tqdm
    rows: list[tuple[str, str, str]] = []
    with ProcessPoolExecutor(args.workers) as pool:
        for made in tqdm(pool.map(_make, jobs, chunksize=64), total=len(jobs), unit="photo", desc="variants"):
            rows.extend(made)
    with open(dest / "manifest.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["item_id", "path", "category"])
        w.writerows(rows)
    print(f"{len(rows)} photos in {dest} (manifest: {dest / 'manifest.csv'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
