"""Tell systemd the box is ready, and keep its watchdog fed from the event loop.

The protocol of sd_notify(3) is one datagram of newline-separated `KEY=VALUE`
fields to the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or `@name` in the
abstract namespace). It is written here rather than taken from a library: `sdnotify`
on PyPI has had no release since 2017 and knows nothing of the watchdog variables,
and `systemd-python`/`cysystemd` are C extensions that need libsystemd's headers and
a compiler in the virtual environment, for a socket call of ten lines.

Without $NOTIFY_SOCKET (a shell, supervisord, the tests) every call does nothing.
The variables are removed from the environment once read, so `wg`, `nft` and
wireguard-go never inherit a socket to systemd.

The relay has its own copy of this module (relay_server/sd_notify.py): the two
packages are installed on different hosts and never import each other.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import MutableMapping

_LOGGER = logging.getLogger(__name__)
_MIN_INTERVAL = 0.1  # s: a watchdog shorter than this is a misconfiguration, not a wish


def _address(value: str) -> str | bytes | None:
    if value.startswith("@"):
        return b"\0" + value[1:].encode()  # the abstract namespace
    if value.startswith("/"):
        return value
    return None  # vsock addresses (vsock:CID:PORT) are for VMs, not this service


class ServiceNotifier:
    """The service manager's notification socket, if it gave one."""

    def __init__(self, environ: MutableMapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        raw = env.pop("NOTIFY_SOCKET", "")
        usec = env.pop("WATCHDOG_USEC", "")
        pid = env.pop("WATCHDOG_PID", "")
        self._address = _address(raw) if raw else None
        self._warned = False
        # The watchdog is ours unless systemd named another process (a wrapper's child).
        self.watchdog_interval: float | None = None  # s between WATCHDOG=1
        ours = not pid or pid == str(os.getpid())
        if self._address is not None and ours and usec.isdigit() and int(usec) > 0:
            # Half the timeout, as sd_watchdog_enabled(3) advises: one late tick (a
            # slow disk, a long collection) does not cost a restart.
            self.watchdog_interval = max(int(usec) / 2_000_000, _MIN_INTERVAL)

    @property
    def enabled(self) -> bool:
        """Tell whether a service manager listens."""
        return self._address is not None

    def send(self, *fields: str) -> None:
        """Send one notification; failures are logged once and never raised."""
        if self._address is None:
            return
        message = "\n".join(fields).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                # Never block the loop on a full receive queue: a lost tick is the
                # watchdog's business, a stalled loop would be everyone's.
                sock.setblocking(False)
                sock.sendto(message, self._address)
        except OSError as err:
            if not self._warned:
                _LOGGER.warning("cannot notify the service manager: %s", err)
                self._warned = True

    def ready(self, status: str) -> None:
        """Say the service is up and serving."""
        self.send("READY=1", f"STATUS={status}")

    def stopping(self) -> None:
        """Say the service is stopping (systemd then stops its watchdog)."""
        self.send("STOPPING=1", "STATUS=stopping")

    async def async_watchdog(self) -> None:
        """Send WATCHDOG=1 from the event loop until cancelled: a blocked loop sends none."""
        if self.watchdog_interval is None:
            return
        while True:
            self.send("WATCHDOG=1")
            await asyncio.sleep(self.watchdog_interval)
