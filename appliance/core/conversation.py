"""A conversation and its messages as the core hands them out (times in UTC ms)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Person:
    """A console user named in a conversation: its agent or an invited colleague."""

    id: int
    name: str


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file a message carries (core/files.py): its bytes are uploads/<sha256>."""

    id: str
    name: str
    kind: str  # image, pdf, office, zip, text (core/filetypes.py)
    mime: str
    size: int  # bytes, as stored (a picture re-encoded)
    sha256: str
    width: int | None = None  # px, pictures only
    height: int | None = None
    thumb_sha256: str | None = None  # a smaller picture, when the picture is large
    thumb_mime: str = ""


@dataclass(frozen=True, slots=True)
class Message:
    """One message of a conversation, as stored."""

    id: str
    conversation_id: str
    seq: int
    client_msg_id: str | None
    sender_type: str  # visitor, agent or system
    sender_id: str
    sender_name: str
    body: str
    event: str | None
    created_at: int
    visibility: str = "public"  # staff: notes, whispers, staff events; never to the visitor
    file: Attachment | None = None  # a picture or document sent; body is then its name

    @property
    def staff_only(self) -> bool:
        """Tell whether only consoles may receive it."""
        return self.visibility == "staff"


@dataclass(frozen=True, slots=True)
class Conversation:
    """A conversation as read from the store."""

    id: str
    visitor_id: str
    status: str
    agent_id: int | None
    agent_name: str | None
    last_seq: int
    visitor_name: str
    page_url: str
    lang: str
    visitor_ip: str
    created_at: int
    assigned_at: int | None
    closed_at: int | None
    group_id: int | None = None
    group_name: str | None = None
    topic: str = ""
    region: str = ""
    tier: str = "new"
    expert: bool = False
    transfer_pending: bool = False
    transfer_group_id: int | None = None
    skill: str = ""
    queued_at: int | None = None
    answered_at: int | None = None
    participants: tuple[Person, ...] = ()  # invited colleagues (the owner is the agent)
    rating: int | None = None  # the visitor's score (1-5) once they rated the ended chat

    @property
    def agent(self) -> Person | None:
        """Return the agent who has it, if any."""
        if self.agent_id is None:
            return None
        return Person(self.agent_id, self.agent_name or "")

    @property
    def waits_in(self) -> int | None:
        """Return the group whose queue shows it: a warm transfer's target, else its own."""
        return self.transfer_group_id if self.transfer_pending else self.group_id

    def has_guest(self, user_id: int) -> bool:
        """Tell whether a colleague was invited into it."""
        return any(p.id == user_id for p in self.participants)

    def visible_to(self, user_id: int, groups: frozenset[int] | None) -> bool:
        """Tell whether a console user may see it; groups None means an overseer.

        Overseers see all; others their own chats, conferences they are in, and what
        waits in their groups' queues (a warm transfer waits in its target group).
        """
        if groups is None or self.agent_id == user_id or self.has_guest(user_id):
            return True
        if self.status == "waiting":
            return self.group_id is not None and self.group_id in groups
        return self.transfer_pending and self.transfer_group_id in groups


def console_may_see(conv: Conversation, user_id: int, groups: frozenset[int] | None) -> bool:
    """Tell whether a console user may see a conversation (see Conversation.visible_to)."""
    return conv.visible_to(user_id, groups)
