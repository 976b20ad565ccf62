"""Files that miss their last bytes (phones and interrupted copies write them): processed when every
pixel is in the file, marked `recovered_truncated`; refused as truncated when any pixel is missing.

The class of weakness is "a cut file decoded with invented pixels" (libjpeg fills what it lacks with
grey, Pillow's LOAD_TRUNCATED_IMAGES keeps whatever rows it got): the sweep and the property below
cut real encoded files at every length near their end and require, for every cut, either a refusal
or pixels identical to those of the whole file."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from functions.privacy.decoding import decode_photo
from functions.privacy.processing import process_photo
from functions.privacy.rejection import PhotoRejected

LIMITS = {"max_bytes": 10**8, "max_pixels": 10**8}

FORMATS: dict[str, tuple[str, dict[str, Any], str]] = {
    "jpeg-baseline": ("JPEG", {"quality": 88}, "RGB"),
    "jpeg-420-q60": ("JPEG", {"quality": 60, "subsampling": 2}, "RGB"),
    "jpeg-progressive": ("JPEG", {"quality": 90, "progressive": True}, "RGB"),
    "jpeg-grey": ("JPEG", {"quality": 85}, "L"),
    "png-rgb": ("PNG", {}, "RGB"),
    "png-rgba": ("PNG", {}, "RGBA"),
    "png-interlaced": ("PNG", {"interlace": 1}, "RGB"),
    "png-palette": ("PNG", {}, "P"),
}


def picture(seed: int, width: int = 97, height: int = 71) -> np.ndarray:
    """Structure and noise, so that every byte of the compressed data matters."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([(x * 255 // width), (y * 255 // height), ((x + y) * 3) % 256], axis=2)
    return np.clip(base + rng.integers(-40, 40, base.shape), 0, 255).astype(np.uint8)


def encoded(name: str, seed: int) -> bytes:
    fmt, options, mode = FORMATS[name]
    image = Image.fromarray(picture(seed))
    image = image.convert(mode) if mode != "P" else image.quantize(64)
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def outcome(data: bytes) -> tuple[str, np.ndarray | None]:
    try:
        decoded = decode_photo(data, **LIMITS)
    except PhotoRejected as refused:
        return refused.code, None
    return ("recovered" if decoded.recovered_truncated else "whole"), decoded.rgb


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_cut_near_the_end_is_either_refused_or_decoded_to_the_very_same_pixels(name: str) -> None:
    data = encoded(name, seed=7)
    kind, full = outcome(data)
    assert kind == "whole" and full is not None
    seen: dict[str, int] = {}
    for cut in [*range(1, 48), 64, 100, 300, len(data) // 2]:
        kind, rgb = outcome(data[:-cut])
        seen[kind] = seen.get(kind, 0) + 1
        assert kind in ("recovered", "truncated", "corrupt"), (cut, kind)
        if rgb is not None:
            assert np.array_equal(rgb, full), f"cut {cut}: pixels were invented"
    assert seen.get("recovered", 0) >= 2, seen  # at least the missing end marker is forgiven
    assert seen.get("truncated", 0) + seen.get("corrupt", 0) >= 5, seen


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(FORMATS)), seed=st.integers(0, 10_000), cut=st.integers(1, 400))
def test_a_cut_file_never_yields_pixels_the_whole_file_does_not_have(name: str, seed: int, cut: int) -> None:
    data = encoded(name, seed)
    _, full = outcome(data)
    assert full is not None
    kind, rgb = outcome(data[:-min(cut, len(data) - 1)])
    assert rgb is None or np.array_equal(rgb, full), (name, seed, cut, kind)


@pytest.mark.parametrize("name,cut", [("jpeg-baseline", 2), ("jpeg-baseline", 1), ("png-rgb", 12),
                                      ("png-interlaced", 5)])
def test_a_file_missing_only_its_end_is_processed_and_marked(name: str, cut: int) -> None:
    processed = process_photo(encoded(name, seed=3)[:-cut], blur=False, max_bytes=10**8)
    assert processed.recovered_truncated is True and (processed.width, processed.height) == (97, 71)


def test_a_whole_file_is_not_marked() -> None:
    assert process_photo(encoded("jpeg-baseline", seed=3), blur=False, max_bytes=10**8).recovered_truncated is False


def test_a_file_cut_inside_its_picture_stays_refused_with_its_reason() -> None:
    data = encoded("jpeg-baseline", seed=3)
    with pytest.raises(PhotoRejected) as refused:
        process_photo(data[:-300], blur=False, max_bytes=10**8)
    assert refused.value.code == "truncated"
