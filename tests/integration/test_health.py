"""The box's health as JSON: every field present and sane, warnings when IT must act
(certificate, backup), and the log's recent warnings scrubbed of secrets."""

from __future__ import annotations

import datetime
import logging
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from appliance import __version__
from appliance.core.health import BackupStatus
from appliance.relay.tls import TLS_DIR, VISITOR_CERT
from tests.conftest import Agent, Running

MakeAgent = Callable[..., Awaitable[Agent]]
TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$")


def write_certificate(data_dir: Path, days: float) -> None:
    """Put a visitor certificate for chat.acme.test valid for `days` more days."""
    now = datetime.datetime.now(datetime.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "chat.acme.test")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("chat.acme.test")]), False)
        .sign(key, hashes.SHA256())
    )
    folder = data_dir / TLS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    (folder / VISITOR_CERT).write_bytes(cert.public_bytes(serialization.Encoding.PEM))


class Backups:
    """A stand-in for the backup service: it reports whatever the test sets."""

    def __init__(self) -> None:
        self.last: BackupStatus | None = None

    async def last_backup(self) -> BackupStatus | None:
        return self.last


async def test_health_fields_are_present_and_sane(running: Running, make_agent: MakeAgent):
    admin = await make_agent(role="admin", status=None)
    health = await admin.get("/api/admin/health")
    assert health["status"] == "ok" and health["warnings"] == []
    assert health["version"] == __version__
    assert TIME.match(health["started_at"]) and 0 <= health["uptime_seconds"] < 600
    disk = health["disk"]
    assert 0 < disk["free_bytes"] <= disk["total_bytes"] and disk["low"] is False
    assert health["database"]["db_bytes"] > 0
    assert health["database"]["wal_bytes"] >= 0
    assert health["storage"] == {"ok": True, "error": "", "since": None, "failures": 0}
    # Not enrolled, no certificate, no backup yet: nothing to warn about.
    assert health["relay"] is None and health["certificate"] is None
    assert health["backup"] is None
    assert isinstance(health["log"], list)
    agent = await make_agent(status=None)  # others may not read it
    await agent.get("/api/admin/health", status=403)


async def test_certificate_expiry_warns_three_weeks_ahead(running: Running, make_agent: MakeAgent):
    admin = await make_agent(role="admin", status=None)
    data_dir = running.box.settings.data_dir
    write_certificate(data_dir, days=60)
    cert = (await admin.get("/api/admin/health"))["certificate"]
    assert cert["names"] == ["chat.acme.test"] and TIME.match(cert["not_after"])
    assert cert["days_left"] in (59, 60) and cert["warning"] is False and cert["error"] == ""

    write_certificate(data_dir, days=20.5)
    health = await admin.get("/api/admin/health")
    assert health["certificate"]["days_left"] == 20 and health["certificate"]["warning"] is True
    assert health["warnings"] == ["certificate_expiring"] and health["status"] == "degraded"

    write_certificate(data_dir, days=-1)
    assert (await admin.get("/api/admin/health"))["warnings"] == ["certificate_expired"]
    (data_dir / TLS_DIR / VISITOR_CERT).write_bytes(b"-----BEGIN CERTIFICATE-----\nnope\n")
    health = await admin.get("/api/admin/health")
    assert health["warnings"] == ["certificate_unreadable"]
    assert health["certificate"]["error"].startswith("unreadable")


async def test_the_last_backup_comes_from_the_backup_service(
    running: Running, make_agent: MakeAgent
):
    admin = await make_agent(role="admin", status=None)
    backups = Backups()
    running.box.backup_status = backups
    assert (await admin.get("/api/admin/health"))["backup"] is None
    now = time.time_ns() // 1_000_000
    backups.last = BackupStatus(now - 60_000, True, "12 MB to /mnt/usb", now - 60_000)
    health = await admin.get("/api/admin/health")
    assert health["backup"]["ok"] is True and health["backup"]["summary"] == "12 MB to /mnt/usb"
    assert health["backup"]["at"] == health["backup"]["last_ok_at"] and health["warnings"] == []
    backups.last = BackupStatus(now, False, "WebDAV: 507 Insufficient Storage", now - 60_000)
    health = await admin.get("/api/admin/health")
    assert health["backup"]["ok"] is False and health["warnings"] == ["backup_failed"]
    assert health["status"] == "degraded"


async def test_recent_warnings_are_shown_without_their_secrets(
    running: Running, make_agent: MakeAgent
):
    admin = await make_agent(role="admin", status=None)
    token = "tok_9f8e7d6c5b4a39281706f5e4d3c2b1a0"
    password = "hunter2-correct-horse"
    logger = logging.getLogger("appliance.core.accounts")
    logger.warning("password reset for %s with %s, token %s", "li-lei", password, token)
    logger.error("message from visitor %s: %s", "v_123", "我的银行卡号是 6222 0000 1111")
    try:
        raise ValueError(f"bad token {token}")
    except ValueError:
        logger.exception("import failed at line %d", 7)
    logging.getLogger("some.library").warning(f"session cookie={token} expired")
    async with admin.http.get(running.url("/api/admin/health")) as response:
        text = await response.text()
    for secret in (token, password, "hunter2", "6222", "银行卡", "li-lei", "v_123"):
        assert secret not in text
    ours = ("appliance.core.accounts", "some.library")
    log = [line for line in (await admin.get("/api/admin/health"))["log"] if line["logger"] in ours]
    texts = [(line["level"], line["logger"], line["text"]) for line in log]
    assert texts == [
        ("WARNING", "some.library", "session ‹…› expired"),
        ("ERROR", "appliance.core.accounts", "import failed at line 7 [ValueError]"),
        ("ERROR", "appliance.core.accounts", "message from visitor ‹str›: ‹str›"),
        ("WARNING", "appliance.core.accounts", "password reset for ‹str› with ‹str›, token ‹str›"),
    ]
    assert all(TIME.match(line["at"]) and line["count"] == 1 for line in log)
