"""Shapes of satisfaction at the end of a chat: the visitor's rating, their transcript
request, and the `feedback` frame that tells the consoles."""

from __future__ import annotations

from typing import Annotated

import msgspec

from appliance.core import ratings as core
from appliance.webui.wire import Time, wire_time


class NewChatRating(msgspec.Struct, forbid_unknown_fields=True):
    """A rating of the visitor's ended chat; sent again, it replaces the first."""

    score: Annotated[int, msgspec.Meta(ge=1, le=5, description="1 = poor ... 5 = excellent")]
    comment: Annotated[str, msgspec.Meta(max_length=core.COMMENT_MAX)] = ""


class NewChatTranscriptRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Where the visitor wants the transcript of their ended chat sent."""

    email: Annotated[str, msgspec.Meta(min_length=3, max_length=254)]


class ChatRating(msgspec.Struct):
    """The visitor's rating of an ended chat."""

    score: int
    comment: str
    rated_at: Time
    changed_at: Time
    changeable_until: Annotated[
        Time, msgspec.Meta(description="the visitor may change it until then (24 h after the end)")
    ]


class ChatTranscriptRequest(msgspec.Struct):
    """The visitor asked for the transcript by e-mail: queued in the outbox at once when
    an outgoing mail server is set up, else kept for staff to send by hand."""

    email: str
    requested_at: Time
    sent_at: Annotated[
        Time | None,
        msgspec.Meta(description="when it was queued in the outbox; null: no outgoing mail server"),
    ]


class ChatFeedback(msgspec.Struct):
    """What the visitor said of an ended chat (each null until given)."""

    conversation_id: str
    rating: ChatRating | None
    transcript: ChatTranscriptRequest | None


class OneChatFeedback(msgspec.Struct):
    feedback: ChatFeedback


class FeedbackFrame(msgspec.Struct, tag_field="type", tag="feedback", frozen=True):
    """Console socket: the visitor rated the chat or asked for its transcript (or
    changed either)."""

    feedback: ChatFeedback


def feedback_out(found: core.Feedback) -> ChatFeedback:
    """Return the wire form of a chat's feedback."""
    rating = None
    if found.rating is not None:
        r = found.rating
        until = (found.closed_at or r.rated_at) + core.RATING_WINDOW
        rating = ChatRating(
            r.score, r.comment, wire_time(r.rated_at), wire_time(r.changed_at), wire_time(until)
        )
    transcript = None
    if found.transcript is not None:
        t = found.transcript
        transcript = ChatTranscriptRequest(t.email, wire_time(t.requested_at), wire_time(t.sent_at))
    return ChatFeedback(found.conversation_id, rating, transcript)
