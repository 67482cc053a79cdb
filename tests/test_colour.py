"""The Reconstruct page's colour error (shoevae/colour.py)."""
from __future__ import annotations

import numpy as np

from shoevae.colour import colour_error, difference_images, resized


def shoe(colour: tuple[int, int, int], size: int = 32, box: int = 8) -> np.ndarray:
    """A white picture with a small coloured square (the shoe) in the middle."""
    im = np.full((size, size, 3), 255, np.uint8)
    im[size // 2 - box // 2: size // 2 + box // 2, size // 2 - box // 2: size // 2 + box // 2] = colour
    return im


def test_a_perfect_reconstruction_has_no_error_and_a_white_difference_picture():
    a = np.stack([shoe((120, 40, 20))])
    err, maps = colour_error(a, a.copy())
    assert err[0] == 0 and (difference_images(maps) == 255).all()


def test_an_erased_shoe_is_worse_than_a_slightly_off_one_however_much_white_background_there_is():
    photo = shoe((120, 40, 20), size=64, box=6)  # 1 % of the pixels are the shoe
    erased, off = np.full_like(photo, 255), shoe((128, 46, 26), size=64, box=6)
    err, maps = colour_error(np.stack([photo, photo]), np.stack([erased, off]))
    assert err[0] > 30 > 5 > err[1] > 0  # the background does not water the erased shoe's error down
    red = difference_images(maps)
    assert red[0, 32, 32, 1] < 50 and (red[0, 0, 0] == 255).all()  # red on the shoe, white elsewhere


def test_originals_are_resized_to_the_reconstructions():
    assert resized(np.stack([shoe((0, 0, 0), size=40)]), 20).shape == (1, 20, 20, 3)
    err, maps = colour_error(np.stack([shoe((0, 0, 0), size=40)]), np.stack([shoe((0, 0, 0), size=20, box=4)]))
    assert maps.shape == (1, 20, 20) and err[0] < 10  # only the blurred edge of the square differs
