"""What a photo file carries besides its pixels, read from the bytes themselves.

The container is recognised by its magic bytes (never by a claimed type); JPEG segments and PNG
chunks are walked directly so that every metadata block is named, including the ones Pillow
ignores. The same walker checks the re-encoded output: only the blocks a bare JPEG needs may be
left (JFIF header, tables, frame, scan), or the photo is not released.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from PIL import ExifTags, Image

from .rejection import PhotoRejected

Container = Literal["jpeg", "png"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"

# Canonical order of the names reported in ProcessedPhoto.removed_metadata.
BLOCK_ORDER = (
    "exif",
    "gps",
    "identifiers",
    "maker_notes",
    "thumbnail",
    "xmp",
    "iptc",
    "icc",
    "comments",
    "text",
    "timestamp",
    "mpf",
    "vendor_segments",
    "trailing_data",
)

_XMP_PREFIXES = (b"http://ns.adobe.com/xap/1.0/\x00", b"http://ns.adobe.com/xmp/extension/\x00")
# EXIF tags that name or identify a person or a device.
_IDENTIFYING_IFD0 = (0x013B, 0x8298, 0x010F, 0x0110)  # Artist, Copyright, Make, Model
# CameraOwnerName, BodySerialNumber, LensSerialNumber, ImageUniqueID
_IDENTIFYING_EXIF = (0xA430, 0xA431, 0xA435, 0xA420)
_MAKER_NOTE = 0x927C
_ORIENTATION = 0x0112


def sniff(data: bytes) -> Container:
    """JPEG or PNG by magic bytes; anything else is refused with unsupported_type."""
    if data.startswith(JPEG_SIGNATURE):
        return "jpeg"
    if data.startswith(PNG_SIGNATURE):
        return "png"
    raise PhotoRejected("unsupported_type", f"content looks like {_describe(data)}")


def _describe(data: bytes) -> str:
    head = data[:32]
    if head[4:8] == b"ftyp":
        brand = head[8:12].decode("ascii", "replace").strip()
        return f"an ISO media file (brand {brand!r}, e.g. HEIC/AVIF)"
    known = (
        (b"GIF87a", "GIF"),
        (b"GIF89a", "GIF"),
        (b"II*\x00", "TIFF"),
        (b"MM\x00*", "TIFF"),
        (b"BM", "BMP"),
        (b"%PDF", "PDF"),
        (b"\x00\x00\x00\x0cjP", "JPEG 2000"),
    )
    for magic, name in known:
        if head.startswith(magic):
            return name
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WebP"
    if head.lstrip().startswith((b"<svg", b"<?xml")):
        return "SVG/XML"
    return "an unknown format"


# --- JPEG ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    marker: int  # the byte after 0xFF
    payload: bytes
    end: int  # offset just past the segment


_STANDALONE = {0x01, *range(0xD0, 0xD8)}
SOS, EOI, APP0, APP1, APP2, APP13, APP14, COM = 0xDA, 0xD9, 0xE0, 0xE1, 0xE2, 0xED, 0xEE, 0xFE


def jpeg_segments(data: bytes) -> Iterator[Segment]:
    """The marker segments from SOI up to and including SOS (whose payload is its header only)."""
    pos = 2
    end = len(data)
    while pos < end:
        if data[pos] != 0xFF:
            return  # garbage between segments: the decoder will judge the file
        while pos < end and data[pos] == 0xFF:
            pos += 1
        if pos >= end:
            return
        marker = data[pos]
        pos += 1
        if marker in _STANDALONE:
            yield Segment(marker, b"", pos)
            continue
        if marker == EOI or pos + 2 > end:
            return
        (length,) = struct.unpack(">H", data[pos:pos + 2])
        if length < 2:
            return
        payload = data[pos + 2:pos + length]
        pos += length
        yield Segment(marker, payload, pos)
        if marker == SOS:
            return


def _scan_end(data: bytes, scan_start: int) -> int | None:
    """Offset just past the EOI that closes the scan starting at scan_start, if any."""
    # Inside entropy-coded data 0xFF is always followed by 0x00 or a restart marker: the first
    # FF D9 after the scan header is the end of the image.
    eoi = data.find(b"\xff\xd9", scan_start)
    return None if eoi < 0 else eoi + 2


@dataclass(frozen=True)
class Inventory:
    """Metadata blocks found in a file and the two facts we keep from them."""

    blocks: tuple[str, ...]
    orientation: int  # EXIF orientation 1..8 (1 when absent or invalid)
    coarse_location: tuple[float, float] | None


def inventory(data: bytes, container: Container) -> Inventory:
    """Name every metadata block in the file and read orientation and coarse GPS from EXIF."""
    found: set[str] = set()
    exif_payload: bytes | None = None
    if container == "jpeg":
        scan_start: int | None = None
        for segment in jpeg_segments(data):
            marker, payload = segment.marker, segment.payload
            if marker == SOS:
                scan_start = segment.end
            if marker == APP1 and payload.startswith(b"Exif\x00\x00"):
                found.add("exif")
                exif_payload = exif_payload or payload
            elif marker == APP1 and payload.startswith(_XMP_PREFIXES):
                found.add("xmp")
            elif marker == APP13:
                found.add("iptc")  # Photoshop IRB: IPTC records, captions, bylines
            elif marker == APP2 and payload.startswith(b"ICC_PROFILE\x00"):
                found.add("icc")
            elif marker == APP2 and payload.startswith(b"MPF\x00"):
                found.add("mpf")  # extra images (previews, depth maps) after the first EOI
            elif marker == COM:
                found.add("comments")
            elif 0xE1 <= marker <= 0xEF and marker != APP14:
                found.add("vendor_segments")
        scan_end = None if scan_start is None else _scan_end(data, scan_start)
        if scan_end is not None and len(data) - scan_end > 2:
            found.add("trailing_data")
    else:
        for kind, payload in png_chunks(data):
            if kind == b"eXIf":
                found.add("exif")
                exif_payload = exif_payload or payload
            elif kind == b"iCCP":
                found.add("icc")
            elif kind == b"tIME":
                found.add("timestamp")
            elif kind in (b"tEXt", b"zTXt", b"iTXt"):
                keyword = payload.split(b"\x00", 1)[0].lower()
                if b"xmp" in keyword:
                    found.add("xmp")
                elif b"iptc" in keyword:
                    found.add("iptc")
                elif b"exif" in keyword:
                    found.add("exif")
                else:
                    found.add("text")
    orientation, location = 1, None
    if exif_payload is not None:
        orientation, location, extra = _read_exif(exif_payload)
        found.update(extra)
    return Inventory(
        blocks=tuple(name for name in BLOCK_ORDER if name in found),
        orientation=orientation,
        coarse_location=location,
    )


def _read_exif(payload: bytes) -> tuple[int, tuple[float, float] | None, set[str]]:
    exif = Image.Exif()
    try:
        exif.load(payload)
        orientation_raw = exif.get(_ORIENTATION, 1)
        gps = dict(exif.get_ifd(ExifTags.IFD.GPSInfo))
        sub = dict(exif.get_ifd(ExifTags.IFD.Exif))
        thumbnail = bool(exif.get_ifd(ExifTags.IFD.IFD1))
    except Exception:
        # Unreadable EXIF is dropped all the same; we only lose orientation and location.
        return 1, None, set()
    extra: set[str] = set()
    if gps:
        extra.add("gps")
    if any(tag in exif for tag in _IDENTIFYING_IFD0) or any(tag in sub for tag in _IDENTIFYING_EXIF):
        extra.add("identifiers")
    if _MAKER_NOTE in sub:
        extra.add("maker_notes")
    if thumbnail:
        extra.add("thumbnail")
    orientation = orientation_raw if isinstance(orientation_raw, int) and 1 <= orientation_raw <= 8 else 1
    return orientation, coarse_location(gps), extra


def coarse_location(gps: dict[int, object]) -> tuple[float, float] | None:
    """Latitude and longitude rounded to 2 decimals (about 1 km), or None when absent or invalid."""
    lat = _degrees(gps.get(2), gps.get(1), "S")
    lon = _degrees(gps.get(4), gps.get(3), "W")
    if lat is None or lon is None or abs(lat) > 90 or abs(lon) > 180:
        return None
    if lat == 0 and lon == 0:
        return None  # the default of cameras without a fix, not a place
    return (round(lat, 2) + 0.0, round(lon, 2) + 0.0)


def _degrees(value: object, ref: object, negative: str) -> float | None:
    if not isinstance(value, tuple | list) or len(value) != 3:
        return None
    try:
        d, m, s = (float(part) for part in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not all(math.isfinite(v) for v in (d, m, s)) or min(d, m, s) < 0:
        return None
    result = d + m / 60 + s / 3600
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "replace")
    if isinstance(ref, str) and ref.strip("\x00 ").upper() == negative:
        result = -result
    return result


# --- PNG -------------------------------------------------------------------------------------


def png_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(type, payload) of each chunk; stops at IEND or at the first malformed chunk."""
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        payload = data[pos + 8:pos + 8 + length]
        if len(payload) != length:
            return
        yield kind, payload
        if kind == b"IEND":
            return
        pos += 12 + length


