"""A sent file's format comes from its bytes; names and declared types are only claims."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appliance.core import emoji, filetypes
from appliance.core.filetypes import TypeMismatch, TypeNotAllowed
from tests import file_samples as samples

ALL = frozenset(filetypes.KINDS)
DEFAULT = frozenset(filetypes.DEFAULT_KINDS)


def _file(tmp_path: Path, data: bytes, name: str = "f") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("data", "name", "found"),
    [
        (samples.jpeg_with_gps(), "a", "jpeg"),
        (samples.png_with_gps(), "a", "png"),
        (samples.gif_animated(), "a", "gif"),
        (samples.webp_with_gps(), "a", "webp"),
        (samples.pdf(), "a", "pdf"),
        (samples.docx(), "a", "docx"),
        (samples.xlsx(), "a", "xlsx"),
        (samples.odt(), "a", "odt"),
        (samples.plain_zip(), "a", "zip"),
        (b"order 1234\n\xe8\xae\xa2\xe5\x8d\x95\n", "a", "text"),
        (samples.html_page(), "a", "text"),
        (samples.exe(), "a", None),
        (bytes(range(256)) * 4, "a", None),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504), "old.doc", "doc"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504), "setup.msi", None),
        (b"PK\x03\x04 not really a zip", "a", "zip"),
    ],
)
def test_the_content_decides_the_format(tmp_path, data, name, found):
    assert filetypes.sniff(_file(tmp_path, data, name), name) == found


def test_a_name_or_declared_type_that_claims_another_format_is_a_type_lie():
    with pytest.raises(TypeMismatch) as err:
        filetypes.judge("text", "photo.png", "image/png", ALL)
    assert err.value.code == "type_mismatch"
    assert "PNG" in err.value.message
    with pytest.raises(TypeMismatch):
        filetypes.judge(None, "photo.png", "", DEFAULT)  # unknown content named .png
    with pytest.raises(TypeMismatch):
        filetypes.judge("pdf", "report", "image/jpeg", DEFAULT)  # only the declared type lies
    with pytest.raises(TypeMismatch):
        filetypes.judge("zip", "report.docx", "", DEFAULT)  # a zip dressed as Word


def test_claims_that_agree_or_say_nothing_pass():
    assert filetypes.judge("jpeg", "IMG_0001.JPEG", "image/jpeg", DEFAULT).mime == "image/jpeg"
    assert filetypes.judge("png", "screenshot", "application/octet-stream", DEFAULT).key == "png"
    assert filetypes.judge("pdf", "invoice.weird", "application/x-unknown", DEFAULT).key == "pdf"
    # Chrome on Windows declares .csv files as Excel's when Excel is installed.
    assert filetypes.judge("text", "list.csv", "application/vnd.ms-excel", ALL).key == "text"


def test_formats_outside_the_allowed_kinds_are_refused():
    with pytest.raises(TypeNotAllowed) as err:
        filetypes.judge(None, "program.exe", "", DEFAULT)
    assert (err.value.code, err.value.status) == ("type_not_allowed", 415)
    with pytest.raises(TypeNotAllowed):
        filetypes.judge("text", "notes.txt", "text/plain", DEFAULT)  # text is off by default
    with pytest.raises(TypeNotAllowed):
        filetypes.judge("zip", "a.zip", "", frozenset({"image"}))
    with pytest.raises(TypeNotAllowed):
        filetypes.judge("png", "a.png", "", frozenset())  # uploads off


def test_names_are_cleaned_and_end_in_their_formats_extension():
    assert filetypes.clean_name("C:\\Users\\me\\照片 1.jpg") == "照片 1.jpg"
    assert filetypes.clean_name("../../etc/passwd") == "passwd"
    assert filetypes.clean_name('a<b>:"c|d?*.pdf\x00') == "a_b_c_d_.pdf"
    long = filetypes.clean_name("长" * 300 + ".docx")
    assert len(long) == filetypes.NAME_MAX and long.endswith(".docx")
    for bad in ("", "...", "/", None, 5):
        with pytest.raises(filetypes.InvalidInput):
            filetypes.clean_name(bad)
    pdf = filetypes.FORMATS["pdf"]
    assert filetypes.stored_name("notes.html", pdf) == "notes.html.pdf"
    assert filetypes.stored_name("scan", pdf) == "scan.pdf"
    assert filetypes.stored_name("scan.PDF", pdf) == "scan.PDF"
    assert filetypes.stored_name("photo.jpeg", filetypes.FORMATS["jpeg"]) == "photo.jpeg"


def test_shortcodes_become_emoji_and_never_lengthen_a_message():
    assert emoji.convert("谢谢:smile: :+1:") == "谢谢\U0001f604 \U0001f44d"
    assert emoji.convert("meet at 12:30:00, ok:thumbsup:") == "meet at 12:30:00, ok:thumbsup:"
    assert emoji.convert(":nope: a:smile: :Smile:") == ":nope: a:smile: :Smile:"
    assert emoji.convert(":heart::fire:") == "\u2764\ufe0f\U0001f525"
    assert emoji.convert("no colons here") == "no colons here"
    for code, char in emoji.SHORTCODES.items():
        assert len(char.encode()) <= len(f":{code}:".encode()), code
        assert emoji.convert(f":{code}:") == char


@given(
    head=st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"%PDF-", b"PK\x03\x04"]),
    tail=st.binary(max_size=300),
    name=st.text(max_size=40),
    declared=st.text(max_size=40),
)
@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_bytes_and_claims_get_a_format_or_a_clear_refusal(tmp_path, head, tail, name, declared):
    path = tmp_path / "any"
    path.write_bytes(head + tail)
    try:
        clean = filetypes.clean_name(name)
    except filetypes.InvalidInput:
        clean = "file"
    found = filetypes.sniff(path, clean)
    try:
        fmt = filetypes.judge(found, clean, declared, DEFAULT)
    except (TypeMismatch, TypeNotAllowed):
        return
    assert fmt.key == found and fmt.kind in DEFAULT
    kept = filetypes.stored_name(clean, fmt)
    assert filetypes.extension(kept) in (fmt.ext, *fmt.others)
    assert len(kept) <= filetypes.NAME_MAX and "/" not in kept
