"""The relay's only memory: tenants, host names, public keys, addresses, token hashes.

Nothing about visitors or messages is ever written here. SQLite, so that the CLI and
the running relay can share it; every statement is tiny.
"""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

OVERLAY = ipaddress.IPv4Network("100.64.0.0/10")
RELAY_ADDRESS = "100.64.0.1"
_MAX_TENANTS = 16383  # /24s in the /10, less the relay's own 100.64.0.0/24
_SCHEMA = """
CREATE TABLE IF NOT EXISTS tenants (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    hostname TEXT NOT NULL UNIQUE,
    subnet INTEGER NOT NULL UNIQUE,
    appliance_key TEXT UNIQUE,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY,
    tenant_id INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL,
    used_at INTEGER
);
CREATE TABLE IF NOT EXISTS staff (
    tenant_id INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    public_key TEXT NOT NULL UNIQUE,
    host INTEGER NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (tenant_id, name),
    UNIQUE (tenant_id, host)
);
"""
# Registries made before devices expired lack the column; NULL means "never expires".
_UPGRADES = {("staff", "expires_at"): "ALTER TABLE staff ADD COLUMN expires_at INTEGER"}
MAX_EXPIRY = 2**40  # Unix seconds: far beyond any real date, small enough for every tool


_STAFF_SELECT = "SELECT s.*, t.subnet FROM staff s JOIN tenants t ON t.id = s.tenant_id"


class RegistryError(ValueError):
    """A registry request that cannot be honoured (clear message, no secrets)."""


class KeyInUseError(RegistryError):
    """A public key that another peer of this relay already has."""

    def __init__(self) -> None:
        # Which peer holds it is not said: it may be another tenant's.
        super().__init__("that public key is already used by a peer of this relay")


@dataclass(frozen=True, slots=True)
class Tenant:
    """One company served by this relay."""

    id: int
    name: str
    hostname: str
    subnet: int
    appliance_key: str | None

    @property
    def network(self) -> ipaddress.IPv4Network:
        """Return the tenant's /24 in the overlay."""
        base = int(OVERLAY.network_address) + (self.subnet << 8)
        return ipaddress.IPv4Network((base, 24))

    @property
    def appliance_address(self) -> str:
        """Return the appliance's overlay address (.1 of the tenant's /24)."""
        return str(self.network.network_address + 1)


@dataclass(frozen=True, slots=True)
class Staff:
    """A staff device: a WireGuard peer inside its tenant's /24."""

    tenant_id: int
    name: str
    public_key: str
    address: str
    expires_at: int | None = None  # Unix seconds; None = never (registered before expiry)

    def active(self, now: float) -> bool:
        """Tell whether the device may use its tunnel at `now` (Unix seconds)."""
        return self.expires_at is None or now < self.expires_at


