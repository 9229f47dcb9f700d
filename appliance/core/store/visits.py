"""Store of the visits, page_views tables."""

from __future__ import annotations
