"""Preparing a person's photo so that the model sees it as it sees the catalogue's photos.

Catalogue photos (UT Zappos50K) show one shoe from the side on pure white, toe to the left, its box
filling a 4:3 frame (and that frame padded to a square). A photo taken in a classroom shows the shoe
small, off-centre, on a desk or a carpet, mirrored, tilted, in warm dim light. `prepare_photo`:

1. finds the shoe: on a plain backdrop (the border's colours vary little) every pixel far from the
   backdrop's colour; on any other backdrop OpenCV's GrabCut, seeded with the border as background
   (no downloaded weights). The largest object is kept, with the pieces near it (sandal straps);
2. evens out white balance and exposure from a plain, near-neutral backdrop (paper: the light's colour);
3. puts it on white and frames it where catalogue shoes sit (`Framing`, measured from the catalogue); a
   shoe on white that sits there already (a catalogue photo) is taken as it is.

Mirroring and leaning need the model: `views` makes the prepared photo mirrored and turned by a few
degrees, and `choose_view` keeps the view nearest to the catalogue. (Levelling by the line a shoe stands on
was tried: it turned 15 % of the catalogue's own photos, three-quarter views and heels.)
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import cv2
import numpy as np

MIN_SIDE = 8  # a photo narrower than this shows no shoe (it is framed whole and judged not a shoe)
WORK_SIDE = 320  # photos are read with their longer side at most this (cropping and framing work here)
SEG_SIDE = 128  # GrabCut runs at this size
GRABCUT_ROUNDS = 4
BORDER = 0.04  # the ring of the photo taken as backdrop: this share of the shorter side
PLAIN_SPREAD = 20.0  # a backdrop is plain when 3/4 of its ring lies within this RGB distance of its median
# (3/4, not all: catalogue shoes stand on the photo's bottom edge, a cropped shoe touches every edge)
MAX_EXPOSURE = 1.5  # a plain grey backdrop is brightened towards white by at most this
NEUTRAL = 1.4  # a plain backdrop whose channels differ by at most this ratio is taken for white paper in coloured light
MIN_CONTRAST = 30.0  # on a plain backdrop, a shoe pixel differs from it by at least this (RGB distance)
CONTENT = 235  # catalogue analysis: a pixel whose darkest channel is below this is shoe, not the white around it
WHITE = 235  # a backdrop whose every channel is at least this is white: nothing of it to remove
PURE_WHITE = 254  # ...and at least this, as the catalogue's: a photo framed there is used untouched (below it, the
# backdrop away from the shoe is made white: the model reads an off-white backdrop as part of the picture)
TURNS = (-8.0, 8.0)  # a framed shoe is also tried turned by these (degrees): handheld photos lean 5-12 degrees
TURN_MARGIN = 0.02  # ...and kept only when nearer to the catalogue by this much (an upright shoe stays upright;
# so is the photo as it is, `Prepared.whole`)
COPY = 0.1  # a view nearer to a catalogue shoe than this share of the catalogue's median distance from a shoe to
# its nearest other is a copy of that shoe's photo (choose_view; parts: 0.048, a re-saved catalogue photo 0-0.05)
FRAMED = 0.9  # a shoe on white whose box overlaps where the framing puts it this much (intersection over union)
# is left as it is: reframing would only resample it. 86 % of the catalogue's own photos reach it (the rest, pale
# shoes found in part or framed a little narrow, are reframed and also tried as they are, `Prepared.whole`); a
# shoe at half the frame or to one side does not


@dataclass(frozen=True)
class Framing:
    """Where catalogue shoes sit in their square photos, in fractions of the side (see `measure`)."""

    left: float = 0.0  # the frame shoes are fitted into (4:3, padded to a square in the catalogue)
    top: float = 0.125
    width: float = 1.0
    height: float = 0.75
    fill: float = 0.97  # a shoe's box fills the frame this much along its tighter side
    bottom: float = 0.015  # the gap under a shoe's sole, as the catalogue's shoes stand near the frame's bottom

    @classmethod
    def measure(cls, images: np.ndarray, n: int = 800, seed: int = 0) -> Framing:
        """Measure the framing of catalogue images (uint8 (N,S,S,3)) from the boxes of `n` of them.

        The frame spans the 1st to 99th percentile of the boxes' edges; fill and the gap under the
        sole are medians. On the shared catalogue (parts' 136 px squares): the 4:3 band, fill 0.97,
        shoes standing 2 px above the band's bottom.
        """
        rows = np.random.default_rng(seed).permutation(len(images))[:n]
        boxes = [b for b in (content_box(images[r].min(axis=2) < CONTENT) for r in np.sort(rows)) if b is not None]
        if len(boxes) < 10:
            return cls()
        side = images.shape[1]
        x0, y0, x1, y1 = (np.asarray(boxes, np.float64) / side).T
        left, right = np.percentile(x0, 1), np.percentile(x1, 99)
        top, low = np.percentile(y0, 1), np.percentile(y1, 99)
        width, height = max(right - left, 0.1), max(low - top, 0.1)
        fill = float(np.median(np.maximum((x1 - x0) / width, (y1 - y0) / height)))
        return cls(float(left), float(top), float(width), float(height), min(fill, 1.0),
                   float(np.clip(np.median(low - y1), 0, 0.2)))

    def box(self, w: int, h: int, size: int) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) where a shoe whose box is w x h pixels goes in a (size, size) square."""
        fw, fh = self.width * size, self.height * size
        scale = self.fill * min(fw / w, fh / h)
        nw, nh = min(size, max(1, round(w * scale))), min(size, max(1, round(h * scale)))
        x = int(np.clip(round(self.left * size + (fw - nw) / 2), 0, size - nw))
        y = int(np.clip(round((self.top + self.height - self.bottom) * size - nh), 0, size - nh))
        return x, y, x + nw, y + nh

    def place(self, shoe: np.ndarray, size: int) -> np.ndarray:
        """A shoe cut to its box, on white (uint8 (h,w,3)), scaled and placed in a white (size,size,3) square."""
        h, w = shoe.shape[:2]
        x0, y0, x1, y1 = self.box(w, h, size)
        small = cv2.resize(shoe, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA if x1 - x0 < w else cv2.INTER_CUBIC)
        out = np.full((size, size, 3), 255, np.uint8)
        out[y0:y1, x0:x1] = small
        return out

    def overlap(self, box: tuple[int, int, int, int], w: int, h: int) -> float:
        """How well a shoe's box in a w x h photo sits where this framing puts it once the photo is padded to
        a square (as `as_is` does): the intersection over union of the two boxes."""
        side = max(w, h)
        dx, dy = (side - w) // 2, (side - h) // 2
        x0, y0, x1, y1 = box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy
        f0, g0, f1, g1 = self.box(x1 - x0, y1 - y0, side)
        inter = max(0, min(x1, f1) - max(x0, f0)) * max(0, min(y1, g1) - max(y0, g0))
        return inter / ((x1 - x0) * (y1 - y0) + (f1 - f0) * (g1 - g0) - inter)


@dataclass(frozen=True)
class Prepared:
    """A photo as the model will see it, and what was done to it."""

    image: np.ndarray  # uint8 (size, size, 3)
    found: bool  # an object was told apart from its backdrop (else the photo is framed whole)
    backdrop: str  # "plain" or "textured"
    box: tuple[int, int, int, int]  # the shoe's box (x0, y0, x1, y1) in the photo as read (WORK_SIDE)
    mirrored: bool = False  # flipped left-right (choose_view)
    turned: float = 0.0  # degrees turned (choose_view)
    shoe: np.ndarray | None = None  # the shoe on white cut to its box, for turned views (None: no shoe found)
    whole: np.ndarray | None = None  # on a white backdrop: the photo as it is, one more view (choose_view)
    as_taken: bool = False  # this view is `whole`

    def flipped(self) -> Prepared:
        return replace(self, image=self.image[:, ::-1].copy(), mirrored=not self.mirrored)


def content_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of a boolean mask's True pixels (x1, y1 exclusive), None when there are none."""
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    if len(xs) == 0:
        return None
    return int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1


def _ring(img: np.ndarray) -> np.ndarray:
    """The pixels of the photo's border ring (N, 3) float."""
    b = max(1, round(BORDER * min(img.shape[:2])))
    return np.concatenate([img[:b].reshape(-1, 3), img[-b:].reshape(-1, 3),
                           img[b:-b, :b].reshape(-1, 3), img[b:-b, -b:].reshape(-1, 3)]).astype(np.float32)


def backdrop_colour(img: np.ndarray) -> tuple[np.ndarray, bool]:
    """(the backdrop's median RGB, whether it is plain) from the border ring."""
    ring = _ring(img)
    median = np.median(ring, axis=0)
    spread = np.percentile(np.linalg.norm(ring - median, axis=1), 75)
    return median, bool(spread <= PLAIN_SPREAD)


def balance(img: np.ndarray, backdrop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Even out white balance and exposure, taking a plain near-neutral backdrop for white paper under
    coloured, dim light: its tint is removed (channel gains within 0.75-1.33) and it is brightened towards
    white by at most MAX_EXPOSURE. A coloured backdrop (one channel 40 % above another) or a white one is
    left as it is. Returns (image, backdrop) after."""
    lo, hi = float(backdrop.min()), float(backdrop.max())
    if lo < 1 or hi / lo > NEUTRAL or lo >= WHITE:
        return img, backdrop
    gains = np.clip(backdrop.mean() / backdrop, 0.75, 1.33)
    gains *= np.clip(250.0 / float((backdrop * gains).max()), 1.0, MAX_EXPOSURE)
    out = np.clip(img.astype(np.float32) * gains, 0, 255).astype(np.uint8)
    return out, np.clip(backdrop * gains, 0, 255)


def _plain_mask(img: np.ndarray, backdrop: np.ndarray) -> np.ndarray:
    ring = _ring(img)
    noise = np.percentile(np.linalg.norm(ring - backdrop, axis=1), 75)
    dist = np.linalg.norm(img.astype(np.float32) - backdrop, axis=2)
    return dist > max(MIN_CONTRAST, 2 * noise)


def _grabcut_mask(img: np.ndarray) -> np.ndarray:
    """GrabCut seeded with the border ring as certain background and the rest as probable foreground."""
    h, w = img.shape[:2]
    scale = SEG_SIDE / max(h, w)
    small = cv2.resize(img, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA)
    sh, sw = small.shape[:2]
    b = max(1, round(BORDER * min(sh, sw)))
    mask = np.full((sh, sw), cv2.GC_PR_FGD, np.uint8)
    mask[:b], mask[-b:], mask[:, :b], mask[:, -b:] = cv2.GC_BGD, cv2.GC_BGD, cv2.GC_BGD, cv2.GC_BGD
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)
    cv2.grabCut(np.ascontiguousarray(small[..., ::-1]), mask, None, bgd, fgd, GRABCUT_ROUNDS, cv2.GC_INIT_WITH_MASK)
    fg = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.float32)
    return cv2.resize(fg, (w, h), interpolation=cv2.INTER_LINEAR) > 0.5


def main_object(mask: np.ndarray) -> np.ndarray:
    """The largest connected object of a mask, with the pieces near it (joined by a small closing) that are
    at least a tenth of its size; specks and far-off things go."""
    side = min(mask.shape)
    k = max(3, side // 40) | 1
    joined = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(joined, connectivity=8)
    if n <= 1:
        return np.zeros_like(mask, bool)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = 1 + np.flatnonzero(areas >= 0.1 * areas.max())
    return mask & np.isin(labels, keep)


def on_white(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The masked pixels on white, the edge pulled in and softened by a pixel (no fringe of the backdrop)."""
    inner = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8))
    alpha = cv2.GaussianBlur(inner.astype(np.float32), (3, 3), 0)[..., None]
    return (img.astype(np.float32) * alpha + 255 * (1 - alpha)).round().astype(np.uint8)


