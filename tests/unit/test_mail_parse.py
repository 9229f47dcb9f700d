"""Reading incoming mail: Chinese charsets, encoded words, HTML, attachments, machines;
and the threading tokens."""

from __future__ import annotations

import base64
from email.message import EmailMessage

from appliance.core.mail_parse import ATTACHMENT_MAX, header_text, parse
from appliance.core.mail_thread import Threading, number_in_subject, subject_tag

# 镕 and 喆 are in GBK/GB18030 but not in GB2312: clients label such text "gb2312".
_GBK_TEXT = "您好，朱镕基和张喆的订单还没到。"
_BIG5_TEXT = "您好，請問訂單何時到貨？"


def _mail(body: bytes, charset: str, subject: str = "hello", extra: str = "") -> bytes:
    head = (
        f"From: =?utf-8?b?{base64.b64encode('王小明'.encode()).decode()}?= <wang@example.test>\r\n"
        f"To: help@example.test\r\nSubject: {subject}\r\nMessage-ID: <m1@example.test>\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset={charset}\r\n"
        f"Content-Transfer-Encoding: base64\r\n{extra}\r\n"
    )
    return head.encode() + base64.encodebytes(body)


def test_gbk_labelled_gb2312_reads_as_gb18030() -> None:
    got = parse(_mail(_GBK_TEXT.encode("gbk"), "gb2312"))
    assert got.text == _GBK_TEXT
    assert (got.sender, got.sender_name) == ("wang@example.test", "王小明")
    assert got.automatic == ""


def test_gbk_gb18030_and_big5_bodies() -> None:
    assert parse(_mail(_GBK_TEXT.encode("gbk"), "GBK")).text == _GBK_TEXT
    assert parse(_mail(_GBK_TEXT.encode("gb18030"), "gb18030")).text == _GBK_TEXT
    assert parse(_mail(_BIG5_TEXT.encode("big5"), "big5")).text == _BIG5_TEXT


def test_encoded_word_headers_in_chinese_charsets() -> None:
    gbk = base64.b64encode("订单镕问题".encode("gbk")).decode()
    big5 = base64.b64encode("訂單".encode("big5")).decode()
    subject = f"=?gb2312?B?{gbk}?= =?big5?B?{big5}?="
    got = parse(_mail(b"x", "utf-8", subject=subject))
    assert got.subject == "订单镕问题訂單"
    assert header_text("=?GBK?Q?=C4=FA=BA=C3?=") == "您好"


def test_raw_eight_bit_gbk_header_is_read() -> None:
    raw = b"From: a@example.test\r\nSubject: " + "退款".encode("gbk") + b"\r\n\r\nbody\r\n"
    assert parse(raw).subject == "退款"


def test_html_is_sanitised_and_a_text_version_kept() -> None:
    msg = EmailMessage()
    msg["From"] = "a@example.test"
    msg["Subject"] = "html"
    msg.set_content(
        "<p>您好<script>alert(1)</script></p><p onclick='x()'>第二段<br>"
        "<a href='javascript:evil()'>点</a><img src='cid:logo1'></p>",
        subtype="html",
    )
    got = parse(bytes(msg))
    assert "script" not in got.html and "onclick" not in got.html
    assert "javascript" not in got.html
    assert 'src="cid:logo1"' in got.html
    assert got.text.splitlines()[:2] == ["您好", "第二段"]


def test_attachments_and_inline_images_are_taken_out_bounded() -> None:
    msg = EmailMessage()
    msg["From"] = "a@example.test"
    msg["Subject"] = "files"
    msg.set_content("see files")
    msg.add_attachment(b"%PDF-1.4 small", maintype="application", subtype="pdf",
                       filename="发票.pdf")  # fmt: skip
    msg.add_attachment(b"\x89PNG" + b"0" * 10, maintype="image", subtype="png", cid="<logo1>")
    msg.add_attachment(b"0" * (ATTACHMENT_MAX + 1), maintype="application",
                       subtype="zip", filename="big.zip")  # fmt: skip
    got = parse(bytes(msg))
    assert got.text == "see files"
    assert [(a.name, a.content_type) for a in got.attachments] == [
        ("发票.pdf", "application/pdf"),
        ("part-2", "image/png"),
    ]
    assert got.attachments[1].cid == "logo1"
    assert got.dropped == ("big.zip: too_large",)


