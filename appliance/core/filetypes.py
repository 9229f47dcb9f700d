"""What a sent file is, read from its bytes: never from its name or declared type.

A file's format comes from its first bytes (magic numbers) and, for the zip-based
Office formats, from the names inside the zip. The name and the type the browser
declared are only claims: when either names a format we know and the content is
another, the upload is a type lie and is refused (`type_mismatch`), so a page renamed
`photo.png` never reaches an agent as a picture. A name whose extension we do not know
gets the right one appended (`notes.html` holding a PDF is kept as `notes.html.pdf`),
so a downloaded file never opens as something other than what it is.

Everything here is pure (or reads one local file): the service runs it in a thread.
"""

from __future__ import annotations

import re
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

from appliance.core.errors import ChatError, InvalidInput

KINDS = ("image", "pdf", "office", "zip", "text")  # what an admin allows, by family
DEFAULT_KINDS = ("image", "pdf", "office", "zip")
NAME_MAX = 120  # characters of a stored file name
_HEAD = 64  # bytes read to tell a format
_TEXT_SAMPLE = 64 * 1024  # bytes of a would-be text file checked for binary content
_ZIP_NAMES_MAX = 10_000  # entries of a zip's directory looked at for Office parts


class TypeMismatch(InvalidInput):
    """The name or the declared type claims another format than the content is."""

    code = "type_mismatch"


class TypeNotAllowed(ChatError):
    """A format the box does not take (or the admin switched off)."""

    code, status = "type_not_allowed", 415


@dataclass(frozen=True, slots=True)
class Format:
    """One format the box can recognise."""

    key: str  # png, jpeg, pdf, docx, ...
    kind: str  # its family, one of KINDS
    mime: str
    ext: str  # the extension a stored name ends with
    others: tuple[str, ...] = ()  # more extensions that name it


FORMATS = {
    f.key: f
    for f in (
        Format("png", "image", "image/png", "png"),
        Format("jpeg", "image", "image/jpeg", "jpg", ("jpeg", "jpe", "jfif")),
        Format("gif", "image", "image/gif", "gif"),
        Format("webp", "image", "image/webp", "webp"),
        Format("pdf", "pdf", "application/pdf", "pdf"),
        Format(
            "docx",
            "office",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "docx",
        ),
        Format(
            "xlsx",
            "office",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
        ),
        Format(
            "pptx",
            "office",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            "pptx",
        ),
        Format("doc", "office", "application/msword", "doc"),
        Format("xls", "office", "application/vnd.ms-excel", "xls"),
        Format("ppt", "office", "application/vnd.ms-powerpoint", "ppt"),
        Format("odt", "office", "application/vnd.oasis.opendocument.text", "odt"),
        Format("ods", "office", "application/vnd.oasis.opendocument.spreadsheet", "ods"),
        Format("odp", "office", "application/vnd.oasis.opendocument.presentation", "odp"),
        Format("zip", "zip", "application/zip", "zip"),
        Format("text", "text", "text/plain; charset=utf-8", "txt", ("csv", "log", "md")),
    )
}
_BY_EXT = {e: f.key for f in FORMATS.values() for e in (f.ext, *f.others)}
# Declared types browsers send, by the format they claim (a few send odd ones: Chrome on
# Windows declares .csv files as Excel's when Excel is installed).
_BY_DECLARED = {
    **{f.mime.split(";")[0]: f.key for f in FORMATS.values()},
    "image/jpg": "jpeg",
    "image/pjpeg": "jpeg",
    "application/x-zip-compressed": "zip",
    "application/x-zip": "zip",
    "text/csv": "text",
    "text/markdown": "text",
}
_ALSO_DECLARED = {("text", "xls")}  # (content, claimed) pairs that are not a lie
_GENERIC = {"", "application/octet-stream", "binary/octet-stream", "application/unknown"}
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the legacy Office container (also .msi, .msg)
_ODF = {
    b"application/vnd.oasis.opendocument.text": "odt",
    b"application/vnd.oasis.opendocument.spreadsheet": "ods",
    b"application/vnd.oasis.opendocument.presentation": "odp",
}
_OOXML = (("word/", "docx"), ("xl/", "xlsx"), ("ppt/", "pptx"))
_CONTROLS = re.compile(r"[\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")  # bidi too
_UNSAFE_NAME = re.compile(r"[/\\:*?\"<>|]+")


