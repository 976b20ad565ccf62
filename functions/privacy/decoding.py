"""Safe decoding of untrusted photo bytes into upright sRGB pixels.

Order matters: size limit, magic bytes, metadata inventory (a byte walk), header dimensions
(lazy open, no pixel allocated), structural verify, then the decode. A file that lies about its
size, stops early or is not an image is refused before it can exhaust memory.
"""

from __future__ import annotations

import io
import struct
import zlib
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
    recovered_truncated: bool = False  # the file missed trailing bytes; every pixel was still in it


def decode_photo(data: bytes, *, max_bytes: int, max_pixels: int) -> DecodedPhoto:
    """Decode untrusted bytes or raise PhotoRejected (never a Pillow or numpy error)."""
    if not data:
        raise PhotoRejected("empty")
    if len(data) > max_bytes:
        raise PhotoRejected("too_large", f"{len(data)} bytes > {max_bytes}")
    container = sniff(data)
    found = inventory(data, container)
    recovered = False
    try:
        try:
            image = _open_checked(data, container, max_pixels)
            # Pillow reads a PNG whose end chunk is cut short without complaint: still a cut file.
            recovered = container == "png" and _PNG_END not in data
        except _DECODE_ERRORS as exc:
            # A file that misses trailing bytes (phones do this) is still whole when every pixel is in it.
            repaired = _whole_without_its_end(data, container, max_pixels)
            if repaired is None:
                raise exc from None
            image = _open_checked(repaired, container, max_pixels)
            recovered = True
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
    return DecodedPhoto(rgb=rgb, container=container, inventory=found, recovered_truncated=recovered)


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


# --- files that miss their last bytes -----------------------------------------------------------

_JPEG_END: Final = b"\xff\xd9"
_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_PNG_END: Final = b"\x00\x00\x00\x00IEND\xaeB`\x82"
# Bytes the entropy decoder would read if the file lacked them. The two differ in every bit (and from
# the zero bits the decoder reads at a premature marker): all three decode alike only when the
# decoder never needed a bit past the end of the file.
_JPEG_PROBES: Final = (b"\x55\xaa" * 64, b"\xaa\x55" * 64)
_PNG_CHANNELS: Final = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_ADAM7: Final = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def _ends(data: bytes, container: Container) -> bool:
    """Whether the file ends as its format ends (JPEG: the EOI marker; PNG: the IEND chunk)."""
    return data.endswith(_JPEG_END if container == "jpeg" else _PNG_END)


def _whole_without_its_end(data: bytes, container: Container, max_pixels: int) -> bytes | None:
    """The file made well-formed again when only its end is missing and every pixel is in it; None
    otherwise (a file cut inside its picture data stays refused: its bottom would be invented)."""
    if _ends(data, container):
        return None
    if container == "jpeg":
        return _jpeg_whole(data, max_pixels)
    return _png_whole(data, max_pixels)


def _jpeg_whole(data: bytes, max_pixels: int) -> bytes | None:
    """End the file with EOI (what Pillow's LOAD_TRUNCATED_IMAGES does for JPEG, without its global
    switch), then check that the decoder did not need a byte the file lacked: the picture decoded
    with the end marker right after the data and with other bytes before it must be identical."""
    body = data.rstrip(b"\xff")  # fill bytes, or the first half of the missing end marker
    ended = body + _JPEG_END
    try:
        first = _pixels(ended, "JPEG", max_pixels)
        if first is None:
            return None
        for probe in _JPEG_PROBES:
            probed = _pixels(body + probe + _JPEG_END, "JPEG", max_pixels)
            if probed is None or not np.array_equal(first, probed):
                return None
            del probed
    except _DECODE_ERRORS:
        return None
    return ended


def _pixels(data: bytes, pil_format: str, max_pixels: int) -> NDArray[np.uint8] | None:
    with Image.open(io.BytesIO(data), formats=[pil_format]) as image:
        if image.size[0] * image.size[1] > max_pixels:
            return None
        image.load()
        return np.asarray(image)


def _png_whole(data: bytes, max_pixels: int) -> bytes | None:
    """Rebuild the PNG from its header chunks and its image data when the compressed stream is
    complete (zlib reached its end and checked its Adler-32) and inflates to exactly the size the
    header announces; chunks after the image data are metadata and are dropped anyway."""
    if not data.startswith(_PNG_SIGNATURE):
        return None
    position, header, image_data, ihdr = len(_PNG_SIGNATURE), [], [], b""
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        end = position + 8 + length
        if kind == b"IDAT":
            image_data.append(data[position + 8:min(end, len(data))])
        elif kind == b"IEND" or image_data:
            break
        elif end + 4 > len(data):
            return None  # cut inside a header chunk
        else:
            header.append(data[position:end + 4])
            if kind == b"IHDR":
                ihdr = data[position + 8:end]
        if end + 4 > len(data):
            break
        position = end + 4
    expected = _png_data_size(ihdr, max_pixels)
    if expected is None or not image_data:
        return None
    stream = b"".join(image_data)
    inflater = zlib.decompressobj()
    inflated, pending = 0, stream
    try:
        while pending and not inflater.eof and inflated <= expected:
            inflated += len(inflater.decompress(pending, 1 << 20))
            pending = inflater.unconsumed_tail
    except zlib.error:
        return None
    if not inflater.eof or inflated != expected:
        return None
    used = stream[:len(stream) - len(inflater.unused_data)]
    return _PNG_SIGNATURE + b"".join(header) + _png_chunk(b"IDAT", used) + _PNG_END


def _png_data_size(ihdr: bytes, max_pixels: int) -> int | None:
    """The inflated size of the image data the header announces (filter bytes included)."""
    if len(ihdr) != 13:
        return None
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", ihdr)
    channels = _PNG_CHANNELS.get(colour)
    if channels is None or width == 0 or height == 0 or width * height > max_pixels:
        return None
    bits = channels * depth

    def size(w: int, h: int) -> int:
        return 0 if w == 0 or h == 0 else h * (1 + (w * bits + 7) // 8)

    if interlace == 0:
        return size(width, height)
    return sum(size((width - x + dx - 1) // dx, (height - y + dy - 1) // dy) for x, y, dx, dy in _ADAM7)


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


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