def as_is(img: np.ndarray, size: int) -> np.ndarray:
    """The photo unprepared: padded to a square with white and resized, as catalogue photos are read."""
    h, w = img.shape[:2]
    side = max(h, w)
    square = np.full((side, side, 3), 255, np.uint8)
    square[(side - h) // 2:(side - h) // 2 + h, (side - w) // 2:(side - w) // 2 + w] = img
    return cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA if side > size else cv2.INTER_CUBIC)


def prepare_photo(img: np.ndarray, size: int, framing: Framing = Framing()) -> Prepared:
    """A photo (uint8 (H,W,3), as read by images.load_photo) as the model should see it (see module doc)."""
    h, w = img.shape[:2]
    if min(h, w) < MIN_SIDE:  # nothing to separate: frame it whole
        return Prepared(as_is(img, size), False, "plain", (0, 0, w, h))
    backdrop, plain = backdrop_colour(img)
    if plain:
        img, backdrop = balance(img, backdrop)
        mask = _plain_mask(img, backdrop)
    else:
        mask = _grabcut_mask(img)
    mask = main_object(mask)
    box = content_box(mask)
    share = mask.mean()
    kind = "plain" if plain else "textured"
    if box is None or share < 0.002 or share > 0.9:  # nothing, or everything: no object told apart
        return Prepared(as_is(img, size), False, kind, (0, 0, w, h))
    white = plain and float(backdrop.min()) >= WHITE
    if white:  # the pale edges of a light shoe stay: only what lies away from the shoe is whitened
        k = max(3, min(h, w) // 50) | 1
        near_shoe = cv2.dilate(mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) > 0
        cut = np.where(near_shoe[..., None], img, np.uint8(255))
    else:
        cut = on_white(img, mask)
    x0, y0, x1, y1 = box
    shoe = cut[y0:y1, x0:x1]
    if white and framing.overlap(box, w, h) >= FRAMED:  # framed as the catalogue frames: taken as it is, on white
        return Prepared(as_is(img if float(backdrop.min()) >= PURE_WHITE else cut, size), True, kind, box, shoe=shoe)
    return Prepared(framing.place(shoe, size), True, kind, box, shoe=shoe, whole=as_is(img, size) if white else None)


def turn(shoe: np.ndarray, degrees: float) -> np.ndarray:
    """A shoe on white turned by `degrees` (counter-clockwise), on a canvas grown to hold it, cut to its box."""
    h, w = shoe.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * sin + w * cos) + 1, int(h * cos + w * sin) + 1
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    out = cv2.warpAffine(shoe, m, (nw, nh), flags=cv2.INTER_LINEAR, borderValue=(255, 255, 255))
    x0, y0, x1, y1 = content_box(out.min(axis=2) < CONTENT) or (0, 0, nw, nh)
    return out[y0:y1, x0:x1]


