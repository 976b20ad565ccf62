"""Privacy stage: nothing but pixels leaves. Regression for defect 8 (EXIF "stripping" kept the
metadata; originals were stored with EXIF intact)."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib

import numpy as np
import piexif
import pytest
from PIL import Image, ImageCms, PngImagePlugin

from functions.privacy import metadata, processing
from functions.privacy.processing import PhotoRejected, process_photo
from tests.fixtures.images import scenes

# Distinctive strings planted in every metadata block; none may appear in the output.
SECRETS = {
    "artist": b"Jane Q. Photographer",
    "copyright": b"Copyright Jane Q. 2026",
    "owner": b"OwnerName-Jane-Q",
    "serial": b"BODYSERIAL-9876543",
    "lens_serial": b"LENSSERIAL-112233",
    "maker_note": b"MAKERNOTE-PRIVATE-BLOB",
    "xmp": b"XMP-CREATOR-Jane-Q-xmp",
    "iptc": b"IPTC-BYLINE-Jane-Q",
    "comment": b"COM-COMMENT-home-address",
    "trailer": b"TRAILER-AFTER-EOI-secret",
    "thumbnail_exif": b"THUMBNAIL-EXIF-marker",
}
PARIS = ((48, 1), (51, 1), (2988, 100)), ((2, 1), (21, 1), (450, 100))  # 48.8583 N, 2.3458 E


def _exif(orientation: int = 1, lat_ref: bytes = b"N", lon_ref: bytes = b"E") -> bytes:
    thumbnail = scenes.encode_jpeg(np.full((16, 16, 3), 200, np.uint8), quality=50)
    dumped: bytes = piexif.dump({
        "0th": {
            piexif.ImageIFD.Artist: SECRETS["artist"],
            piexif.ImageIFD.Copyright: SECRETS["copyright"],
            piexif.ImageIFD.Make: b"ACME",
            piexif.ImageIFD.Model: b"PhoneCam 9",
            piexif.ImageIFD.Orientation: orientation,
        },
        "Exif": {
            piexif.ExifIFD.CameraOwnerName: SECRETS["owner"],
            piexif.ExifIFD.BodySerialNumber: SECRETS["serial"],
            piexif.ExifIFD.LensSerialNumber: SECRETS["lens_serial"],
            piexif.ExifIFD.MakerNote: SECRETS["maker_note"],
            piexif.ExifIFD.DateTimeOriginal: b"2026:05:01 10:11:12",
        },
        "GPS": {
            piexif.GPSIFD.GPSLatitudeRef: lat_ref,
            piexif.GPSIFD.GPSLatitude: PARIS[0],
            piexif.GPSIFD.GPSLongitudeRef: lon_ref,
            piexif.GPSIFD.GPSLongitude: PARIS[1],
        },
        "1st": {piexif.ImageIFD.ImageDescription: SECRETS["thumbnail_exif"]},
        "thumbnail": thumbnail,
    })
    return dumped


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _xmp_payload() -> bytes:
    packet = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>' + SECRETS["xmp"]
        + b"</dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    return b"http://ns.adobe.com/xap/1.0/\x00" + packet


def _iptc_payload() -> bytes:
    # Photoshop IRB resource 0x0404 holding an IPTC-IIM By-line (2:80) record.
    record = b"\x1c\x02\x50" + struct.pack(">H", len(SECRETS["iptc"])) + SECRETS["iptc"]
    if len(record) % 2:
        record += b"\x00"
    resource = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(record)) + record
    return b"Photoshop 3.0\x00" + resource


def _icc() -> bytes:
    return bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())


def loaded_jpeg(rgb: np.ndarray | None = None, orientation: int = 1) -> bytes:
    """A JPEG carrying EXIF (owner, serials, GPS, maker note, thumbnail), XMP, IPTC, ICC, a comment
    and data after the end of the image."""
    rgb = scenes.sample("coffee") if rgb is None else rgb
    base = scenes.encode_jpeg(rgb, exif=_exif(orientation), icc_profile=_icc(), comment=SECRETS["comment"])
    extra = _segment(0xE1, _xmp_payload()) + _segment(0xED, _iptc_payload())
    return base[:2] + extra + base[2:] + SECRETS["trailer"]


def _markers(data: bytes) -> set[int]:
    return {segment.marker for segment in metadata.jpeg_segments(data)}


def test_given_a_jpeg_full_of_metadata_when_processed_then_no_planted_string_survives_anywhere():
    upload = loaded_jpeg()
    for secret in SECRETS.values():
        assert secret in upload  # the fixture really carries them

    out = process_photo(upload)

    for name, secret in SECRETS.items():
        assert secret not in out.data, name
    for marker in (b"Exif\x00\x00", b"http://ns.adobe.com", b"Photoshop 3.0", b"8BIM", b"ICC_PROFILE", b"MPF"):
        assert marker not in out.data
    assert _markers(out.data) <= {0xE0, 0xDB, 0xC0, 0xC4, 0xDA}  # JFIF, tables, frame, scan
    assert not {0xE1, 0xE2, 0xED, 0xFE} & _markers(out.data)  # no APP1, APP2, APP13, COM
    assert out.data.endswith(b"\xff\xd9")


def test_given_a_jpeg_full_of_metadata_when_processed_then_every_block_is_named_as_removed():
    out = process_photo(loaded_jpeg(), blur=False)

    assert set(out.removed_metadata) >= {
        "exif", "gps", "identifiers", "maker_notes", "thumbnail", "xmp", "iptc", "icc", "comments",
        "trailing_data",
    }
    assert list(out.removed_metadata) == [b for b in metadata.BLOCK_ORDER if b in out.removed_metadata]


def test_given_the_output_when_read_back_then_pillow_finds_no_exif_icc_comment_or_xmp():
    out = process_photo(loaded_jpeg(), blur=False)

    with Image.open(io.BytesIO(out.data)) as image:
        assert image.format == "JPEG"
        assert len(image.getexif()) == 0
        for key in ("exif", "icc_profile", "comment", "xmp", "photoshop"):
            assert key not in image.info
        applist = getattr(image, "applist", [])
        assert [marker for marker, _ in applist] == ["APP0"]
    assert out.content_type == "image/jpeg"
    assert (out.width, out.height) == (600, 400)


def test_given_gps_in_exif_when_processed_then_a_coarse_location_is_kept_on_the_record_only():
    out = process_photo(loaded_jpeg(), blur=False)

    assert out.coarse_location == (48.86, 2.35)
    assert struct.pack(">II", 2988, 100) not in out.data  # the exact GPS rational is gone


@pytest.mark.parametrize(
    ("lat_ref", "lon_ref", "expected"),
    [(b"N", b"E", (48.86, 2.35)), (b"S", b"W", (-48.86, -2.35)), (b"S", b"E", (-48.86, 2.35))],
)
def test_given_hemisphere_references_when_read_then_signs_follow_them(lat_ref, lon_ref, expected):
    rgb = np.full((32, 48, 3), 120, np.uint8)
    upload = scenes.encode_jpeg(rgb, exif=_exif(lat_ref=lat_ref, lon_ref=lon_ref))

    assert process_photo(upload, blur=False).coarse_location == expected


@pytest.mark.parametrize(
    "gps",
    [
        {},
        {1: "N", 2: (0.0, 0.0, 0.0), 3: "E", 4: (0.0, 0.0, 0.0)},  # no fix: the camera's default
        {1: "N", 2: (95.0, 0.0, 0.0), 3: "E", 4: (2.0, 0.0, 0.0)},  # impossible latitude
        {1: "N", 2: (48.0, 51.0), 3: "E", 4: (2.0, 21.0, 4.5)},  # malformed
        {1: "N", 2: (float("nan"), 0.0, 0.0), 3: "E", 4: (2.0, 21.0, 4.5)},
    ],
)
def test_given_missing_or_invalid_gps_when_read_then_no_location(gps):
    assert metadata.coarse_location(gps) is None


def test_given_a_photo_without_metadata_when_processed_then_nothing_is_reported_removed():
    upload = scenes.encode_jpeg(scenes.sample("chelsea"))

    out = process_photo(upload, blur=False)

    assert out.removed_metadata == ()
    assert out.coarse_location is None
    assert out.orientation_applied == 1


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def test_given_a_png_with_exif_xmp_text_icc_and_time_when_processed_then_all_are_gone():
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", SECRETS["artist"].decode())
    info.add_itxt("XML:com.adobe.xmp", _xmp_payload()[29:].decode())
    info.add_text("Comment", SECRETS["comment"].decode(), zip=True)
    upload = scenes.encode_png(scenes.sample("chelsea"), pnginfo=info, exif=_exif(), icc_profile=_icc())
    time_chunk = _png_chunk(b"tIME", struct.pack(">HBBBBB", 2026, 5, 1, 10, 11, 12))
    upload = upload[:33] + time_chunk + upload[33:]  # right after IHDR

    out = process_photo(upload, blur=False)

    assert set(out.removed_metadata) >= {"exif", "gps", "identifiers", "xmp", "text", "icc", "timestamp"}
    for name in ("artist", "owner", "serial", "xmp", "comment"):
        assert SECRETS[name] not in out.data, name
    assert out.coarse_location == (48.86, 2.35)
    assert _markers(out.data) <= {0xE0, 0xDB, 0xC0, 0xC4, 0xDA}


def test_given_a_multi_picture_jpeg_when_processed_then_the_extra_pictures_are_dropped():
    first = Image.fromarray(scenes.sample("coffee"))
    second = Image.fromarray(np.full((50, 50, 3), 7, np.uint8))
    buffer = io.BytesIO()
    first.save(buffer, format="MPO", save_all=True, append_images=[second])

    out = process_photo(buffer.getvalue(), blur=False)

    assert "mpf" in out.removed_metadata
    assert out.data.count(b"\xff\xd8") == 1  # one picture only
    assert (out.width, out.height) == (600, 400)


def test_given_an_encoder_that_leaks_exif_when_processing_then_the_photo_is_refused(monkeypatch):
    """The output check is the last line of defence: a re-encode that carries any block fails."""
    leaky_exif = _exif()

    def leaky_encode(image: Image.Image) -> bytes:
        return scenes.encode_jpeg(np.asarray(image), exif=leaky_exif)

    monkeypatch.setattr(processing, "_encode", leaky_encode)

    with pytest.raises(PhotoRejected) as refused:
        process_photo(scenes.encode_jpeg(scenes.sample("coffee")), blur=False)
    assert refused.value.code == "metadata_residue"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda data: data[:2] + _segment(0xFE, b"a comment") + data[2:],
        lambda data: data[:2] + _segment(0xE1, _xmp_payload()) + data[2:],
        lambda data: data + b"appended",
        lambda data: data[:-2],
    ],
    ids=["comment", "xmp", "trailing data", "no end of image"],
)
def test_given_a_jpeg_with_anything_beyond_pixels_then_the_output_check_refuses_it(tamper):
    bare = process_photo(scenes.encode_jpeg(scenes.sample("coffee")), blur=False).data
    metadata.assert_bare_jpeg(bare)

    with pytest.raises(PhotoRejected) as refused:
        metadata.assert_bare_jpeg(tamper(bare))
    assert refused.value.code == "metadata_residue"


def test_given_the_same_upload_twice_then_the_output_and_its_digest_are_identical():
    upload = loaded_jpeg()

    first, second = process_photo(upload, blur=False), process_photo(upload, blur=False)

    assert first.data == second.data
    assert first.sha256 == second.sha256
    assert first.sha256 == hashlib.sha256(first.data).hexdigest()
