"""The first-boot steps after the administrator: the box's identity (company, public
chat host name, time zone, default language), joining a relay, and the visitor
certificate (uploaded, or by ACME through the relay). The same steps stay on the
admin page; they are admin API calls, made by setup.js."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
from aiohttp import web
from cryptography import x509

from appliance.core.boxprofile import os_zone, stored_zone
from appliance.core.errors import Conflict, InvalidInput
from appliance.relay import acme_order, enrolment
from appliance.relay import state as relay_state
from appliance.relay.tls import TLS_DIR, VISITOR_CERT, CertificateError, import_visitor_certificate
from appliance.webui.audit_views import admin_actor
from appliance.webui.contract import Contract, Operation, read_body, reply
from appliance.webui.keys import BOX, BOX_PROFILE, JOINER, SETTINGS, TUNNEL
from appliance.webui.security import json_error
from appliance.webui.wire import setup as wire
from appliance.webui.wire import wire_time

_LOGGER = logging.getLogger(__name__)


class AlreadyJoined(Conflict):
    code = "already_joined"


class NotEnrolled(Conflict):
    code = "not_enrolled"


def _identity(request: web.Request) -> wire.BoxIdentity:
    profile = request.app[BOX_PROFILE].profile
    in_use = os.environ.get("TZ") or os_zone()
    return wire.BoxIdentity(
        company_name=profile.company_name,
        public_host=profile.public_host,
        time_zone=profile.time_zone,
        default_lang=profile.default_lang,  # type: ignore[arg-type]
        zone_in_use=in_use,
        os_zone=os_zone(),
        restart_needed=(profile.time_zone or os_zone()) != in_use,
    )


async def get_box(request: web.Request) -> web.Response:
    """Return the box's identity and the zone it runs in."""
    return reply(_identity(request))


async def put_box(request: web.Request) -> web.Response:
    """Change some of the box's identity."""
    change = await read_body(request, wire.BoxIdentityChange)
    fields = msgspec.to_builtins(change)
    await request.app[BOX_PROFILE].update(fields)
    await request.app[BOX].audit.add(admin_actor(request), "box.identity", "", fields)
    return reply(_identity(request))


async def join_relay(request: web.Request) -> web.Response:
    """Spend an enrolment token, bring the tunnel up and serve through the relay."""
    join = await read_body(request, wire.JoinRequest)
    joined = request.app[TUNNEL][0]
    if joined is not None:
        state = joined.relay
        raise AlreadyJoined(
            f"this box already joined a relay as tenant {state.tenant!r}; to join another, "
            "stop the appliance and run `appliance enroll`"
        )
    try:
        enrolment.parse_token(join.token)
    except enrolment.EnrolmentError as err:
        raise InvalidInput(str(err)) from None
    try:
        result = await request.app[JOINER].join(request.app, join.token, join.relay or None)
    except enrolment.EnrolmentError as err:
        return json_error(502, "relay_error", str(err))
    state = result.state
    await request.app[BOX].audit.add(
        admin_actor(request), "relay.join", state.tenant, {"hostname": state.hostname}
    )
    profile = request.app[BOX_PROFILE]
    if not profile.profile.public_host:
        await profile.update({"public_host": state.hostname})
    return reply(
        wire.Joined(
            tenant=state.tenant,
            hostname=state.hostname,
            address=state.address,
            endpoint=state.endpoint,
            tunnel=result.tunnel,
            sites=result.sites,
        )
    )


def _certificate_hostname(request: web.Request, state: relay_state.RelayState | None) -> str:
    return state.hostname if state else request.app[BOX_PROFILE].profile.public_host


def _read_certificate(data_dir: Path, hostname: str) -> wire.Certificate:
    path = data_dir / TLS_DIR / VISITOR_CERT
    try:
        leaf = x509.load_pem_x509_certificates(path.read_bytes())[0]
    except (OSError, ValueError):
        return wire.Certificate(False, hostname, [], None, "")
    try:
        alt = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = alt.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    not_after = int(leaf.not_valid_after_utc.timestamp() * 1000)
    return wire.Certificate(
        True, hostname, names, wire_time(not_after), leaf.issuer.rfc4514_string()[:200]
    )


async def _certificate(request: web.Request) -> wire.Certificate:
    data_dir = request.app[SETTINGS].data_dir
    state = await asyncio.to_thread(relay_state.load, data_dir)
    hostname = _certificate_hostname(request, state)
    return await asyncio.to_thread(_read_certificate, data_dir, hostname)


async def get_certificate(request: web.Request) -> web.Response:
    """Return the visitor certificate the box serves."""
    return reply(await _certificate(request))


async def upload_certificate(request: web.Request) -> web.Response:
    """Install an uploaded certificate chain and key (the key must match, the name too)."""
    upload = await read_body(request, wire.CertificateUpload)
    data_dir = request.app[SETTINGS].data_dir
    state = await asyncio.to_thread(relay_state.load, data_dir)
    hostname = _certificate_hostname(request, state) or None
    try:
        await asyncio.to_thread(
            import_visitor_certificate,
            data_dir,
            upload.cert_pem.encode(),
            upload.key_pem.encode(),
            hostname,
        )
    except CertificateError as err:
        raise InvalidInput(str(err)) from None
    await request.app[BOX].audit.add(admin_actor(request), "cert.upload", hostname or "")
    return reply(await _certificate(request))


