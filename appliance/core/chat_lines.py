"""Storing chat lines: the rules of a posted line, for one line or a batch's lines.

This module is what the writer helper process imports (core/db_helper.py): it needs
only the store and the plain types a line carries, so the helper starts in a fraction
of the appliance's import time. Chats (core/chats.py) checks a line and queues it;
post_lines stores it, inside a write, by the same rules wherever it runs.
"""

from __future__ import annotations

import copyreg
import sqlite3
from dataclasses import dataclass, field, fields, replace
from operator import attrgetter
from typing import Any

from appliance.core.actors import Actor, Staff, Visitor
from appliance.core.clock import now_ms
from appliance.core.conversation import Attachment, Message
from appliance.core.errors import ChatError, Conflict, Forbidden, NotFound
from appliance.core.store import conversations as store
from appliance.core.store import files as file_store

NOT_FOUND = "no such conversation"

Posted = tuple[Message, bool, str]  # the message, whether it was a repeat, its visitor


@dataclass(frozen=True, slots=True)
class Post:
    """A checked line waiting for the writer (Chats.post)."""

    conv_id: str
    actor: Actor
    client_msg_id: str
    text: str


def _pickled_by_fields(cls: type[Any]) -> None:
    """Pickle a dataclass as its class and its fields' values, in order.

    Python 3.11 pickles a slotted dataclass through __getstate__/__setstate__, which
    call dataclasses.fields() for every object: pickling the helper's requests and
    answers was 8.6 % of the event loop's samples at 5,000 visitors. This reducer is
    one attribute fetch in C (unpickling calls __init__): a request's round trip takes
    half the time in-process, with no gain separable end to end (bench/README.md,
    issue 18)."""
    found = fields(cls)
    assert all(f.init and not f.kw_only for f in found), cls  # cls(*values) rebuilds it
    assert len(found) > 1, cls  # attrgetter of one name returns the value, not a tuple
    get = attrgetter(*(f.name for f in found))
    copyreg.pickle(cls, lambda obj: (cls, get(obj)))


# What travels to the writer's helper process and back with every chat line.
for _cls in (Post, Staff, Visitor, Message, Attachment):
    _pickled_by_fields(_cls)


@dataclass(slots=True)
class _Batch:
    """What post_lines has stored so far in one batch."""

    now: int
    new: list[Message] = field(default_factory=list)
    last_seq: dict[str, int] = field(default_factory=dict)  # conversation: seq given last
    stored: dict[tuple[str, str], Message] = field(default_factory=dict)  # by client id
    answered: set[str] = field(default_factory=set)


def sender_of(actor: Actor) -> tuple[str, str]:
    """Return how a message records its sender: type and id."""
    if isinstance(actor, Visitor):
        return "visitor", actor.id
    return "agent", str(actor.id)


def with_file(conn: sqlite3.Connection, message: Message) -> Message:
    """Give one message the file it carries, if any."""
    found = file_store.of_message(conn, message.id)
    return message if found is None else replace(message, file=found)


def post_lines(conn: sqlite3.Connection, posts: list[Post]) -> list[Posted | ChatError]:
    """Store the lines of one batch at once (inside a write), each once per client id:
    one read of their conversations, one insert, one update, however many lines (issue
    18: each statement waits for the GIL again while the event loop is busy). Each
    line's result, or the refusal that line met (nothing of it was written).

    A visitor posts only into their own conversation (another's is not found); a
    console user only into one they own or were invited into.
    """
    heads = store.heads(conn, [(p.conv_id, p.client_msg_id) for p in posts])
    batch = _Batch(now_ms())
    results: list[Posted | ChatError] = []
    for post in posts:
        try:
            results.append(_post_one(conn, post, heads, batch))
        except ChatError as err:
            results.append(err)
    store.insert_messages(conn, batch.new)
    store.set_last_seqs(conn, batch.last_seq)
    return results


def _post_one(
    conn: sqlite3.Connection,
    post: Post,
    heads: dict[tuple[str, str], store.Head],
    batch: _Batch,
) -> Posted:
    """One line of post_lines; lines earlier in the batch count as stored."""
    actor, conv_id, key = post.actor, post.conv_id, (post.conv_id, post.client_msg_id)
    sender_type, sender_id = sender_of(actor)
    conv = heads.get(key)
    if conv is None or (isinstance(actor, Visitor) and conv.visitor_id != actor.id):
        raise NotFound(NOT_FOUND)
    seen = batch.stored.get(key)
    if seen is None and conv.seen:
        seen = store.message_by_client_id(conn, conv_id, post.client_msg_id)
        assert seen is not None, "the client's message vanished inside its transaction"
        seen = with_file(conn, seen)
    if seen is not None:
        if seen.sender_type != sender_type or seen.sender_id != sender_id:
            raise Conflict("client_msg_id already used")
        return seen, True, conv.visitor_id
    if conv.status == "closed":
        raise Conflict("conversation is closed")
    if isinstance(actor, Staff):
        owner = conv.agent_id == actor.id
        if not owner and not store.is_participant(conn, conv_id, actor.id):
            raise Forbidden("conversation is not assigned to you")
        if owner and conv.answered_at is None and conv_id not in batch.answered:
            store.set_answered(conn, conv_id, batch.now)
            batch.answered.add(conv_id)
    seq = batch.last_seq.get(conv_id, conv.last_seq) + 1
    message = store.new_message(
        conv_id,
        batch.now,
        seq,
        sender_type=sender_type,
        sender_id=sender_id,
        sender_name=conv.visitor_name if isinstance(actor, Visitor) else actor.name,
        body=post.text,
        client_msg_id=post.client_msg_id,
    )
    batch.last_seq[conv_id] = seq
    batch.stored[key] = message
    batch.new.append(message)
    return message, False, conv.visitor_id


def as_new(result: Posted) -> Posted:
    """A line the helper process may have stored just before it was lost: found again
    as a repeat, it is still announced (its commit was never settled)."""
    message, _, visitor_id = result
    return message, False, visitor_id
