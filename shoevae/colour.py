"""How different two pictures look: CIEDE2000 colour differences (scikit-image), per pixel and per shoe.

The Reconstruct page's error. ΔE2000 is the CIE's measure of how different two colours look to a
person: about 1 is just noticeable, 2 to 10 is "similar colours", above 10 clearly different ones.
The per-image number is the mean over the shoe's own pixels (those that are not white background in
the photo or in the reconstruction), so a shoe drawn too faint on white is not rewarded for the
background it got right.
"""
from __future__ import annotations

import numpy as np
from PIL import Image
from skimage.color import deltaE_ciede2000, rgb2lab

BACKGROUND = 245  # a pixel whose three channels are all at least this is white background
SCALE = 30.0  # ΔE drawn as full red in difference_images


def resized(images: np.ndarray, size: int) -> np.ndarray:
    """uint8 (N,H,W,3) at size x size (bilinear), unchanged when already that size."""
    if images.shape[1] == size and images.shape[2] == size:
        return images
    return np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.Resampling.BILINEAR)) for im in images])


def delta_e(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """CIEDE2000 difference of every pixel of two uint8 (N,S,S,3) batches of the same size: (N,S,S) floats."""
    return deltaE_ciede2000(rgb2lab(a.astype(np.float32) / 255), rgb2lab(b.astype(np.float32) / 255))


def shoe_pixels(*batches: np.ndarray) -> np.ndarray:
    """(N,S,S) bool: pixels that are not white background in any of the batches."""
    return np.any([~np.all(b >= BACKGROUND, axis=-1) for b in batches], axis=0)


def colour_error(originals: np.ndarray, reconstructions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean ΔE2000 over each shoe's pixels (N,), the per-pixel ΔE maps (N,S,S)); originals are
    resized to the reconstructions' size first."""
    originals = resized(np.asarray(originals), reconstructions.shape[1])
    de = delta_e(originals, reconstructions)
    mask = shoe_pixels(originals, reconstructions)
    counts = mask.sum(axis=(1, 2))
    means = np.where(counts > 0, (de * mask).sum(axis=(1, 2)) / np.maximum(counts, 1), 0.0)
    return means.astype(np.float32), de.astype(np.float32)


def difference_images(de: np.ndarray, scale: float = SCALE) -> np.ndarray:
    """ΔE maps (N,S,S) as uint8 pictures: white where the colours match, deepening red up to ΔE = `scale`."""
    t = np.clip(de / scale, 0, 1)[..., None]
    white, red = np.array([255, 255, 255], np.float32), np.array([200, 0, 0], np.float32)
    return (white * (1 - t) + red * t).round().astype(np.uint8)
