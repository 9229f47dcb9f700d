"""Store of the conversations, messages, participants, missed_chats tables."""

from __future__ import annotations

import sqlite3


def move_out_of_group(conn: sqlite3.Connection, group_id: int, home: int) -> None:
    """Before a group is deleted: its open conversations and pending transfers go to the
    home group; its closed ones keep no group."""
    conn.execute(
        "UPDATE conversations SET group_id = ? WHERE group_id = ? AND status != 'closed'",
        (home, group_id),
    )
    conn.execute("UPDATE conversations SET group_id = NULL WHERE group_id = ?", (group_id,))
    conn.execute(
        "UPDATE conversations SET transfer_group_id = ? WHERE transfer_group_id = ?",
        (home, group_id),
    )
