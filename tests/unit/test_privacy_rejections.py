"""Privacy stage: anything that is not a sound JPEG or PNG within limits is refused with a precise
code, by its bytes rather than its claimed type, and without exhausting memory."""

from __future__ import annotations

import io
import resource
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from functions.privacy import metadata
from functions.privacy.processing import REJECTION_CODES, PhotoRejected, process_photo
from functions.privacy.rejection import PhotoRejected as PhotoRejectedFromItsModule
from tests.fixtures.images import scenes


def refusal(data: bytes, **limits: int) -> PhotoRejected:
    with pytest.raises(PhotoRejected) as refused:
        process_photo(data, blur=False, **limits)
    assert refused.value.code in REJECTION_CODES
    return refused.value


def small_jpeg() -> bytes:
    return scenes.encode_jpeg(scenes.sample("chelsea")[:120, :160])


def small_png() -> bytes:
    return scenes.encode_png(scenes.sample("chelsea")[:120, :160])


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_claiming(width: int, height: int) -> bytes:
    """A valid-looking PNG header for a huge picture, with a few bytes of pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return metadata.PNG_SIGNATURE + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def jpeg_claiming(width: int, height: int) -> bytes:
    """A tiny real JPEG whose frame header is rewritten to declare another size."""
    data = bytearray(scenes.encode_jpeg(np.full((16, 16, 3), 90, np.uint8)))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def test_given_nothing_then_it_is_refused_as_empty():
    assert refusal(b"").code == "empty"


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("random bytes", np.random.default_rng(0).bytes(4096)),
        ("heic", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 200),
        ("avif", b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + b"\x00" * 200),
        ("gif", b"GIF89a" + b"\x01\x00\x01\x00" + b"\x00" * 100),
        ("tiff", b"II*\x00\x08\x00\x00\x00" + b"\x00" * 100),
        ("bmp", b"BM" + b"\x00" * 100),
        ("svg", b'<svg xmlns="http://www.w3.org/2000/svg"><text>hi</text></svg>'),
        ("pdf", b"%PDF-1.7\n" + b"\x00" * 100),
    ],
)
def test_given_a_file_that_is_not_jpeg_or_png_then_it_is_refused_as_unsupported(name, data):
    refused = refusal(data)

    assert refused.code == "unsupported_type"
    assert refused.message == "Only JPEG and PNG photos are accepted."


def test_given_a_webp_made_by_pillow_then_it_is_refused_as_unsupported():
    buffer = io.BytesIO()
    Image.fromarray(scenes.sample("chelsea")).save(buffer, format="WEBP")

    assert refusal(buffer.getvalue()).code == "unsupported_type"


def test_given_a_png_whatever_it_claims_to_be_then_it_is_accepted_and_re_encoded_as_jpeg():
    out = process_photo(small_png(), blur=False)

    assert out.content_type == "image/jpeg"
    assert out.data.startswith(b"\xff\xd8\xff")
    assert (out.width, out.height) == (160, 120)


def test_given_more_bytes_than_allowed_then_it_is_refused_before_being_read():
    data = small_jpeg()

    assert refusal(data, max_bytes=len(data) - 1).code == "too_large"
    assert process_photo(data, blur=False, max_bytes=len(data)).width == 160


@pytest.mark.parametrize("fraction", [0.3, 0.7, 0.98])
@pytest.mark.parametrize("make", [small_jpeg, small_png], ids=["jpeg", "png"])
def test_given_a_truncated_upload_then_it_is_refused_as_truncated(make, fraction):
    data = make()

    assert refusal(data[:int(len(data) * fraction)]).code == "truncated"


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xd8\xff\xe0" + b"\x00" * 60,  # a JPEG start and nothing sound after it
        jpeg_claiming(0, 0),
        metadata.PNG_SIGNATURE + b"\x00" * 40,
    ],
    ids=["jpeg header only", "jpeg of zero size", "png signature then zeros"],
)
def test_given_garbage_behind_a_valid_signature_then_it_is_refused_as_corrupt(data):
    assert refusal(data).code == "corrupt"


def test_given_a_png_with_a_damaged_chunk_then_it_is_refused_as_corrupt():
    data = bytearray(small_png())
    data[20] ^= 0xFF  # inside IHDR: its CRC no longer matches

    assert refusal(bytes(data)).code == "corrupt"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize(
    "data",
    [png_claiming(20_000, 20_000), jpeg_claiming(30_000, 30_000), jpeg_claiming(8_000, 7_000),
     png_claiming(1, 60_000_000)],
    ids=["png 20000x20000", "jpeg 30000x30000", "jpeg 8000x7000", "png 1x60M"],
)
def test_given_a_header_declaring_a_huge_picture_then_it_is_refused_without_allocating_it(data):
    """Decoding any of these would take 0.17 to 2.7 GB; the header check costs kilobytes."""
    assert len(data) < 2000
    rss_before = _peak_rss_mb()
    tracemalloc.start()
    try:
        refused = refusal(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert refused.code == "decompression_bomb"
    assert peak < 5 * 1024 * 1024
    assert _peak_rss_mb() - rss_before < 150


def test_given_a_lower_pixel_limit_then_it_applies():
    data = small_jpeg()  # 160 x 120 = 19200 pixels

    assert refusal(data, max_pixels=19_199).code == "decompression_bomb"
    assert process_photo(data, blur=False, max_pixels=19_200).height == 120


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.sampled_from(["jpeg", "png"]),
    edits=st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)),
                   min_size=1, max_size=8),
    cut=st.one_of(st.none(), st.integers(min_value=1)),
)
def test_given_any_damaged_upload_then_the_outcome_is_a_refusal_or_a_bare_jpeg(base, edits, cut):
    data = bytearray(_FUZZ_BASE[base])
    for position, value in edits:
        data[position % len(data)] = value
    if cut is not None:
        data = data[:cut % len(data) + 1]

    try:
        out = process_photo(bytes(data))
    except PhotoRejected as refused:
        assert refused.code in REJECTION_CODES
    else:
        metadata.assert_bare_jpeg(out.data)


_FUZZ_BASE = {
    "jpeg": scenes.encode_jpeg(scenes.sample("chelsea")[:48, :64], exif=b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x00"),
    "png": scenes.encode_png(scenes.sample("chelsea")[:48, :64]),
}


def test_a_refusal_carries_a_known_code_and_a_message_without_internals():
    refused = PhotoRejected("corrupt", "OSError: secret internals at 0xdeadbeef")

    assert refused.code == "corrupt"
    assert "0xdeadbeef" not in refused.message
    assert "0xdeadbeef" in refused.detail
    assert PhotoRejected is PhotoRejectedFromItsModule
    with pytest.raises(ValueError, match="unknown rejection code"):
        PhotoRejected("no_such_code")  # type: ignore[arg-type]


def test_given_an_unexpected_failure_inside_the_stage_then_it_is_still_a_refusal(monkeypatch):
    from functions.privacy import processing

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("unexpected")

    monkeypatch.setattr(processing, "decode_photo", broken)

    refused = refusal(small_jpeg())
    assert refused.code == "internal_error"
    assert "unexpected" in refused.detail and "unexpected" not in refused.message


def test_given_an_unexpected_failure_inside_the_comparison_then_it_is_a_refusal(monkeypatch):
    from functions.privacy import comparison

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("unexpected")

    monkeypatch.setattr(comparison, "_edges", broken)

    with pytest.raises(PhotoRejected) as refused:
        comparison.compare_before_after(small_jpeg(), small_png())
    assert refused.value.code == "internal_error"
