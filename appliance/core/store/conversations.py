"""Store of the conversations, messages, participants, missed_chats tables."""

from __future__ import annotations
