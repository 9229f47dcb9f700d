"""The relay's real APIs on loopback, for tests of the box's relay steps without a tunnel.

`LoopbackRelay` serves the relay's tunnel API (staff devices) as tenant acme's
appliance would reach it: loopback cannot carry the overlay source address WireGuard
would give the request, so a middleware in front names it. It can also serve the
enrolment API over TLS with a certificate pinned by the tokens it issues. The registry
is the relay's own (SQLite in a temp folder); nothing is faked but the tunnel.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestServer
from relay_server.api import enrolment_app, tunnel_app
from relay_server.certs import fingerprint
from relay_server.keys import generate_private_key, public_key
from relay_server.registry import Registry, Tenant
from relay_server.tokens import EnrolmentToken

from appliance.relay.state import STATE_FILE, RelayState
from tests.testca import make_ca_and_server

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HOSTNAME = "chat.acme.test"


class LoopbackRelay:
    """A relay registry with its tunnel API (and, on demand, its enrolment API)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.registry = Registry(folder / "registry.db")
        self.handshakes: dict[str, int] = {}  # public key -> Unix time
        self.servers: list[TestServer] = []
        self.tunnel_url = ""
        self.enrol_address = ""
        self._fingerprint = ""
        self.tenant: Tenant | None = None

    async def start(self) -> None:
        """Register tenant acme with an enrolled box key; serve the tunnel API."""
        _, secret = self.registry.add_tenant("acme", HOSTNAME, 3600)
        self.tenant = self.registry.redeem(secret, public_key(generate_private_key()))
        address = self.tenant.appliance_address

        @web.middleware
        async def as_appliance(request: web.Request, handler: Handler) -> web.StreamResponse:
            return await handler(request.clone(remote=address))

        async def changed() -> None:
            return None

        app = tunnel_app(self.registry, changed, lambda: self.handshakes)
        app.middlewares.insert(0, as_appliance)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        self.servers.append(server)
        self.tunnel_url = f"http://127.0.0.1:{server.port}"

    async def start_enrolment(self) -> None:
        """Serve the enrolment API over TLS, as `relay-server run` does."""

        async def changed() -> None:
            return None

        _, cert, key = make_ca_and_server(self.folder / "api-tls", ["127.0.0.1"])
        self._fingerprint = fingerprint(cert)
        info = {
            "public_key": public_key(generate_private_key()),
            "endpoint": "127.0.0.1:51820",
            "tunnel_api": self.tunnel_url,
        }
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        server = TestServer(enrolment_app(self.registry, changed, info), host="127.0.0.1")
        await server.start_server(ssl=context)
        self.servers.append(server)
        self.enrol_address = f"127.0.0.1:{server.port}"

    def token(self, name: str, hostname: str, *, secret: str | None = None) -> str:
        """Register a tenant and return its printed enrolment token (or one for `secret`)."""
        if secret is None:
            _, secret = self.registry.add_tenant(name, hostname, 3600)
        return EnrolmentToken(
            self.enrol_address, self._fingerprint, secret, int(time.time()) + 3600
        ).encode()

    def enrol_box(self, data_dir: Path) -> RelayState:
        """Write what an enrolled box knows (relay.json) pointing at this tunnel API."""
        assert self.tenant is not None
        state = RelayState(
            tenant="acme",
            hostname=HOSTNAME,
            network=str(self.tenant.network),
            address=self.tenant.appliance_address,
            overlay="100.64.0.0/10",
            relay_address="100.64.0.1",
            relay_public_key=public_key(generate_private_key()),
            endpoint="127.0.0.1:51820",
            tunnel_api=self.tunnel_url,
        )
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / STATE_FILE).write_text(json.dumps(asdict(state)))
        return state

    async def close(self) -> None:
        for server in self.servers:
            await server.close()
