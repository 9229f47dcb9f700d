"""Files to send in tests, made here: pictures with a GPS position, documents, zips."""

from __future__ import annotations

import io
import zipfile

from PIL import ExifTags, Image, PngImagePlugin

# Where the test photos claim to be taken (Beijing), and the words hidden in metadata.
GPS = {
    ExifTags.GPS.GPSLatitudeRef: "N",
    ExifTags.GPS.GPSLatitude: (39.0, 54.0, 27.0),
    ExifTags.GPS.GPSLongitudeRef: "E",
    ExifTags.GPS.GPSLongitude: (116.0, 23.0, 29.0),
}
SECRET = b"visitor-home-address"  # in comments, XMP and text chunks


def _exif(image: Image.Image, orientation: int = 1) -> Image.Exif:
    exif = image.getexif()
    exif[ExifTags.Base.Make] = "TestPhone"
    exif[ExifTags.Base.Orientation] = orientation
    exif.get_ifd(ExifTags.IFD.GPSInfo).update(GPS)
    return exif


def jpeg_with_gps(width: int = 800, height: int = 600, orientation: int = 1) -> bytes:
    """A JPEG photo with EXIF (GPS position, camera), XMP and a comment."""
    image = Image.new("RGB", (width, height), (200, 40, 40))
    for x in range(0, width, 40):  # some detail, so the picture is not one colour
        image.paste((30, 90, 200), (x, 0, x + 20, height))
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">' + SECRET + b"</x:xmpmeta>"
    out = io.BytesIO()
    image.save(out, "JPEG", exif=_exif(image, orientation), comment=SECRET, xmp=xmp)
    return out.getvalue()


def png_with_gps(width: int = 640, height: int = 480) -> bytes:
    """A PNG with an eXIf chunk (GPS position) and a text chunk."""
    image = Image.new("RGBA", (width, height), (20, 160, 90, 255))
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", SECRET.decode())
    out = io.BytesIO()
    image.save(out, "PNG", exif=_exif(image), pnginfo=info)
    return out.getvalue()


def small_png(width: int = 64, height: int = 48) -> bytes:
    """A small PNG without metadata (no thumbnail is made for it)."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), (250, 200, 0)).save(out, "PNG")
    return out.getvalue()


def gif_animated(frames: int = 3) -> bytes:
    """An animated GIF with a comment."""
    images = [Image.new("RGB", (40, 30), (i * 60, 255 - i * 60, 90)) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(
        out, "GIF", save_all=True, append_images=images[1:], duration=120, loop=0, comment=SECRET
    )
    return out.getvalue()


def webp_with_gps() -> bytes:
    """A WebP with EXIF (GPS position)."""
    image = Image.new("RGB", (300, 200), (10, 10, 200))
    out = io.BytesIO()
    image.save(out, "WEBP", exif=_exif(image))
    return out.getvalue()


def pdf() -> bytes:
    """A one-page PDF (enough of one for its magic and a viewer)."""
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
        b"trailer<</Root 1 0 R>>\n%%EOF\n"
    )


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in entries.items():
            # A fixed time: the same bytes in every run and every test worker (xdist
            # compares the ids it derives from them).
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 12, 6, 0, 0, 0)), data)
    return out.getvalue()


def docx() -> bytes:
    """The parts that make a zip a Word document."""
    return _zip(
        {
            "[Content_Types].xml": b"<Types/>",
            "_rels/.rels": b"<Relationships/>",
            "word/document.xml": b"<w:document/>",
        }
    )


def xlsx() -> bytes:
    """The parts that make a zip an Excel workbook."""
    return _zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"})


def odt() -> bytes:
    """An OpenDocument text: its first entry names its type."""
    return _zip({"mimetype": b"application/vnd.oasis.opendocument.text", "content.xml": b"<x/>"})


def plain_zip() -> bytes:
    """A zip of some files."""
    return _zip({"readme.txt": b"hello", "data/list.csv": b"a,b\n1,2\n"})


def html_page() -> bytes:
    """What a page saved as photo.png really is."""
    return b"<!doctype html><html><body><script>alert(1)</script></body></html>\n"


def exe() -> bytes:
    """The first bytes of a Windows program."""
    return b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(200)
