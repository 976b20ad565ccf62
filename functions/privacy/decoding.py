"""Safe decoding of untrusted photo bytes into upright sRGB pixels.

Order matters: size limit, magic bytes, metadata inventory (a byte walk), header dimensions
(lazy open, no pixel allocated), structural verify, then the decode. A file that lies about its
size, stops early or is not an image is refused before it can exhaust memory.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from functools import cache
from typing import Final

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageCms

from .metadata import Container, Inventory, inventory, sniff
from .rejection import PhotoRejected, RejectionCode

_PIL_FORMAT: Final[dict[Container, str]] = {"jpeg": "JPEG", "png": "PNG"}

# EXIF orientation -> the transpose that makes the picture upright (as in Pillow's exif_transpose).
_UPRIGHT: Final[dict[int, Image.Transpose]] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# Errors Pillow and its codecs raise on malformed input.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, KeyError, TypeError,
                  ZeroDivisionError)


@dataclass(frozen=True)
class DecodedPhoto:
    rgb: NDArray[np.uint8]  # height x width x 3, upright, sRGB
    container: Container
    inventory: Inventory


def decode_photo(data: bytes, *, max_bytes: int, max_pixels: int) -> DecodedPhoto:
    """Decode untrusted bytes or raise PhotoRejected (never a Pillow or numpy error)."""
    if not data:
        raise PhotoRejected("empty")
    if len(data) > max_bytes:
        raise PhotoRejected("too_large", f"{len(data)} bytes > {max_bytes}")
    container = sniff(data)
    found = inventory(data, container)
    try:
        image = _open_checked(data, container, max_pixels)
    except PhotoRejected:
        raise
    except Image.DecompressionBombError as exc:
        raise PhotoRejected("decompression_bomb", str(exc)[:200]) from exc
    except MemoryError as exc:
        raise PhotoRejected("decompression_bomb", "out of memory while decoding") from exc
    except _DECODE_ERRORS as exc:
        code: RejectionCode = (
            "truncated" if "truncat" in str(exc).lower() or isinstance(exc, EOFError) else "corrupt"
        )
        raise PhotoRejected(code, f"{type(exc).__name__}: {str(exc)[:200]}") from exc
    try:
        rgb_image = _to_srgb(image)
        transpose = _UPRIGHT.get(found.orientation)
        if transpose is not None:
            rgb_image = rgb_image.transpose(transpose)
        rgb = np.array(rgb_image, dtype=np.uint8)
    except MemoryError as exc:
        raise PhotoRejected("decompression_bomb", "out of memory while converting") from exc
    except _DECODE_ERRORS as exc:
        raise PhotoRejected("corrupt", f"{type(exc).__name__}: {str(exc)[:200]}") from exc
    finally:
        image.close()
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise PhotoRejected("corrupt", f"unexpected pixel layout {rgb.shape}")
    return DecodedPhoto(rgb=rgb, container=container, inventory=found)


def _open_checked(data: bytes, container: Container, max_pixels: int) -> Image.Image:
    formats = [_PIL_FORMAT[container]]
    # Header only: Image.open reads dimensions without allocating pixels.
    with Image.open(io.BytesIO(data), formats=formats) as probe:
        width, height = probe.size
        if width <= 0 or height <= 0:
            raise PhotoRejected("corrupt", "zero-sized image")
        if width * height > max_pixels:
            raise PhotoRejected("decompression_bomb", f"{width}x{height} exceeds {max_pixels} pixels")
        probe.verify()  # PNG: chunk CRCs and stream structure; JPEG: header sanity
    image = Image.open(io.BytesIO(data), formats=formats)
    try:
        if image.size != (width, height):
            raise PhotoRejected("corrupt", "dimensions changed between reads")
        image.load()  # raises on truncated data (LOAD_TRUNCATED_IMAGES stays False)
    except BaseException:
        image.close()
        raise
    return image


def _to_srgb(image: Image.Image) -> Image.Image:
    """RGB pixels in sRGB: colour-managed through an embedded ICC profile, transparency on white."""
    mode = image.mode
    icc = image.info.get("icc_profile")
    if icc and mode in ("RGB", "CMYK", "L"):
        converted = _through_profile(image, icc)
        if converted is not None:
            return converted
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        wide = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if wide.max(initial=0) > 255 else 255.0
        grey = np.clip(wide * (255.0 / peak), 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if mode == "F":
        grey = np.clip(np.asarray(image, dtype=np.float64), 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    has_alpha = mode in ("RGBA", "LA", "La", "RGBa", "PA") or "transparency" in image.info
    if has_alpha:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


@cache
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _through_profile(image: Image.Image, icc: bytes) -> Image.Image | None:
    """Convert through the embedded profile to sRGB; None if the profile is unusable."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        description = ImageCms.getProfileDescription(source) or ""
        if image.mode == "RGB" and "srgb" in description.lower():
            return image.convert("RGB")
        converted = ImageCms.profileToProfile(image, source, _srgb_profile(), outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        # A broken profile costs colour accuracy, not privacy: fall back to plain conversion.
        return None
    return converted if isinstance(converted, Image.Image) else None
