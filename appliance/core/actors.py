"""Who acts on a use case: typed, so core (not a handler) decides what each may do."""

from __future__ import annotations

from dataclasses import dataclass

OVERSEER_ROLES = frozenset({"supervisor", "admin"})


@dataclass(frozen=True, slots=True)
class Staff:
    """A signed-in console user. Their groups and regions (their scope) are read by the
    use case that needs them, so a change applies at once."""

    id: int
    name: str
    role: str = "agent"

    @property
    def overseer(self) -> bool:
        """Supervisors and admins see and may act on every conversation and visitor."""
        return self.role in OVERSEER_ROLES


@dataclass(frozen=True, slots=True)
class Visitor:
    """A website visitor, proven by their signed token; `dnt` when their browser asked
    not to be tracked (DNT or Global Privacy Control)."""

    id: str
    address: str = ""
    dnt: bool = False


Actor = Staff | Visitor
