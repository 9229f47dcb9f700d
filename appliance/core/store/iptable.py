"""Store of the ip_ranges table."""

from __future__ import annotations
