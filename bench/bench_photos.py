"""Your own photo: hold-out shoes re-shot the ways people take photos, queried with preparation on and off.

    flock /tmp/shoevae-bench.lock python -m bench.bench_photos --data ../shared/data/zappos --n 300

Each of `--n` hold-out photos of the checkpoint's stored split (never trained on) is re-shot in every
way below, from its catalogue file, and queried through `Recommender.photo_query` (what the upload,
the camera and `recommend --image` use) with preparation on and off. Per way it prints:
- category precision@5: the share of same-category shoes among the five nearest, the shoe's own
  catalogue photo left out (as evaluate's hold-out precision);
- same shoe@5: how often the shoe's own catalogue photo is among the five nearest (it is in the index);
- shoe: the share judged `looks_like_shoe`;
- ms: the mean time of one query (reading the photo's bytes to the five shoes).
Then the non-shoe pictures drawn here (gradients, noise, textures, scenes and objects; other seeds and
kinds than the calibration draws) and the share of them judged not shoes.

Ways (backdrops and scenes are generated here; shoes are cut from their white catalogue backdrop):
catalogue (the file as it is), small (the shoe at 30-60 % of the frame, anywhere, on white), backdrop
(cut out onto a floor, desk or carpet texture with a shadow), coloured (on plain coloured paper),
handheld (mirrored, tilted 5-12 degrees, darker and warmer, on grey paper, JPEG quality 55), mirrored,
tilted, dim (darker and warmer on white), jpeg (quality 30), big (the shoe cropped tight, filling the frame).
"""
from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image, ImageFilter

from shoevae.cache import default_cache_dir
from shoevae.catalogue import load_catalogue
from shoevae.checkpoint import load_checkpoint
from shoevae.cli import DEFAULT_CHECKPOINT
from shoevae.config import PHOTO_SIZE
from shoevae.embedding import cached_embed
from shoevae.recommend import Recommender
from shoevae.split import Split

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "zappos"
WAYS = ("catalogue", "small", "backdrop", "coloured", "handheld", "mirrored", "tilted", "dim", "jpeg", "big")
CANVAS = (480, 360)  # the re-shot photo's size (a phone photo, downsized)


# ----------------------------------------------------------------------------- re-shooting
def cut_out(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the shoe cut to its box, its alpha in [0, 1]) from a catalogue photo on white (a plain threshold,
    holes filled: not the method under test)."""
    fg = (img.min(axis=2) < 240).astype(np.uint8)
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    flood = np.pad(fg, 1).copy()
    cv2.floodFill(flood, None, (0, 0), 2)
    fg = (flood[1:-1, 1:-1] != 2).astype(np.float32)
    ys, xs = np.nonzero(fg)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    alpha = cv2.GaussianBlur(fg, (3, 3), 0)
    return img[y0:y1, x0:x1], alpha[y0:y1, x0:x1]


def paste(back: np.ndarray, shoe: np.ndarray, alpha: np.ndarray, width: float, rng: np.random.Generator,
          shadow: bool = False) -> np.ndarray:
    """The shoe scaled to `width` of the backdrop's width, anywhere on it, optionally with a soft shadow."""
    h, w = back.shape[:2]
    scale = min(width * w / shoe.shape[1], 0.9 * h / shoe.shape[0])
    sw, sh = max(2, round(shoe.shape[1] * scale)), max(2, round(shoe.shape[0] * scale))
    shoe = cv2.resize(shoe, (sw, sh), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    alpha = np.clip(cv2.resize(alpha, (sw, sh), interpolation=cv2.INTER_LINEAR), 0, 1)[..., None]
    x, y = int(rng.integers(0, w - sw + 1)), int(rng.integers(0, h - sh + 1))
    out = back.astype(np.float32)
    if shadow:
        dark = np.zeros((h, w), np.float32)
        dx, dy = int(sw * 0.04) + 2, int(sh * 0.05) + 2
        ys, xs = slice(min(h, y + dy), min(h, y + dy + sh)), slice(min(w, x + dx), min(w, x + dx + sw))
        dark[ys, xs] = alpha[: ys.stop - ys.start, : xs.stop - xs.start, 0]
        dark = cv2.GaussianBlur(dark, (0, 0), max(2.0, sw * 0.03))
        out *= (1 - 0.45 * dark)[..., None]
    out[y:y + sh, x:x + sw] = shoe * alpha + out[y:y + sh, x:x + sw] * (1 - alpha)
    return np.clip(out, 0, 255).astype(np.uint8)


def backdrop(rng: np.random.Generator, kind: str) -> np.ndarray:
    """A floor (planks), desk (wood or laminate), carpet (fibres), grey paper or plain coloured paper."""
    w, h = CANVAS
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == "floor":
        base = rng.uniform([120, 80, 40], [200, 150, 100])
        plank = np.floor(y / rng.uniform(40, 80))
        grain = 0.12 * np.sin(x / rng.uniform(3, 9) + 4 * np.sin(y / 17 + plank)) + 0.1 * (plank % 3) / 3
        img = base * (0.85 + grain)[..., None]
    elif kind == "desk":
        base = rng.uniform([150, 130, 110], [235, 215, 190])
        img = base * (0.93 + 0.05 * np.sin(x / rng.uniform(10, 30) + 2 * np.sin(y / 40)))[..., None]
    elif kind == "carpet":
        base = rng.uniform(40, 200, 3)
        fibres = cv2.GaussianBlur(rng.normal(0, 1, (h, w)).astype(np.float32), (0, 0), 1.2)
        img = base * (1 + 0.35 * fibres)[..., None]
    elif kind == "grey":
        img = np.full((h, w, 3), rng.uniform(150, 200), np.float32)
    else:  # coloured paper
        img = np.broadcast_to(rng.uniform(0, 1, 3) * rng.uniform(120, 255), (h, w, 3)).astype(np.float32)
    vignette = 1 - 0.12 * (((x - w / 2) / w) ** 2 + ((y - h / 2) / h) ** 2)[..., None]
    return np.clip(img * vignette + rng.normal(0, 2, (h, w, 3)), 0, 255).astype(np.uint8)


def tilt(img: np.ndarray, deg: float, fill: tuple[int, int, int] | None = None) -> np.ndarray:
    """Turn by `deg`, the corners filled by `fill` (default: the image's edge colour)."""
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), deg, 1.0)
    if fill is None:
        return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=fill)


