"""Principal and category directions, their display labels, and blends."""
from __future__ import annotations

import numpy as np
import pytest

from shoevae.directions import (
    blend,
    category_directions,
    end_labels,
    far_shoe,
    photo_traits,
    principal_directions,
    slider_label,
    stack,
    style_directions,
)


def labelled_vectors(n: int = 300, seed: int = 0) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Boots far along +axis 2, sandals along -axis 2, a smaller spread on axis 0; brightness follows axis 2."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 5)) * np.array([2.0, 0.3, 0.5, 0.2, 0.1])
    cats = ["Boot" if i % 3 == 0 else "Sandal" if i % 3 == 1 else "Shoe" for i in range(n)]
    x[:, 2] += np.array([{"Boot": 6.0, "Sandal": -6.0, "Shoe": 0.0}[c] for c in cats])
    brightness = -x[:, 2] + 0.1 * rng.standard_normal(n)  # boots dark, sandals light
    return x.astype(np.float32), cats, brightness


def test_principal_directions_are_orthonormal_and_ordered():
    x, _, _ = labelled_vectors()
    d = principal_directions(x, k=4)
    assert d.vectors.shape == (4, 5) and d.stds.shape == (4,)
    np.testing.assert_allclose(d.vectors @ d.vectors.T, np.eye(4), atol=1e-5)
    assert np.all(np.diff(d.stds) < 0), "largest spread first"
    assert abs(d.vectors[0, 2]) > 0.99, "the category axis (std ~5) comes first"
    assert abs(d.vectors[1, 0]) > 0.99, "then the axis with std 2"
    np.testing.assert_allclose(d.stds[0], (x @ d.vectors[0]).std(), rtol=0.01)
    np.testing.assert_allclose(d.scores(x).std(0), 1.0, rtol=0.01)  # scores are in standard deviations


def test_move_goes_the_given_number_of_standard_deviations():
    x, _, _ = labelled_vectors()
    d = principal_directions(x, k=3)
    z = d.move(x[0], np.array([2.0, 0.0, -1.0]))
    np.testing.assert_allclose(d.scores(z)[0] - d.scores(x[0])[0], [2.0, 0.0, -1.0], atol=1e-4)


def test_labels_name_the_category_and_trait_each_end_leads_to():
    x, cats, brightness = labelled_vectors()
    d = principal_directions(x, k=2)
    sign = np.sign(d.vectors[0, 2])  # PCA's sign is arbitrary: boots are at the plus end when sign > 0
    labels = end_labels(d, x, cats, {"brightness": (brightness, "darker", "lighter")})
    boot_end = "Boot, darker"
    sandal_end = "Sandal, lighter"
    assert labels[0] == ((sandal_end, boot_end) if sign > 0 else (boot_end, sandal_end))
    assert "darker" not in labels[1][0] + labels[1][1], "brightness does not change along the second axis"
    assert slider_label(0, labels[0]) == f"1 · {labels[0][0]} ← → {labels[0][1]}"


def test_category_directions_point_from_the_others_to_the_category():
    x, cats, _ = labelled_vectors()
    dirs = category_directions(x, cats)
    assert set(dirs) == {"Boot", "Sandal", "Shoe"}
    assert dirs["Boot"].vectors[0, 2] > 0.99 and dirs["Sandal"].vectors[0, 2] < -0.99
    for d in dirs.values():
        assert np.linalg.norm(d.vectors[0]) == pytest.approx(1.0, abs=1e-5)
    both = stack([dirs["Boot"], dirs["Sandal"]], x.mean(0))
    assert both.vectors.shape == (2, 5) and both.move(x[0], np.array([1.0, 0.0]))[2] > x[0, 2]
    boots = np.asarray(cats) == "Boot"
    moved = dirs["Boot"].move(x[~boots][:1], np.array([2.0]))
    assert (moved @ dirs["Boot"].vectors[0])[0] > (x[~boots][0] @ dirs["Boot"].vectors[0])


def test_blends_start_and_end_at_the_two_vectors_and_slerp_keeps_the_length():
    a, b = np.array([3.0, 0.0]), np.array([0.0, 3.0])
    for mode in ("linear", "spherical"):
        path = blend(a, b, np.linspace(0, 1, 5), mode)
        np.testing.assert_allclose(path[0], a, atol=1e-6)
        np.testing.assert_allclose(path[-1], b, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(blend(a, b, [0.5], "spherical")), 3.0, rtol=1e-5)
    assert np.linalg.norm(blend(a, b, [0.5], "linear")) == pytest.approx(3 / np.sqrt(2), rel=1e-5)
    np.testing.assert_allclose(blend(a, 2 * a, [0.5], "spherical")[0], 1.5 * a)  # parallel: the line
    with pytest.raises(ValueError, match="unknown blend"):
        blend(a, b, 0.5, "cubic")


def test_photo_traits_see_dark_and_tall_shoes():
    white = np.full((2, 40, 40, 3), 255, np.uint8)
    white[0, 10:30, 5:35] = 30    # dark, 20 rows tall
    white[1, 25:30, 5:35] = 200   # light, 5 rows tall
    traits = photo_traits(white)
    b, h = traits["brightness"][0], traits["height"][0]
    assert b[0] < b[1] and h[0] > h[1]


def test_repeated_ends_are_marked_so_no_two_sliders_read_the_same():
    from shoevae.directions import slider_labels
    labels = slider_labels([("Boot", "Sandal"), ("Shoe", "Boot"), ("Boot", "Sandal"), ("Sandal", "Boot")])
    assert len(set(labels)) == 4
    assert labels[2].endswith("(as 1, weaker)") and labels[3].endswith("(as 1, weaker)") and "as" not in labels[1]


def test_visible_change_is_zero_for_a_strip_that_does_not_move():
    from shoevae.directions import visible_change
    still = np.full((1, 5, 8, 8, 3), 200, np.uint8)
    moving = still.copy()
    moving[0, -1] = 100
    assert visible_change(still)[0] == 0 and visible_change(moving)[0] == 100


def test_blend_gap_says_how_far_apart_the_blends_are():
    from shoevae.directions import blend_gap
    angle, shorter = blend_gap(np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    assert angle == pytest.approx(90) and shorter == pytest.approx(1 - np.sqrt(0.5))
    assert blend_gap(np.array([1.0, 0.0]), np.array([2.0, 0.0]))[0] == pytest.approx(0, abs=1e-5)


def test_far_shoe_is_of_another_category_and_the_same_each_time(shapes_catalogue):
    cat = shapes_catalogue
    for item, category in list(zip(cat.ids, cat.categories))[::17]:
        partner = far_shoe(cat, item)
        assert cat.categories[cat.index_of(partner)] != category and far_shoe(cat, item) == partner
    assert far_shoe(cat, "no-such-shoe") in cat.ids  # an unknown id still gets a partner (the page then says why)


def test_style_directions_bundle_what_generate_slides_along(shapes_catalogue):
    cat = shapes_catalogue
    emb = np.random.default_rng(0).standard_normal((len(cat), 6)).astype(np.float32)
    found = style_directions(emb, cat, k=3)
    assert found["principal"].vectors.shape == (3, 6) and len(found["labels"]) == 3
    assert set(found["categories"]) == set(cat.categories)
    np.testing.assert_allclose(found["average"], emb.mean(0), rtol=1e-6)
