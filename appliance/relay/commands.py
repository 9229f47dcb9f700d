"""`appliance enroll`, `appliance cert import` and `appliance staff …`."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import aiohttp

from appliance.core import audit
from appliance.core.box import Box
from appliance.core.clock import local_text
from appliance.core.errors import ChatError
from appliance.relay import acme_order, enrolment, staff
from appliance.relay import state as relay_state
from appliance.relay.firewall import OverlayPorts
from appliance.relay.tls import CertificateError, import_visitor_certificate
from appliance.relay.tunnel import Tunnel
from appliance.relay.wireguard import WireGuardError
from appliance.settings import Settings

_ENROL_CHECK = 20.0  # s to wait for the first answer through the new tunnel


class CommandError(RuntimeError):
    """A relay command that failed, with a message for the operator."""


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the relay-related subcommands."""
    enroll = commands.add_parser("enroll", help="join a relay with a one-time token")
    enroll.add_argument("--relay", help="relay host[:port] (default: the one in the token)")
    enroll.add_argument("--token", required=True, help="the cbr1.… token from the relay operator")
    cert = commands.add_parser("cert", help="certificates for the public chat host name")
    certs = cert.add_subparsers(dest="cert_command", required=True)
    imp = certs.add_parser("import", help="import a certificate chain and its key (PEM)")
    imp.add_argument("--cert", required=True, type=Path)
    imp.add_argument("--key", required=True, type=Path)
    acme = certs.add_parser("acme", help="obtain one by ACME HTTP-01 through the relay")
    acme.add_argument("--email", help="contact for the CA's expiry notices")
    acme.add_argument("--directory", default=acme_order.LETS_ENCRYPT, help="ACME directory URL")
    acme.add_argument(
        "--ca-bundle", help="CA file to trust for the ACME server (tests, private CAs)"
    )
    device = commands.add_parser("staff", help="staff devices (WireGuard profiles)")
    devices = device.add_subparsers(dest="staff_command", required=True)
    add = devices.add_parser("add", help="register a device; writes its profile and QR code")
    add.add_argument("name")
    add.add_argument("--owner", default="", help="who carries the device")
    add.add_argument("--days", type=int, help="days it stays valid (default: the box setting)")
    devices.add_parser("list", help="list devices")
    renew = devices.add_parser("renew", help="extend a device's validity from today")
    renew.add_argument("name")
    renew.add_argument("--days", type=int, help="days it stays valid (default: the box setting)")
    revoke = devices.add_parser("revoke", help="cut a device off at once")
    revoke.add_argument("name")


async def _record(settings: Settings, action: str, target: str, detail: dict[str, str]) -> None:
    """Record an action of these commands (files and the relay, no table) in the audit log."""
    box = Box(settings)
    await box.db.open()
    try:
        await box.audit.add(audit.command_line(), action, target, detail)
    finally:
        await box.db.close()


def _enrolled(settings: Settings) -> relay_state.RelayState:
    state = relay_state.load(settings.data_dir)
    if state is None:
        raise CommandError("this box is not enrolled: run `appliance enroll` first")
    return state


async def enroll(settings: Settings, args: argparse.Namespace) -> None:
    """Enrol, then bring the tunnel up and wait for the relay to answer through it."""
    try:
        state = await enrolment.enroll(settings.data_dir, args.token, args.relay)
    except enrolment.EnrolmentError as err:
        raise CommandError(str(err)) from err
    print(f"enrolled as tenant {state.tenant!r}: {state.hostname}, overlay {state.address}")
    detail = {"relay": state.endpoint, "hostname": state.hostname, "address": state.address}
    await _record(settings, "relay.enrol", state.tenant, detail)
    key = relay_state.private_key(settings.data_dir)
    assert key is not None
    tunnel = Tunnel(state, key, settings.tunnel_interface, OverlayPorts.of(settings))
    try:
        await tunnel.up()
    except WireGuardError as err:
        print(f"tunnel not up yet ({err}); `appliance run` with CAP_NET_ADMIN brings it up")
        return
    if tunnel.status.firewall != "on":
        print(f"warning: no firewall on {settings.tunnel_interface} ({tunnel.status.firewall})")
    async with aiohttp.ClientSession() as session:
        deadline = asyncio.get_running_loop().time() + _ENROL_CHECK
        while asyncio.get_running_loop().time() < deadline:
            if await tunnel.check(session):
                print(f"tunnel up: the relay answers at {state.relay_address}")
                return
            await asyncio.sleep(0.5)
    raise CommandError("the tunnel is configured but the relay does not answer through it")


