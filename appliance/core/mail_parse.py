"""Read an incoming e-mail: headers and bodies decoded (Chinese charsets as mail
clients read them), HTML sanitised with a text version kept, attachments taken out,
and whether it was sent by a machine (auto-replies, bounces, lists).

Charsets: many Chinese clients label GBK text "gb2312", and Python's gb2312 codec
refuses the characters GB2312 lacks, so every GB label is read as GB18030 (a superset
of both), and Big5 as Big5-HKSCS, as Thunderbird and Outlook do. Headers are decoded
from their raw form so the same mapping applies to RFC 2047 encoded words, and raw
8-bit headers (sent by some clients without encoding) are tried as UTF-8, then GB18030.
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass, field
from email import policy
from email.header import decode_header
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr

import nh3

from appliance.core.contact import normal_email

TEXT_MAX = 20_000  # characters of the text kept in the ticket (core tickets.BODY_MAX)
HTML_MAX = 200_000  # characters of sanitised HTML kept
ATTACHMENT_MAX = 10 * 1024 * 1024  # bytes of one kept attachment
ATTACHMENTS_MAX = 20  # attachments kept of one message
SUBJECT_MAX = 200
DROPPED_MAX = 50  # attachments not kept that the record names (a count stands for more)
_HTML_READ_MAX = 2_000_000  # characters of an HTML body sanitised (HTML_MAX are kept)
_ID_MAX = 998  # characters of a Message-ID (a header line's limit)
_REFERENCES_MAX = 50  # ids read from References

# Labels mail clients read as a wider charset than they name.
_CHARSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "euc-cn": "gb18030",
    "hz-gb-2312": "hz",
    "big5": "big5hkscs",
    "x-big5": "big5hkscs",
    "cn-big5": "big5hkscs",
    "ks_c_5601-1987": "cp949",
    "iso-8859-1": "cp1252",
    "us-ascii": "utf-8",
}
# Precedence values that mark a machine's or a list's mail (RFC 2076, RFC 3834).
_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply"})
_MACHINES = re.compile(r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply)@", re.IGNORECASE)
_LOOSE_ADDRESS = re.compile(r"^[^@\s<>\"\x00-\x1f\x7f]+@[^@\s<>\"\x00-\x1f\x7f]+$")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # a header's text never holds them
_ID = re.compile(r"<([^<>\s]{1,900})>")
# Tags kept in a sanitised body; everything else (scripts, forms, styles) goes.
_TAGS = frozenset(
    {
        "a", "b", "blockquote", "br", "code", "div", "em", "font", "h1", "h2", "h3", "h4",
        "hr", "i", "img", "li", "ol", "p", "pre", "span", "strong", "sub", "sup", "table",
        "tbody", "td", "th", "thead", "tr", "u", "ul",
    }
)  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "width", "height"}, "*": {"title"}}
# Remote images are tracking pixels more often than content: only inline (cid:) ones stay.
_SCHEMES = frozenset({"http", "https", "mailto", "cid"})


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file of a message: an attachment or an inline image (cid set)."""

    name: str
    content_type: str
    data: bytes
    cid: str = ""


@dataclass(frozen=True, slots=True)
class Parsed:
    """What the box reads of a message."""

    message_id: str
    sender: str  # the From address, lower case; '' when it has none
    sender_name: str
    subject: str
    text: str
    html: str  # sanitised; '' when the message had no HTML body
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    recipients: int  # addresses in To and Cc
    automatic: str  # why it was sent by a machine or a list; '' for a person
    attachments: tuple[Attachment, ...] = ()
    dropped: tuple[str, ...] = field(default=())  # attachments not kept, and why


def charset_of(label: str | None) -> str:
    """Return the codec to read a charset label with (the mail clients' mapping)."""
    name = (label or "utf-8").strip().strip('"').lower()
    return _CHARSETS.get(name, name)


def _decode(data: bytes, label: str | None) -> str:
    try:
        return data.decode(charset_of(label), errors="replace")
    except LookupError:  # an unknown label: UTF-8, else the commonest Chinese charset
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("gb18030", errors="replace")


def header_text(raw: str) -> str:
    """Decode a raw header value: RFC 2047 encoded words and raw 8-bit text."""
    if any("\udc80" <= c <= "\udcff" for c in raw):
        data = raw.encode("ascii", "surrogateescape")
        try:
            raw = data.decode("utf-8")
        except UnicodeDecodeError:
            raw = data.decode("gb18030", errors="replace")
    parts = []
    try:
        pieces = decode_header(raw)
    except Exception:
        return " ".join(raw.split())
    for value, label in pieces:
        parts.append(value if isinstance(value, str) else _decode(value, label))
    return " ".join(_CONTROLS.sub(" ", "".join(parts)).split())


def _raw_header(msg: Message, name: str) -> str:
    for key, value in msg.raw_items():
        if key.lower() == name:
            return str(value)
    return ""


def _address(value: str) -> str:
    """Return a sender's address in its normal form; one the validator refuses (a
    reserved domain, an odd local part) is kept as written, in lower case."""
    value = value.strip()
    if not _LOOSE_ADDRESS.match(value) or len(value) > 254:
        return ""
    # Kept as written only in ASCII: a broken byte read as U+FFFD is no address.
    return normal_email(value) or (value.lower() if value.isascii() else "")