def token_hash(secret: str) -> str:
    """Hash an enrolment secret for storage (it is random; no salt needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _tenant(row: sqlite3.Row) -> Tenant:
    return Tenant(row["id"], row["name"], row["hostname"], row["subnet"], row["appliance_key"])


class Registry:
    """Read and change the registry file."""

    def __init__(self, path: Path, *, relay_key: str | None = None) -> None:
        """Open (and create) the registry; `relay_key` is the relay's own public key."""
        self.path = path
        self._relay_key = relay_key
        with self._connect() as conn:
            conn.executescript(_SCHEMA)
            for (table, column), statement in _UPGRADES.items():
                columns = {row["name"] for row in conn.execute(f"PRAGMA table_info({table})")}
                if column not in columns:
                    conn.execute(statement)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=5, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        try:
            yield conn
        finally:
            conn.close()

    def version(self, now: float | None = None) -> str:
        """Return a digest that changes whenever what is routed changes.

        That is any change by any process, and a device's expiry passing at `now`
        (Unix seconds, default the clock): the relay drops an expired device's peer on
        its own clock, whether or not its box can still reach it.
        """
        now = time.time() if now is None else now
        digest = hashlib.sha256()
        with self._connect() as conn:
            for row in conn.execute(
                "SELECT id, hostname, subnet, appliance_key FROM tenants ORDER BY id"
            ):
                digest.update(repr(tuple(row)).encode())
            for row in conn.execute(
                "SELECT tenant_id, host, public_key, expires_at IS NULL OR expires_at > ?"
                " FROM staff ORDER BY tenant_id, host",
                (now,),
            ):
                digest.update(repr(tuple(row)).encode())
        return digest.hexdigest()

    def add_tenant(self, name: str, hostname: str, token_ttl: float) -> tuple[Tenant, str]:
        """Register a company and its chat host name; return it and a one-time secret."""
        name, hostname = name.strip(), hostname.strip().lower().rstrip(".")
        if not name or not hostname or "." not in hostname:
            raise RegistryError("a tenant needs a name and a fully qualified host name")
        secret = secrets.token_urlsafe(24)
        now = int(time.time())
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            used = {r[0] for r in conn.execute("SELECT subnet FROM tenants")}
            subnet = next((i for i in range(1, _MAX_TENANTS + 1) if i not in used), None)
            if subnet is None:
                conn.execute("ROLLBACK")
                raise RegistryError("the overlay has no free /24 left")
            try:
                cursor = conn.execute(
                    "INSERT INTO tenants (name, hostname, subnet, created_at) VALUES (?, ?, ?, ?)",
                    (name, hostname, subnet, now),
                )
            except sqlite3.IntegrityError as err:
                conn.execute("ROLLBACK")
                raise RegistryError(f"tenant name or host name already registered: {err}") from err
            conn.execute(
                "INSERT INTO tokens (hash, tenant_id, expires_at) VALUES (?, ?, ?)",
                (token_hash(secret), cursor.lastrowid, now + int(token_ttl)),
            )
            conn.execute("COMMIT")
        tenant = self.tenant(name)
        assert tenant is not None
        return tenant, secret

    def new_token(self, name: str, token_ttl: float) -> tuple[str, int]:
        """Issue a fresh one-time secret for a tenant (re-enrolment after a box swap).

        Return it with the number of the tenant's earlier unused tokens it revoked: a
        token handed out before (and perhaps leaked) must not outlive its successor,
        since any unused token can replace the box's key.
        """
        tenant = self._require(name)
        secret = secrets.token_urlsafe(24)
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            revoked = self._revoke_unused(conn, tenant.id)
            conn.execute(
                "INSERT INTO tokens (hash, tenant_id, expires_at) VALUES (?, ?, ?)",
                (token_hash(secret), tenant.id, int(time.time() + token_ttl)),
            )
            conn.execute("COMMIT")
        return secret, revoked

    def revoke_tokens(self, name: str) -> int:
        """Revoke every unused enrolment token of a tenant; return how many."""
        tenant = self._require(name)
        with self._connect() as conn:
            return self._revoke_unused(conn, tenant.id)

    @staticmethod
    def _revoke_unused(conn: sqlite3.Connection, tenant_id: int) -> int:
        # Spent tokens stay (they are history and harmless); unused ones go.
        cursor = conn.execute(
            "DELETE FROM tokens WHERE tenant_id = ? AND used_at IS NULL", (tenant_id,)
        )
        return cursor.rowcount

    def _require(self, name: str) -> Tenant:
        tenant = self.tenant(name)
        if tenant is None:
            raise RegistryError(f"no tenant named {name!r}")
        return tenant

    def tenant(self, name: str) -> Tenant | None:
        """Return a tenant by name."""
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM tenants WHERE name = ?", (name,)).fetchone()
        return _tenant(row) if row else None

    def tenants(self) -> list[Tenant]:
        """Return all tenants."""
        with self._connect() as conn:
            rows = conn.execute("SELECT * FROM tenants ORDER BY name").fetchall()
        return [_tenant(r) for r in rows]

    def remove_tenant(self, name: str) -> Tenant:
        """Forget a tenant, its tokens and its staff devices."""
        tenant = self._require(name)
        with self._connect() as conn:
            conn.execute("DELETE FROM tenants WHERE id = ?", (tenant.id,))
        return tenant

    def _claim_key(self, conn: sqlite3.Connection, key: str, box_of: int | None = None) -> None:
        """Refuse a key any peer already has, unless it is tenant `box_of`'s own box key.

        WireGuard routes by key: one key with two entries makes the relay rewrite the
        first peer's allowed IPs, taking it offline. Every key enters the registry
        through here, inside the caller's write transaction, so no two can race.
        """
        if key == self._relay_key:
            raise KeyInUseError
        box = conn.execute("SELECT id FROM tenants WHERE appliance_key = ?", (key,)).fetchone()
        if box is not None and box["id"] != box_of:
            raise KeyInUseError
        if conn.execute("SELECT 1 FROM staff WHERE public_key = ?", (key,)).fetchone():
            raise KeyInUseError

    def redeem(self, secret: str, appliance_key: str) -> Tenant:
        """Spend a one-time secret: bind the appliance's public key to its tenant."""
        now = int(time.time())
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute(
                "SELECT tenant_id, expires_at, used_at FROM tokens WHERE hash = ?",
                (token_hash(secret),),
            ).fetchone()
            if row is None or row["used_at"] is not None or row["expires_at"] < now:
                conn.execute("ROLLBACK")
                raise RegistryError("the enrolment token is unknown, used or expired")
            try:
                self._claim_key(conn, appliance_key, box_of=row["tenant_id"])
            except KeyInUseError:
                conn.execute("ROLLBACK")  # the token stays unspent for the right key
                raise
            conn.execute("UPDATE tokens SET used_at = ? WHERE hash = ?", (now, token_hash(secret)))
            conn.execute(
                "UPDATE tenants SET appliance_key = ? WHERE id = ?",
                (appliance_key, row["tenant_id"]),
            )
            # A re-enrolled box replaces the old one: its staff stay registered.
            conn.execute("COMMIT")
            tenant_row = conn.execute(
                "SELECT * FROM tenants WHERE id = ?", (row["tenant_id"],)
            ).fetchone()
        return _tenant(tenant_row)

    def tenant_by_address(self, address: str) -> Tenant | None:
        """Return the tenant whose appliance owns an overlay address."""
        for tenant in self.tenants():
            if tenant.appliance_address == address and tenant.appliance_key:
                return tenant
        return None

    def tenant_by_hostname(self, hostname: str) -> Tenant | None:
        """Return the tenant serving a chat host name."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT * FROM tenants WHERE hostname = ? AND appliance_key IS NOT NULL",
                (hostname,),
            ).fetchone()
        return _tenant(row) if row else None

    def add_staff(
        self, tenant: Tenant, name: str, public_key: str, expires_at: int | None = None
    ) -> Staff:
        """Register a staff device in the tenant's /24; return it with its address."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            used = {
                r[0]
                for r in conn.execute("SELECT host FROM staff WHERE tenant_id = ?", (tenant.id,))
            }
            host = next((h for h in range(2, 255) if h not in used), None)
            try:
                self._claim_key(conn, public_key)
                if host is None:
                    raise RegistryError("this tenant has no free staff address left")
                conn.execute(
                    "INSERT INTO staff (tenant_id, name, public_key, host, expires_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (tenant.id, name, public_key, host, expires_at),
                )
            except sqlite3.IntegrityError as err:
                conn.execute("ROLLBACK")
                raise RegistryError("a staff device of that name is already registered") from err
            except RegistryError:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        address = str(tenant.network.network_address + host)
        return Staff(tenant.id, name, public_key, address, expires_at)

    def set_staff_expiry(self, tenant: Tenant, name: str, expires_at: int | None) -> bool:
        """Change when a device expires (a renewal); tell whether it exists."""
        with self._connect() as conn:
            cursor = conn.execute(
                "UPDATE staff SET expires_at = ? WHERE tenant_id = ? AND name = ?",
                (expires_at, tenant.id, name),
            )
        return cursor.rowcount > 0

    def remove_staff(self, tenant: Tenant, name: str) -> bool:
        """Revoke a staff device; tell whether it existed."""
        with self._connect() as conn:
            cursor = conn.execute(
                "DELETE FROM staff WHERE tenant_id = ? AND name = ?", (tenant.id, name)
            )
        return cursor.rowcount > 0

    def staff(self, tenant: Tenant | None = None) -> list[Staff]:
        """Return staff devices, of one tenant or all."""
        with self._connect() as conn:
            if tenant is None:
                rows = conn.execute(_STAFF_SELECT + " ORDER BY s.tenant_id, s.host").fetchall()
            else:
                rows = conn.execute(
                    _STAFF_SELECT + " WHERE s.tenant_id = ? ORDER BY s.host", (tenant.id,)
                ).fetchall()
        out = []
        for r in rows:
            base = int(OVERLAY.network_address) + (r["subnet"] << 8) + r["host"]
            address = str(ipaddress.IPv4Address(base))
            out.append(Staff(r["tenant_id"], r["name"], r["public_key"], address, r["expires_at"]))
        return out
