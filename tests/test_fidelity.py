"""bench/bench_fidelity.py's measures react to what they name: colour, detail, periodic grids, blank samples."""
import numpy as np
import pytest
from scipy import ndimage
from synthetic import make_shoes

from bench.bench_fidelity import BLANK, OFF_COLOUR, colour_error, colour_fd, fidelity, grid_score, mean_colours, shoe_mask


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> np.ndarray:
    from shoevae import load_catalogue
    folder = make_shoes(tmp_path_factory.mktemp("shoes"), per_category=4)
    return load_catalogue(folder, 64, use_cache=False, executor="thread").images


@pytest.mark.filterwarnings("ignore:divide by zero")  # PSNR of identical images is infinite
def test_identical_drawings_are_perfect(photos):
    r = fidelity(photos, photos)
    assert r["colour_error"] == 0 and r["off_colour_share"] == 0
    assert r["ssim"] == pytest.approx(1) and r["detail"] == pytest.approx(1) and r["grid"] == pytest.approx(1)


def test_a_colour_shift_on_the_shoe_is_off_colour(photos):
    p = photos[0]
    mask = shoe_mask(p)
    assert 0.03 < mask.mean() < 0.97, "the synthetic shape is neither missing nor the whole image"
    recoloured = p.copy()
    recoloured[mask] = (recoloured[mask].astype(int) + (60, -40, 0)).clip(0, 255)
    per_pixel, mean = colour_error(p, recoloured, mask)
    assert per_pixel > OFF_COLOUR and mean > OFF_COLOUR
    assert fidelity(p[None], recoloured[None])["off_colour_share"] == 1


def test_blur_loses_detail(photos):
    blurred = ndimage.gaussian_filter(photos.astype(float), sigma=(0, 2, 2, 0)).round().astype(np.uint8)
    assert fidelity(photos, blurred)["detail"] < 0.7


def test_a_periodic_grid_raises_the_grid_score(photos):
    lattice = np.zeros(photos.shape[1:3])
    lattice[::8, :] = lattice[:, ::8] = 1  # a faint square grid of period 8, as a stride-2 lattice leaves
    gridded = (photos.astype(float) - 12 * lattice[None, :, :, None]).clip(0, 255).astype(np.uint8)
    assert grid_score(photos, gridded) > 2 * grid_score(photos, photos)


def test_blank_samples_are_counted_and_far_in_colour(photos):
    blank = np.full_like(photos, 255)
    _, share = mean_colours(np.concatenate([photos, blank]))
    assert share == pytest.approx(0.5) and BLANK > 0
    colours, _ = mean_colours(photos)
    assert colour_fd(colours, colours) == pytest.approx(0, abs=1e-6)
    assert colour_fd(colours[:1], colours) == float("inf")
    assert colour_fd(colours + (30, 0, 0), colours) > 800  # a 30-unit lightness shift: 30^2 = 900


def test_the_limits_bench_blurs_and_scores_the_error_on_the_shoe(photos):
    """bench/bench_limits.py: a photo scores 0 against itself, and more against its own blur the
    harder it is blurred; a colour shift on the shoe survives blurring both images."""
    from bench.bench_limits import BLURS, blurred, shoe_error
    masks = np.stack([shoe_mask(p) for p in photos])
    assert np.array_equal(blurred(photos, 0), photos)
    own = [shoe_error(photos, blurred(photos, s), masks) for s in BLURS]
    assert own[0] == 0 and all(a < b for a, b in zip(own, own[1:]))
    shifted = (photos.astype(int) + np.where(masks[..., None], (40, -30, 0), 0)).clip(0, 255).astype(np.uint8)
    assert all(shoe_error(blurred(photos, s), blurred(shifted, s), masks) > 10 for s in BLURS)
