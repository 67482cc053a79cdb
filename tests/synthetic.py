"""Small synthetic shoe catalogues: coloured shapes drawn with PIL, made in a temporary folder.

The fast unit tier uses these, so it needs nothing beside the checkout. Each category has its own
silhouette (Boot: tall shaft over a sole; Sandal: thin straps over a sole; Shoe: a low rounded
upper), drawn in a random colour at a random offset and scale on white, like catalogue photos.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CATEGORIES = ("Boot", "Sandal", "Shoe")


def draw_shoe(category: str, rng: np.random.Generator, size: tuple[int, int] = (136, 102)) -> Image.Image:
    """One synthetic product photo of `category` (RGB, white background)."""
    w, h = size
    im = Image.new("RGB", size, (255, 255, 255))
    d = ImageDraw.Draw(im)
    colour = tuple(int(c) for c in rng.integers(0, 200, 3))
    s = rng.uniform(0.8, 1.0)
    x0, y0 = int(rng.integers(2, 10)), int(rng.integers(2, 8))
    sole_y = int(y0 + h * 0.75 * s)
    d.rectangle([x0, sole_y, x0 + int(w * 0.85 * s), sole_y + max(3, int(h * 0.08))], fill=(40, 40, 40))
    if category == "Boot":
        d.rectangle([x0 + int(w * 0.05), y0, x0 + int(w * 0.35 * s), sole_y], fill=colour)
        d.polygon([(x0 + int(w * 0.35 * s), int(sole_y - h * 0.3 * s)), (x0 + int(w * 0.85 * s), sole_y),
                   (x0 + int(w * 0.35 * s), sole_y)], fill=colour)
    elif category == "Sandal":
        for i in range(3):
            x = x0 + int(w * (0.15 + 0.22 * i) * s)
            d.line([(x, sole_y), (x + int(w * 0.12), int(sole_y - h * 0.35 * s))], fill=colour, width=4)
    else:
        d.ellipse([x0, int(sole_y - h * 0.35 * s), x0 + int(w * 0.85 * s), sole_y + 2], fill=colour)
    return im


def make_shoes(dest: Path, per_category: int = 40, seed: int = 0, manifest: bool = False) -> Path:
    """Write `per_category` JPEGs into dest/<category>/; with `manifest`, also dest/manifest.csv.

    Returns `dest`. Photos are repeatable by seed.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for cat in CATEGORIES:
        (dest / cat).mkdir(parents=True, exist_ok=True)
        for i in range(per_category):
            rel = f"{cat}/{cat.lower()}-{i:03d}.jpg"
            draw_shoe(cat, rng).save(dest / rel, quality=90)
            rows.append((f"{cat.lower()}{i:03d}", rel, cat))
    if manifest:
        with open(dest / "manifest.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["item_id", "path", "category"])
            w.writerows(rows)
    return dest