async def acme_certificate(request: web.Request) -> web.Response:
    """Obtain the certificate by ACME HTTP-01, answered through the relay."""
    order = await read_body(request, wire.AcmeRequest)
    settings = request.app[SETTINGS]
    state = await asyncio.to_thread(relay_state.load, settings.data_dir)
    if state is None:
        raise NotEnrolled("ACME needs the relay: join one first (or upload a certificate)")
    try:
        await asyncio.to_thread(
            acme_order.obtain,
            settings.data_dir,
            state.hostname,
            order.email or None,
            settings.acme_directory,
            settings.acme_ca_bundle or None,
        )
    except (acme_order.AcmeError, CertificateError) as err:
        return json_error(502, "acme_error", str(err))
    await request.app[BOX].audit.add(admin_actor(request), "cert.acme", state.hostname)
    return reply(await _certificate(request))


async def setup_ctx(app: web.Application) -> AsyncIterator[None]:
    """Load the box's identity; close a tunnel a join brought up, at stop."""
    await app[BOX_PROFILE].open(app[BOX].db)
    try:
        yield
    finally:
        await app[JOINER].close()


async def zone_ctx(app: web.Application) -> AsyncIterator[None]:
    """Run the process in the zone chosen in the setup (read before the core opens)."""
    zone = await asyncio.to_thread(stored_zone, app[SETTINGS].db_path)
    before = os.environ.get("TZ")
    if zone:
        os.environ["TZ"] = zone
        time.tzset()
        _LOGGER.info("running in the time zone chosen in the setup: %s", zone)
    try:
        yield
    finally:
        if zone:
            if before is None:
                os.environ.pop("TZ", None)
            else:
                os.environ["TZ"] = before
            time.tzset()


_ADMINS = "Admins only (else 403), from the LAN only."
_TAG = "admin"

CONTRACT = Contract(
    [
        Operation(
            "GET",
            "/api/admin/box",
            get_box,
            "The box's identity: company, public chat host name, time zone, language",
            _TAG,
            wire.BoxIdentity,
            errors=(401, 403),
            description=f"{_ADMINS} `zone_in_use` is the zone of this run of the appliance "
            "(the chosen one, else the OS zone); a newly chosen zone applies from the next "
            "start (`restart_needed`).",
        ),
        Operation(
            "PUT",
            "/api/admin/box",
            put_box,
            "Change the box's identity (first-boot step 2)",
            _TAG,
            wire.BoxIdentity,
            body=wire.BoxIdentityChange,
            errors=(401, 403, 413, 422),
            description=f"{_ADMINS} Any subset of the fields. `public_host` is a full host "
            'name (chat.example.com); `time_zone` an IANA name (Asia/Shanghai) or "" for the '
            "OS zone; `default_lang` the pages' language for people who chose none. 422 names "
            "the first bad field, and nothing changes.",
        ),
        Operation(
            "POST",
            "/api/admin/relay/join",
            join_relay,
            "Join a relay with a one-time enrolment token (first-boot step 3)",
            _TAG,
            wire.Joined,
            body=wire.JoinRequest,
            errors=(401, 403, 409, 413, 422, 502),
            description=f"{_ADMINS} 422 for text that is not an enrolment token; 502 "
            "`relay_error` when the relay cannot be reached, its certificate does not match "
            "the token, or it refuses the token (used, expired, unknown); 409 "
            "`already_joined` on a box that has joined. On success the answer says whether "
            'the tunnel came up (`tunnel`: "up" or why not) and whether the overlay '
            "listeners opened (`sites`).",
        ),
        Operation(
            "GET",
            "/api/admin/certificate",
            get_certificate,
            "The visitor certificate the box serves",
            _TAG,
            wire.Certificate,
            errors=(401, 403),
            description=_ADMINS,
        ),
        Operation(
            "POST",
            "/api/admin/certificate",
            upload_certificate,
            "Install an uploaded certificate and key (first-boot step 4)",
            _TAG,
            wire.Certificate,
            body=wire.CertificateUpload,
            errors=(401, 403, 413, 422),
            description=f"{_ADMINS} PEM text of the chain (leaf first) and of its private key. "
            "422 when either cannot be read, the key is not the certificate's, or the "
            "certificate does not name the public chat host name. The running box serves "
            "it within seconds.",
        ),
        Operation(
            "POST",
            "/api/admin/certificate/acme",
            acme_certificate,
            "Obtain the certificate by ACME HTTP-01 through the relay (first-boot step 4)",
            _TAG,
            wire.Certificate,
            body=wire.AcmeRequest,
            errors=(401, 403, 409, 413, 422, 502),
            description=f"{_ADMINS} Needs a joined relay (409 `not_enrolled`); the CA is the "
            "`acme_directory` setting. 502 `acme_error` says why the CA refused or could not "
            "be reached. Takes up to two minutes.",
        ),
    ]
)


def add_routes(app: web.Application) -> None:
    """Register the setup step routes."""
    CONTRACT.install(app)


_ZONES = (
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Macau",
    "Asia/Taipei",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Asia/Seoul",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "UTC",
)  # suggestions in the form; any IANA name is accepted


async def steps_context(request: web.Request) -> dict[str, object]:
    """Return what the setup steps after the administrator show (setup page, admin page)."""
    tunnel = request.app[TUNNEL][0]
    joined = None
    if tunnel is not None:
        joined = {"tenant": tunnel.relay.tenant, "hostname": tunnel.relay.hostname}
    else:
        state = await asyncio.to_thread(relay_state.load, request.app[SETTINGS].data_dir)
        if state is not None:
            joined = {"tenant": state.tenant, "hostname": state.hostname}
    return {
        "identity": _identity(request),
        "zones": _ZONES,
        "default_lang": request.app[SETTINGS].lang,
        "joined": joined,
        "certificate": await _certificate(request),
    }
