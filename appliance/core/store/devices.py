"""Store of the staff_devices table."""

from __future__ import annotations
