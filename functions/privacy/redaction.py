"""Making faces and plates unrecognisable: coarse averaging of a padded box, smoothly resampled.

A box is reduced to at most CELLS averages along its longer side and scaled back with bilinear
interpolation. What is left is a soft colour gradient: no edge, stroke or feature survives, so
neither a person nor a plate number can be read back, and no blocky pattern is left for a
detector to find again.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np
from numpy.typing import NDArray

from .detection import Box

CELLS = 6
FACE_PADDING = 0.25  # hair, ears and chin lie outside the cascade's box
PLATE_PADDING = 0.08  # plate boxes are already padded by their detectors


def padded(box: Box, fraction: float, width: int, height: int) -> Box:
    """The box grown by `fraction` of its size on every side, clipped to the picture."""
    x, y, w, h = box
    dx, dy = round(w * fraction), round(h * fraction)
    x0, y0 = max(0, x - dx), max(0, y - dy)
    x1, y1 = min(width, x + w + dx), min(height, y + h + dy)
    return (x0, y0, max(0, x1 - x0), max(0, y1 - y0))


def obscure(rgb: NDArray[np.uint8], boxes: Iterable[Box], padding: float) -> int:
    """Obscure every box in place (after padding); returns how many non-empty boxes were obscured."""
    height, width = rgb.shape[:2]
    count = 0
    for box in boxes:
        x, y, w, h = padded(box, padding, width, height)
        if w == 0 or h == 0:
            continue
        region = rgb[y:y + h, x:x + w]
        longer = max(w, h)
        cells_w = max(1, round(CELLS * w / longer))
        cells_h = max(1, round(CELLS * h / longer))
        coarse = cv2.resize(region, (cells_w, cells_h), interpolation=cv2.INTER_AREA)
        rgb[y:y + h, x:x + w] = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR)
        count += 1
    return count
