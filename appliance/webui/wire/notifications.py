"""Console notifications on the wire: the bell's list, marking read, the `notice` frame."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from appliance.core.notifications import PAGE_MAX, READ_IDS_MAX, Notice
from appliance.webui.wire import Time, wire_time

Id = Annotated[int, msgspec.Meta(ge=1, le=2**53 - 1)]
Kind = Literal["sla_warning", "sla_breach", "sla_level", "rule"]
Metric = Literal["first_response", "next_response", "resolution"]


class NoticesQuery(msgspec.Struct, forbid_unknown_fields=True):
    """Which page of the list: the newest, or those older than `before` (an id)."""

    before: Id | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=PAGE_MAX)] = 20


class NoticeTicket(msgspec.Struct):
    """The ticket a notification is about, as it is now."""

    id: int
    number: str
    subject: str


class NoticeOut(msgspec.Struct, omit_defaults=True):
    """One notification. SLA kinds carry the target (`metric`), and a level its `action`
    and `offset_minutes`; a rule's carries its `rule_name` and `text`."""

    id: int
    kind: Kind
    at: Time
    read: bool
    ticket: NoticeTicket | None
    metric: Metric | None = None
    action: str | None = None
    offset_minutes: int | None = None
    due_at: Time | None = None
    rule_name: str | None = None
    text: str | None = None


def notice_out(n: Notice) -> NoticeOut:
    """A stored notification on the wire."""
    data: dict[str, Any] = dict(n.data)
    ticket = (
        NoticeTicket(n.ticket_id, n.ticket_number, n.ticket_subject)
        if n.ticket_id is not None
        else None
    )
    due_at = data.get("due_at")
    return NoticeOut(
        id=n.id,
        kind=n.kind,  # type: ignore[arg-type]  # stored by core from its KINDS
        at=wire_time(n.at),
        read=n.read_at is not None,
        ticket=ticket,
        metric=data.get("metric"),
        action=data.get("action"),
        offset_minutes=data.get("offset_minutes"),
        due_at=wire_time(due_at) if isinstance(due_at, int) else None,
        rule_name=data.get("name") if n.kind == "rule" else None,
        text=data.get("text") if n.kind == "rule" else None,
    )


class Notices(msgspec.Struct):
    """A page of the user's notifications, newest first."""

    notices: list[NoticeOut]
    unread: Annotated[int, msgspec.Meta(description="the user's unread notifications, all")]
    more: Annotated[bool, msgspec.Meta(description="older ones exist: ask with before")]


class NoticesRead(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Mark read: every one up to id `up_to` (the newest the user saw), those in `ids`,
    or `all`; exactly one of the three."""

    up_to: Id | None = None
    ids: Annotated[list[Id], msgspec.Meta(max_length=READ_IDS_MAX)] | None = None
    all: bool = False


class Unread(msgspec.Struct):
    """How many of the user's notifications are still unread."""

    unread: int


class NoticeFrame(msgspec.Struct, tag_field="type", tag="notice", frozen=True):
    """Console socket: the signed-in user was given a notification."""

    notice: NoticeOut
