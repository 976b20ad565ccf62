"""Privacy stage: the EXIF orientation is baked into the pixels before the EXIF is dropped, so the
photo still shows upright once its metadata is gone."""

from __future__ import annotations

import io

import numpy as np
import piexif
import pytest
from PIL import Image

from functions.privacy.processing import process_photo
from tests.fixtures.images import scenes

# The transpose a camera stores the pixels with for each orientation value: the inverse of what
# a viewer applies (EXIF 2.32, tag 0x0112).
_STORED_AS = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def upright_reference() -> np.ndarray:
    """160x96, unmistakably asymmetric: red block top-left, blue bar along the bottom, green dot right."""
    rgb = np.full((96, 160, 3), 235, np.uint8)
    rgb[8:40, 8:56] = (220, 20, 20)
    rgb[80:90, 0:160] = (20, 40, 220)
    rgb[40:56, 136:152] = (20, 200, 40)
    return rgb


def stored_with_orientation(reference: np.ndarray, orientation: int) -> bytes:
    image = Image.fromarray(reference)
    transpose = _STORED_AS[orientation]
    if transpose is not None:
        image = image.transpose(transpose)
    exif = piexif.dump({"0th": {piexif.ImageIFD.Orientation: orientation}})
    return scenes.encode_jpeg(np.asarray(image), quality=95, exif=exif)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_given_a_photo_stored_rotated_when_processed_then_its_pixels_are_upright(orientation):
    reference = upright_reference()
    upload = stored_with_orientation(reference, orientation)

    out = process_photo(upload, blur=False)

    pixels = scenes.decode(out.data)
    assert pixels.shape == reference.shape
    assert (out.width, out.height) == (160, 96)
    assert out.orientation_applied == orientation
    difference = np.abs(pixels.astype(np.int16) - reference.astype(np.int16)).mean()
    assert difference < 4.0
    # And it is not only "close on average": the red block is where it belongs.
    assert pixels[24, 32, 0] > 180 and pixels[24, 32, 2] < 80
    assert pixels[24, 140, 0] > 180 and pixels[24, 140, 1] > 180  # top-right stays background


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_given_a_rotated_photo_when_processed_then_no_orientation_tag_is_left_to_rotate_it_again(orientation):
    out = process_photo(stored_with_orientation(upright_reference(), orientation), blur=False)

    with Image.open(io.BytesIO(out.data)) as image:
        assert 0x0112 not in image.getexif()


@pytest.mark.parametrize("value", [0, 9, 65535])
def test_given_an_invalid_orientation_value_then_the_pixels_are_left_as_stored(value):
    reference = upright_reference()
    exif = piexif.dump({"0th": {piexif.ImageIFD.Orientation: value}})

    out = process_photo(scenes.encode_jpeg(reference, quality=95, exif=exif), blur=False)

    assert out.orientation_applied == 1
    assert np.abs(scenes.decode(out.data).astype(np.int16) - reference).mean() < 4.0


def test_given_a_png_with_an_exif_orientation_then_it_is_applied_too():
    reference = upright_reference()
    stored = Image.fromarray(reference).transpose(Image.Transpose.ROTATE_90)
    exif = piexif.dump({"0th": {piexif.ImageIFD.Orientation: 6}})

    out = process_photo(scenes.encode_png(np.asarray(stored), exif=exif), blur=False)

    assert out.orientation_applied == 6
    assert np.abs(scenes.decode(out.data).astype(np.int16) - reference).mean() < 4.0

