"""The app with a person's own shoe: an uploaded photo or one taken with the camera (what the model sees, the
switch to use it unprepared, the judgement), and the Paint page (fast tier: the shapes)."""
from __future__ import annotations

import io

import numpy as np
import pytest
from app_support import captions, jpeg_bytes, neighbour_captions, open_app, torch_threads_restored, values
from PIL import Image
from synthetic import draw_shoe

pytestmark = pytest.mark.usefixtures(torch_threads_restored.__name__)


def floor_photo() -> bytes:
    """A drawn boot, small and off-centre on a plank floor: a photo from a classroom."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:240, 0:320].astype(np.float32)
    floor = np.array([170, 120, 70], np.float32) * (0.85 + 0.15 * np.sin(x / 5 + 4 * np.sin(y / 17)))[..., None]
    img = Image.fromarray(np.clip(floor, 0, 255).astype(np.uint8))
    shoe = draw_shoe("Boot", rng, (136, 102))
    mask = Image.fromarray((np.asarray(shoe).min(axis=2) < 250).astype(np.uint8) * 255)
    img.paste(shoe, (150, 90), mask)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def test_an_uploaded_photo_shows_what_the_model_sees_and_can_be_used_unprepared(shapes_app_env):
    at = open_app("recommend")
    at.file_uploader(key="shoevae.recommend.photo").set_value(("floor.jpg", floor_photo(), "image/jpeg")).run()
    assert not at.exception and not at.error
    assert {"your photo", "what the model sees"} <= set(captions(at)) and len(neighbour_captions(at)) == 5
    notes = values(at.success) + values(at.warning)
    assert any(n.startswith("The shoe was found on a textured backdrop") or n.startswith("This does not look like")
               for n in notes), notes
    prepared = neighbour_captions(at)
    at.toggle(key="shoevae.photo.raw.upload").set_value(True).run()
    assert not at.exception
    assert any(n.startswith("The photo as it is") or n.startswith("This does not look like")
               for n in values(at.success) + values(at.warning))
    assert len(neighbour_captions(at)) == 5 and neighbour_captions(at) != prepared  # the floor now counts


def test_a_photo_taken_with_the_camera_gives_five_shoes(shapes_app_env):
    at = open_app("recommend", **{"shoevae.recommend.tab": "Take a photo"})
    assert [c.label for c in at.camera_input] == ["Take a photo of a shoe from the side"]
    at.camera_input(key="shoevae.recommend.camera").set_value(("shot.jpg", jpeg_bytes(shapes_app_env),
                                                               "image/jpeg")).run()
    assert not at.exception and not at.error
    assert "what the model sees" in captions(at) and len(neighbour_captions(at)) == 5


def test_the_camera_stays_off_until_its_tab_is_open(shapes_app_env):
    at = open_app("recommend")
    assert len(at.camera_input) == 0


def test_the_paint_page_asks_for_strokes(shapes_app_env):
    at = open_app("paint")
    assert not at.exception and not at.error
    assert any(i.startswith("Paint a few strokes") for i in values(at.info)), values(at.info)
