"""Catalogue loading: odd but usable images are converted, bad ones skipped and reported, cache."""
import hashlib
import io
import os

import numpy as np
import pytest
from PIL import Image
from shoe_data import SHARED_DATA, write_manifest

from shoevae.catalogue import CatalogueError, load_catalogue, scan_sources, unique_item_id
from shoevae.images import ImageError, load_image
from shoevae.split import holdout_mask


def _save(path, img, fmt=None, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, fmt, **kw)
    return path


@pytest.fixture
def odd_folder(tmp_path):
    """A folder tree with usable odd images and one of every kind of bad file."""
    root = tmp_path / "shoes"
    red = Image.new("RGB", (60, 30), (255, 0, 0))
    _save(root / "Boot" / "rgb.jpg", red)
    _save(root / "Boot" / "cmyk.jpg", red.convert("CMYK"))
    _save(root / "Shoe" / "gray.png", red.convert("L"))
    rgba = Image.new("RGBA", (40, 40), (0, 0, 255, 0))  # fully transparent: must come out white
    _save(root / "Shoe" / "rgba.png", rgba)
    _save(root / "Shoe" / "palette.gif", red.convert("P"))
    sixteen = np.full((20, 20), 128 * 257, np.uint16)  # mid-gray in 16 bits
    sixteen[:, :5] = 65535  # a white stripe: a min-max stretch would turn the gray black
    _save(root / "Sandal" / "sixteen.png", Image.fromarray(sixteen))
    good = io.BytesIO()
    red.save(good, "JPEG")
    (root / "Sandal" / "truncated.jpg").write_bytes(good.getvalue()[: len(good.getvalue()) // 2])
    (root / "Sandal" / "empty.jpg").write_bytes(b"")
    (root / "Sandal" / "notes.jpg").write_text("this is not an image")
    _save(root / "Sandal" / "huge.png", Image.new("1", (9000, 9000)))  # 81 MP, small file
    return root


def test_odd_images_are_converted_and_bad_ones_skipped(odd_folder, tmp_path):
    cat = load_catalogue(odd_folder, 32, cache_dir=tmp_path / "cache")
    names = sorted(os.path.basename(p) for p in cat.paths)
    assert names == ["cmyk.jpg", "gray.png", "palette.gif", "rgb.jpg", "rgba.png", "sixteen.png"]
    reasons = {os.path.basename(p): r for p, r in cat.skipped}
    assert set(reasons) == {"truncated.jpg", "empty.jpg", "notes.jpg", "huge.png"}
    assert "empty" in reasons["empty.jpg"]
    assert "not an image" in reasons["notes.jpg"]
    assert "too large" in reasons["huge.png"]
    assert "unreadable" in reasons["truncated.jpg"]
    assert cat.images.shape == (6, 32, 32, 3) and cat.images.dtype == np.uint8
    assert cat.counts() == {"Boot": 2, "Sandal": 1, "Shoe": 3}
    rgba = cat.images[cat.paths.index(str(odd_folder / "Shoe" / "rgba.png"))]
    assert (rgba == 255).all()  # transparent -> white
    rgb = cat.images[cat.paths.index(str(odd_folder / "Boot" / "rgb.jpg"))]
    assert (rgb[0, 0] == 255).all()  # padding to a square is white
    assert rgb[16, 16, 0] > 200 and rgb[16, 16, 1] < 60  # the red shoe stays red
    gray16 = cat.images[cat.paths.index(str(odd_folder / "Sandal" / "sixteen.png"))]
    assert np.abs(gray16[16, 20:28].astype(int) - 128).max() <= 2  # 16-bit gray scaled to 8 bits, not clipped
    assert (gray16[16, 2:6] >= 250).all()  # full-scale 16-bit white stays white


def test_load_image_accepts_bytes_and_paths_and_names_the_problem(odd_folder):
    data = (odd_folder / "Boot" / "rgb.jpg").read_bytes()
    assert load_image(data, 20).shape == (20, 20, 3)
    assert load_image(odd_folder / "Boot" / "rgb.jpg", 20).shape == (20, 20, 3)
    with pytest.raises(ImageError, match="not an image"):
        load_image(b"%PDF-1.4 not a photo")
    with pytest.raises(ImageError, match="empty"):
        load_image(b"")
    with pytest.raises(ImageError, match="not found"):
        load_image(odd_folder / "missing.jpg")


def test_wrong_or_empty_data_folder_gives_clear_errors(tmp_path):
    with pytest.raises(CatalogueError, match="does not exist"):
        load_catalogue(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CatalogueError, match="no images found"):
        load_catalogue(tmp_path / "empty")
    bad = tmp_path / "bad"
    (bad / "Boot").mkdir(parents=True)
    (bad / "Boot" / "x.jpg").write_text("junk")
    with pytest.raises(CatalogueError, match="none of the 1 files"):
        load_catalogue(bad, cache_dir=tmp_path / "c")
    (tmp_path / "m.csv").write_text("a,b\n1,2\n")
    with pytest.raises(CatalogueError, match="no 'path' column"):
        load_catalogue(tmp_path / "m.csv")


def test_manifest_and_cache(tmp_path):
    manifest = write_manifest(tmp_path / "m", per_category=40)
    cache = tmp_path / "cache"
    first = load_catalogue(manifest, 64, cache_dir=cache)
    assert len(first) == 120 and first.counts() == {"Boot": 40, "Sandal": 40, "Shoe": 40}
    assert len(list(cache.glob("catalogue-*.npy"))) == 1 and not list(cache.glob(".*tmp"))
    second = load_catalogue(manifest, 64, cache_dir=cache)
    assert second.ids == first.ids and np.array_equal(np.asarray(second.images), first.images)
    assert isinstance(second.images, np.memmap)  # served from the cache file
    # another size is another cache entry; a damaged cache is rebuilt, not trusted
    load_catalogue(manifest, 32, cache_dir=cache)
    assert len(list(cache.glob("catalogue-*.npy"))) == 2
    expected = np.array(first.images)
    for f in cache.glob("catalogue-*.npy"):
        f.unlink()  # (not overwritten in place: `first` maps that file)
        f.write_bytes(b"garbage")
    again = load_catalogue(manifest, 64, cache_dir=cache)
    assert np.array_equal(again.images, expected)


def test_item_ids_from_manifest_and_folder_agree_on_shared_data(tmp_path):
    manifest = write_manifest(tmp_path / "m", per_category=3)
    cat = load_catalogue(manifest, 32, cache_dir=tmp_path / "c")
    folder = tmp_path / "tree" / "Boot"
    folder.mkdir(parents=True)
    for p in cat.paths[:3]:
        (folder / os.path.basename(p)).write_bytes(open(p, "rb").read())
    tree = load_catalogue(tmp_path / "tree", 32, cache_dir=tmp_path / "c")
    assert sorted(tree.ids) == sorted(cat.ids[:3])  # id = first 12 hex digits of the file's MD5
    with pytest.raises(KeyError, match="no shoe with item id"):
        cat.index_of("nope")


def test_holdout_mask_is_seeded_and_order_free():
    ids = [f"id{i}" for i in range(2000)]
    m = holdout_mask(ids, 0.1, seed=0)
    assert 150 < m.sum() < 250
    assert np.array_equal(holdout_mask(ids[::-1], 0.1, 0)[::-1], m)
    assert not np.array_equal(holdout_mask(ids, 0.1, seed=1), m)


def test_the_shared_manifest_lists_every_photo_under_the_catalogue_id_rule():
    root, rows, passed_over = scan_sources(SHARED_DATA)
    assert root == SHARED_DATA and not passed_over and len(rows) > 13_000
    assert {c for _, _, c in rows} == {"Boot", "Sandal", "Shoe"}
    seen: set[str] = set()  # its ids are what load_catalogue would give its photos: the first 12 hex digits of their MD5
    for item_id, rel, _ in rows[::50]:
        md5 = hashlib.md5((root / rel).read_bytes()).hexdigest()
        assert unique_item_id("", md5, seen) == item_id, rel
