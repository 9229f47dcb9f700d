"""In-process event bus: core announces what changed; the web layer fans it out."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from appliance.core.ratings import Feedback
    from appliance.core.visitor_records import Invitation

from appliance.core.conversation import Conversation, Message
from appliance.core.routing import Place
from appliance.core.store.accounts import Presence
from appliance.core.store.notifications import Notice
from appliance.core.ticketflow import Ticket

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MessageCreated:
    """A message was committed to a conversation."""

    conversation_id: str
    visitor_id: str
    message: Message
    # The socket the line came from, if any (opaque to the core): the web side answers
    # it with the ack in the message's place instead of a second copy of the message.
    origin: object | None = None


@dataclass(frozen=True, slots=True)
class ConversationChanged:
    """A conversation was opened, assigned or closed."""

    conversation: Conversation
    visitor_id: str
    previous_status: str | None
    previous_agent_id: int | None
    previous_transfer_pending: bool = False


@dataclass(frozen=True, slots=True)
class AgentStatusChanged:
    """An agent's presence changed."""

    user_id: int
    status: Presence


@dataclass(frozen=True, slots=True)
class RoutingChanged:
    """Groups, members, scope, topics, rules or points were edited."""


@dataclass(frozen=True, slots=True)
class QueueChanged:
    """A routing pass placed the waiting visitors: conversation id -> their place."""

    places: dict[str, Place]


@dataclass(frozen=True, slots=True)
class TicketChanged:
    """A ticket was created or changed (its row as its history now makes it)."""

    ticket: Ticket


@dataclass(frozen=True, slots=True)
class InvitationChanged:
    """An invitation to chat was sent, answered or expired."""

    invitation: Invitation


@dataclass(frozen=True, slots=True)
class NoticeAdded:
    """A console user was given a notification (core/notifications.py)."""

    notice: Notice


@dataclass(frozen=True, slots=True)
class AccountChanged:
    """An admin changed a user's role or access; `signed_out`: their sessions ended."""

    user_id: int
    signed_out: bool


@dataclass(frozen=True, slots=True)
class FeedbackChanged:
    """A visitor rated an ended chat, or asked for its transcript (or changed either)."""

    feedback: Feedback


Event = (
    MessageCreated
    | ConversationChanged
    | AgentStatusChanged
    | RoutingChanged
    | QueueChanged
    | InvitationChanged
    | TicketChanged
    | NoticeAdded
    | AccountChanged
    | FeedbackChanged
)
Listener = Callable[[Event], None]


class EventBus:
    """Synchronous fan-out to listeners; a failing listener never stops the others."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Add a listener; return a function that removes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def emit(self, event: Event) -> None:
        """Deliver an event to every listener, in subscription order."""
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                _LOGGER.exception("event listener failed for %s", type(event).__name__)
