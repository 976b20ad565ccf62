"""Privacy stage: licence plates in street-like scenes are found at several sizes and slight
angles, whatever their design, and obscured until their characters are gone."""

from __future__ import annotations

import random

import cv2
import numpy as np
import pytest

from functions.privacy import detection
from functions.privacy.processing import process_photo
from tests.fixtures.images import scenes

Box = tuple[int, int, int, int]


def street_with_plate(width_px: int, angle: float, style: str, seed: int) -> tuple[np.ndarray, Box, Box]:
    """A noisy 1280x960 street with one car plate; returns the picture, plate box and characters box.

    (A plate whose characters cannot be read apart is blurred only when its box is under 0.5 % of
    the frame: a 90 px plate qualifies in a 1280x960 photo, not in a 640x480 one.)"""
    rng = random.Random(seed)
    rgb = scenes.street_background(rng, 1280, 960)
    plate, text_box = scenes.render_plate(scenes.plate_text(rng, style), width_px, style,
                                          cv2.FONT_HERSHEY_SIMPLEX)
    plate_box, chars_box = scenes.paste_plate(rgb, plate, (640, 660), angle_deg=angle, skew=0.05,
                                              car_colour=(90, 90, 110), text_box=text_box)
    rgb = np.asarray(cv2.GaussianBlur(rgb, (0, 0), 0.7), dtype=np.uint8)
    noise = np.random.default_rng(seed).normal(0, 4, rgb.shape)
    return np.clip(rgb + noise, 0, 255).astype(np.uint8), plate_box, chars_box


@pytest.mark.parametrize("width_px", [60, 90, 150, 240])
@pytest.mark.parametrize("angle", [-6.0, 0.0, 6.0])
def test_given_a_plate_in_a_street_then_its_characters_are_covered(width_px, angle):
    style = scenes.PLATE_STYLES[(width_px + int(angle)) % len(scenes.PLATE_STYLES)]
    rgb, _, chars = street_with_plate(width_px, angle, style, seed=width_px)

    plates = detection.detect(rgb, faces=False).plates

    assert scenes.coverage(chars, list(plates)) >= 0.9


@pytest.mark.parametrize("style", scenes.PLATE_STYLES)
def test_given_each_plate_design_then_it_is_found(style):
    rgb, _, chars = street_with_plate(130, 3.0, style, seed=7)

    assert scenes.coverage(chars, list(detection.detect(rgb, faces=False).plates)) >= 0.9


def test_given_varied_scenes_with_plates_then_recall_is_high():
    """Twelve scenes, street-like and real-photo backgrounds, 70-200 px plates of every design,
    rotated up to 8 degrees, skewed, blurred and noisy."""
    hits = total = 0
    for seed in range(12):
        background = [None, "coffee", "rocket", None][seed % 4]
        scene = scenes.plate_scene(seed, width=800, height=600, plates=2, plate_widths=(70, 200),
                                   background=background)
        found = list(detection.detect(scene.rgb, faces=False).plates)
        for chars in scene.plate_texts:
            total += 1
            hits += scenes.coverage(chars, found) >= 0.9
    assert total == 24
    assert hits / total >= 0.9


def test_given_small_plates_then_most_are_found():
    """40-70 px plates in 1280x960 scenes (16 scenes, 48 plates, every design, rotated, skewed,
    blurred, noisy): characters from 5 px high form rows, and run-together ones join them."""
    hits = total = 0
    for seed in [*range(1000, 1008), *range(2000, 2008)]:
        background = (None, "coffee", "rocket", None, "chelsea")[seed % 5]
        scene = scenes.plate_scene(seed, plates=3, plate_widths=(40, 70), background=background)
        found = list(detection.detect(scene.rgb, faces=False).plates)
        for chars in scene.plate_texts:
            total += 1
            hits += scenes.coverage(chars, found) >= 0.9
    assert total == 48
    assert hits / total >= 0.8


def test_given_a_street_photo_when_processed_then_the_plate_characters_are_gone():
    rgb, _, chars = street_with_plate(180, 4.0, "eu", seed=11)

    out = process_photo(scenes.encode_jpeg(rgb, quality=95))

    after = scenes.decode(out.data)
    assert out.plates_blurred >= 1
    x, y, w, h = chars
    before_gray = cv2.cvtColor(rgb[y:y + h, x:x + w], cv2.COLOR_RGB2GRAY).astype(np.float64)
    after_gray = cv2.cvtColor(after[y:y + h, x:x + w], cv2.COLOR_RGB2GRAY).astype(np.float64)
    assert cv2.Laplacian(after_gray, cv2.CV_64F).var() < 0.05 * cv2.Laplacian(before_gray, cv2.CV_64F).var()
    assert after_gray.std() < 0.5 * before_gray.std()
    after_gray_full = np.asarray(cv2.cvtColor(after, cv2.COLOR_RGB2GRAY), dtype=np.uint8)
    assert scenes.coverage(chars, detection.find_plates(after_gray_full)) < 0.5