def png_text(payload: bytes, kind: bytes) -> bytes:
    """The text of a tEXt/zTXt/iTXt chunk (for tests and diagnostics)."""
    _, _, rest = payload.partition(b"\x00")
    if kind == b"zTXt":
        return zlib.decompress(rest[1:])
    if kind == b"iTXt":
        compressed, rest = rest[0], rest[2:]
        _, _, rest = rest.partition(b"\x00")
        _, _, text = rest.partition(b"\x00")
        return zlib.decompress(text) if compressed else text
    return rest


# --- output check ----------------------------------------------------------------------------

_ALLOWED_OUTPUT = {0xC0, 0xC1, 0xC2, 0xC4, 0xDB, 0xDD, SOS}


def assert_bare_jpeg(data: bytes) -> None:
    """Raise metadata_residue unless `data` is SOI, JFIF, tables, frame, one scan, EOI: nothing else."""
    if not data.startswith(JPEG_SIGNATURE):
        raise PhotoRejected("metadata_residue", "output is not a JPEG")
    scan_start: int | None = None
    for segment in jpeg_segments(data):
        if segment.marker == APP0 and segment.payload.startswith(b"JFIF\x00"):
            continue
        if segment.marker not in _ALLOWED_OUTPUT:
            raise PhotoRejected("metadata_residue", f"output carries marker 0xFF{segment.marker:02X}")
        if segment.marker == SOS:
            scan_start = segment.end
    if scan_start is None or _scan_end(data, scan_start) != len(data):
        raise PhotoRejected("metadata_residue", "output has data after its image")
