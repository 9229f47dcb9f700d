"""The `relay-server` command: init, run, and tenant management."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import replace

from relay_server import __version__, config
from relay_server.certs import fingerprint, make_self_signed
from relay_server.keys import generate_private_key, public_key, write_private
from relay_server.registry import Registry, RegistryError
from relay_server.tokens import EnrolmentToken


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="relay-server", description="Callbox relay")
    parser.add_argument("--version", action="version", version=f"callbox-relay {__version__}")
    parser.add_argument("--data", help=f"data directory (default {config.DEFAULT_DATA})")
    commands = parser.add_subparsers(dest="command", required=True)
    init = commands.add_parser("init", help="create keys and relay.toml")
    init.add_argument("--public-host", required=True, help="the relay's public DNS name")
    init.add_argument("--bind", help="address to listen on (default all)")
    for port in ("https", "http", "api", "wg", "metrics"):
        init.add_argument(f"--{port}-port", type=int)
    init.add_argument("--interface", help="WireGuard interface name")
    commands.add_parser("run", help="run the relay (needs CAP_NET_ADMIN)")
    tenant = commands.add_parser("tenant", help="manage tenants")
    tenants = tenant.add_subparsers(dest="tenant_command", required=True)
    add = tenants.add_parser("add", help="register a company; prints its enrolment token")
    add.add_argument("--name", required=True)
    add.add_argument("--hostname", required=True, help="its public chat host name")
    tenants.add_parser("list", help="list tenants")
    remove = tenants.add_parser("remove", help="remove a tenant and its staff devices")
    remove.add_argument("name")
    token = tenants.add_parser(
        "token", help="issue a new enrolment token for a tenant (revokes its unused ones)"
    )
    token.add_argument("name")
    token.add_argument(
        "--revoke", action="store_true", help="only revoke the tenant's unused tokens"
    )
    return parser


def _init(args: argparse.Namespace) -> int:
    directory = config.data_dir(args.data)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    settings = config.RelayConfig(data_dir=directory, public_host=args.public_host)
    changes = {
        name: value
        for name, value in {
            "bind": args.bind,
            "https_port": args.https_port,
            "http_port": args.http_port,
            "api_port": args.api_port,
            "wg_port": args.wg_port,
            "metrics_port": args.metrics_port,
            "interface": args.interface,
        }.items()
        if value is not None
    }
    settings = replace(settings, **changes)
    if not settings.key_path.exists():
        write_private(settings.key_path, generate_private_key().encode())
    if not settings.cert_path.exists():
        make_self_signed(settings.public_host, settings.cert_path, settings.cert_key_path)
    (directory / config.CONFIG_FILE).write_text(config.render(settings), "utf-8")
    Registry(settings.registry_path)
    key = settings.key_path.read_text().strip()
    print(f"relay initialised in {directory}")
    print(f"  public host   {settings.public_host}")
    print(f"  WireGuard key {public_key(key)} (udp/{settings.wg_port})")
    print(f"  API cert      sha256 {fingerprint(settings.cert_path)}")
    return 0


def _token_text(settings: config.RelayConfig, secret: str) -> str:
    return EnrolmentToken(
        api=f"{settings.public_host}:{settings.api_port}",
        fingerprint=fingerprint(settings.cert_path),
        secret=secret,
        expires=int(time.time() + settings.token_ttl),
    ).encode()


def _tenant(args: argparse.Namespace, settings: config.RelayConfig) -> int:
    registry = Registry(settings.registry_path)
    if args.tenant_command == "add":
        tenant, secret = registry.add_tenant(args.name, args.hostname, settings.token_ttl)
        hours = settings.token_ttl / 3600
        print(f"tenant {tenant.name!r}: {tenant.hostname}, overlay {tenant.network}")
        print(f"one-time enrolment token (valid {hours:g} h):")
        print(_token_text(settings, secret))
    elif args.tenant_command == "token" and args.revoke:
        count = registry.revoke_tokens(args.name)
        plural = "" if count == 1 else "s"
        print(f"revoked {count} unused enrolment token{plural} of tenant {args.name!r}")
    elif args.tenant_command == "token":
        secret, revoked = registry.new_token(args.name, settings.token_ttl)
        if revoked:
            plural = "" if revoked == 1 else "s"
            print(f"revoked {revoked} earlier unused token{plural} of tenant {args.name!r}")
        print(_token_text(settings, secret))
    elif args.tenant_command == "list":
        staff = registry.staff()
        print(f"{'name':<20} {'hostname':<32} {'overlay':<18} {'enrolled':<9} staff")
        for t in registry.tenants():
            count = sum(1 for s in staff if s.tenant_id == t.id)
            enrolled = "yes" if t.appliance_key else "no"
            print(f"{t.name:<20} {t.hostname:<32} {t.network!s:<18} {enrolled:<9} {count}")
    else:
        removed = registry.remove_tenant(args.name)
        print(f"removed tenant {removed.name!r}; a running relay drops its peers within seconds")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the `relay-server` command."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "init":
            return _init(args)
        settings = config.load(config.data_dir(args.data))
        if args.command == "tenant":
            return _tenant(args, settings)
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        from relay_server.server import run

        return run(settings)
    except (config.ConfigError, RegistryError) as err:
        print(f"relay-server: {err}", file=sys.stderr)
        return 2
