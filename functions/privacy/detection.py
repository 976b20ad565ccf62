"""Face and licence-plate detection on decoded photos (OpenCV, CPU only).

Faces: the CenterFace CNN (functions/privacy/faces.py) on a copy of at most 1152 px
(faces.SEARCH_SIDE). Plates: two detectors of plate-shaped text that do not depend on one
country's plate design: rows of character-like connected components, and blackhat +
horizontal-gradient morphology whose candidates must contain such a row or, for small and blurred
plates whose box stays under RHYTHM_MAX_SHARE of the frame, a rhythm of dark/light strokes on a
uniform light field. A plate is one line of text: a candidate with another text row right above or
below it (a page, a sign, a row of windows) is dropped. The plate search runs on a copy of at most
PLATE_SIDE px.

The Haar stage this replaced (face cascades, the russian_plate_number plate cascade) stays callable
(`haar_faces`, `haar_plates`, `detect_haar`) for the benchmark's side-by-side comparison; it is not
on the processing path. Every function raises on error; none turns an error into "nothing found".
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from . import faces as face_model
from .memory import release_memory as _release_memory

Gray = NDArray[np.uint8]
Box = tuple[int, int, int, int]  # x, y, width, height in pixels

_SQUARE3 = np.ones((3, 3), np.uint8)


def _u8(image: object) -> Gray:
    """An OpenCV result as a typed uint8 array (no copy when it already is one)."""
    return np.asarray(image, dtype=np.uint8)

DETECT_SIDE = 2048
# The profile cascade costs about three times the frontal one and runs twice (picture and mirror):
# it searches a smaller copy, so profiles are found from 20 px in photos up to PROFILE_SIDE wide
# and from 1.25 % of the long side beyond (50 px in a 12-megapixel photo).
PROFILE_SIDE = 1600
TEXT_SIDE = 4096  # the Haar stage's plate search (detect_haar)
# Plates are searched on a copy of at most this long side: 40 px plates there are 80 px in a
# 4000 px photo. The full picture (the Haar stage's TEXT_SIDE) cost 1.1 s on a 12 MP photo.
PLATE_SIDE = 1600
# A box kept on stroke rhythm alone (no readable row of characters) covers at most this share of
# the frame: large rhythmic areas are textures (lace, brick, coins), not plates.
RHYTHM_MAX_SHARE = 0.005
# The plate search looks at the copy and at half its size: plates up to about a third of the
# frame's width. Coarser levels found no rendered plate more and turned text-like texture (coins,
# façades) into boxes of several percent of the frame.
PLATE_LEVELS = 2
PLATE_TEXT_SPAN = 0.3
MIN_FACE = 20
FACE_SCALE_STEP = 1.1
FACE_NEIGHBOURS = 3
PLATE_SCALE_STEP = 1.1
PLATE_NEIGHBOURS = 3
# Characters count from this height (px on the searched level): 5 px lets 40-70 px plates of a
# 1280 px photo form rows (7 px, the replaced stage's, lost two more rendered plates of 72).
GLYPH_MIN_HEIGHT = 5
REPLACED_GLYPH_MIN_HEIGHT = 7
# A row of glyphs that are copies of one shape is not a plate (see _copies).
GLYPH_SIGNATURE = (8, 12)
COPY_DIFFERENCE = 0.12
# A row of which this share of glyphs has a twin right above or below is a grid (see _lattice).
LATTICE_SHARE = 0.6
# A row takes in run-together characters at its ends up to this many character heights wide.
ROW_END_ASPECT = 3.0
# A gradient candidate this much inside a repeated row (copies, a grid) is part of it.
INSIDE_SHARE = 0.6
# Two characters blurred into one component are still worth keeping.
MAX_GLYPH_ASPECT = 1.2
# Characters of one row are at most this many character heights apart.
MAX_GLYPH_GAP = 1.5
# Pyramid levels for the text detectors stop below this long side.
MIN_LEVEL_SIDE = 320

FRONTAL_CASCADE = "haarcascade_frontalface_alt2.xml"
PROFILE_CASCADE = "haarcascade_profileface.xml"
PLATE_CASCADE = "haarcascade_russian_plate_number.xml"


class CascadeUnavailable(RuntimeError):
    """A Haar cascade file is missing or could not be parsed."""


@dataclass(frozen=True)
class Detections:
    """Boxes in the coordinates of the photo that was searched."""

    faces: tuple[Box, ...]
    plates: tuple[Box, ...]


def cascade_directory() -> Path:
    """Where opencv-python(-headless) 4.x ships its Haar cascades."""
    return Path(importlib.import_module("cv2.data").haarcascades)


_local = threading.local()


def _cascade(name: str) -> cv2.CascadeClassifier:
    # CascadeClassifier is not safe to share between threads: one instance per thread and file.
    cache_: dict[str, cv2.CascadeClassifier] | None = getattr(_local, "cascades", None)
    if cache_ is None:
        cache_ = {}
        _local.cascades = cache_
    found = cache_.get(name)
    if found is None:
        path = cascade_directory() / name
        if not path.is_file():
            raise CascadeUnavailable(f"Haar cascade {name} is not installed")
        found = cv2.CascadeClassifier(str(path))
        if found.empty():
            raise CascadeUnavailable(f"Haar cascade {name} could not be loaded")
        cache_[name] = found
    return found


def _boxes(raw: Iterable[Iterable[int]]) -> list[Box]:
    out: list[Box] = []
    for item in raw:
        x, y, w, h = (int(v) for v in item)
        out.append((x, y, w, h))
    return out


def detection_copy(gray: Gray, max_side: int) -> tuple[Gray, float]:
    """The grey image to search and the factor mapping its coordinates back (original = copy / scale)."""
    height, width = gray.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    if scale >= 1.0:
        return gray, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return _u8(cv2.resize(gray, size, interpolation=cv2.INTER_AREA)), scale


def _to_original(boxes: Iterable[Box], scale: float) -> list[Box]:
    if scale == 1.0:
        return list(boxes)
    inv = 1.0 / scale
    return [
        (int(x * inv), int(y * inv), int(np.ceil(w * inv)), int(np.ceil(h * inv))) for x, y, w, h in boxes
    ]


# --- faces -----------------------------------------------------------------------------------


def haar_faces(gray: Gray, profile_side: int | None = None) -> list[Box]:
    """The replaced Haar stage (benchmark only): frontal faces, and profiles turned either way, at
    least MIN_FACE px in `gray`; profiles are searched on a copy of at most profile_side px."""
    frontal = _cascade(FRONTAL_CASCADE)
    profile = _cascade(PROFILE_CASCADE)
    minimum = (MIN_FACE, MIN_FACE)
    found = _boxes(frontal.detectMultiScale(gray, FACE_SCALE_STEP, FACE_NEIGHBOURS, minSize=minimum))
    small, scale = detection_copy(gray, PROFILE_SIDE if profile_side is None else profile_side)
    profiles = _boxes(profile.detectMultiScale(small, FACE_SCALE_STEP, FACE_NEIGHBOURS, minSize=minimum))
    mirrored = np.ascontiguousarray(small[:, ::-1])
    width = small.shape[1]
    for x, y, w, h in _boxes(
        profile.detectMultiScale(mirrored, FACE_SCALE_STEP, FACE_NEIGHBOURS, minSize=minimum)
    ):
        profiles.append((width - x - w, y, w, h))
    return found + _to_original(profiles, scale)


# --- licence plates --------------------------------------------------------------------------


def find_plates(gray: Gray) -> list[Box]:
    """Plate-shaped text in `gray`: rows of characters and verified gradient candidates on a
    pyramid starting at `gray` itself; single text lines only. (The plate cascade is not asked: on
    the rendered scenes it found no plate the text rows missed, fired on textures and cost 0.1 s
    of a 12 MP photo's 0.2 s plate search.)"""
    frame = gray.shape[0] * gray.shape[1]
    max_rhythm_area = RHYTHM_MAX_SHARE * frame
    found: list[Box] = []
    for level, scale in _pyramid(gray, PLATE_LEVELS):
        text_rows = _text_rows(level, GLYPH_MIN_HEIGHT, extend=True)
        # Repeated rows (copies, grids) are not plates, but they still make a candidate next to them a stack.
        rows = [box for box, _ in text_rows]
        candidates = [box for box, repeated in text_rows if not repeated and _plate_text(level, box)]
        repeats = [box for box, repeated in text_rows if repeated]
        candidates += [box for box in _gradient_plates(level, max_rhythm_area * scale * scale, verify=_plate_text)
                       if not any(_inside(box, other) for other in repeats)]
        found += _to_original(
            [box for box in candidates if not _stacked(box, rows) and not _text_beside(level, box)], scale)
    return found


def _inside(box: Box, other: Box) -> bool:
    """At least INSIDE_SHARE of box lies within other."""
    ix = min(box[0] + box[2], other[0] + other[2]) - max(box[0], other[0])
    iy = min(box[1] + box[3], other[1] + other[3]) - max(box[1], other[1])
    return ix > 0 and iy > 0 and ix * iy >= INSIDE_SHARE * box[2] * box[3]


def _stacked(box: Box, rows: list[Box]) -> bool:
    """A row of similar height right above or below the box (rows of windows, lines of a page)."""
    x, y, w, h = box
    for ox, oy, ow, oh in rows:
        if not 0.6 <= oh / h <= 1.6:
            continue
        overlap = min(x + w, ox + ow) - max(x, ox)
        distance = abs((oy + oh / 2) - (y + h / 2))
        if overlap >= 0.5 * min(w, ow) and 0.5 * h <= distance <= 2.0 * h:
            return True
    return False


def _text_beside(gray: Gray, box: Box) -> bool:
    """Another row of text as tall, or the same stroke rhythm, right above or below: a page, a sign,
    a row of windows, a lace curtain, not a plate (a US plate's small state name does not count)."""
    x, y, w, h = box
    height = gray.shape[0]
    for top in (y - h, y - h // 2, y + h // 2, y + h):
        if top < 0 or top + h > height:
            continue
        band = (x, top, w, h)
        if _contains_text(gray, band, min_height=0.4) or _has_stroke_rhythm(gray, band):
            return True
    return False


def haar_plates(gray: Gray, cascade_side: int = DETECT_SIDE) -> list[Box]:
    """The replaced stage's plate search (benchmark only): the plate cascade (run on a copy of at
    most cascade_side px), then rows of characters and gradient morphology on a pyramid starting
    at `gray` itself, with no single-line check and no size limit on rhythm-only boxes."""
    cascade = _cascade(PLATE_CASCADE)
    small, cascade_scale = detection_copy(gray, cascade_side)
    raw = _boxes(cascade.detectMultiScale(small, PLATE_SCALE_STEP, PLATE_NEIGHBOURS, minSize=(36, 12)))
    found = [_pad(box, 0.08, 0.15) for box in _to_original(raw, cascade_scale)]
    for level, scale in _pyramid(gray):
        level_boxes = _character_rows(level, min_h=REPLACED_GLYPH_MIN_HEIGHT) + _gradient_plates(level)
        found += _to_original(level_boxes, scale)
    return found


def _pyramid(gray: Gray, max_levels: int = 99) -> list[tuple[Gray, float]]:
    levels: list[tuple[Gray, float]] = [(gray, 1.0)]
    current, scale = gray, 1.0
    while max(current.shape[:2]) // 2 >= MIN_LEVEL_SIDE and len(levels) < max_levels:
        current = _u8(cv2.pyrDown(current))
        scale /= 2
        levels.append((current, scale))
    return levels


def _pad(box: Box, fx: float, fy: float) -> Box:
    x, y, w, h = box
    dx, dy = round(w * fx), round(h * fy)
    return (x - dx, y - dy, w + 2 * dx, h + 2 * dy)


@dataclass(frozen=True)
class _Glyph:
    x: int
    y: int
    w: int
    h: int
    label: int


def _glyphs(binary: Gray, min_h: int, max_h: int) -> tuple[NDArray[np.int64], NDArray[np.int32], NDArray[np.int64]]:
    """Connected components shaped like characters: upright, not too thin, not solid blocks.

    Returns one row per glyph (x, y, width, height, label), the label image and every
    component's (x, y, width, height, area), component k at index k - 1."""
    count, raw_labels, raw_stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    labels = np.asarray(raw_labels, dtype=np.int32)
    stats = np.asarray(raw_stats[1:], dtype=np.int64)
    if count <= 1:
        return np.zeros((0, 5), np.int64), labels, stats
    x, y, w, h, area = (stats[:, i] for i in range(5))
    aspect = w / np.maximum(h, 1)
    fill = area / np.maximum(w * h, 1)
    keep = (
        (h >= min_h)
        & (h <= max_h)
        & (aspect >= 0.08)
        & (aspect <= MAX_GLYPH_ASPECT)
        & (fill >= 0.12)
        # A filled rectangle (a window, a tile) is not a character; a thin "1" or "I" is.
        & ~((fill > 0.85) & (aspect > 0.4))
    )
    idx = np.flatnonzero(keep)
    table = np.column_stack([x[idx], y[idx], w[idx], h[idx], idx + 1])
    return table, labels, stats


# Glyphs of one row differ in height by at most this factor, so a glyph's partner lies within
# MAX_GLYPH_GAP * MAX_ROW_HEIGHT_RATIO of its own height beside it.
MAX_ROW_HEIGHT_RATIO = 1.4


def _rows(table: NDArray[np.int64], min_count: int) -> list[list[_Glyph]]:
    """Groups of similar glyphs side by side on one (possibly slanted) line.

    Two glyphs join when their heights differ by at most MAX_ROW_HEIGHT_RATIO, their centres by
    at most 0.4 of the taller one's height vertically, the gap between them is at most
    MAX_GLYPH_GAP of that height and one is not an outline nested in the other; rows are the
    connected groups. Pairs are compared in bulk: glyphs sorted by height centre, each against its
    k-th successor for as long as any successor is near enough in height."""
    n = len(table)
    if n < min_count:
        return []
    order = np.lexsort((table[:, 0], 2 * table[:, 1] + table[:, 3]))
    table = table[order]
    x, y, w, h = (table[:, i].astype(np.float64) for i in range(4))
    cy = y + h / 2
    # A partner's centre is at most 0.4 x the taller height, itself at most 1.4 x this one's, away.
    reach = cy + 0.4 * MAX_ROW_HEIGHT_RATIO * h
    first: list[NDArray[np.int64]] = []
    second: list[NDArray[np.int64]] = []
    for k in range(1, n):
        i = np.flatnonzero(cy[k:] <= reach[:-k])
        if i.size == 0:
            break
        j = i + k
        tall = np.maximum(h[i], h[j])
        left_first = (x[i] < x[j]) | ((x[i] == x[j]) & (order[i] < order[j]))
        a = np.where(left_first, i, j)
        b = np.where(left_first, j, i)
        joined = (
            (tall / np.minimum(h[i], h[j]) <= MAX_ROW_HEIGHT_RATIO)
            & (np.abs(cy[i] - cy[j]) <= 0.4 * tall)
            & (x[b] <= x[a] + w[a] + MAX_GLYPH_GAP * tall)
            # nested or overlapping outlines
            & ~((x[b] < x[a] + w[a] * 0.5) & (np.abs(y[a] - y[b]) < 2))
        )
        first.append(i[joined])
        second.append(j[joined])
    if not first:
        return []
    ends_a, ends_b = np.concatenate(first), np.concatenate(second)
    group = _components(n, ends_a, ends_b)
    sizes = np.bincount(group, minlength=n)
    rows: list[list[_Glyph]] = []
    for root in np.flatnonzero(sizes >= min_count):
        members = table[group == root]
        members = members[np.argsort(members[:, 0], kind="stable")]
        rows.append([_Glyph(int(gx), int(gy), int(gw), int(gh), int(label)) for gx, gy, gw, gh, label in members])
    return rows


def _components(n: int, ends_a: NDArray[np.int64], ends_b: NDArray[np.int64]) -> NDArray[np.int64]:
    """Connected components of the graph on n nodes with the given edges: each node's smallest
    member index (label propagation with pointer jumping)."""
    group = np.arange(n)
    while True:
        smaller = np.minimum(group[ends_a], group[ends_b])
        updated = group.copy()
        np.minimum.at(updated, ends_a, smaller)
        np.minimum.at(updated, ends_b, smaller)
        while True:
            jumped = updated[updated]
            if np.array_equal(jumped, updated):
                break
            updated = jumped
        if np.array_equal(updated, group):
            return group
        group = updated


def _is_text_row(gray: Gray, labels: NDArray[np.int32], row: list[_Glyph]) -> bool:
    """Character-like: similar heights on one line, uniform background, clear ink contrast."""
    heights = np.array([g.h for g in row], dtype=np.float64)
    median_h = float(np.median(heights))
    if heights.std() / heights.mean() > 0.25:
        return False
    cx = np.array([g.x + g.w / 2 for g in row])
    cy = np.array([g.y + g.h / 2 for g in row])
    slope, intercept = np.polyfit(cx, cy, 1)
    if abs(slope) > 0.36:  # steeper than 20 degrees
        return False
    if np.std(cy - (slope * cx + intercept)) > 0.15 * median_h:
        return False
    x0 = min(g.x for g in row)
    y0 = min(g.y for g in row)
    x1 = max(g.x + g.w for g in row)
    y1 = max(g.y + g.h for g in row)
    width = x1 - x0
    if width / max(1, y1 - y0) < 1.5:
        return False
    pixels = gray[y0:y1, x0:x1].astype(np.float64)
    ink_mask = np.isin(labels[y0:y1, x0:x1], [g.label for g in row])
    # Anti-aliased glyph edges are neither ink nor background: leave a pixel around the ink out.
    near_ink = np.asarray(cv2.dilate(ink_mask.astype(np.uint8), _SQUARE3), dtype=bool)
    ink = pixels[ink_mask]
    background = pixels[~near_ink]
    # Bold characters leave little background between them inside the row's box (a quarter of
    # the ink's size turned away a legible 111 px plate).
    if ink.size == 0 or background.size < ink.size // 8:
        return False
    contrast = abs(float(background.mean()) - float(ink.mean()))
    return contrast >= 30 and contrast >= 1.5 * float(background.std())


def _copies(labels: NDArray[np.int32], row: list[_Glyph]) -> bool:
    """Windows, railings, lace motifs and bricks repeat one shape; a plate's characters differ.

    Each glyph's ink is reduced to GLYPH_SIGNATURE cells; the row is copies when most pairs of
    glyphs differ in under COPY_DIFFERENCE of the cells' ink (rendered plates: 0.17 and up)."""
    signatures = np.stack([
        np.asarray(cv2.resize((labels[g.y:g.y + g.h, g.x:g.x + g.w] == g.label).astype(np.float32),
                              GLYPH_SIGNATURE, interpolation=cv2.INTER_AREA)).ravel()
        for g in row
    ])
    upper = np.triu_indices(len(row), 1)
    differences = np.abs(signatures[:, None, :] - signatures[None, :, :]).mean(axis=2)[upper]
    return float(np.median(differences)) < COPY_DIFFERENCE


def _lattice(row: list[_Glyph], components: NDArray[np.int64]) -> bool:
    """Most glyphs have a twin of about their size right above or below them: one row of a
    grid (windows, tiles, shelves), not a plate, whose characters have a plain field above and
    below (a US plate's state name is much smaller than its characters)."""
    cx = components[:, 0] + components[:, 2] / 2
    cy = components[:, 1] + components[:, 3] / 2
    twins = 0
    for g in row:
        gx, gy = g.x + g.w / 2, g.y + g.h / 2
        width_ratio = components[:, 2] / g.w
        height_ratio = components[:, 3] / g.h
        distance = np.abs(cy - gy)
        twin = (
            (np.abs(cx - gx) <= 0.35 * g.w)
            & (width_ratio >= 0.6) & (width_ratio <= 1.6)
            & (height_ratio >= 0.25) & (height_ratio <= 2.0) & (components[:, 3] >= 3)
            & (distance >= 0.8 * g.h) & (distance <= 2.5 * g.h)
        )
        twins += bool(twin.any())
    return twins >= LATTICE_SHARE * len(row)


def _row_box(row: list[_Glyph], components: NDArray[np.int64] | None = None) -> Box:
    """The plate around a row of characters; with `components`, the row first takes in the
    components on its line next to its ends (see _row_ends)."""
    x0 = min(g.x for g in row)
    y0 = min(g.y for g in row)
    x1 = max(g.x + g.w for g in row)
    y1 = max(g.y + g.h for g in row)
    ch = float(np.median([g.h for g in row]))
    if components is not None:
        x0, x1 = _row_ends(row, components)
    # Pad to the plate around the characters: border, country strip, state name above.
    dx, dy = round(1.0 * ch), round(0.6 * ch)
    return (x0 - dx, y0 - dy, x1 - x0 + 2 * dx, y1 - y0 + 2 * dy)


def _row_ends(row: list[_Glyph], components: NDArray[np.int64]) -> tuple[int, int]:
    """Where the row starts and ends once it takes in the components of its height on its line
    right next to it, whatever their width up to ROW_END_ASPECT: bold or blurred characters
    run together into one wide component, which the glyph test leaves out."""
    ch = float(np.median([g.h for g in row]))
    cx = np.array([g.x + g.w / 2 for g in row])
    cy = np.array([g.y + g.h / 2 for g in row])
    slope, intercept = np.polyfit(cx, cy, 1) if len(row) > 1 else (0.0, float(cy[0]))
    x, y, w, h = (components[:, i].astype(np.float64) for i in range(4))
    on_line = (
        (h >= ch / MAX_ROW_HEIGHT_RATIO) & (h <= ch * MAX_ROW_HEIGHT_RATIO)
        & (w <= ROW_END_ASPECT * ch)
        & (np.abs(y + h / 2 - (slope * (x + w / 2) + intercept)) <= 0.4 * ch)
    )
    x, w = x[on_line], w[on_line]
    start = min(g.x for g in row)
    end = max(g.x + g.w for g in row)
    gap = MAX_GLYPH_GAP * ch
    while True:
        left = (x < start) & (x + w >= start - gap)
        right = (x + w > end) & (x <= end + gap)
        new_start = int(min(start, x[left].min())) if left.any() else start
        new_end = int(max(end, (x + w)[right].max())) if right.any() else end
        if (new_start, new_end) == (start, end):
            return start, end
        start, end = new_start, new_end


def _character_rows(gray: Gray, min_h: int) -> list[Box]:
    """Rows of four or more character-like components, dark on light and light on dark."""
    return [box for box, _ in _text_rows(gray, min_h)]


def _text_rows(gray: Gray, min_h: int, block: int = 25, offset: int = 7,
               *, extend: bool = False) -> list[tuple[Box, bool]]:
    """The rows of _character_rows (with `extend`, each taking in run-together characters at its
    ends), each with whether it is repetition rather than writing: its glyphs copies of one
    shape, or one row of a grid."""
    found: list[tuple[Box, bool]] = []
    for mode in (cv2.THRESH_BINARY_INV, cv2.THRESH_BINARY):
        binary = _u8(cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, mode, block, offset))
        glyphs, labels, components = _glyphs(binary, min_h, 40)
        for row in _rows(glyphs, 4):
            if _is_text_row(gray, labels, row):
                box = _row_box(row, components if extend else None)
                found.append((box, _copies(labels, row) or _lattice(row, components)))
    return found


def _gradient_plates(gray: Gray, max_rhythm_area: float | None = None,
                     verify: Callable[[Gray, Box], bool] | None = None) -> list[Box]:
    """Blackhat + horizontal gradient regions of plate shape that contain a row of characters or,
    when no larger than max_rhythm_area (None: any size), a rhythm of strokes."""
    found: list[Box] = []
    for char_h in (6, 10, 20):
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (round(char_h * 2.5), round(char_h * 0.9)))
        blackhat = cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, kernel)
        # 16-bit gradient scaled straight into 8 bits: a float copy of a 12 MP picture is 48 MB.
        grad16 = cv2.Sobel(blackhat, cv2.CV_16S, 1, 0, ksize=3)
        low, high, _, _ = cv2.minMaxLoc(grad16)
        peak = max(abs(low), abs(high))
        if peak <= 0:
            continue
        grad8 = _u8(cv2.convertScaleAbs(grad16, alpha=255.0 / peak))
        del grad16, blackhat
        grad8 = _u8(cv2.GaussianBlur(grad8, (5, 5), 0))
        grad8 = _u8(cv2.morphologyEx(grad8, cv2.MORPH_CLOSE, kernel))
        _, mask = cv2.threshold(grad8, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
        mask = cv2.dilate(cv2.erode(mask, _SQUARE3, iterations=2), _SQUARE3, iterations=2)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for contour in contours:
            (_, _), (rw, rh), _ = cv2.minAreaRect(contour)
            long_side, short_side = max(rw, rh), min(rw, rh)
            if short_side < char_h * 0.6 or short_side > char_h * 3:
                continue
            if not 2.0 <= long_side / short_side <= 8.0:
                continue
            x, y, w, h = (int(v) for v in cv2.boundingRect(contour))
            box = _pad((x, y, w, h), 0.12, 0.3)
            small_enough = max_rhythm_area is None or box[2] * box[3] <= max_rhythm_area
            has_text = (verify or _contains_text)(gray, box)
            if has_text or (small_enough and _has_stroke_rhythm(gray, box)):
                found.append(box)
    return found


def _has_stroke_rhythm(gray: Gray, box: Box) -> bool:
    """Small or blurred plates, whose characters merge: dark/light alternations across the middle."""
    x, y, w, h = box
    height, width = gray.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
    crop = np.ascontiguousarray(gray[y0:y1, x0:x1])
    if crop.shape[0] < 6 or crop.shape[1] < 20:
        return False
    rows = crop.shape[0]
    band = np.ascontiguousarray(crop[rows // 3: 2 * rows // 3 + 1])
    # Threshold on the middle band: ink against plate, not plate against the car around it.
    level, _ = cv2.threshold(band, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    binary = (crop > level).astype(np.int8)
    margin_cols = crop.shape[1] // 10
    dark_share = 1.0 - float(binary[rows // 3: 2 * rows // 3 + 1, margin_cols:crop.shape[1] - margin_cols].mean())
    if not 0.15 <= dark_share <= 0.7:
        return False
    inner = band[:, margin_cols:crop.shape[1] - margin_cols].astype(np.float64)
    light, dark = inner[inner > level], inner[inner <= level]
    if light.size == 0 or dark.size == 0:
        return False
    # A plate is a uniform light field behind the ink; brick, foliage and window rows are not.
    contrast = float(light.mean() - dark.mean())
    if contrast < 30 or contrast < 2.0 * float(light.std()):
        return False
    per_row = np.abs(np.diff(binary, axis=1)).sum(axis=1).astype(np.float64)
    middle = float(np.median(per_row[rows // 3: 2 * rows // 3 + 1]))
    edge = max(1, rows // 7)
    # The outermost row of the padded box is often the car or road around the plate: skip it.
    margins = float(max(np.median(per_row[1:edge + 1]), np.median(per_row[-edge - 1:-1])))
    # Four or more characters make at least eight edges across the middle, but not the fine
    # rhythm of a texture, and a text band calms down above and below (texture does not).
    return 8 <= middle <= min(40, crop.shape[1] / 2.5) and margins <= 0.5 * middle


def _plate_text(gray: Gray, box: Box) -> bool:
    """What a plate holds: one row of four or more characters spanning at least PLATE_TEXT_SPAN of
    the box's width (a plate box is padded to the plate around its characters: a row's box is
    about 2.2 character heights tall, so characters count from a quarter of it)."""
    return _contains_text(gray, box, min_height=0.25, min_count=4, min_span=PLATE_TEXT_SPAN, distinct=True)


def _contains_text(gray: Gray, box: Box, min_height: float = 0.3, min_count: int = 3,
                   min_span: float = 0.0, *, distinct: bool = False) -> bool:
    """A row of min_count or more characters at least min_height of the box tall, spanning at
    least min_span of its width (and, when `distinct`, not copies of one shape)."""
    x, y, w, h = box
    height, width = gray.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
    crop = np.ascontiguousarray(gray[y0:y1, x0:x1])
    if crop.shape[0] < 8 or crop.shape[1] < 16:
        return False
    for mode in (cv2.THRESH_BINARY_INV, cv2.THRESH_BINARY):
        _, binary = cv2.threshold(crop, 0, 255, mode | cv2.THRESH_OTSU)
        glyphs, labels, _ = _glyphs(_u8(binary), max(4, round(crop.shape[0] * min_height)),
                                 round(crop.shape[0] * 0.95))
        for row in _rows(glyphs, min_count):
            span = max(g.x + g.w for g in row) - min(g.x for g in row)
            if (span >= min_span * crop.shape[1] and _is_text_row(crop, labels, row)
                    and not (distinct and _copies(labels, row))):
                return True
    return False


# --- both ------------------------------------------------------------------------------------


def detect(rgb: NDArray[np.uint8], faces: bool = True, plates: bool = True) -> Detections:
    """Faces and plates in an RGB photo, boxes in the photo's own coordinates.

    Plates first: their buffers are freed (and handed back) before the face net's, which stay
    allocated with the net for the next photo."""
    plate_boxes: list[Box] = []
    if plates:
        small_rgb, scale = _rgb_copy(rgb, PLATE_SIDE)
        gray = _u8(cv2.cvtColor(small_rgb, cv2.COLOR_RGB2GRAY))
        del small_rgb
        plate_boxes = _to_original(find_plates(gray), scale)
        del gray
        _release_memory()
    face_boxes: list[Box] = face_model.find_faces(rgb) if faces else []
    return Detections(faces=tuple(merge_overlapping(face_boxes)), plates=tuple(merge_overlapping(plate_boxes)))


def _rgb_copy(rgb: NDArray[np.uint8], max_side: int) -> tuple[NDArray[np.uint8], float]:
    """A copy of at most max_side px (the picture itself when smaller) and its scale."""
    height, width = rgb.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    if scale >= 1.0:
        return rgb, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), dtype=np.uint8), scale


def detect_haar(rgb: NDArray[np.uint8], faces: bool = True, plates: bool = True) -> Detections:
    """The stage this module replaced (Haar faces, unrestricted plate text at up to TEXT_SIDE px),
    kept for the benchmark's side-by-side comparison only."""
    gray = _u8(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
    face_boxes: list[Box] = []
    plate_boxes: list[Box] = []
    if faces:
        small, scale = detection_copy(gray, DETECT_SIDE)
        face_boxes = _to_original(haar_faces(small), scale)
    if plates:
        fine, fine_scale = detection_copy(gray, TEXT_SIDE)
        plate_boxes = _to_original(haar_plates(fine, DETECT_SIDE), fine_scale)
    return Detections(faces=tuple(merge_overlapping(face_boxes)), plates=tuple(merge_overlapping(plate_boxes)))


def merge_overlapping(boxes: Iterable[Box], min_overlap: float = 0.3) -> list[Box]:
    """Union boxes that overlap by at least min_overlap of the smaller one, until none do."""
    merged = [b for b in boxes if b[2] > 0 and b[3] > 0]
    changed = True
    while changed:
        changed = False
        out: list[Box] = []
        for box in merged:
            for k, other in enumerate(out):
                if _overlap_of_smaller(box, other) >= min_overlap:
                    out[k] = _union(box, other)
                    changed = True
                    break
            else:
                out.append(box)
        merged = out
    return merged


def _overlap_of_smaller(a: Box, b: Box) -> float:
    ix = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    iy = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if ix <= 0 or iy <= 0:
        return 0.0
    return (ix * iy) / min(a[2] * a[3], b[2] * b[3])


def _union(a: Box, b: Box) -> Box:
    x0, y0 = min(a[0], b[0]), min(a[1], b[1])
    x1, y1 = max(a[0] + a[2], b[0] + b[2]), max(a[1] + a[3], b[1] + b[3])
    return (x0, y0, x1 - x0, y1 - y0)
