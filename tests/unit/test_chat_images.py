"""Pictures are written anew from their pixels: no EXIF, XMP or comment survives."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import ExifTags, Image

from appliance.core import chat_images as images
from appliance.core.chat_images import ImageInvalid
from tests import file_samples as samples


def _clean(tmp_path: Path, data: bytes, fmt: str) -> images.Cleaned:
    path = tmp_path / "in"
    path.write_bytes(data)
    return images.clean(path, fmt)


def _no_metadata(data: bytes) -> Image.Image:
    assert samples.SECRET not in data and b"TestPhone" not in data
    image = Image.open(io.BytesIO(data))
    exif = image.getexif()
    assert not exif.get_ifd(ExifTags.IFD.GPSInfo) and not dict(exif)
    assert not {"exif", "xmp", "comment", "XML:com.adobe.xmp", "Comment"} & set(image.info)
    return image


def test_a_jpeg_loses_its_gps_position_and_stands_upright(tmp_path):
    original = samples.jpeg_with_gps(800, 600, orientation=6)  # taken with the phone turned
    assert Image.open(io.BytesIO(original)).getexif().get_ifd(ExifTags.IFD.GPSInfo)
    cleaned = _clean(tmp_path, original, "jpeg")
    image = _no_metadata(cleaned.data)
    assert image.format == "JPEG"
    assert (cleaned.width, cleaned.height) == image.size == (600, 800)  # rotated into the pixels
    assert cleaned.thumb is not None and cleaned.thumb_mime == "image/webp"
    thumb = _no_metadata(cleaned.thumb)
    assert max(thumb.size) == images.THUMB_SIDE and thumb.size[0] < thumb.size[1]


def test_png_webp_and_gif_lose_their_metadata_and_keep_what_they_draw(tmp_path):
    png = _no_metadata(_clean(tmp_path, samples.png_with_gps(), "png").data)
    assert png.format == "PNG" and png.mode == "RGBA"
    webp = _no_metadata(_clean(tmp_path, samples.webp_with_gps(), "webp").data)
    assert webp.format == "WEBP"
    gif = _clean(tmp_path, samples.gif_animated(4), "gif")
    animation = _no_metadata(gif.data)
    assert animation.format == "GIF" and animation.n_frames == 4
    assert gif.thumb is None  # small already: shown as it is


def test_huge_pictures_are_scaled_down(tmp_path):
    big = Image.new("RGB", (images.MAX_SIDE * 2, 1000), "white")
    out = io.BytesIO()
    big.save(out, "PNG")
    cleaned = _clean(tmp_path, out.getvalue(), "png")
    assert (cleaned.width, cleaned.height) == (images.MAX_SIDE, 500)


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (samples.jpeg_with_gps()[:300], "jpeg"),  # cut short
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "png"),  # the magic, then nothing
        (samples.small_png(), "jpeg"),  # a PNG where a JPEG was found: never mixed up
    ],
)
def test_what_does_not_decode_is_refused(tmp_path, data, fmt):
    with pytest.raises(ImageInvalid) as err:
        _clean(tmp_path, data, fmt)
    assert err.value.code == "image_invalid"


def test_a_decompression_bomb_is_refused_before_it_is_decoded(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "MAX_PIXELS", 100 * 100)
    with pytest.raises(ImageInvalid, match="pixels"):
        _clean(tmp_path, samples.small_png(200, 100), "png")
