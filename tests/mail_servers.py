"""Real mail servers on loopback for the e-mail tests: Debian's dovecot (IMAP), run
by the test as an unprivileged user with its own config in a temp dir, and aiosmtpd
as an SMTP server. Nothing leaves 127.0.0.1."""

from __future__ import annotations

import contextlib
import imaplib
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from appliance.core import audit

DOVECOT = Path("/usr/sbin/dovecot")
USER = "help@example.test"
PASSWORD = "box-secret-1"
_START_WAIT = 10.0  # s for dovecot to listen


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def idle_mailbox(box: Any) -> Any:
    """A mailbox the box knows but does not watch (no server behind it): tests hand
    their mails to `box.mail_in.import_message` with it."""
    return await box.mail.add_mailbox(
        audit.Actor(None, "test", "127.0.0.1"),
        {
            "name": "s",
            "address": "help@example.com",
            "host": "127.0.0.1",
            "port": free_port(),
            "security": "none",
            "username": "u",
            "password": "p",
            "enabled": False,
        },
    )


_CONF = """
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {user}
default_internal_user = {user}
default_internal_group = {group}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


class Dovecot:
    """A dovecot IMAP server on loopback with one mailbox (USER / PASSWORD)."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="callbox-dovecot-"))
        self.port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        account = pwd.getpwnam("nobody") if os.getuid() == 0 else pwd.getpwuid(os.getuid())
        group = "nogroup" if os.getuid() == 0 else str(account.pw_gid)
        (self.root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
        (self.root / "dovecot.conf").write_text(
            _CONF.format(
                root=self.root,
                port=self.port,
                user=account.pw_name,
                group=group,
                uid=account.pw_uid,
                gid=account.pw_gid,
            )
        )
        for path in [self.root, *self.root.rglob("*")]:
            if os.getuid() == 0:
                # After a halt, an imap child of the old server may still be renaming a
                # message (new/ to cur/) as it exits: a path gone meanwhile is fine, the
                # account's own process made its new name.
                with contextlib.suppress(FileNotFoundError):
                    os.chown(path, account.pw_uid, account.pw_gid)
        self._proc = subprocess.Popen(
            [str(DOVECOT), "-F", "-c", str(self.root / "dovecot.conf")],
            user=account.pw_uid if os.getuid() == 0 else None,
            group=account.pw_gid if os.getuid() == 0 else None,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + _START_WAIT
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                if time.monotonic() > deadline or self._proc.poll() is not None:
                    raise RuntimeError("dovecot did not start") from None
                time.sleep(0.05)

    def halt(self) -> None:
        """Stop the server and keep its mail (start() starts it again on the same port)."""
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
            self._proc = None

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
            self._proc = None
        # dovecot's children leave with the master; wait until none is left.
        shutil.rmtree(self.root, ignore_errors=True)

    def client(self) -> imaplib.IMAP4:
        imap = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        imap.login(USER, PASSWORD)
        return imap

    def append(self, raw: bytes, flags: str = "") -> None:
        """Deliver a message into INBOX (IMAP APPEND)."""
        imap = self.client()
        try:
            status, _ = imap.append("INBOX", flags or None, None, raw)
            assert status == "OK"
        finally:
            imap.logout()

    def flags(self) -> dict[int, str]:
        """Return each INBOX message's flags by UID."""
        imap = self.client()
        try:
            imap.select("INBOX")
            _, data = imap.uid("FETCH", "1:*", "(FLAGS)")
        finally:
            imap.logout()
        found = {}
        for item in data:
            if isinstance(item, bytes) and b"UID" in item:
                text = item.decode()
                uid = int(text.split("UID ")[1].split()[0].rstrip(")"))
                found[uid] = text.split("FLAGS (")[1].split(")")[0]
        return found


@dataclass
class _Sink:
    messages: list[EmailMessage] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = bytes(envelope.original_content or envelope.content)
        self.raw.append(data)
        parsed = BytesParser(policy=policy.default).parsebytes(data)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 OK"


class SmtpServer:
    """An aiosmtpd SMTP server on a fixed loopback port that can stop and start again."""

    user = "box"
    password = "smtp-secret"

    def __init__(self, *, auth: bool = True, tls: ssl.SSLContext | None = None) -> None:
        self.port = free_port()
        self.sink = _Sink()
        self._auth = auth
        self._tls = tls  # offers STARTTLS and then requires it before AUTH
        self._controller: Controller | None = None

    def _check(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        good = isinstance(data, LoginPassword) and (
            data.login.decode(),
            data.password.decode(),
        ) == (self.user, self.password)
        # handled=False: aiosmtpd answers 535 itself (True would leave the client waiting).
        return AuthResult(success=good, handled=False)

    def start(self) -> None:
        self._controller = Controller(
            self.sink,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self._check if self._auth else None,
            # AUTH offered without TLS (loopback) unless STARTTLS is on; a client that
            # logs in is checked. Not "required": aiosmtpd warns about that in every
            # session's thread.
            auth_require_tls=self._tls is not None,
            tls_context=self._tls,
            require_starttls=self._tls is not None,
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
