"""The `appliance` command: run the box and manage its users."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import getpass
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp import web

from appliance import __version__, report_command, restore_command
from appliance.core import audit, restore
from appliance.core.accounts import ROLES, AccountError
from appliance.core.box import Box
from appliance.core.errors import ChatError
from appliance.core.gcpace import GcPacer
from appliance.discovery import lan_addresses
from appliance.relay import commands as relay_commands
from appliance.sd_notify import ServiceNotifier
from appliance.settings import Settings, SettingsError, load_settings

_LOGGER = logging.getLogger("appliance")
_SHUTDOWN_TIMEOUT = 5.0  # s for open requests at stop


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="appliance", description="Callbox appliance")
    parser.add_argument("--version", action="version", version=f"callbox {__version__}")
    parser.add_argument(
        "--data", dest="data_dir", help="data directory (default $CALLBOX_DATA or ./callbox-data)"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the appliance")
    run.add_argument("--host", help="address to listen on (default 0.0.0.0: the LAN)")
    run.add_argument("--port", type=int, help="console port (default 8080)")
    run.add_argument(
        "--no-mdns",
        dest="mdns",
        action="store_false",
        default=None,
        help="do not advertise the console with zeroconf",
    )
    run.add_argument("--log-level", default="INFO")

    user = commands.add_parser("user", help="manage console users")
    users = user.add_subparsers(dest="user_command", required=True)
    add = users.add_parser("add", help="create a user")
    add.add_argument("username")
    add.add_argument("--role", choices=ROLES, default="agent")
    add.add_argument("--display-name")
    add.add_argument("--max-chats", type=int)
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input instead of prompting",
    )
    users.add_parser("list", help="list users")
    disable = users.add_parser("disable", help="disable a user and end their sessions")
    disable.add_argument("username")
    enable = users.add_parser("enable", help="enable a disabled user")
    enable.add_argument("username")
    role = users.add_parser("role", help="change a user's role")
    role.add_argument("username")
    role.add_argument("role", choices=ROLES)
    passwd = users.add_parser("passwd", help="set a user's password and end their sessions")
    passwd.add_argument("username")
    passwd.add_argument(
        "--stdin",
        "--password-stdin",
        dest="password_stdin",
        action="store_true",
        help="read the password from standard input instead of prompting",
    )
    passwd.add_argument(
        "--temporary",
        action="store_true",
        help="the user must choose a new password at their next login",
    )
    relay_commands.add_parsers(commands)
    restore_command.add_parsers(commands)
    report_command.add_parsers(commands)
    return parser


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        raise AccountError("no terminal to ask for the password: use --password-stdin (--stdin)")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat password: "):
        raise AccountError("the passwords differ")
    return first


async def _with_box(settings: Settings, work: Callable[[Box], Coroutine[Any, Any, None]]) -> None:
    box = Box(settings)
    await box.db.open()
    try:
        await work(box)
    finally:
        await box.db.close()


async def _user_command(settings: Settings, args: argparse.Namespace) -> None:
    async def work(box: Box) -> None:
        if args.user_command == "add":
            password = _read_password(args.password_stdin)
            user = await box.accounts.create_user(
                args.username,
                password,
                args.role,
                display_name=args.display_name,
                max_chats=args.max_chats,
                by=audit.command_line(),
            )
            print(f"created {user.role} {user.username!r} (id {user.id})")
        elif args.user_command == "list":
            print(
                f"{'id':>4}  {'username':<20} {'role':<11} {'status':<8} {'chats':>5}"
                f"  {'2fa':<3}  name"
            )
            for listing in await box.user_admin.listing():
                u = listing.user
                state = "disabled" if u.disabled else u.status
                two_factor = "on" if listing.two_factor else "off"
                print(
                    f"{u.id:>4}  {u.username:<20} {u.role:<11} {state:<8} {u.max_chats:>5}"
                    f"  {two_factor:<3}  {u.display_name}"
                )
        elif args.user_command == "role":
            user = await box.user_admin.named(args.username)
            user = await box.user_admin.set_role(user.id, args.role, by=audit.command_line())
            print(f"{user.username!r} is now {user.role}")
        elif args.user_command == "passwd":
            user = await box.user_admin.named(args.username)
            password = _read_password(args.password_stdin)
            await box.user_admin.set_password(
                user.id, password, temporary=args.temporary, by=audit.command_line()
            )
            print(f"password of {user.username!r} changed; their sessions ended")
        else:
            user = await box.user_admin.named(args.username)
            disabled = args.user_command == "disable"
            user = await box.user_admin.set_disabled(user.id, disabled, by=audit.command_line())
            print(f"{user.username!r} is now {'disabled' if user.disabled else 'enabled'}")

    await _with_box(settings, work)


async def serve(
    settings: Settings,
    ready: Callable[[list[str]], None] | None = None,
    stop: asyncio.Event | None = None,
    restart: asyncio.Event | None = None,
) -> None:
    """Run the appliance until SIGINT or SIGTERM (or until `stop` is set).

    Every step of the start opens inside one exit stack, so a failure at any step
    closes what the steps before it opened, in reverse order, and so does a stop.
    One thing outlives a normal stop on purpose: the tunnel interface and its
    firewall table, so staff are not dropped across a restart. A failed start takes
    away what it made of them too (webui/app.py `_relay_ctx`, Tunnel.close).
    `ready` is called with the console's listening addresses once all is up; so is
    systemd told (READY=1), and its watchdog is fed from the event loop from then on. A
    restore asks for a restart: `restart` is set, then the box stops as for a signal.
    """
    from appliance.webui.app import create_app
    from appliance.webui.keys import JOINER, RESTART, SETUP_TOKEN, TUNNEL
    from appliance.webui.relay_listener import relay_sites
    from appliance.webui.runner import make_runner

    notifier = ServiceNotifier()  # first: no child process may inherit its socket
    stop = stop or asyncio.Event()
    app = create_app(settings)
    if restart is not None:
        again = restart

        def restart_now() -> None:
            again.set()
            stop.set()

        app[RESTART][0] = restart_now
    runner = make_runner(
        app, handle_signals=False, shutdown_timeout=_SHUTDOWN_TIMEOUT, access_log=None
    )
    async with contextlib.AsyncExitStack() as stack:
        # A stop asked for while starting ends the start; the signal must not kill the
        # process with the database and tunnel half-open.
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
            stack.callback(loop.remove_signal_handler, sig)
        # After a failed setup too: it closes the cleanup contexts that did start.
        stack.push_async_callback(runner.cleanup)
        await runner.setup()
        site = web.TCPSite(runner, settings.host, settings.port, reuse_address=True)
        await site.start()
        port = settings.port
        for address in runner.addresses:
            if isinstance(address, tuple):
                port = address[1]
        shown = lan_addresses(settings.host)[0]
        print(
            f"callbox: console at http://{shown}:{port}/console (data in {settings.data_dir})",
            flush=True,
        )
        token = app[SETUP_TOKEN][0]
        if token is not None:
            print(
                "callbox: no administrator yet. Open this one-time link to create one:\n"
                f"  http://{shown}:{port}/setup?token={token}\n"
                "  or run: appliance user add --role admin NAME",
                flush=True,
            )
        await stack.enter_async_context(relay_sites(runner, app))

        async def open_relay_sites() -> None:  # for a relay joined from the admin page
            await stack.enter_async_context(relay_sites(runner, app))

        app[JOINER].open_sites = open_relay_sites
        if stop.is_set():
            _LOGGER.info("stopped while starting")
            return
        tunnel = app[TUNNEL][0]
        if tunnel is not None:
            tunnel.keep_on_stop = True
        print(f"callbox: listening on port {port}", flush=True)
        if ready is not None:
            ready([str(a) for a in runner.addresses])
        notifier.ready(f"console on port {port}")
        watchdog = asyncio.create_task(notifier.async_watchdog(), name="sd-watchdog")
        stack.push_async_callback(_cancel, watchdog)
        await stop.wait()
        _LOGGER.info("stopping")
        notifier.stopping()


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def run_box(overrides: dict[str, Any]) -> None:
    """Serve the box until stopped; restart it in place when a restore asks.

    Each start first switches to a checked restore if one waits (core/restore.py). A
    box that then fails to start goes back to the data the restore replaced and
    starts on it; one that starts records it, and keeps the previous data until an
    admin removes it.
    """
    data_dir = load_settings(overrides).data_dir

    def started(_addresses: list[str]) -> None:
        restore.confirm_started(data_dir)

    pacer = GcPacer()  # short young collections, not one long one every ~20 s (issue 18)
    pacer.start()
    try:
        with restore.data_lock(data_dir):
            while True:
                await asyncio.to_thread(restore.apply_pending, data_dir)
                restart = asyncio.Event()
                try:
                    await serve(
                        load_settings(overrides),
                        ready=started,
                        restart=restart,
                    )
                except Exception as err:
                    if await asyncio.to_thread(restore.roll_back, data_dir, str(err)) is None:
                        raise
                    continue  # the previous data is back: start on it
                if not restart.is_set():
                    return
                _LOGGER.info("restarting")
    finally:
        await pacer.stop()


# Thousands of open visitor sockets keep ~600,000 objects the collector tracks (about
# 110 per socket, mostly aiohttp's WebSocket machinery). With CPython's default
# thresholds a full collection walks them all, stopping the loop 0.35-0.6 s, every few
# seconds under load: that set the p99 of page views (250-580 ms) and would hold chat
# messages alike. Rarer young collections make full ones rare: p99 27-35 ms at the
# same throughput and memory (bench/README.md, "Visitor insight benchmark"). `appliance
# run` then paces the young collections itself and decides the full ones (core/gcpace.py).
GC_THRESHOLDS = (100_000, 20, 100)
# The database's writer thread gives up the GIL at every SQLite statement and, while the
# event loop is busy, waits up to the switch interval to get it back: a chat line's
# write (about six statements) could wait 5 ms for each under load. At 0.5 ms, 5,000
# visitors at 500 lines/s: visitor->agent p99 45.4 -> 33.5 ms, round trip p99 91 -> 62
# ms (2 interleaved runs each, bench/README.md, issue 18).
SWITCH_INTERVAL = 0.0005  # s; CPython's default is 0.005


def tune_gc() -> None:
    """Collect less often (the box's objects are long-lived, its cycles few) and hand
    the GIL between threads sooner."""
    gc.set_threshold(*GC_THRESHOLDS)
    sys.setswitchinterval(SWITCH_INTERVAL)


def _run_loop(coro: Coroutine[Any, Any, None]) -> None:
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(coro)


def main(argv: list[str] | None = None) -> int:
    """Run the `appliance` command."""
    args = _parser().parse_args(argv)
    overrides: dict[str, Any] = {"data_dir": args.data_dir}
    if args.command == "run":
        overrides.update(host=args.host, port=args.port, mdns=args.mdns)
    try:
        settings = load_settings(overrides)
    except SettingsError as err:
        print(f"appliance: {err}", file=sys.stderr)
        return 2
    try:
        if args.command == "run":
            logging.basicConfig(
                level=args.log_level.upper(),
                format="%(asctime)s %(levelname)s %(name)s: %(message)s",
            )
            tune_gc()
            _run_loop(run_box(overrides))
        elif args.command == "user":
            _run_loop(_user_command(settings, args))
        elif args.command == "enroll":
            _run_loop(relay_commands.enroll(settings, args))
        elif args.command == "cert":
            relay_commands.certificate(settings, args)
        elif args.command == "restore":
            restore_command.run_restore(settings.data_dir, args)
        elif args.command == "restore-undo":
            restore_command.run_undo(settings.data_dir)
        elif args.command == "reports-backfill":
            _run_loop(report_command.run(settings, args))
        else:
            _run_loop(relay_commands.staff_command(settings, args))
    except (
        AccountError,
        ChatError,
        relay_commands.CommandError,
        restore_command.CommandError,
    ) as err:
        print(f"appliance: {err}", file=sys.stderr)
        return 1
    except (OSError, restore.BoxRunning, SettingsError) as err:
        print(f"appliance: {err}", file=sys.stderr)
        return 1
    return 0
