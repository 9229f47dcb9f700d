"""Pictures sent in chats, re-encoded before they are kept: no metadata survives.

A phone photo carries EXIF (the GPS position where it was taken, the device, the
owner's name) and sometimes XMP or comments; a visitor rarely knows it, and a photo of
a nameplate must not tell the company where the visitor lives. So every picture is
decoded and written anew by Pillow from its pixels only: the EXIF orientation is applied
to the pixels first (the picture still stands up), then nothing but the pixels, the
colour profile and what an animation needs (frame durations, loop, transparency) is
written. Decoding also proves the file is the picture it claims to be.

Pictures larger than `MAX_SIDE` are scaled down (a chat shows them on a screen), JPEGs
decoded at a reduced scale right away (libjpeg's DCT scaling) so a 50-megapixel photo
does not cost its full size in memory. A thumbnail (`THUMB_SIDE`) is made for the chat
list when the picture is larger than that.

Everything here is blocking: the files service runs it in a thread, one at a time.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError, features

from appliance.core.errors import InvalidInput

MAX_SIDE = 4096  # px: longer sides are scaled down to this
MAX_PIXELS = 40_000_000  # px of a decoded picture (after a JPEG's reduced decoding)
THUMB_SIDE = 480  # px: the thumbnail's longer side (a 240 px bubble on a 2x screen)
_JPEG_QUALITY = 88
_THUMB_QUALITY = 80
# Keys of Image.info that are pixels' business, not metadata: kept when writing anew.
_KEEP = ("icc_profile", "transparency", "duration", "loop", "background")
_PILLOW_FORMAT = {"png": "PNG", "jpeg": "JPEG", "gif": "GIF", "webp": "WEBP"}


class ImageInvalid(InvalidInput):
    """The bytes begin like a picture but do not decode as one (damaged, or a trick)."""

    code = "image_invalid"


@dataclass(frozen=True, slots=True)
class Cleaned:
    """A picture written anew, and its thumbnail (None when it is small already)."""

    data: bytes
    width: int
    height: int
    thumb: bytes | None
    thumb_mime: str


def _open(path: Path, fmt: str) -> Image.Image:
    try:
        image = Image.open(path)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ImageInvalid("the picture is damaged or not a picture") from err
    except Image.DecompressionBombError as err:
        raise ImageInvalid(f"the picture has more than {MAX_PIXELS:,} pixels") from err
    try:
        if image.format != _PILLOW_FORMAT[fmt]:
            raise ImageInvalid(f"the picture's content is not {fmt.upper()}")
        if fmt == "jpeg":
            image.draft("RGB", (MAX_SIDE, MAX_SIDE))  # decode at 1/2, 1/4 or 1/8 if larger
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise ImageInvalid(f"the picture has more than {MAX_PIXELS:,} pixels")
        image.load()
    except BaseException as err:
        image.close()
        if isinstance(err, (OSError, SyntaxError, ValueError)):
            raise ImageInvalid("the picture is damaged or not a picture") from err
        raise
    return image


def _bare(image: Image.Image) -> Image.Image:
    """Return a copy that holds pixels and what drawing them needs, nothing else."""
    clean = image.copy()
    clean.info = {k: image.info[k] for k in _KEEP if k in image.info}
    return clean


def _frames(image: Image.Image) -> list[Image.Image]:
    frames = []
    for index in range(getattr(image, "n_frames", 1)):
        image.seek(index)
        frame = _bare(image)
        frame.info["duration"] = image.info.get("duration", 100)
        frames.append(frame)
    return frames


def _encode(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    profile = image.info.get("icc_profile")
    extra = {"icc_profile": profile} if profile else {}
    if fmt == "jpeg":
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(out, "JPEG", quality=_JPEG_QUALITY, **extra)
    elif fmt == "png":
        image.save(out, "PNG", **extra)
    elif fmt == "webp":
        image.save(out, "WEBP", quality=_JPEG_QUALITY, **extra)
    else:
        raise AssertionError(fmt)
    return out.getvalue()


def _thumbnail(image: Image.Image) -> tuple[bytes, str]:
    alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGBA" if alpha else "RGB")
    # A box filter down to twice the size first, then the resampling: half the time of
    # resampling the whole picture (bench/README.md, "Upload benchmark").
    factor = max(1, max(image.size) // (THUMB_SIDE * 2))
    small = image.reduce(factor) if factor > 1 else image.copy()
    small.thumbnail((THUMB_SIDE, THUMB_SIDE))
    out = io.BytesIO()
    if features.check("webp"):
        small.convert("RGBA" if alpha else "RGB").save(out, "WEBP", quality=_THUMB_QUALITY)
        return out.getvalue(), "image/webp"
    if alpha:
        small.convert("RGBA").save(out, "PNG")
        return out.getvalue(), "image/png"
    small.convert("RGB").save(out, "JPEG", quality=_THUMB_QUALITY)
    return out.getvalue(), "image/jpeg"


def clean(path: Path, fmt: str) -> Cleaned:
    """Decode a picture and write it anew without metadata; make its thumbnail."""
    with _open(path, fmt) as image:
        frames = getattr(image, "n_frames", 1)
        if frames * image.size[0] * image.size[1] > MAX_PIXELS:  # every frame is decoded
            raise ImageInvalid(f"the animation has more than {MAX_PIXELS:,} pixels in all")
        animated = frames > 1
        if fmt == "gif" or (fmt == "webp" and animated):
            drawn = _frames(image)
            first = drawn[0]
            out = io.BytesIO()
            first.save(
                out,
                "GIF" if fmt == "gif" else "WEBP",
                save_all=True,
                append_images=drawn[1:],
                loop=image.info.get("loop", 0),
                duration=[f.info["duration"] for f in drawn],
            )
            data, picture = out.getvalue(), first
        else:
            picture = ImageOps.exif_transpose(image)  # a new image: its info is ours to set
            picture.info = {k: image.info[k] for k in _KEEP if k in image.info}
            if max(picture.size) > MAX_SIDE:
                picture.thumbnail((MAX_SIDE, MAX_SIDE))
            data = _encode(picture, fmt)
        width, height = picture.size
        thumb, thumb_mime = (None, "")
        if max(width, height) > THUMB_SIDE:
            thumb, thumb_mime = _thumbnail(picture)
    return Cleaned(data, width, height, thumb, thumb_mime)
