"""Pictures staff upload (the company logo, their own photo): checked and re-encoded.

The type is read from the bytes, never from a file name or a Content-Type header, and
only PNG, JPEG and WebP are taken. Every picture is decoded and encoded again, so what
is stored and served is pixels the box wrote itself: no metadata (EXIF location, a
camera serial), no trailing bytes a browser might sniff as HTML, no polyglot files.
The work is CPU-bound: callers run `logo` and `avatar` in a thread.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps

from appliance.core.errors import InvalidInput

UPLOAD_MAX = 512 * 1024  # bytes of an uploaded picture
PIXELS_MAX = 4096 * 4096  # pixels of an uploaded picture, checked before decoding
LOGO_BOX = (512, 160)  # px: a logo is shrunk to fit (wide logos are common)
AVATAR_SIDE = 256  # px: a photo is cropped square and shrunk to this
_JPEG_QUALITY = 85
_DIGEST_DIGITS = 16  # hex digits of a stored picture's content hash
# The first bytes of each accepted format (the content decides, not the name).
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
)
TYPES = ("image/png", "image/jpeg", "image/webp")  # what an upload may be


class ImageTooLarge(InvalidInput):
    code = "image_too_large"


class ImageType(InvalidInput):
    code = "image_type"


class ImageInvalid(InvalidInput):
    code = "image_invalid"


@dataclass(frozen=True, slots=True)
class Picture:
    """A re-encoded picture as stored: its bytes, media type and content hash."""

    data: bytes
    media_type: str
    digest: str

    @property
    def suffix(self) -> str:
        """Return the file name's extension for this picture's type."""
        return ".png" if self.media_type == "image/png" else ".jpg"


def sniff(data: bytes) -> str | None:
    """Return the format the bytes start like (PNG, JPEG or WEBP), or None."""
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


def _open(data: bytes) -> Image.Image:
    if len(data) > UPLOAD_MAX:
        raise ImageTooLarge(f"the picture is over {UPLOAD_MAX // 1024} KB")
    if not data:
        raise ImageInvalid("the upload is empty")
    kind = sniff(data)
    if kind is None:
        raise ImageType("the file is not a PNG, JPEG or WebP picture (whatever its name says)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=[kind])
            width, height = img.size
            if width * height > PIXELS_MAX or width < 1 or height < 1:
                raise ImageTooLarge(f"the picture is over {PIXELS_MAX} pixels")
            img.load()
    except (ImageTooLarge, ImageType):
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombWarning) as err:
        raise ImageInvalid("the picture cannot be read (damaged or cut short)") from err
    except Image.DecompressionBombError as err:
        raise ImageTooLarge(f"the picture is over {PIXELS_MAX} pixels") from err
    # A phone photo is stored sideways with a tag saying so; the tag goes, so turn it.
    return ImageOps.exif_transpose(img)


def _picture(data: bytes, media_type: str) -> Picture:
    digest = hashlib.sha256(data).hexdigest()[:_DIGEST_DIGITS]
    return Picture(data, media_type, digest)


def logo(data: bytes) -> Picture:
    """Check an uploaded logo and re-encode it as a PNG within LOGO_BOX (alpha kept)."""
    img = _open(data)
    img = img.convert("RGBA")
    img.thumbnail(LOGO_BOX, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    img.save(out, "PNG", optimize=True)
    return _picture(out.getvalue(), "image/png")


def avatar(data: bytes) -> Picture:
    """Check an uploaded photo; crop it square, shrink it and re-encode it as a JPEG."""
    img = _open(data)
    if img.mode in ("RGBA", "LA", "P", "PA"):
        img = img.convert("RGBA")
        flat = Image.new("RGB", img.size, (255, 255, 255))
        flat.paste(img, mask=img.getchannel("A"))
        img = flat
    else:
        img = img.convert("RGB")
    img = ImageOps.fit(img, (AVATAR_SIDE, AVATAR_SIDE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=_JPEG_QUALITY, optimize=True)
    return _picture(out.getvalue(), "image/jpeg")
