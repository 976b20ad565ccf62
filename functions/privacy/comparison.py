"""Before/after comparison of mission photos from pixels alone: a weak, offline stand-in.

The real verification asks a vision model whether the "after" photo shows the problem of the
"before" photo resolved. Offline we can only measure pixels. Both photos are reduced to 256 px,
aligned (phase correlation for a hand-held shift) and exposure-matched; the pixels that changed
are located, and the edge density inside them before and after tells whether the change removed
clutter (litter, debris, scribbles: edge-dense) or added it. Confidence needs the same place
(coarse layout correlation, most of the frame unchanged) and readable ground: on gravel, grass
or foliage edges say nothing about clutter and confidence stays low.

It cannot tell a cleaned pavement from one photographed in fog, nor judge what the mission asked
for. The decision rule (approve at improvement >= 0.30 with confidence >= 0.80) sends anything
it is unsure of to peer review, which is where such photos belong.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from .decoding import decode_photo
from .rejection import PhotoRejected

SIDE = 256
CHANGE_LEVEL = 25  # grey levels: a pixel differing more than this (after alignment) changed
MIN_CHANGED_SHARE = 0.01  # below this share of the frame, nothing meaningful happened
FULL_CHANGE_SHARE = 0.05  # a clean-up over this share of the frame can score full improvement
BUSY_BACKGROUND = 0.2  # edge density of the unchanged ground above which clutter cannot be judged
MAX_CONFIDENCE = 0.9
_MAX_BYTES = 15 * 1024 * 1024
_MAX_PIXELS = 50_000_000


@dataclass(frozen=True)
class PixelComparison:
    improvement: float  # 0..1, how much the after photo reduced clutter in the same scene
    confidence: float  # 0..1, how sure the pixel evidence is
    reasoning: str  # the measurements behind the numbers, for the decision trail


def compare_before_after(before: bytes, after: bytes) -> PixelComparison:
    """Compare two photos (JPEG or PNG bytes); deterministic. Raises PhotoRejected on bad input
    ("internal_error" for anything unexpected), nothing else."""
    try:
        return _compare(before, after)
    except PhotoRejected:
        raise
    except Exception as exc:
        raise PhotoRejected("internal_error", f"{type(exc).__name__}: {str(exc)[:200]}") from exc


def _compare(before: bytes, after: bytes) -> PixelComparison:
    rgb_a = _prepare(decode_photo(before, max_bytes=_MAX_BYTES, max_pixels=_MAX_PIXELS).rgb)
    rgb_b_raw = decode_photo(after, max_bytes=_MAX_BYTES, max_pixels=_MAX_PIXELS).rgb
    aspect_a = rgb_a.shape[1] / rgb_a.shape[0]
    aspect_b = rgb_b_raw.shape[1] / rgb_b_raw.shape[0]
    rgb_b = np.asarray(cv2.resize(_prepare(rgb_b_raw), (rgb_a.shape[1], rgb_a.shape[0]),
                                  interpolation=cv2.INTER_AREA), dtype=np.uint8)
    gray_a = _gray(rgb_a)
    gray_b, shift = _aligned(gray_a, _gray(rgb_b))

    layout = _layout_correlation(gray_a, gray_b)
    changed_mask = _changed(gray_a, gray_b)
    changed_share = float(changed_mask.mean())
    edges_a, edges_b = _edges(gray_a), _edges(gray_b)
    if changed_mask.any():
        clutter_before = float(edges_a[changed_mask].mean())
        clutter_after = float(edges_b[changed_mask].mean())
    else:
        clutter_before = clutter_after = 0.0
    clutter_drop = (clutter_before - clutter_after) / max(clutter_before, clutter_after, 0.02)

    same_place = float(np.clip((layout - 0.5) / 0.4, 0.0, 1.0))
    if abs(np.log(aspect_a / aspect_b)) > 0.15:
        same_place *= 0.5  # different framing (portrait vs landscape): alignment is doubtful
    # When most of the frame changed, the photos rarely show the same place from the same spot.
    same_place *= float(np.clip((0.7 - changed_share) / 0.4, 0.0, 1.0))
    # On ground that is itself full of edges (gravel, grass, foliage) edge density says little
    # about clutter: litter there can even be smoother than the ground.
    steady = ~changed_mask
    background_edges = float(edges_a[steady].mean()) if steady.any() else float(edges_a.mean())
    readable = float(np.clip((BUSY_BACKGROUND - background_edges) / 0.1, 0.0, 1.0))

    if changed_share < MIN_CHANGED_SHARE:
        improvement = 0.0
        confidence = 0.5 + 0.4 * same_place  # clearly nothing was done, if it is the same place
    else:
        raw = float(np.clip(clutter_drop / 0.5, 0.0, 1.0)) * min(1.0, changed_share / FULL_CHANGE_SHARE)
        # Not the same place: no improvement can be claimed from pixels.
        improvement = raw * same_place
        decisiveness = min(1.0, abs(clutter_drop) / 0.3)
        confidence = 0.4 + 0.5 * same_place * decisiveness * readable
    confidence = float(np.clip(confidence, 0.0, MAX_CONFIDENCE))
    reasoning = (
        "offline pixel comparison (a weak stand-in for vision verification): "
        f"layout correlation {layout:.2f} after a shift of ({shift[0]:+.0f}, {shift[1]:+.0f}) px, "
        f"{changed_share:.0%} of the frame changed, edge density there {clutter_before:.3f} -> "
        f"{clutter_after:.3f} ({-clutter_drop:+.0%}), edge density of the unchanged ground "
        f"{background_edges:.3f}"
    )
    return PixelComparison(improvement=round(float(improvement), 3), confidence=round(confidence, 3),
                           reasoning=reasoning)


def _prepare(rgb: NDArray[np.uint8]) -> NDArray[np.uint8]:
    height, width = rgb.shape[:2]
    scale = SIDE / max(height, width)
    size = (max(8, round(width * scale)), max(8, round(height * scale)))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return np.asarray(small, dtype=np.uint8)


def _gray(rgb: NDArray[np.uint8]) -> NDArray[np.uint8]:
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    # Sensor noise and JPEG artefacts are not clutter.
    return np.asarray(cv2.GaussianBlur(gray, (0, 0), 0.8), dtype=np.uint8)


def _aligned(reference: NDArray[np.uint8], moving: NDArray[np.uint8]) -> tuple[NDArray[np.uint8], tuple[float, float]]:
    """`moving` shifted onto `reference` (phase correlation; small hand-held offsets only)."""
    (dx, dy), _ = cv2.phaseCorrelate(reference.astype(np.float64), moving.astype(np.float64))
    limit = 0.1 * max(reference.shape)
    if abs(dx) > limit or abs(dy) > limit:
        return moving, (0.0, 0.0)
    matrix = np.array([[1.0, 0.0, -dx], [0.0, 1.0, -dy]], dtype=np.float64)
    shifted = cv2.warpAffine(moving, matrix, (moving.shape[1], moving.shape[0]), borderMode=cv2.BORDER_REFLECT)
    return np.asarray(shifted, dtype=np.uint8), (float(dx), float(dy))


def _changed(a: NDArray[np.uint8], b: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """Pixels that differ beyond exposure changes and noise, grown a little to include edges."""
    x, y = a.astype(np.float64), b.astype(np.float64)
    # Match exposure: the after photo may be brighter or darker overall.
    y = (y - y.mean()) * (x.std() / max(y.std(), 1e-6)) + x.mean()
    mask = (np.abs(x - y) > CHANGE_LEVEL).astype(np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
    return np.asarray(cv2.dilate(mask, kernel, iterations=2), dtype=bool)


def _layout_correlation(a: NDArray[np.uint8], b: NDArray[np.uint8]) -> float:
    """Pearson correlation of 16x12 thumbnails: high when both photos frame the same scene."""
    ta = cv2.resize(a, (16, 12), interpolation=cv2.INTER_AREA).astype(np.float64).ravel()
    tb = cv2.resize(b, (16, 12), interpolation=cv2.INTER_AREA).astype(np.float64).ravel()
    if ta.std() < 1e-6 or tb.std() < 1e-6:
        return 1.0 if np.allclose(ta, tb, atol=2.0) else 0.0
    return float(np.corrcoef(ta, tb)[0, 1])


def _edges(gray: NDArray[np.uint8]) -> NDArray[np.float64]:
    """Edge map as 0/1: litter, scribbles and debris are edge-dense; swept ground is not."""
    return (np.asarray(cv2.Canny(gray, 60, 160)) > 0).astype(np.float64)
