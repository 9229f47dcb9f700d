"""Store of the users, sessions tables."""

from __future__ import annotations
