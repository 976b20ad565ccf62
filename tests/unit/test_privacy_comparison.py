"""Before/after verification offline: a pixel comparison that approves only a clear clean-up of
the same place, rejects an unchanged scene, and leaves everything uncertain to peer review
(regression for defect 9: the improvement score must decide, not be ignored)."""

from __future__ import annotations

import random

import cv2
import numpy as np
import pytest

from functions.privacy.processing import PhotoRejected, PixelComparison, compare_before_after
from tests.fixtures.images import scenes


def decide(result: PixelComparison) -> str:
    """The rule of DESIGN section 9, applied to the comparison."""
    if result.improvement >= 0.30 and result.confidence >= 0.80:
        return "approve"
    if result.improvement < 0.10 and result.confidence >= 0.80:
        return "reject"
    return "peer_review"


def littered(rgb: np.ndarray, seed: int, items: int = 60) -> np.ndarray:
    """Scattered litter on the lower two thirds: wrappers, cans, sticks."""
    rng = random.Random(seed)
    out = rgb.copy()
    height, width = out.shape[:2]
    for _ in range(items):
        x, y = rng.randrange(width), rng.randrange(height // 3, height)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        kind = rng.random()
        if kind < 0.4:
            cv2.rectangle(out, (x, y), (x + rng.randint(6, 30), y + rng.randint(4, 20)), colour, -1)
        elif kind < 0.7:
            cv2.circle(out, (x, y), rng.randint(3, 12), colour, -1)
        else:
            cv2.line(out, (x, y), (x + rng.randint(-40, 40), y + rng.randint(-20, 20)), colour, rng.randint(1, 4))
    return out


def retaken(rgb: np.ndarray, seed: int) -> np.ndarray:
    """The same place photographed again: shifted a few pixels, a little brighter, new sensor noise."""
    shift = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, -1.0]])
    moved = cv2.warpAffine(rgb, shift, (rgb.shape[1], rgb.shape[0]), borderMode=cv2.BORDER_REFLECT)
    noisy = moved.astype(np.float64) * 1.04 + np.random.default_rng(seed).normal(0, 3, moved.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


jpeg = scenes.encode_jpeg


@pytest.mark.parametrize("name", ["coffee", "chelsea", "rocket"])
def test_given_litter_removed_from_the_same_place_then_the_pair_is_approved(name):
    clean = scenes.sample(name)

    result = compare_before_after(jpeg(littered(clean, 1)), jpeg(retaken(clean, 2)))

    assert result.improvement >= 0.30
    assert result.confidence >= 0.80
    assert decide(result) == "approve"


@pytest.mark.parametrize("name", ["coffee", "chelsea", "rocket"])
def test_given_the_same_scene_unchanged_then_the_pair_is_rejected(name):
    clean = scenes.sample(name)

    for after in (jpeg(clean), jpeg(retaken(clean, 5))):
        result = compare_before_after(jpeg(clean), after)
        assert result.improvement < 0.10
        assert decide(result) == "reject"


@pytest.mark.parametrize("name", ["coffee", "chelsea", "rocket"])
def test_given_more_litter_after_than_before_then_no_improvement_is_claimed(name):
    clean = scenes.sample(name)

    result = compare_before_after(jpeg(clean), jpeg(retaken(littered(clean, 3), 4)))

    assert result.improvement < 0.10
    assert decide(result) != "approve"


@pytest.mark.parametrize(("before", "after"), [("coffee", "rocket"), ("astronaut", "chelsea"), ("camera", "coffee")])
def test_given_photos_of_different_places_then_it_goes_to_peer_review(before, after):
    result = compare_before_after(jpeg(scenes.sample(before)), jpeg(scenes.sample(after)))

    assert result.confidence < 0.80
    assert decide(result) == "peer_review"


@pytest.mark.parametrize("ground", ["gravel", "grass"])
def test_given_busy_ground_where_edges_say_nothing_then_it_goes_to_peer_review(ground):
    clean = scenes.sample(ground)

    for before, after in ((littered(clean, 1), retaken(clean, 2)), (clean, retaken(littered(clean, 3), 4))):
        result = compare_before_after(jpeg(before), jpeg(after))
        assert decide(result) == "peer_review"


def test_given_the_same_pair_twice_then_the_result_is_identical_and_explained():
    clean = scenes.sample("coffee")
    before, after = jpeg(littered(clean, 1)), jpeg(retaken(clean, 2))

    first, second = compare_before_after(before, after), compare_before_after(before, after)

    assert first == second
    assert 0.0 <= first.improvement <= 1.0 and 0.0 <= first.confidence <= 1.0
    assert "offline pixel comparison" in first.reasoning
    assert "changed" in first.reasoning


def test_given_a_png_after_a_jpeg_of_other_size_then_they_are_compared_at_one_scale():
    clean = scenes.sample("chelsea")
    half = np.asarray(cv2.resize(retaken(clean, 2), None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA),
                      dtype=np.uint8)
    after_png = scenes.encode_png(half)

    result = compare_before_after(jpeg(littered(clean, 1)), after_png)

    assert decide(result) == "approve"


def test_given_an_unreadable_photo_then_the_comparison_refuses_it():
    with pytest.raises(PhotoRejected) as refused:
        compare_before_after(jpeg(scenes.sample("coffee")), b"not a photo")
    assert refused.value.code == "unsupported_type"
