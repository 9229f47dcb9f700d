"""The visitor API's shapes: identity, pre-chat topics, starting a chat, leaving work.

Conversations and messages are shared with the console (`wire/chat.py`); the work item
a visitor leaves is the teamwork area's (`wire/team.py`)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from appliance.webui.wire.brand import WidgetLook
from appliance.webui.wire.team import WorkKind, text


class SessionRequest(msgspec.Struct):
    """A token the visitor already holds, if any."""

    token: Annotated[str, msgspec.Meta(description="kept when still valid")] = ""


class VisitorIdentity(msgspec.Struct):
    """A visitor and the bearer token that proves them."""

    visitor_id: str
    token: str
    brand: Annotated[
        WidgetLook | None,
        msgspec.Meta(description="the company's look (docs/widget-guide.md); null: the defaults"),
    ] = None
    reply_within: Annotated[
        int | None,
        msgspec.Meta(description="s a new chat likely waits, from the live queue; null: unknown"),
    ] = None


class PrechatTopic(msgspec.Struct):
    key: str
    label: str


class PrechatTopics(msgspec.Struct):
    topics: Annotated[list[PrechatTopic], msgspec.Meta(description="in display order")]


class NewConversation(msgspec.Struct):
    """What the visitor tells before a chat starts; all of it optional."""

    name: Annotated[str, text(64)] = ""
    page_url: Annotated[str, text(2048)] = ""
    lang: Annotated[str, text(16)] = ""
    topic: Annotated[str, text(32, description="a key from GET /api/visitor/topics")] = ""
    region: Annotated[str, text(32, description="the visitor's region, for routing rules")] = ""
    contact: Annotated[
        str, text(254, description="a phone number or an e-mail address, kept on the customer")
    ] = ""


class WorkItemRef(msgspec.Struct):
    """The ticket a left message or call-back request became."""

    id: str  # the ticket's id, as text
    kind: WorkKind
    number: str  # the ticket's number, to quote on the phone


class LeftWorkItem(msgspec.Struct):
    item: WorkItemRef
