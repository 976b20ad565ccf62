"""Privacy stage: whatever the colour model of the upload (CMYK, palette, transparency, 16-bit
grey, an embedded ICC profile), the output is 8-bit sRGB with the same colours and no profile."""

from __future__ import annotations

import io
import struct

import numpy as np
from PIL import Image

from functions.privacy.processing import process_photo
from tests.fixtures.images import scenes
from tests.unit.test_privacy_orientation import upright_reference


def _png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_given_a_cmyk_jpeg_then_the_output_is_rgb_with_the_same_colours():
    reference = upright_reference()
    buffer = io.BytesIO()
    Image.fromarray(reference).convert("CMYK").save(buffer, format="JPEG", quality=95)

    out = process_photo(buffer.getvalue(), blur=False)

    assert np.abs(scenes.decode(out.data).astype(np.int16) - reference).mean() < 6.0


def test_given_a_transparent_png_then_transparency_is_flattened_on_white():
    rgba = np.zeros((40, 60, 4), np.uint8)
    rgba[:, :30] = (200, 30, 30, 255)  # opaque red on the left, fully transparent on the right

    pixels = scenes.decode(process_photo(_png_bytes(Image.fromarray(rgba)), blur=False).data)

    assert pixels[20, 10, 0] > 180 and pixels[20, 10, 1] < 70
    assert (pixels[20, 50] > 245).all()


def test_given_a_16_bit_grey_png_then_it_is_scaled_to_8_bits():
    ramp = (np.linspace(0, 65535, 64)[None, :] * np.ones((32, 1))).astype(np.uint16)

    pixels = scenes.decode(process_photo(_png_bytes(Image.fromarray(ramp)), blur=False).data)

    assert pixels.shape == (32, 64, 3)
    assert pixels[16, 0].max() < 10 and pixels[16, 63].min() > 245
    assert np.all(np.diff(pixels[16, :, 0].astype(np.int16)) > -6)  # still a rising ramp


def test_given_a_palette_png_then_its_colours_are_kept():
    reference = upright_reference()
    palette = Image.fromarray(reference).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)

    pixels = scenes.decode(process_photo(_png_bytes(palette), blur=False).data)

    assert np.abs(pixels.astype(np.int16) - reference).mean() < 6.0


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def swapped_primaries_profile() -> bytes:
    """A minimal ICC v2 RGB matrix/TRC profile whose red and blue primaries are swapped."""
    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ \x00\x00\x00\x00" + _s15(x) + _s15(y) + _s15(z)

    text = b"swapped primaries\x00"
    tags = {
        b"desc": b"desc\x00\x00\x00\x00" + struct.pack(">I", len(text)) + text + b"\x00" * 12 + b"\x00" * 67,
        b"wtpt": xyz(0.9642, 1.0, 0.8249),
        b"rXYZ": xyz(0.1431, 0.0606, 0.7141),  # sRGB's blue
        b"gXYZ": xyz(0.3851, 0.7169, 0.0971),
        b"bXYZ": xyz(0.4361, 0.2225, 0.0139),  # sRGB's red
        b"rTRC": b"curv\x00\x00\x00\x00" + struct.pack(">IH", 1, 0x0233) + b"\x00\x00",
    }
    tags[b"gTRC"] = tags[b"bTRC"] = tags[b"rTRC"]
    table_size = 4 + 12 * len(tags)
    offset = 128 + table_size
    table, data = struct.pack(">I", len(tags)), b""
    for signature, raw in tags.items():
        body = raw + b"\x00" * (-len(raw) % 4)
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = 128 + table_size + len(data)
    header = (struct.pack(">I", size) + b"lcms" + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
              + b"\x00" * 12 + b"acsp" + b"\x00" * 24 + struct.pack(">I", 0)
              + _s15(0.9642) + _s15(1.0) + _s15(0.8249) + b"\x00" * 48)
    assert len(header) == 128
    return header + table + data


def test_given_an_embedded_colour_profile_then_pixels_are_converted_to_srgb_and_the_profile_dropped():
    red_as_stored = np.zeros((32, 48, 3), np.uint8)
    red_as_stored[:] = (220, 20, 20)
    upload = scenes.encode_jpeg(red_as_stored, quality=95, icc_profile=swapped_primaries_profile())

    out = process_photo(upload, blur=False)

    pixel = scenes.decode(out.data)[16, 24].astype(int)
    assert pixel[2] > pixel[0] + 100  # the stored "red" means blue under this profile
    assert "icc" in out.removed_metadata
    assert b"ICC_PROFILE" not in out.data
