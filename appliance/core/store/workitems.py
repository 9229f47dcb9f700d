"""Store of the work_items table."""

from __future__ import annotations