def _ids(value: str) -> tuple[str, ...]:
    return tuple(m[:_ID_MAX] for m in _ID.findall(value))


def automatic(msg: Message) -> str:
    """Return why a message comes from a machine or a list ('' when from a person)."""
    auto = str(msg.get("Auto-Submitted", "")).strip().lower()
    if auto and auto != "no":
        return "auto_submitted"
    if str(msg.get("Precedence", "")).strip().lower() in _PRECEDENCE:
        return "precedence"
    if msg.get("List-Id") is not None or msg.get("List-Unsubscribe") is not None:
        return "list"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autogenerated"):
        if msg.get(name) is not None:
            return "auto_reply"
    if str(msg.get("Return-Path", "")).strip() == "<>":
        return "null_sender"
    if msg.get_content_type() == "multipart/report":
        return "bounce"
    _, sender = parseaddr(str(msg.get("From", "")))
    if not sender or _MACHINES.match(sender):
        return "null_sender" if not sender else "bounce"
    return ""


def sanitise(html: str) -> str:
    """Return HTML with only harmless tags and attributes (nh3, the ammonia library)."""
    return nh3.clean(
        html,
        tags=set(_TAGS),
        attributes={k: set(v) for k, v in _ATTRIBUTES.items()},
        url_schemes=set(_SCHEMES),
        link_rel="noopener noreferrer nofollow",
    )


def html_text(html: str) -> str:
    """Return the text of an HTML body: tags gone, block ends as line breaks."""
    marked = re.sub(r"(?i)<\s*(br|/p|/div|/tr|/li|/h\d)\b[^>]*>", "\n", html)
    bare = nh3.clean(marked, tags=set())
    lines = [" ".join(line.split()) for line in html_lib.unescape(bare).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _part_text(part: Message) -> str:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    return _decode(data, part.get_content_charset())


def _filename(part: Message) -> str:
    raw = part.get_param("filename", header="content-disposition") or part.get_param("name")
    if isinstance(raw, tuple):  # RFC 2231: (charset, language, value)
        charset, _, value = raw
        text = value.encode("latin-1", "replace").decode(charset_of(charset), "replace")
    else:
        text = header_text(str(raw)) if raw else ""
    name = re.sub(r"[\x00-\x1f/\\]", "_", text).strip(". ")[:200]
    return name


def parse(raw: bytes) -> Parsed:
    """Read a message (never fails: a malformed one reads as far as it can)."""
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    raw_from = _raw_header(msg, "from")
    sender_name, sender = parseaddr(header_text(raw_from))
    if _CONTROLS.search(raw_from):  # a NUL or another control in From: no address
        sender = ""
    recipients = getaddresses(
        [header_text(_raw_header(msg, "to")), header_text(_raw_header(msg, "cc"))]
    )
    text = html = ""
    attachments: list[Attachment] = []
    dropped: list[str] = []
    skipped = 0  # attachments past ATTACHMENTS_MAX
    for part in msg.walk():
        if part.is_multipart():
            continue
        kind = part.get_content_type()
        disposition = (part.get_content_disposition() or "").lower()
        name = _filename(part)
        cid = str(part.get("Content-ID", "")).strip().strip("<>")[:200]
        is_body = disposition != "attachment" and not name and kind in ("text/plain", "text/html")
        if is_body and kind == "text/plain" and not text:
            text = _part_text(part)
        elif is_body and kind == "text/html" and not html:
            html = _part_text(part)
        elif disposition == "attachment" or name or cid:
            data = part.get_payload(decode=True)
            if not isinstance(data, bytes):
                continue
            label = name or f"part-{len(attachments) + len(dropped) + 1}"
            if len(data) > ATTACHMENT_MAX:
                dropped.append(f"{label}: too_large")
            elif len(attachments) >= ATTACHMENTS_MAX:
                skipped += 1
                if len(dropped) < DROPPED_MAX:
                    dropped.append(f"{label}: too_many")
            else:
                attachments.append(Attachment(label, kind, data, cid))
    if skipped > len([d for d in dropped if d.endswith(": too_many")]):
        dropped.append(f"{skipped} attachments past {ATTACHMENTS_MAX}: too_many")
    clean = sanitise(html[:_HTML_READ_MAX])[:HTML_MAX] if html else ""
    if not text and clean:
        text = html_text(clean)
    subject = header_text(_raw_header(msg, "subject"))[:SUBJECT_MAX]
    references = _ids(_raw_header(msg, "references"))[-_REFERENCES_MAX:]
    return Parsed(
        message_id=next(iter(_ids(_raw_header(msg, "message-id"))), ""),
        sender=_address(sender),
        sender_name=sender_name[:64],
        subject=subject,
        text=text.replace("\r\n", "\n").strip()[:TEXT_MAX],
        html=clean,
        in_reply_to=_ids(_raw_header(msg, "in-reply-to"))[:5],
        references=references,
        recipients=len(recipients),
        automatic=automatic(msg),
        attachments=tuple(attachments),
        dropped=tuple(dropped),
    )
