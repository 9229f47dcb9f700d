"""Store of the groups, group_members, topics, routes, priority_points tables."""

from __future__ import annotations
