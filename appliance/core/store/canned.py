"""Store of the canned_answers table."""

from __future__ import annotations