def test_machines_and_lists_are_recognised() -> None:
    cases = {
        "Auto-Submitted: auto-replied\r\n": "auto_submitted",
        "Precedence: bulk\r\n": "precedence",
        "Precedence: junk\r\n": "precedence",
        "List-Id: <news.example.test>\r\n": "list",
        "X-Autoreply: yes\r\n": "auto_reply",
        "Return-Path: <>\r\n": "null_sender",
        "Auto-Submitted: no\r\n": "",
    }
    for header, reason in cases.items():
        assert parse(_mail(b"x", "utf-8", extra=header)).automatic == reason, header
    bounce = b"From: MAILER-DAEMON@example.test\r\nSubject: failure\r\n\r\nx\r\n"
    assert parse(bounce).automatic == "bounce"


def test_malformed_mime_reads_as_far_as_it_can() -> None:
    raw = (
        b"From: a@example.test\r\nSubject: =?gb2312?B?not-base64!?=\r\n"
        b'Content-Type: multipart/mixed; boundary="zz"\r\n\r\n--zz\r\n'
        b"Content-Type: text/plain; charset=x-unknown\r\n\r\n\xc4\xfa\xba\xc3\r\n"
    )
    got = parse(raw)
    assert got.sender == "a@example.test"
    assert got.text == "您好"


def test_tokens_and_markers_are_signed() -> None:
    threading = Threading(b"k" * 32)
    mid = threading.message_id(42, "example.test")
    assert threading.ticket_of_id(mid.strip("<>")) == 42
    forged = mid.strip("<>").replace("cb.42.", "cb.43.")
    assert threading.ticket_of_id(forged) is None
    assert Threading(b"x" * 32).ticket_of_id(mid.strip("<>")) is None
    assert threading.ticket_of_ids(("other@x", mid.strip("<>"))) == 42
    body = f"Thanks!\n> old text\n> {threading.marker(7)}\n"
    assert threading.ticket_of_marker(body) == 7
    assert threading.ticket_of_marker(body.replace("cb.7.", "cb.8.")) is None
    assert number_in_subject(f"Re: 问题 {subject_tag('20261206-0007')}") == "20261206-0007"
    assert number_in_subject("Re: [#20261206-0007]") == "20261206-0007"
    assert number_in_subject("no tag") is None


def test_attachments_past_the_limit_are_named_up_to_a_bound_and_counted() -> None:
    from appliance.core.mail_parse import ATTACHMENTS_MAX, DROPPED_MAX, parse

    parts = b"".join(
        b"--X\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment; filename=f%d.bin\r\n\r\nabc\r\n" % i
        for i in range(200)
    )
    raw = (
        b"From: a@example.com\r\nSubject: parts\r\nContent-Type: multipart/mixed; boundary=X"
        b"\r\n\r\n" + parts + b"--X--\r\n"
    )
    found = parse(raw)
    assert len(found.attachments) == ATTACHMENTS_MAX
    assert len(found.dropped) == DROPPED_MAX + 1
    assert found.dropped[-1] == f"{200 - ATTACHMENTS_MAX} attachments past 20: too_many"


def test_control_characters_and_broken_bytes_make_no_address_or_header_text() -> None:
    from appliance.core.mail_parse import parse

    found = parse(b"From: x <nul@exa\x00mple.com>\r\nSubject: a\x01b\x00c\r\n\r\nbody\r\n")
    assert found.sender == ""  # set aside as null_sender by the import
    assert found.subject == "a b c"
    assert parse(b"From: <bad@exa\xffmple.com>\r\n\r\nx").sender == ""
