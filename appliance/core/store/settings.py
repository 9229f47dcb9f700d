"""Store of the sites, box_settings tables."""

from __future__ import annotations