def lace_curtain(width: int, height: int, seed: int) -> np.ndarray:
    """A light curtain with a fine regular pattern of dark holes and flowers: rhythm everywhere."""
    rng = np.random.default_rng(seed)
    rgb = np.full((height, width, 3), 225, np.uint8)
    step = 9 + seed % 5
    for y in range(0, height, step):
        for x in range((y // step) % 2 * step // 2, width, step):
            cv2.circle(rgb, (x, y), 2, (120, 115, 110), -1)
    for _ in range(60):
        cx, cy = int(rng.integers(0, width)), int(rng.integers(0, height))
        cv2.ellipse(rgb, (cx, cy), (14, 6), float(rng.integers(0, 180)), 0, 360, (150, 140, 135), 2)
    fold = (np.sin(np.linspace(0, 18, width)) * 25).astype(np.int16)
    return np.asarray(np.clip(rgb.astype(np.int16) + fold[None, :, None], 0, 255), dtype=np.uint8)


def facade(width: int, height: int, seed: int) -> np.ndarray:
    """Rows of windows, a shop sign band, brick-like stripes."""
    rng = random.Random(seed)
    rgb = scenes.street_background(rng, width, height)
    for y in range(40, height // 2, 36):
        for x in range(20, width - 40, 28):
            cv2.rectangle(rgb, (x, y), (x + 14, y + 20), (35, 40, 50), -1)
    return rgb


def plate_free_pictures() -> dict[str, np.ndarray]:
    pictures = {name: scenes.photo_background(name, 1280, 960)
                for name in ("coffee", "chelsea", "astronaut", "camera", "rocket", "brick", "grass", "gravel",
                             "coins", "immunohistochemistry")}
    for seed in range(3):
        pictures[f"lace_{seed}"] = lace_curtain(1280, 960, seed)
        pictures[f"facade_{seed}"] = facade(1280, 960, seed)
    return pictures


@pytest.mark.parametrize("name", sorted(plate_free_pictures()))
def test_given_a_photo_without_plates_then_under_1_percent_is_blurred_and_no_box_is_large(name):
    """Over-blurring is a failure too: evidence that is mostly pixelated cannot be verified."""
    rgb = plate_free_pictures()[name]

    plates = detection.detect(rgb, faces=False).plates

    assert_little_is_blurred(rgb, plates)


def assert_little_is_blurred(rgb: np.ndarray, plates: tuple[Box, ...]) -> None:
    """Under 1 % of the frame blurred as plates, and no single box over 0.5 % of it."""
    frame = rgb.shape[0] * rgb.shape[1]
    covered = np.zeros(rgb.shape[:2], bool)
    for x, y, w, h in plates:
        covered[max(0, y):y + h, max(0, x):x + w] = True
        assert w * h <= 0.005 * frame
    assert covered.mean() < 0.01


@pytest.mark.parametrize("seed", range(3, 11))
def test_given_more_facades_then_rows_of_windows_are_not_taken_for_plates(seed):
    """Grids of windows read as rows of characters: copies of one shape, or glyphs with a twin
    right above or below, are not plates (sizes of the frame vary with the seed)."""
    rgb = facade(1280, 960, seed) if seed % 2 else facade(1024, 768, seed)

    assert_little_is_blurred(rgb, detection.detect(rgb, faces=False).plates)


def test_given_a_page_of_text_then_its_lines_are_not_taken_for_plates_one_by_one():
    """A plate is one line: lines with text right above or below are a page or a sign."""
    page = np.full((960, 1280, 3), 235, np.uint8)
    for row, y in enumerate(range(80, 900, 40)):
        text = "".join(random.Random(row).choice("ABCDEFGHKMNPRSTUVWXYZ0123456789") for _ in range(28))
        cv2.putText(page, text, (60, y), cv2.FONT_HERSHEY_SIMPLEX, 1.1, (25, 25, 25), 2, cv2.LINE_AA)

    plates = detection.detect(page, faces=False).plates

    assert sum(w * h for _, _, w, h in plates) < 0.05 * page.shape[0] * page.shape[1]
