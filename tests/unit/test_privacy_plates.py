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
    """A noisy 640x480 street with one car plate; returns the picture, plate box and characters box."""
    rng = random.Random(seed)
    rgb = scenes.street_background(rng, 640, 480)
    plate, text_box = scenes.render_plate(scenes.plate_text(rng, style), width_px, style,
                                          cv2.FONT_HERSHEY_SIMPLEX)
    plate_box, chars_box = scenes.paste_plate(rgb, plate, (320, 330), angle_deg=angle, skew=0.05,
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
    assert hits / total >= 0.85


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


@pytest.mark.parametrize("name", ["coffee", "chelsea", "astronaut", "camera", "rocket"])
def test_given_a_real_photo_without_plates_then_little_of_it_is_blurred(name):
    rgb = scenes.sample(name)

    plates = detection.detect(rgb, faces=False).plates

    area = sum(w * h for _, _, w, h in plates)
    assert area / (rgb.shape[0] * rgb.shape[1]) < 0.05
