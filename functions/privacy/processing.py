"""The privacy stage's imaging core: untrusted photo bytes in, a clean re-encoded JPEG out.

No AWS here: the handler moves bytes between S3 prefixes and records the outcome. Any failure
raises PhotoRejected, and the caller quarantines the upload; nothing is ever treated as
"no faces found" because a detector failed, and nothing of the original file's metadata can
reach the output, which is re-encoded from pixels and then checked marker by marker.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from . import detection
from .comparison import PixelComparison, compare_before_after
from .decoding import decode_photo
from .memory import release_memory
from .metadata import assert_bare_jpeg
from .redaction import FACE_PADDING, PLATE_PADDING, obscure
from .rejection import REJECTION_CODES, PhotoRejected, RejectionCode

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_PIXELS",
    "JPEG_QUALITY",
    "REJECTION_CODES",
    "PhotoRejected",
    "PixelComparison",
    "ProcessedPhoto",
    "RejectionCode",
    "compare_before_after",
    "process_photo",
]

DEFAULT_MAX_BYTES = 15 * 1024 * 1024
DEFAULT_MAX_PIXELS = 50_000_000
JPEG_QUALITY = 90


@dataclass(frozen=True)
class ProcessedPhoto:
    """A photo safe to store and show: upright pixels, no metadata, faces and plates obscured."""

    data: bytes
    width: int
    height: int
    content_type: Literal["image/jpeg"]
    removed_metadata: tuple[str, ...]  # blocks present in the upload and absent from `data`
    orientation_applied: int  # the EXIF orientation (1..8) baked into the pixels
    faces_blurred: int
    plates_blurred: int
    coarse_location: tuple[float, float] | None  # from EXIF GPS, 2 decimals; kept off the file
    sha256: str  # of `data`
    recovered_truncated: bool = False  # the upload missed trailing bytes but held every pixel


def process_photo(
    data: bytes,
    *,
    blur: bool = True,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> ProcessedPhoto:
    """Strip, straighten, redact and re-encode a JPEG or PNG upload.

    Guarantees, or PhotoRejected:
    - the input is a JPEG or PNG by its bytes, within max_bytes and max_pixels (checked on the
      header before any pixel is allocated), complete and decodable;
    - the output is a baseline JPEG holding only a JFIF header, tables and one scan;
    - with blur, every face and plate the detectors find is obscured, and a detector failure is
      a rejection ("detector_error"), never an empty result;
    - any other error is a rejection too ("internal_error"): this function raises nothing else.
    """
    try:
        return _process(data, blur=blur, max_bytes=max_bytes, max_pixels=max_pixels)
    except PhotoRejected:
        raise
    except Exception as exc:
        raise PhotoRejected("internal_error", f"{type(exc).__name__}: {str(exc)[:200]}") from exc


def _process(data: bytes, *, blur: bool, max_bytes: int, max_pixels: int) -> ProcessedPhoto:
    decoded = decode_photo(data, max_bytes=max_bytes, max_pixels=max_pixels)
    inventory, recovered = decoded.inventory, decoded.recovered_truncated
    rgb = decoded.rgb
    del decoded  # from here `rgb` is the only reference: the encoder's copy replaces it, not adds to it
    release_memory()  # the decoder's buffers
    faces = plates = 0
    if blur:
        faces, plates = _redact(rgb)
    height, width = rgb.shape[:2]
    image = _as_image(rgb)
    del rgb
    output = _encode(image)
    assert_bare_jpeg(output)
    return ProcessedPhoto(
        data=output,
        width=int(width),
        height=int(height),
        content_type="image/jpeg",
        removed_metadata=inventory.blocks,
        orientation_applied=inventory.orientation,
        faces_blurred=faces,
        plates_blurred=plates,
        coarse_location=inventory.coarse_location,
        sha256=hashlib.sha256(output).hexdigest(),
        recovered_truncated=recovered,
    )


def _redact(rgb: NDArray[np.uint8]) -> tuple[int, int]:
    try:
        found = detection.detect(rgb)
        faces = obscure(rgb, found.faces, FACE_PADDING)
        plates = obscure(rgb, found.plates, PLATE_PADDING)
    except Exception as exc:
        # Unchecked pixels must never pass as "nothing to blur".
        raise PhotoRejected("detector_error", f"{type(exc).__name__}: {str(exc)[:200]}") from exc
    return faces, plates


def _as_image(rgb: NDArray[np.uint8]) -> Image.Image:
    try:
        return Image.fromarray(np.ascontiguousarray(rgb))
    except (ValueError, MemoryError) as exc:
        raise PhotoRejected("encode_error", f"{type(exc).__name__}: {str(exc)[:200]}") from exc


def _encode(image: Image.Image) -> bytes:
    try:
        out = io.BytesIO()
        # A fresh image carries no info dict: no EXIF, ICC, comment or DPI is written.
        image.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    except (OSError, ValueError, MemoryError) as exc:
        raise PhotoRejected("encode_error", f"{type(exc).__name__}: {str(exc)[:200]}") from exc
    finally:
        image.close()
    return out.getvalue()