def certificate(settings: Settings, args: argparse.Namespace) -> None:
    """Import the visitor certificate, or obtain it by ACME."""
    if args.cert_command == "acme":
        enrolled = _enrolled(settings)
        try:
            expiry = acme_order.obtain(
                settings.data_dir, enrolled.hostname, args.email, args.directory, args.ca_bundle
            )
        except (acme_order.AcmeError, CertificateError) as err:
            raise CommandError(str(err)) from err
        print(f"certificate for {enrolled.hostname} installed, valid until {expiry}")
        detail = {"via": "acme", "directory": args.directory, "not_after": str(expiry)}
        asyncio.run(_record(settings, "cert.install", enrolled.hostname, detail))
        return
    state = relay_state.load(settings.data_dir)
    try:
        leaf = import_visitor_certificate(
            settings.data_dir,
            args.cert.read_bytes(),
            args.key.read_bytes(),
            state.hostname if state else None,
        )
    except (OSError, CertificateError) as err:
        raise CommandError(str(err)) from err
    print(
        f"imported certificate for {leaf.subject.rfc4514_string()}, "
        f"valid until {leaf.not_valid_after_utc:%Y-%m-%d}; restart the appliance to use it"
    )
    detail = {"via": "import", "not_after": f"{leaf.not_valid_after_utc:%Y-%m-%d}"}
    target = state.hostname if state else leaf.subject.rfc4514_string()
    asyncio.run(_record(settings, "cert.install", target, detail))


async def staff_command(settings: Settings, args: argparse.Namespace) -> None:
    """Add, list or revoke staff devices."""
    box = Box(settings)
    await box.db.open()
    try:
        if args.staff_command == "list":
            devices = await box.devices.list()
            now = box.devices.clock()
            print(f"{'name':<24} {'address':<16} {'expires':<17} state")
            for d in devices:
                print(f"{d.name:<24} {d.address:<16} {local_text(d.expires_at):<17} {d.state(now)}")
            return
        state = _enrolled(settings)
        try:
            if args.staff_command == "add":
                profile = await staff.add(
                    state,
                    box.devices,
                    args.name,
                    owner=args.owner,
                    days=args.days,
                    by=audit.command_line(),
                )
                config, png, ca = await staff.save_profile(settings.data_dir, profile)
                print(profile.qr_terminal())
                print(f"device {profile.name!r} at {profile.address}")
                print(f"  valid until:       {local_text(profile.expires_at)}")
                print(f"  WireGuard profile: {config} (scan the QR code above,")
                print(f"                     or {png}, with the WireGuard app)")
                print(f"  console:           {profile.console_url}")
                print(f"  trust this CA once on the device: {ca}")
            elif args.staff_command == "renew":
                device = await staff.renew(
                    state, box.devices, args.name, args.days, by=audit.command_line()
                )
                print(f"device {args.name!r} renewed: valid until {local_text(device.expires_at)}")
            else:
                await staff.revoke(state, box.devices, args.name, by=audit.command_line())
                print(f"device {args.name!r} revoked: cut off at the relay")
        except (staff.StaffError, ChatError) as err:
            raise CommandError(str(err)) from err
    finally:
        await box.db.close()
