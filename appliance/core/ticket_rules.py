"""Supervisors' ticket rules: read, add, change, reorder and delete them; each save is
checked (rule_input, rule_safety) against the rules already there. The ticket service
reads the enabled rules inside its own write job and records once-per-ticket runs."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from appliance.core.actors import Staff
from appliance.core.clock import now_ms
from appliance.core.db import Database
from appliance.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from appliance.core.rule_input import parse_rule
from appliance.core.rule_safety import check_rule, check_together
from appliance.core.rules import Kind, Rule
from appliance.core.store import accounts as account_store
from appliance.core.store import routing as routing_store
from appliance.core.store import rules as store

RULES_MAX = 100  # of each kind; every ticket change checks each trigger


def _kind(value: Any) -> Kind:
    if value not in tuple(Kind):
        raise InvalidInput(f"kind must be one of {', '.join(Kind)}")
    return Kind(value)


def _check_references(conn: sqlite3.Connection, rule: Rule) -> None:
    """Refuse a rule that names a group or user the box does not have."""
    groups: set[int] = set()
    users: set[int] = set()
    for c in (*rule.all, *rule.any):
        values = c.value if c.op == "in" else (c.value,)
        if c.field in ("group_id", "owner_id"):
            found = {v for v in values if isinstance(v, int)}
            (groups if c.field == "group_id" else users).update(found)
    for action in rule.actions:
        if action.field in ("group_id", "owner_id") and action.value is not None:
            (groups if action.field == "group_id" else users).add(action.value)
        users.update(to for to in action.to if isinstance(to, int))
    missing = sorted(groups - routing_store.group_ids(conn))
    if missing:
        raise InvalidInput(f"there is no group with id {missing[0]}")
    missing = sorted(users - account_store.user_ids(conn))
    if missing:
        raise InvalidInput(f"there is no user with id {missing[0]}")


def _overseer(staff: Staff) -> None:
    if not staff.overseer:
        raise Forbidden("only supervisors and admins edit ticket rules")


class Rules:
    """Ticket rules as supervisors save them, and the enabled ones for the ticket service."""

    def __init__(self, db: Database, clock: Callable[[], int] = now_ms) -> None:
        self._db = db
        self._now = clock
        # The enabled rules as last committed: set when loaded and after each save
        # commits (on_commit), so a batch that fails never leaves its rules here.
        self._enabled: tuple[Rule, ...] | None = None

    def _committed(self, result: tuple[Any, tuple[Rule, ...]]) -> None:
        self._enabled = result[1]

    async def load(self) -> None:
        """Read the enabled rules (once, at start)."""
        self._enabled = await self._db.read(_enabled_in)

    def enabled_in(self, conn: sqlite3.Connection) -> tuple[Rule, ...]:
        """Return the enabled rules, triggers first, each kind in order (in a write job)."""
        if self._enabled is None:
            self._enabled = _enabled_in(conn)
        return self._enabled

    def record_run_in(
        self, conn: sqlite3.Connection, rule_id: int, ticket_id: int, now: int
    ) -> bool:
        """Record a once-per-ticket rule's run on a ticket in the caller's write job;
        False when it already ran there (then the caller must not act again)."""
        return store.record_run(conn, rule_id, ticket_id, now)

    def ran_in(self, conn: sqlite3.Connection, ticket_id: int) -> frozenset[int]:
        """Return the ids of once-per-ticket rules that already ran on a ticket."""
        return store.ran_on(conn, ticket_id)

    async def saved(self, kind: Kind | str | None = None) -> list[Rule]:
        """Return the rules (of one kind), triggers first, each kind in order."""
        chosen = None if kind is None else _kind(kind)
        return await self._db.read(lambda conn: store.rules(conn, chosen))

    async def get(self, rule_id: int) -> Rule:
        """Return one rule."""
        rule = await self._db.read(lambda conn: store.get(conn, rule_id))
        if rule is None:
            raise NotFound("no such rule")
        return rule

    def draft(self, data: Any) -> Rule:
        """Return the rule an unsaved input describes, checked as a save checks it alone
        (for a preview: which tickets would it match now)."""
        rule = parse_rule(data)
        check_rule(rule)
        return rule

    async def create(self, staff: Staff, data: Any) -> Rule:
        """Add a rule after the last of its kind (supervisors only)."""
        _overseer(staff)
        rule = self.draft(data)

        def job(conn: sqlite3.Connection) -> tuple[Rule, tuple[Rule, ...]]:
            if store.count(conn, rule.kind) >= RULES_MAX:
                raise Conflict(f"at most {RULES_MAX} rules of each kind")
            _check_references(conn, rule)
            check_together(rule, store.rules(conn))
            return store.insert(conn, rule, self._now()), _enabled_in(conn)

        saved, _ = await self._db.write(job, on_commit=self._committed)
        return saved

    async def update(self, staff: Staff, rule_id: int, data: Any) -> Rule:
        """Replace a rule's definition; its kind and place stay (supervisors only)."""
        _overseer(staff)
        rule = replace(self.draft(data), id=rule_id)

        def job(conn: sqlite3.Connection) -> tuple[Rule, tuple[Rule, ...]]:
            old = store.get(conn, rule_id)
            if old is None:
                raise NotFound("no such rule")
            if old.kind != rule.kind:
                raise InvalidInput("a rule's kind cannot change; add a new rule instead")
            _check_references(conn, rule)
            check_together(replace(rule, position=old.position), store.rules(conn))
            saved = store.update(conn, rule, self._now())
            assert saved is not None
            return saved, _enabled_in(conn)

        saved, _ = await self._db.write(job, on_commit=self._committed)
        return saved

    async def delete(self, staff: Staff, rule_id: int) -> None:
        """Delete a rule and the record of its runs (supervisors only)."""
        _overseer(staff)

        def job(conn: sqlite3.Connection) -> tuple[None, tuple[Rule, ...]]:
            if not store.delete(conn, rule_id):
                raise NotFound("no such rule")
            return None, _enabled_in(conn)

        await self._db.write(job, on_commit=self._committed)

    async def reorder(self, staff: Staff, kind: Kind | str, ordered: Sequence[Any]) -> list[Rule]:
        """Put a kind's rules in the order of their ids (every one, once)."""
        _overseer(staff)
        chosen = _kind(kind)
        if not isinstance(ordered, Sequence) or any(
            isinstance(i, bool) or not isinstance(i, int) for i in ordered
        ):
            raise InvalidInput("give the rules' ids as a list")

        def job(conn: sqlite3.Connection) -> tuple[list[Rule], tuple[Rule, ...]]:
            have = store.ids(conn, chosen)
            if len(ordered) != len(have) or set(ordered) != set(have):
                raise InvalidInput(f"give the id of every {chosen} rule once, in the new order")
            store.set_positions(conn, list(ordered))
            return store.rules(conn, chosen), _enabled_in(conn)

        rules, _ = await self._db.write(job, on_commit=self._committed)
        return rules


def _enabled_in(conn: sqlite3.Connection) -> tuple[Rule, ...]:
    return tuple(r for r in store.rules(conn) if r.enabled)