def views(prepared: Prepared, framing: Framing, size: int) -> list[Prepared]:
    """The prepared photo and its mirror image; on white the photo as it is too; where the shoe was framed,
    both turned by each of TURNS."""
    out = [prepared, prepared.flipped()]
    if prepared.whole is not None:  # a pale shoe on white may be found only in part: the photo as it is, too
        whole = replace(prepared, image=prepared.whole, as_taken=True)
        out += [whole, whole.flipped()]
    if prepared.shoe is not None:
        for t in TURNS:
            view = replace(prepared, image=framing.place(turn(prepared.shoe, t), size), turned=t)
            out += [view, view.flipped()]
    return out


def choose_view(candidates: list[Prepared], search: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
                copy_below: float = 0.0) -> tuple[Prepared, np.ndarray, np.ndarray]:
    """The view nearest to the catalogue (a turned one or the photo as it is: by TURN_MARGIN), with its
    (distances, rows) of nearest shoes. `search`: images (V,S,S,3) -> (distances, rows), each (V, k).
    Catalogue shoes all face one way and stand level; a photo may face the other and lean: the model itself
    says which view looks most like its catalogue. A view whose nearest shoe is nearer than `copy_below` is a
    copy of that catalogue photo (one saved from the app and uploaded again): the nearest such view is kept."""
    dist, rows = search(np.stack([v.image for v in candidates]))
    if dist[:, 0].min() < copy_below:
        best = int(np.argmin(dist[:, 0]))
    else:
        detour = np.array([v.turned != 0 or v.as_taken for v in candidates])
        best = int(np.argmin(dist.mean(axis=1) + TURN_MARGIN * detour))
    return candidates[best], dist[best], rows[best]


def describe(shot: Prepared, shoe: bool, prepared: bool = True) -> str:
    """One sentence for the person: that it does not look like a shoe photo, or what preparation did."""
    if not shoe:
        w, h = shot.box[2] - shot.box[0], shot.box[3] - shot.box[1]
        why = (f"the picture is only {w}x{h} pixels" if not shot.found and min(w, h) < MIN_SIDE else
               "nothing stands out from its backdrop" if not shot.found else "it is far from every catalogue shoe")
        return f"This does not look like a shoe photo ({why}); the nearest shoes anyway:"
    if not prepared:
        return "The photo as it is, padded to a square (preparation is off)."
    done = [f"found on a {shot.backdrop} backdrop and put on white"]
    if shot.turned:
        done.append(f"turned {abs(shot.turned):g}° {'back' if shot.turned > 0 else 'forward'}")
    if shot.mirrored:
        done.append("mirrored to face as the catalogue's shoes do")
    return "The shoe was " + ", ".join(done) + ", and framed like the catalogue's photos."
