"""Before/after comparison of mission photos from pixels alone: a weak, offline stand-in.

The real verification asks a vision model whether the "after" photo shows the problem of the
"before" photo resolved. Offline we can only measure pixels: whether the two photos show the
same place (coarse layout correlation), how much changed (structural similarity), and whether
the change removed clutter (edge density and fine texture fall) rather than added it. Litter
picked up, graffiti painted over or weeds cleared tend to score as improvement; a photo of a
different place, a changed viewpoint or new lighting lowers confidence, and a photo that is
unchanged scores no improvement with high confidence. It cannot tell a cleaned pavement from a
pavement photographed in fog: the decision rule sends anything uncertain to peer review.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from .decoding import decode_photo

SIDE = 256
MAX_CONFIDENCE = 0.9
_MAX_BYTES = 15 * 1024 * 1024
_MAX_PIXELS = 50_000_000


@dataclass(frozen=True)
class PixelComparison:
    improvement: float  # 0..1, how much the after photo reduced clutter in the same scene
    confidence: float  # 0..1, how sure the pixel evidence is
    reasoning: str  # the measurements behind the numbers, for the decision trail


def compare_before_after(before: bytes, after: bytes) -> PixelComparison:
    """Compare two photos (JPEG or PNG bytes); deterministic, raises PhotoRejected on bad input."""
    a = _prepare(decode_photo(before, max_bytes=_MAX_BYTES, max_pixels=_MAX_PIXELS).rgb)
    b_rgb = decode_photo(after, max_bytes=_MAX_BYTES, max_pixels=_MAX_PIXELS).rgb
    aspect_a = a.shape[1] / a.shape[0]
    aspect_b = b_rgb.shape[1] / b_rgb.shape[0]
    b = np.asarray(cv2.resize(_prepare(b_rgb), (a.shape[1], a.shape[0]), interpolation=cv2.INTER_AREA),
                   dtype=np.uint8)
    gray_a = np.asarray(cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), dtype=np.uint8)
    gray_b = np.asarray(cv2.cvtColor(b, cv2.COLOR_RGB2GRAY), dtype=np.uint8)

    layout = _layout_correlation(gray_a, gray_b)
    similarity = _ssim(gray_a, gray_b)
    edges_a, edges_b = _edge_density(gray_a), _edge_density(gray_b)
    texture_a, texture_b = _texture(gray_a), _texture(gray_b)
    change = 1.0 - similarity
    clutter_drop = (edges_a - edges_b) / max(edges_a, 1e-3)
    texture_drop = (texture_a - texture_b) / max(texture_a, 1e-3)

    same_place = float(np.clip((layout - 0.3) / 0.5, 0.0, 1.0))
    if abs(np.log(aspect_a / aspect_b)) > 0.15:
        same_place *= 0.5  # different framing (portrait vs landscape): alignment is doubtful
    evidence = 0.7 * max(0.0, clutter_drop) + 0.3 * max(0.0, texture_drop)
    improvement = float(np.clip(evidence * min(1.0, change / 0.1) * 1.6, 0.0, 1.0))

    if change < 0.03:
        # Practically the same photo: nothing was done, and that is clear.
        improvement = 0.0
        confidence = MAX_CONFIDENCE
    else:
        decisiveness = min(1.0, abs(clutter_drop) / 0.25)
        confidence = 0.4 + 0.5 * same_place * decisiveness
    confidence = float(np.clip(confidence, 0.0, MAX_CONFIDENCE))
    reasoning = (
        "offline pixel comparison (weak stand-in for vision verification): "
        f"layout correlation {layout:.2f}, structural similarity {similarity:.2f}, "
        f"edge density {edges_a:.3f} -> {edges_b:.3f} ({clutter_drop:+.0%}), "
        f"fine texture {texture_a:.1f} -> {texture_b:.1f} ({texture_drop:+.0%})"
    )
    return PixelComparison(improvement=round(improvement, 3), confidence=round(confidence, 3),
                           reasoning=reasoning)


def _prepare(rgb: NDArray[np.uint8]) -> NDArray[np.uint8]:
    height, width = rgb.shape[:2]
    scale = SIDE / max(height, width)
    size = (max(8, round(width * scale)), max(8, round(height * scale)))
    small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return np.asarray(small, dtype=np.uint8)


def _layout_correlation(a: NDArray[np.uint8], b: NDArray[np.uint8]) -> float:
    """Pearson correlation of 16x12 thumbnails: high when both photos frame the same scene."""
    ta = cv2.resize(a, (16, 12), interpolation=cv2.INTER_AREA).astype(np.float64).ravel()
    tb = cv2.resize(b, (16, 12), interpolation=cv2.INTER_AREA).astype(np.float64).ravel()
    if ta.std() < 1e-6 or tb.std() < 1e-6:
        return 1.0 if np.allclose(ta, tb, atol=2.0) else 0.0
    return float(np.corrcoef(ta, tb)[0, 1])


def _ssim(a: NDArray[np.uint8], b: NDArray[np.uint8]) -> float:
    """Mean structural similarity (Wang et al. 2004, Gaussian window sigma 1.5)."""
    x, y = a.astype(np.float64), b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(img: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(cv2.GaussianBlur(img, (11, 11), 1.5), dtype=np.float64)

    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cov = blur(x * y) - mx * my
    ssim = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(ssim.mean())


def _edge_density(gray: NDArray[np.uint8]) -> float:
    edges = cv2.Canny(cv2.GaussianBlur(gray, (3, 3), 0), 60, 160)
    return float(np.count_nonzero(edges)) / edges.size


def _texture(gray: NDArray[np.uint8]) -> float:
    """Mean absolute Laplacian: fine detail such as litter, leaves or scribbles."""
    return float(np.abs(cv2.Laplacian(gray.astype(np.float64), cv2.CV_64F, ksize=3)).mean())
