"""Who acts on a use case: typed, so core (not a handler) decides what each may do."""

from __future__ import annotations

from dataclasses import dataclass

OVERSEER_ROLES = frozenset({"supervisor", "admin"})


@dataclass(frozen=True, slots=True)
class Staff:
    """A signed-in console user, with their scope as core read it (`Routing.actor`):
    the groups whose queues they work and the visitor regions they serve. Built without
    a scope, an agent sees only their own chats and those they were invited into."""

    id: int
    name: str
    role: str = "agent"
    groups: frozenset[int] = frozenset()
    regions: frozenset[str] = frozenset()  # empty: every region
    dispatcher: bool = False  # 调度员: sees every ticket and assigns them to others

    @property
    def overseer(self) -> bool:
        """Supervisors and admins see and may act on every conversation and visitor."""
        return self.role in OVERSEER_ROLES

    @property
    def queues(self) -> frozenset[int] | None:
        """The groups whose queues (and visitors) they see; None for an overseer: all."""
        return None if self.overseer else self.groups


@dataclass(frozen=True, slots=True)
class Visitor:
    """A website visitor, proven by their signed token; `dnt` when their browser asked
    not to be tracked (DNT or Global Privacy Control)."""

    id: str
    address: str = ""
    dnt: bool = False


Actor = Staff | Visitor


@dataclass(frozen=True, slots=True)
class PortalCustomer:
    """A customer signed in to the portal. `email` is set when they proved that
    mailbox (an e-mailed link): then tickets whose requester has that address are
    theirs too; signed in by the site's signature, only their own customer's."""

    customer_id: int
    email: str = ""
    address: str = ""
    organisation: str = ""  # set when the admin lets the portal show its tickets too

    @property
    def id(self) -> str:
        """Their key for rate limits and the history's actor ids."""
        return f"customer:{self.customer_id}"
