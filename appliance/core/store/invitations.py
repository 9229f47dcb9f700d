"""Store of the invitations, invite_rules tables."""

from __future__ import annotations
