"""Errors the core rules raise; `code` and `status` are part of the API."""

from __future__ import annotations


class ChatError(Exception):
    """A request the chat rules refuse; `code` and `status` are part of the API."""

    code = "bad_request"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ChatError):
    code, status = "not_found", 404


class Forbidden(ChatError):
    code, status = "forbidden", 403


class Conflict(ChatError):
    code, status = "conflict", 409


class LimitReached(Conflict):
    code = "limit_reached"


class NotAvailable(Conflict):
    code = "not_available"


class NotWaiting(Conflict):
    code = "not_waiting"


class OutOfScope(Conflict):
    code = "out_of_scope"


class MessageTooLarge(ChatError):
    code, status = "message_too_large", 413


class InvalidInput(ChatError):
    code, status = "invalid", 422


class Chatting(Conflict):
    code = "chatting"


class AlreadyInvited(Conflict):
    code = "already_invited"


class InvitationClosed(Conflict):
    code = "invitation_closed"


class BadSignature(Forbidden):
    code = "bad_signature"


class Expired(Forbidden):
    code = "expired"


class Replayed(Conflict):
    code = "replayed"


class PhoneRequired(InvalidInput):
    code = "phone_required"


class RuleNeverMatches(InvalidInput):
    """A ticket rule whose conditions no ticket can meet."""

    code = "rule_never_matches"


class RuleDeadAction(InvalidInput):
    """A ticket rule action that can never change anything."""

    code = "rule_dead_action"


class RuleLoops(InvalidInput):
    """A timed rule that would act on the same ticket every minute, alone or by taking
    turns with other rules."""

    code = "rule_loops"


class MessageEmpty(InvalidInput):
    code = "message_empty"


class ContactInvalid(InvalidInput):
    code = "contact_invalid"


class StorageFull(ChatError):
    """The disk (or the database file) is full or failing: nothing was stored."""

    code, status = "storage_full", 503
    retry_after = 30  # s; space rarely comes back faster than someone can act on it