def clean_name(value: object) -> str:
    """Return a file name fit to store and offer for download (no path, no controls)."""
    if not isinstance(value, str):
        raise InvalidInput("name must be a string")
    text = unicodedata.normalize("NFC", value).replace("\\", "/").rsplit("/", 1)[-1]
    text = _UNSAFE_NAME.sub("_", _CONTROLS.sub("", text)).strip().strip(".").strip()
    if not text:
        raise InvalidInput("name is required")
    if len(text) > NAME_MAX:
        _, dot, ext = text.rpartition(".")
        keep = f".{ext}" if dot and 0 < len(ext) <= 8 else ""
        text = text[: NAME_MAX - len(keep)].rstrip() + keep
    return text


def extension(name: str) -> str:
    """Return a name's extension, lower case, without the dot ("" if none)."""
    stem, dot, ext = name.rpartition(".")
    return ext.lower() if dot and stem else ""


def _zip_format(path: Path) -> str:
    """Tell an Office document (OOXML or OpenDocument) from a plain zip."""
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()[:_ZIP_NAMES_MAX]
            names = [i.filename for i in infos]
            if names and names[0] == "mimetype" and infos[0].file_size <= 100:
                found = _ODF.get(archive.read("mimetype").strip())
                if found:
                    return found
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError):
        return "zip"  # begins like a zip but its directory cannot be read: not Office
    if "[Content_Types].xml" in names:
        for prefix, key in _OOXML:
            if any(n.startswith(prefix) for n in names):
                return key
    return "zip"


def _is_text(sample: bytes) -> bool:
    if b"\x00" in sample:
        return False
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as err:
        # A sample cut inside a character is still text.
        if err.start < len(sample) - 3:
            return False
        text = sample[: err.start].decode("utf-8")
    controls = sum(1 for c in text if unicodedata.category(c) == "Cc" and c not in "\t\r\n\f")
    return controls == 0


def sniff(path: Path, name: str) -> str | None:
    """Return the format key of a file's content, or None when it is none we know.

    `name` decides only between formats the bytes cannot tell apart: the legacy Office
    container holds documents, spreadsheets and slides (and installers: those stay out).
    """
    with path.open("rb") as handle:
        head = handle.read(_HEAD)
        if head.startswith(b"\x89PNG\r\n\x1a\n"):
            return "png"
        if head.startswith(b"\xff\xd8\xff"):
            return "jpeg"
        if head.startswith((b"GIF87a", b"GIF89a")):
            return "gif"
        if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            return "webp"
        if head.startswith(b"%PDF-"):
            return "pdf"
        if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
            return _zip_format(path)
        if head.startswith(_OLE2):
            ext = extension(name)
            return ext if ext in ("doc", "xls", "ppt") else None
        handle.seek(0)
        sample = handle.read(_TEXT_SAMPLE)
    return "text" if sample and _is_text(sample) else None


def claimed(name: str, declared: str) -> list[str]:
    """Return the formats the name and the declared type claim (known ones only)."""
    claims = []
    by_name = _BY_EXT.get(extension(name))
    if by_name:
        claims.append(by_name)
    media = declared.split(";")[0].strip().lower()
    if media not in _GENERIC and media in _BY_DECLARED:
        claims.append(_BY_DECLARED[media])
    return claims


def judge(found: str | None, name: str, declared: str, allowed: frozenset[str]) -> Format:
    """Return the format of a file, or raise: a type lie, or a format not allowed."""
    for claim in claimed(name, declared):
        if found != claim and (found, claim) not in _ALSO_DECLARED:
            what = FORMATS[found].ext.upper() if found else "not a format the box knows"
            raise TypeMismatch(
                f"the file is named or declared as {FORMATS[claim].ext.upper()} but its "
                f"content is {what}"
            )
    if found is None:
        raise TypeNotAllowed("the box takes pictures, PDF, Office documents and zip files only")
    fmt = FORMATS[found]
    if fmt.kind not in allowed:
        raise TypeNotAllowed(f"{fmt.ext.upper()} files are not accepted here")
    return fmt


def stored_name(name: str, fmt: Format) -> str:
    """Return the name to keep: the sender's, ending in an extension of its format."""
    if extension(name) in (fmt.ext, *fmt.others):
        return name
    joined = f"{name}.{fmt.ext}"
    return joined if len(joined) <= NAME_MAX else clean_name(joined)
