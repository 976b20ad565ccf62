"""Privacy stage: faces in real photos are found, down to small ones, and obscured beyond
recognition; a detector failure refuses the photo instead of passing it as "no faces" (defect 8)."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from functions.privacy import detection, processing, redaction
from functions.privacy.processing import PhotoRejected, process_photo
from tests.fixtures.images import scenes

PORTRAITS = {
    "astronaut": (scenes.astronaut, scenes.ASTRONAUT_FACE),
    "grace_hopper": (scenes.grace_hopper, scenes.GRACE_HOPPER_FACE),
}


def inner(box: tuple[int, int, int, int], keep: float = 0.6) -> tuple[slice, slice]:
    """The central part of a face box: eyes, nose, mouth."""
    x, y, w, h = box
    dx, dy = round(w * (1 - keep) / 2), round(h * (1 - keep) / 2)
    return slice(y + dy, y + h - dy), slice(x + dx, x + w - dx)


def detail(gray: np.ndarray) -> float:
    """Variance of the Laplacian: edges and features, what makes a face recognisable."""
    return float(cv2.Laplacian(gray.astype(np.float64), cv2.CV_64F).var())


def grey(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def faces_near(rgb: np.ndarray, box: tuple[int, int, int, int]) -> list[tuple[int, int, int, int]]:
    found = detection.find_faces(grey(rgb))
    return [f for f in found if scenes.coverage(box, [f]) > 0.2 or scenes.coverage(f, [box]) > 0.5]


@pytest.fixture(scope="module")
def processed_portraits() -> dict[str, tuple[np.ndarray, processing.ProcessedPhoto]]:
    """Each portrait and its processed photo (processing runs once per module: it is the slow part)."""
    out = {}
    for name, (load, _) in PORTRAITS.items():
        rgb = load()
        out[name] = (rgb, process_photo(scenes.encode_jpeg(rgb, quality=95)))
    return out


@pytest.mark.parametrize("name", PORTRAITS)
def test_given_a_real_portrait_when_processed_then_the_face_is_found_and_obscured(name, processed_portraits):
    _, face = PORTRAITS[name]
    rgb, out = processed_portraits[name]
    assert faces_near(rgb, face), "the cascade sees the face in the original"

    after = scenes.decode(out.data)
    assert out.faces_blurred >= 1
    rows, cols = inner(face)
    before_region, after_region = grey(rgb)[rows, cols], grey(after)[rows, cols]
    assert detail(after_region) < 0.05 * detail(before_region)  # features are gone
    assert after_region.std() < 0.6 * before_region.std()  # and the contrast with them
    assert not faces_near(after, face), "a blurred face must not be detectable again"


def test_given_a_portrait_when_processed_then_only_the_face_region_changes(processed_portraits):
    rgb, out = processed_portraits["astronaut"]

    after = scenes.decode(out.data)

    # The flag (top-left) and the rocket (right) are far from the face: JPEG noise only.
    for rows, cols in ((slice(20, 150), slice(0, 80)), (slice(250, 420), slice(380, 500))):
        assert np.abs(after[rows, cols].astype(np.int16) - rgb[rows, cols]).mean() < 4.0


@pytest.mark.parametrize(("name", "face_px"), [("astronaut", 24), ("astronaut", 32), ("grace_hopper", 26)])
def test_given_a_small_face_when_processed_then_it_is_still_found_and_obscured(name, face_px):
    load, face = PORTRAITS[name]
    portrait = load()
    scale = face_px / face[2]
    small = cv2.resize(portrait, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = scenes.photo_background("coffee", 320, 240)
    top, left = 40, 150
    h, w = min(small.shape[0], 240 - top), min(small.shape[1], 320 - left)
    canvas[top:top + h, left:left + w] = small[:h, :w]
    small_face = (left + round(face[0] * scale), top + round(face[1] * scale), face_px, round(face[3] * scale))
    assert faces_near(canvas, small_face)

    out = process_photo(scenes.encode_jpeg(canvas, quality=95))

    after = scenes.decode(out.data)
    assert out.faces_blurred >= 1
    rows, cols = inner(small_face, keep=0.8)
    assert detail(grey(after)[rows, cols]) < 0.2 * detail(grey(canvas)[rows, cols])


def test_given_many_real_small_faces_on_a_real_photo_then_nearly_all_are_found():
    scene = scenes.face_scene(face_size=28, seed=1, count=8)

    found = detection.detect(scene.rgb, plates=False).faces

    covered = [scenes.coverage(face, list(found)) >= 0.7 for face in scene.faces]
    assert len(covered) == 8
    assert sum(covered) >= 7


class _Blind:
    """A cascade that never finds anything."""

    def detectMultiScale(self, *args: object, **kwargs: object) -> tuple[()]:
        return ()


@pytest.mark.parametrize("zoom", [1, 3], ids=["searched as is", "searched on a copy a third the size"])
def test_given_a_profile_face_then_it_is_found_turned_either_way(monkeypatch, zoom):
    """The profile cascade only knows one side: it runs on the picture and on its mirror (on a
    smaller copy for large photos, boxes mapped back)."""
    monkeypatch.setattr(detection, "PROFILE_SIDE", 144)
    real = detection._cascade

    def profile_only(name: str) -> object:
        return _Blind() if name == detection.FRONTAL_CASCADE else real(name)

    monkeypatch.setattr(detection, "_cascade", profile_only)
    profile = real(detection.PROFILE_CASCADE)
    for face in scenes.lfw_faces():
        canvas = np.full((144, 144), 120, np.uint8)
        canvas[48:96, 48:96] = cv2.resize(face, (48, 48), interpolation=cv2.INTER_CUBIC)
        one_side = len(profile.detectMultiScale(canvas, 1.1, 3, minSize=(20, 20))) > 0
        other_side = len(profile.detectMultiScale(canvas[:, ::-1].copy(), 1.1, 3, minSize=(20, 20))) > 0
        if one_side != other_side:
            break
    else:
        pytest.fail("no LFW face is seen by the profile cascade from one side only")

    picture = cv2.resize(canvas, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_CUBIC)
    face_box = (52 * zoom, 52 * zoom, 40 * zoom, 40 * zoom)
    for turned in (picture, np.ascontiguousarray(picture[:, ::-1])):
        found = detection.find_faces(np.asarray(turned, dtype=np.uint8))
        assert any(scenes.coverage(face_box, [f]) >= 0.8 for f in found)


def test_given_a_photo_larger_than_the_detection_copy_then_boxes_map_back_to_the_original(monkeypatch):
    monkeypatch.setattr(detection, "DETECT_SIDE", 256)
    rgb = scenes.astronaut()  # 512 px: searched at half size

    faces = detection.detect(rgb, plates=False).faces

    assert any(scenes.coverage(scenes.ASTRONAUT_FACE, [f]) >= 0.6 for f in faces)
    assert all(x >= 0 and y >= 0 and x + w <= 512 + 2 and y + h <= 512 + 2 for x, y, w, h in faces)


class _Broken:
    def detectMultiScale(self, *args: object, **kwargs: object) -> object:
        raise cv2.error("simulated OpenCV failure")


def test_given_a_failing_face_detector_then_the_photo_is_refused_not_passed_as_faceless(monkeypatch):
    monkeypatch.setattr(detection, "_cascade", lambda name: _Broken())

    with pytest.raises(PhotoRejected) as refused:
        process_photo(scenes.encode_jpeg(scenes.astronaut()))

    assert refused.value.code == "detector_error"
    assert "simulated" not in refused.value.message  # internals stay in the log detail
    assert "simulated" in refused.value.detail


def test_given_a_missing_cascade_file_then_the_photo_is_refused(monkeypatch, tmp_path):
    monkeypatch.setattr(detection, "cascade_directory", lambda: tmp_path)
    monkeypatch.setattr(detection, "_local", threading.local())  # forget loaded cascades

    with pytest.raises(PhotoRejected) as refused:
        process_photo(scenes.encode_jpeg(scenes.astronaut()))

    assert refused.value.code == "detector_error"


def test_given_a_failing_redaction_then_the_photo_is_refused(monkeypatch):
    def broken(*args: object, **kwargs: object) -> int:
        raise MemoryError

    monkeypatch.setattr(processing, "obscure", broken)
    small_portrait = np.asarray(cv2.resize(scenes.astronaut(), (160, 160), interpolation=cv2.INTER_AREA),
                                dtype=np.uint8)

    with pytest.raises(PhotoRejected) as refused:
        process_photo(scenes.encode_jpeg(small_portrait))
    assert refused.value.code == "detector_error"


def test_given_blur_disabled_then_no_detector_runs_and_nothing_is_counted(monkeypatch):
    def must_not_run(*args: object, **kwargs: object) -> object:
        raise AssertionError("detection ran with blur disabled")

    monkeypatch.setattr(detection, "detect", must_not_run)

    out = process_photo(scenes.encode_jpeg(scenes.astronaut()), blur=False)

    assert (out.faces_blurred, out.plates_blurred) == (0, 0)


def test_given_boxes_partly_outside_or_empty_when_obscured_then_only_the_inside_changes():
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (100, 120, 3), dtype=np.uint8)
    original = rgb.copy()

    count = redaction.obscure(rgb, [(-20, -10, 60, 50), (200, 200, 10, 10), (50, 50, 0, 10)], padding=0.0)

    assert count == 1
    assert rgb[0:40, 0:40].std() < 0.2 * original[0:40, 0:40].std()
    assert np.array_equal(rgb[45:, 45:], original[45:, 45:])
