"""Privacy stage: the zoom pass for small faces. A crowd whose faces are 40-50 px in a 12 MP photo
(12-16 px on the searched copy) is searched again where the first pass saw small-face candidates,
at twice its scale, in at most faces.ZOOM_REGIONS regions, with the photo's own net."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.privacy import faces, redaction
from tests.fixtures.images import face_set, scenes

PHOTO = 3.125  # a 1280x960 case enlarged to a 4000x3000 (12 MP) photo


def found(case: face_set.FaceCase, zoom: int) -> int:
    boxes = [redaction.padded(b, redaction.FACE_PADDING, 10**6, 10**6) for b in faces.find_faces(case.rgb, zoom=zoom)]
    return sum(face_set.hidden(case.rgb.shape, quad, boxes) for quad in case.faces)


@pytest.fixture
def searches(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The (width, height) of every picture or region given to the net."""
    seen: list[tuple[int, int]] = []
    real = faces._search

    def counting(rgb, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append((rgb.shape[1], rgb.shape[0]))
        return real(rgb, *args, **kwargs)

    monkeypatch.setattr(faces, "_search", counting)
    return seen


def test_given_a_crowd_of_tiny_faces_in_a_12_mp_photo_then_the_zoom_pass_finds_what_the_first_misses():
    # A crowd the labelled set does not hold (its crowds are seeds 1050-1052): 30 faces of 14 px
    # on the searched copy, 44 px in the photo.
    case = face_set.enlarged(face_set.crowd(14, seed=4242), PHOTO)
    assert len(case.faces) == 30

    upright, zoomed = found(case, zoom=0), found(case, zoom=faces.ZOOM_REGIONS)

    assert upright <= 5
    assert zoomed >= 20
    assert zoomed >= upright + 15


def dense_faces() -> np.ndarray:
    """A 12 MP photo tiled with small faces: candidates everywhere."""
    lfw = scenes.lfw_faces()
    tile = 28
    canvas = scenes.photo_background("grass", 1280, 960)
    k = 0
    for y in range(4, 960 - tile, tile):
        for x in range(4, 1280 - tile, tile):
            face = cv2.resize(lfw[k % len(lfw)], (14, 14), interpolation=cv2.INTER_AREA)
            canvas[y:y + 14, x:x + 14] = np.stack([face] * 3, axis=-1)
            k += 1
    return np.ascontiguousarray(cv2.resize(canvas, (4000, 3000), interpolation=cv2.INTER_CUBIC), dtype=np.uint8)


@pytest.mark.parametrize("limit", [1, faces.ZOOM_REGIONS])
def test_given_a_photo_full_of_small_faces_then_at_most_the_limit_of_regions_is_searched(searches, limit):
    rgb = dense_faces()
    shape = faces.input_shape(4000, 3000, faces.SEARCH_SIDE)
    before = set(faces.loaded_shapes())

    faces.find_faces(rgb, zoom=limit)

    assert len(searches) == 1 + limit  # the photo, then `limit` regions: the candidates want more
    side = round(shape[0] / faces.zoom_scale(shape[0] / 4000))
    assert all(abs(w - side) <= 1 and w > h for w, h in searches[1:])  # 2x the first scale
    assert set(faces.loaded_shapes()) == before | {shape}  # with the photo's own net


def test_given_the_bench_photo_with_one_large_face_then_no_region_is_searched(searches):
    from bench.bench_privacy import twelve_megapixel_photo

    rgb = scenes.decode(twelve_megapixel_photo())

    assert faces.find_faces(rgb)
    assert len(searches) == 1


def test_given_a_labelled_set_sized_picture_then_no_zoom_beyond_its_own_pixels(searches):
    """A 1280x960 picture is searched at 0.9: twice that would enlarge it, so the pass stays off."""
    case = face_set.crowd(12, seed=4242)

    faces.find_faces(case.rgb)

    assert len(searches) == 1


@settings(max_examples=60, deadline=None)
@given(points=st.lists(st.tuples(st.floats(0, 3999), st.floats(0, 2999), st.floats(0, 1)), max_size=80),
       width=st.integers(1, 4000), height=st.integers(1, 3000), limit=st.integers(0, 5))
def test_zoom_regions_lie_inside_the_picture_and_respect_the_limit(points, width, height, limit):
    window = (2000, 1500)
    inside = [(x % width, y % height, w) for x, y, w in points]

    regions = faces.zoom_regions(inside, width, height, window, limit)

    assert len(regions) <= limit
    for x, y, w, h in regions:
        assert (w, h) == (min(window[0], width), min(window[1], height))
        assert x >= 0 and y >= 0 and x + w <= width and y + h <= height
    if limit and sum(w for _, _, w in inside) >= faces.ZOOM_MIN_WEIGHT * len(inside) > 0:
        assert regions  # some window holds at least the heaviest candidate
