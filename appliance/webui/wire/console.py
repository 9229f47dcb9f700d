"""The console's own shapes: who is logged in, presence and the conversation lists."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from appliance.webui.wire import Time
from appliance.webui.wire.chat import ConsoleConversation, Presence, User


class Me(msgspec.Struct):
    """The logged-in user and what their session needs."""

    user: User
    csrf_token: str
    utc_offset: Annotated[int, msgspec.Meta(description="the box's offset from UTC, minutes")]


class PresenceChange(msgspec.Struct):
    status: Presence


class ConversationsQuery(msgspec.Struct):
    """Which conversations to list."""

    scope: Annotated[
        Literal["mine", "waiting", "live", "closed"],
        msgspec.Meta(
            description="mine: own and invited-into active chats; waiting: the queues of the "
            "user's groups (overseers: all), with position; live: every active chat "
            "(supervisors and admins only); closed: newest first"
        ),
    ] = "mine"
    before: (
        Annotated[Time, msgspec.Meta(description="closed: those closed before this time")]
        | msgspec.UnsetType
    ) = msgspec.UNSET


class Conversations(msgspec.Struct):
    conversations: list[ConsoleConversation]


class HistoryQuery(msgspec.Struct):
    """Which page of the history to show."""

    before: (
        Annotated[Time, msgspec.Meta(description="those closed before this time")]
        | msgspec.UnsetType
    ) = msgspec.UNSET
