"""What visitors leave when no agent can take the chat: a message or a call-back request.

Each becomes a ticket (core/tickets.py `Tickets.leave`); this module checks what was
left and words the ticket it makes. Requests stored before tickets existed (the
`work_items` table) are carried into tickets once, by `Tickets.carry_over`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from appliance.core.contact import normal_email, normal_phone
from appliance.core.errors import ContactInvalid, InvalidInput, MessageEmpty, PhoneRequired

KINDS = ("message", "callback")
_NAME_MAX = 64
_TIME_MAX = 64  # "tomorrow after 14:00" is free text
_BODY_MAX = 4000


def _text(data: dict[str, Any], field: str, limit: int) -> str:
    value = data.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string")
    value = value.strip()
    if len(value) > limit:
        raise InvalidInput(f"{field} is longer than {limit} characters")
    return value


def validate(data: dict[str, Any]) -> dict[str, str]:
    """Check what a visitor left; a call back needs a phone number, a message some text."""
    kind = data.get("kind")
    if kind not in KINDS:
        raise InvalidInput("kind must be message or callback")
    item = {
        "kind": str(kind),
        "name": _text(data, "name", _NAME_MAX),
        "contact": _text(data, "contact", 254),
        "preferred_time": _text(data, "preferred_time", _TIME_MAX),
        "body": _text(data, "body", _BODY_MAX),
    }
    contact = item["contact"]
    if kind == "callback":
        phone = normal_phone(contact)
        if phone is None:
            raise PhoneRequired("a call back needs a phone number")
        item["contact"] = phone
    else:
        if not item["body"]:
            raise MessageEmpty("the message is empty")
        if contact:
            known = normal_email(contact) if "@" in contact else normal_phone(contact)
            if known is None:
                raise ContactInvalid("contact must be a phone number or an e-mail address")
            item["contact"] = known
    return item


# How a left request is worded on its ticket, in the box's language (settings.lang).
_WORDS = {
    "zh-CN": {
        "callback": "请回电 {who}",
        "preferred": "希望回电时间：{when}",
        "contact": "联系方式：{how}",
    },
    "en": {
        "callback": "Call back {who}",
        "preferred": "Preferred time: {when}",
        "contact": "Contact: {how}",
    },
}
_SUBJECT_CHARS = 80  # a message's first line, clipped, is its ticket's subject


@dataclass(frozen=True, slots=True)
class Wording:
    """A left request as a ticket says it: subject and description."""

    subject: str
    description: str


def wording(fields: dict[str, str], lang: str) -> Wording:
    """Word the ticket a left request makes (fields as `validate` returns them)."""
    words = _WORDS.get(lang, _WORDS["en"])
    body = fields["body"]
    contact = fields["contact"]
    lines = [body] if body else []
    if fields["kind"] == "callback":
        subject = words["callback"].format(who=" ".join(filter(None, (fields["name"], contact))))
        if fields["preferred_time"]:
            lines.append(words["preferred"].format(when=fields["preferred_time"]))
    else:
        first = body.splitlines()[0]  # `validate` stripped the body and refused it empty
        subject = first if len(first) <= _SUBJECT_CHARS else first[: _SUBJECT_CHARS - 1] + "…"
    if contact:
        lines.append(words["contact"].format(how=contact))
    return Wording(subject, "\n\n".join(lines))