def dim_and_warm(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    light = rng.uniform(0.6, 0.8) * np.array([1.1, 1.0, rng.uniform(0.78, 0.88)], np.float32)
    return np.clip(img.astype(np.float32) * light, 0, 255).astype(np.uint8)


def jpeg(img: np.ndarray, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def reshoot(way: str, raw: bytes, rng: np.random.Generator) -> bytes:
    """A catalogue photo's file re-shot one way, as the bytes of a JPEG a person would upload."""
    if way == "catalogue":
        return raw
    img = np.asarray(Image.open(io.BytesIO(raw)).convert("RGB"))
    if way == "mirrored":
        return jpeg(img[:, ::-1])
    if way == "jpeg":
        return jpeg(img, 30)
    if way == "tilted":
        return jpeg(tilt(img, float(rng.choice([-1, 1]) * rng.uniform(5, 12)), (255, 255, 255)))
    if way == "dim":
        return jpeg(dim_and_warm(img, rng))
    shoe, alpha = cut_out(img)
    if way == "big":  # cropped to the shoe, a few pixels around it
        return jpeg(np.pad(shoe, ((3, 3), (3, 3), (0, 0)), constant_values=255))
    if way == "small":
        return jpeg(paste(np.full((CANVAS[1], CANVAS[0], 3), 255, np.uint8), shoe, alpha, rng.uniform(0.3, 0.6), rng))
    if way == "backdrop":
        back = backdrop(rng, str(rng.choice(["floor", "desk", "carpet"])))
        return jpeg(paste(back, shoe, alpha, rng.uniform(0.45, 0.75), rng, shadow=True))
    if way == "coloured":
        return jpeg(paste(backdrop(rng, "coloured"), shoe, alpha, rng.uniform(0.5, 0.8), rng))
    if way == "handheld":
        shot = paste(backdrop(rng, "grey"), shoe[:, ::-1], alpha[:, ::-1], rng.uniform(0.5, 0.8), rng, shadow=True)
        shot = tilt(shot, float(rng.choice([-1, 1]) * rng.uniform(5, 12)))
        return jpeg(dim_and_warm(shot, rng), 55)
    raise ValueError(way)


# ----------------------------------------------------------------------------- pictures that are not shoes
def non_shoes(n: int, seed: int) -> list[bytes]:
    """Gradients, noise, backdrops without a shoe, and drawn scenes (other seeds and kinds than shoelike's)."""
    from shoevae.shoelike import not_shoes
    rng = np.random.default_rng(seed)
    out = [jpeg(im) for im in not_shoes(n // 2, seed=seed, size=CANVAS)]
    for i in range(n - len(out)):
        kind = ("floor", "desk", "carpet", "grey", "coloured")[i % 5]
        img = Image.fromarray(backdrop(rng, kind))
        if i % 2:  # a blurred scene: blobs of colour
            arr = np.asarray(img).copy()
            for _ in range(6):
                cx, cy, r = rng.integers(0, CANVAS[0]), rng.integers(0, CANVAS[1]), rng.integers(20, 90)
                cv2.circle(arr, (int(cx), int(cy)), int(r), tuple(int(c) for c in rng.integers(0, 256, 3)), -1)
            img = Image.fromarray(arr).filter(ImageFilter.GaussianBlur(3))
        out.append(jpeg(np.asarray(img)))
    out.append(jpeg(np.zeros((1, 1, 3), np.uint8) + 128))  # a 1x1 picture
    return out


# ----------------------------------------------------------------------------- scoring
def score(rec: Recommender, queries: list[tuple[bytes, int]], prepare: bool) -> dict[str, float]:
    cats = np.asarray(rec.catalogue.categories)
    prec, same, shoe, took = [], [], [], []
    for data, row in queries:
        t = time.perf_counter()
        q = rec.photo_query(data, 6, prepare=prepare)
        took.append(time.perf_counter() - t)
        rows = [m.row for m in q.matches]
        same.append(row in rows[:5])
        others = [r for r in rows if r != row][:5]
        prec.append(float(np.mean(cats[others] == cats[row])))
        shoe.append(q.looks_like_shoe)
    return {"precision@5": float(np.mean(prec)), "same@5": float(np.mean(same)), "shoe": float(np.mean(shoe)),
            "ms": 1000 * float(np.mean(took)), "ms_p90": 1000 * float(np.percentile(took, 90))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(SHARED))
    ap.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT)
    ap.add_argument("--n", type=int, default=300, help="hold-out photos to re-shoot")
    ap.add_argument("--ways", default=",".join(WAYS))
    ap.add_argument("--non-shoes", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="also write the table here")
    args = ap.parse_args()

    torch.set_num_threads(1)  # as the app runs queries (session.configure_torch: half of 2 cores); see docs/speed.md
    model, ckpt = load_checkpoint(args.checkpoint)
    cat = load_catalogue(args.data, PHOTO_SIZE)
    rec = Recommender(model, cat, cached_embed(model, cat.images, cat.ids, default_cache_dir()))
    t = time.perf_counter()
    check = rec.shoe_check
    print(f"calibration: {time.perf_counter() - t:.2f} s, threshold {check.threshold:.3f} (catalogue shoes: median "
          f"{np.median(check.shoes):.3f}, 99.5 % {np.quantile(check.shoes, 0.995):.3f}; drawn non-shoes: 5 % "
          f"{np.quantile(check.others, 0.05):.3f}, median {np.median(check.others):.3f}, n {len(check.others)})")
    _, held = Split.of(ckpt).rows(cat.ids)
    rng = np.random.default_rng(args.seed)
    rows = np.sort(rng.choice(held, size=min(args.n, len(held)), replace=False))
    raws = [Path(cat.paths[r]).read_bytes() for r in rows]
    print(f"{len(rows)} hold-out photos of {args.checkpoint} (split {Split.of(ckpt).to_dict()}), {len(cat):,} shoes indexed")
    table = {}
    print(f"{'way':<10} {'prep':<4} {'precision@5':>11} {'same@5':>7} {'shoe':>6} {'ms':>6} {'ms p90':>7}")
    for way in args.ways.split(","):
        wrng = np.random.default_rng([args.seed, WAYS.index(way)])
        queries = [(reshoot(way, raw, wrng), int(r)) for raw, r in zip(raws, rows)]
        for prepare in (False, True):
            s = score(rec, queries, prepare)
            table[f"{way}/{'on' if prepare else 'off'}"] = s
            print(f"{way:<10} {'on' if prepare else 'off':<4} {s['precision@5']:>11.3f} {100 * s['same@5']:>6.1f}% "
                  f"{100 * s['shoe']:>5.1f}% {s['ms']:>6.0f} {s['ms_p90']:>7.0f}", flush=True)
    others = non_shoes(args.non_shoes, seed=args.seed + 1000)
    for prepare in (False, True):
        judged = [rec.photo_query(d, 5, prepare=prepare).looks_like_shoe for d in others]
        rate = 1 - float(np.mean(judged))
        table[f"non-shoes/{'on' if prepare else 'off'}"] = {"not_shoe": rate, "n": len(others)}
        print(f"non-shoes  {'on' if prepare else 'off':<4} judged not a shoe: {100 * rate:.1f}% of {len(others)}")
    if args.json:
        Path(args.json).write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
