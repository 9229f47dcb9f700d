"""Programs that run *inside* a test host: `python -m tests.network.hosts COMMAND ...`.

Started with `ip netns exec` (see topology.Topology.host / spawn_host). One-shot
commands print one JSON line as their answer; daemons print `READY {json}` once
they serve and `EVENT {json}` lines as things happen, and end on SIGTERM, taking
their WireGuard interface down.

    fetch JSON            requests made concurrently, see `fetch()`; prints the results
    listen --bind --port  TCP server answering {"service": "listen", "peer": ...}
    enrol --token-file    redeem a token (pinned TLS); prints the relay's answer
                          (--public-key: enrol that key instead of a new one)
    appliance ...         a stand-in appliance: enrol, WireGuard up, serve 443/80/8443
    staff ...             a staff device: WireGuard up, serve a port on its address
    profile CONF --iface  a staff device from a WireGuard profile file (what the WireGuard
                          app does with an `appliance staff add` .conf): up until SIGTERM
    hold URL ...          hold a console connection and ping it until it stalls

The Python functions (`enrol`, `wg_up`, `wg_set_peer`, `fetch`) can be imported by
other in-namespace programs.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from relay_server import keys, proxy_protocol, tokens

RELAY_OVERLAY = "100.64.0.1"
TUNNEL_API = f"http://{RELAY_OVERLAY}:8081"
STAFF_PORT = 7000  # what a staff device serves on its overlay address (for reachability)
_WG_ENV = {**os.environ, "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD": "1"}
_HEAD_MAX = 16 * 1024


def emit(kind: str, **fields: Any) -> None:
    """Print a READY/EVENT line with a wall-clock time."""
    print(f"{kind} {json.dumps({'time': time.time(), **fields})}", flush=True)


# --------------------------------------------------------------------- WireGuard


def _cmd(*args: str, input: str | None = None) -> None:
    done = subprocess.run(
        args, input=input, capture_output=True, text=True, timeout=15, check=False, env=_WG_ENV
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {done.stderr.strip()}")


def wg_set_peer(
    iface: str, public_key: str, endpoint: str | None, allowed: list[str], keepalive: int = 0
) -> None:
    """Add or update a peer of a WireGuard interface."""
    args = ["wg", "set", iface, "peer", public_key, "allowed-ips", ",".join(allowed)]
    if endpoint:
        args += ["endpoint", endpoint]
    if keepalive:
        args += ["persistent-keepalive", str(keepalive)]
    _cmd(*args)


def wg_up(
    iface: str,
    private_key: str,
    address: str,
    *,
    peer: str,
    endpoint: str,
    allowed: list[str],
    routes: list[str],
    keepalive: int = 25,
) -> None:
    """Create a wireguard-go interface with one peer (the relay), its address and routes.

    The key goes to `wg` on stdin. Setting the peer before the link is up makes
    wireguard-go send a keepalive (so a handshake) as soon as it comes up.
    """
    _cmd("wireguard-go", iface)
    _cmd("wg", "set", iface, "private-key", "/dev/stdin", input=private_key + "\n")
    wg_set_peer(iface, peer, endpoint, allowed, keepalive)
    _cmd("ip", "address", "add", f"{address}/32", "dev", iface)
    _cmd("ip", "link", "set", iface, "up")
    for route in routes:
        _cmd("ip", "route", "add", route, "dev", iface, "src", address)


def wg_down(iface: str) -> None:
    """Delete the interface; wireguard-go exits with it."""
    subprocess.run(["ip", "link", "del", iface], capture_output=True, check=False)


# ------------------------------------------------------------------------- HTTP


def _read_head(stream: Any) -> bytes:
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        byte = stream.read(1)
        if not byte:
            break
        head += byte
        if len(head) > _HEAD_MAX:
            raise ValueError("head too large")
    return head


def _parse_response(raw: bytes) -> dict[str, Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        return {"ok": False, "kind": "garbage", "error": repr(raw[:200]), "body": ""}
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    text = body.decode("utf-8", "replace")
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = None
    return {"ok": True, "status": int(parts[1]), "headers": headers, "body": text, "json": parsed}


def _classify(err: BaseException) -> str:
    if isinstance(err, TimeoutError | socket.timeout):
        return "timeout"
    if isinstance(err, ConnectionRefusedError):
        return "refused"
    if isinstance(err, ConnectionResetError | BrokenPipeError):
        return "reset"
    if isinstance(err, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return "eof"
    if isinstance(err, ssl.SSLError):
        return "tls"
    if isinstance(err, OSError) and err.errno in (101, 113):
        return "unreachable"
    return "other"


def _one(request: dict[str, Any]) -> dict[str, Any]:
    """Make one request; never raise (the result says what happened)."""
    started = time.monotonic()
    try:
        result = _request(request)
    except Exception as err:
        result = {"ok": False, "kind": _classify(err), "error": f"{type(err).__name__}: {err}"}
    result["elapsed"] = round(time.monotonic() - started, 3)
    return result


def _request(request: dict[str, Any]) -> dict[str, Any]:
    url = urlsplit(request["url"])
    scheme = url.scheme
    host = url.hostname or ""
    port = url.port or {"https": 443, "http": 80}.get(scheme, 0)
    connect = request.get("connect") or f"{host}:{port}"
    address, _, connect_port = connect.rpartition(":")
    timeout = float(request.get("timeout", 3.0))
    source = (request["bind"], 0) if request.get("bind") else None
    sock = socket.create_connection((address, int(connect_port)), timeout, source)
    try:
        sock.settimeout(timeout)
        stream: socket.socket = sock
        if scheme == "https":
            if request.get("ca"):
                context = ssl.create_default_context(cafile=request["ca"])
            else:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            stream = context.wrap_socket(sock, server_hostname=host)
        if scheme == "tcp":
            if request.get("send"):
                stream.sendall(request["send"].encode())
            data = b""
            while chunk := stream.recv(65536):
                data += chunk
            return {"ok": True, "body": data.decode("utf-8", "replace")}
        body = b""
        headers = {"Host": request.get("host", host), "Connection": "close"}
        headers |= request.get("headers", {})
        if "json" in request:
            body = json.dumps(request["json"]).encode()
            headers["Content-Type"] = "application/json"
        if body or request.get("method", "GET") in ("POST", "PUT"):
            headers["Content-Length"] = str(len(body))
        target = url.path or "/"
        if url.query:
            target += "?" + url.query
        head = f"{request.get('method', 'GET')} {target} HTTP/1.1\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        stream.sendall(head.encode() + body)
        raw = b""
        while chunk := stream.recv(65536):
            raw += chunk
        if not raw:
            return {"ok": False, "kind": "eof", "error": "closed without an answer"}
        return _parse_response(raw)
    finally:
        sock.close()


def fetch(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Make requests concurrently; return one result per request, in order.

    A request: {"url": "https://name/path" | "http://..." | "tcp://ip:port",
    "connect": "ip:port" (where to connect instead of the URL's host, like curl
    --resolve), "ca": PEM path (verify against it; else no verification),
    "method", "json", "headers", "host" (Host header), "send" (tcp), "bind"
    (source address), "timeout" (s, default 3)}. A result: {"ok", "status",
    "headers", "body", "json", "kind" (timeout | refused | reset | eof | tls |
    unreachable | other), "error", "elapsed"}.
    """
    if not requests:
        return []
    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(_one, requests))


# -------------------------------------------------------------------- enrolment


class EnrolError(RuntimeError):
    """The relay refused the enrolment, or was not the relay the token names."""


def enrol(token_text: str, public_key: str, timeout: float = 10.0) -> dict[str, Any]:
    """Redeem an enrolment token: TLS to the relay, pinned by the token's fingerprint.

    The certificate is checked (SHA-256 of its DER form) before the secret is sent.
    """
    token = tokens.decode(token_text)
    host, _, port = token.api.rpartition(":")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the pin below is the verification
    with (
        socket.create_connection((host, int(port)), timeout) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        if not der or hashlib.sha256(der).hexdigest() != token.fingerprint.lower():
            raise EnrolError("the relay's certificate does not match the token's fingerprint")
        body = json.dumps({"secret": token.secret, "public_key": public_key}).encode()
        tls.sendall(
            f"POST /v1/enrol HTTP/1.1\r\nHost: {token.api}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        raw_answer = b""
        while chunk := tls.recv(65536):
            raw_answer += chunk
    answer = _parse_response(raw_answer)
    if answer.get("status") != 200:
        raise EnrolError(f"enrolment refused: {answer.get('status')} {answer.get('body')}")
    result: dict[str, Any] = answer["json"]
    return result


# ---------------------------------------------------------------------- servers


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default listen backlog is 5: a burst of connections from the relay
    # (90 in the flood test) overflowed it on a busy machine, and the dropped SYNs came
    # back after 1 s and 3 s, past the relay's handshake timeout.
    request_queue_size = 256


def _serve(address: str, port: int, handler: Any) -> _Server:
    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.settimeout(30)
            with contextlib.suppress(OSError, ValueError):  # a peer that went away
                handler(self.request, self.client_address)

    server = _Server((address, port), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))  # never more than asked: the rest stays queued
        if not chunk:
            raise ValueError("closed early")
        data += chunk
    return data


def _answer(stream: Any, data: dict[str, Any], status: str = "200 OK") -> None:
    body = json.dumps(data).encode()
    stream.sendall(
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )


def _request_line(head: bytes) -> tuple[str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if value:
            headers[name.strip().lower()] = value.strip()
    return lines[0], headers


class ApplianceServers:
    """What a stand-in appliance serves on its overlay address.

    443: PROXY v2 header, then TLS with the tenant's certificate; answers with the
    visitor address the header carried. 80: plain HTTP (ACME HTTP-01 challenges).
    8443: the "console", TLS; /echo echoes lines (for held connections).
    """

    def __init__(self, tenant: str, address: str, cert: str, key: str) -> None:
        self.tenant = tenant
        self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.tls.load_cert_chain(cert, key)
        self.servers = [
            _serve(address, 443, self.visitor),
            _serve(address, 80, self.acme),
            _serve(address, 8443, self.console),
        ]

    def visitor(self, sock: socket.socket, peer: tuple[str, int]) -> None:
        header = _recv_exact(sock, proxy_protocol.HEADER_MIN)
        header += _recv_exact(sock, proxy_protocol.header_length(header) - len(header))
        addresses = proxy_protocol.decode(header)
        with self.tls.wrap_socket(sock, server_side=True) as tls:
            stream = tls.makefile("rb")
            line, headers = _request_line(_read_head(stream))
            source = f"{addresses[0][0]}:{addresses[0][1]}" if addresses else None
            destination = f"{addresses[1][0]}:{addresses[1][1]}" if addresses else None
            _answer(
                tls,
                {
                    "service": "visitor",
                    "tenant": self.tenant,
                    "source": source,
                    "destination": destination,
                    "peer": f"{peer[0]}:{peer[1]}",
                    "request": line,
                    "marker": headers.get("x-marker"),
                },
            )

    def acme(self, sock: socket.socket, peer: tuple[str, int]) -> None:
        line, headers = _request_line(_read_head(sock.makefile("rb")))
        _answer(
            sock,
            {
                "service": "acme",
                "tenant": self.tenant,
                "request": line,
                "host": headers.get("host"),
                "peer": f"{peer[0]}:{peer[1]}",
            },
        )

    def console(self, sock: socket.socket, peer: tuple[str, int]) -> None:
        with self.tls.wrap_socket(sock, server_side=True) as tls:
            stream = tls.makefile("rb")
            line, _ = _request_line(_read_head(stream))
            if line.startswith("GET /echo "):
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n")
                tls.settimeout(None)
                while data := stream.readline():
                    tls.sendall(data)
                return
            _answer(
                tls,
                {"service": "console", "tenant": self.tenant, "peer": f"{peer[0]}:{peer[1]}"},
            )

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.2):
        pass


def _watchdog(
    iface: str, info: dict[str, Any], interval: float, reset_after: int, stop: threading.Event
) -> None:
    """Check the tunnel every `interval` s through the tunnel API; log transitions.

    With reset_after > 0, after that many failures in a row the relay peer is removed
    and added again: that drops the stale session, and wireguard-go handshakes at
    once (the persistent keepalive is sent as soon as the peer is set).
    """
    up, failures = True, 0
    check = {"url": f"{info['tunnel_api']}/v1/status", "timeout": min(interval, 1.0)}
    while not stop.wait(interval):
        result = _one(dict(check))
        if result.get("status") == 200:
            if not up:
                emit("EVENT", event="tunnel_up")
            up, failures = True, 0
            continue
        failures += 1
        if up:
            emit("EVENT", event="tunnel_down", error=result.get("error"))
            up = False
        if reset_after and failures % reset_after == 0:
            try:
                _cmd("wg", "set", iface, "peer", info["relay_public_key"], "remove")
                wg_set_peer(iface, info["relay_public_key"], info["endpoint"], _ALLOWED, 25)
            except (RuntimeError, OSError, subprocess.SubprocessError) as err:
                emit("EVENT", event="peer_reset_failed", error=str(err))
            else:
                emit("EVENT", event="peer_reset")


# The stand-in appliance accepts anything from the relay peer: the relay's firewall
# (not this side) is what the tests check. It routes only the relay and its /24.
_ALLOWED = ["100.64.0.0/10"]


def enrol_and_tunnel(token_file: str, iface: str) -> tuple[dict[str, Any], str]:
    """Enrol with a new key and bring the tunnel up; return the answer (with our public
    key added) and our overlay address."""
    private = keys.generate_private_key()
    public = keys.public_key(private)
    info = {**enrol(Path(token_file).read_text(), public), "public_key": public}
    address = info["address"]
    wg_up(
        iface,
        private,
        address,
        peer=info["relay_public_key"],
        endpoint=info["endpoint"],
        allowed=_ALLOWED,
        routes=[f"{info['relay_address']}/32", info["network"]],
        keepalive=25,
    )
    return info, address


def appliance_main(args: argparse.Namespace) -> None:
    info, address = enrol_and_tunnel(args.token_file, args.iface)
    try:
        servers = ApplianceServers(info["tenant"], address, args.cert, args.key)
        stop = threading.Event()
        if args.watchdog:
            threading.Thread(
                target=_watchdog,
                args=(args.iface, info, args.watchdog, args.reset_after, stop),
                daemon=True,
            ).start()
        emit("READY", **info, iface=args.iface)
        _wait_for_signal()
        stop.set()
        servers.close()
    finally:
        wg_down(args.iface)


def staff_main(args: argparse.Namespace) -> None:
    private = Path(args.key_file).read_text().strip()
    wg_up(
        args.iface,
        private,
        args.address,
        peer=args.relay_key,
        endpoint=args.endpoint,
        allowed=args.allowed.split(","),
        routes=args.routes.split(","),
        keepalive=args.keepalive,
    )
    try:
        server = _serve(
            args.address,
            STAFF_PORT,
            lambda sock, peer: sock.sendall(
                json.dumps({"service": "staff", "name": args.name, "peer": peer[0]}).encode()
            ),
        )
        emit("READY", address=args.address, iface=args.iface)
        _wait_for_signal()
        server.shutdown()
        server.server_close()
    finally:
        wg_down(args.iface)


def read_profile(text: str) -> dict[str, dict[str, str]]:
    """Parse a WireGuard profile (.conf): {"Interface": {...}, "Peer": {...}} (one peer)."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
        elif "=" in line:
            key, _, value = line.partition("=")
            current[key.strip()] = value.strip()
    return sections


def profile_main(args: argparse.Namespace) -> None:
    """Bring up a profile like wg-quick: key on stdin, its address, a route per AllowedIPs."""
    conf = read_profile(Path(args.conf).read_text())
    interface, peer = conf["Interface"], conf["Peer"]
    address = interface["Address"].split(",")[0].strip().split("/")[0]
    allowed = [a.strip() for a in peer["AllowedIPs"].split(",")]
    wg_up(
        args.iface,
        interface["PrivateKey"],
        address,
        peer=peer["PublicKey"],
        endpoint=peer["Endpoint"],
        allowed=allowed,
        routes=allowed,
        keepalive=int(peer.get("PersistentKeepalive", "0")),
    )
    try:
        emit("READY", address=address, iface=args.iface, allowed=allowed)
        _wait_for_signal()
    finally:
        wg_down(args.iface)


def listen_main(args: argparse.Namespace) -> None:
    server = _serve(
        args.bind,
        args.port,
        lambda sock, peer: sock.sendall(
            json.dumps({"service": "listen", "peer": f"{peer[0]}:{peer[1]}"}).encode()
        ),
    )
    emit("READY", bind=args.bind, port=args.port)
    _wait_for_signal()
    server.shutdown()
    server.server_close()


def hold_main(args: argparse.Namespace) -> int:
    """Hold a console /echo connection; print "up", then "stalled" when pings stop."""
    url = urlsplit(args.url)
    address, _, port = args.connect.rpartition(":")
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    sock = socket.create_connection((address, int(port)), 5)
    with context.wrap_socket(sock, server_hostname=url.hostname) as tls:
        tls.sendall(f"GET /echo HTTP/1.1\r\nHost: {url.hostname}\r\n\r\n".encode())
        stream = tls.makefile("rb")
        _read_head(stream)
        tls.settimeout(args.stall)
        deadline = time.monotonic() + args.max
        count = 0
        while time.monotonic() < deadline:
            count += 1
            try:
                tls.sendall(f"ping {count}\n".encode())
                if stream.readline() != f"ping {count}\n".encode():
                    raise ValueError("wrong echo")
            except (OSError, ValueError) as err:
                emit("EVENT", event="stalled", pings=count - 1, error=repr(err))
                return 0
            if count == 1:
                emit("EVENT", event="up")
            time.sleep(args.interval)
    emit("EVENT", event="still_up", pings=count)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.network.hosts")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("fetch").add_argument("requests", help="JSON list of requests")
    listen = commands.add_parser("listen")
    listen.add_argument("--bind", required=True)
    listen.add_argument("--port", type=int, required=True)
    enrol_cmd = commands.add_parser("enrol")
    enrol_cmd.add_argument("--token-file", required=True)
    enrol_cmd.add_argument("--public-key", help="enrol with this key (default: a new one)")
    appliance = commands.add_parser("appliance")
    appliance.add_argument("--token-file", required=True)
    appliance.add_argument("--iface", required=True)
    appliance.add_argument("--cert", required=True)
    appliance.add_argument("--key", required=True)
    appliance.add_argument("--watchdog", type=float, default=1.0, help="s between checks")
    appliance.add_argument("--reset-after", type=int, default=2, help="0: never reset")
    staff = commands.add_parser("staff")
    staff.add_argument("--name", required=True)
    staff.add_argument("--key-file", required=True)
    staff.add_argument("--address", required=True)
    staff.add_argument("--relay-key", required=True)
    staff.add_argument("--endpoint", required=True)
    staff.add_argument("--iface", required=True)
    staff.add_argument("--allowed", default="100.64.0.0/10")
    staff.add_argument("--routes", default="100.64.0.0/10")
    staff.add_argument("--keepalive", type=int, default=25)
    profile = commands.add_parser("profile")
    profile.add_argument("conf", help="a WireGuard profile file")
    profile.add_argument("--iface", required=True)
    hold = commands.add_parser("hold")
    hold.add_argument("url")
    hold.add_argument("--connect", required=True)
    hold.add_argument("--interval", type=float, default=0.1)
    hold.add_argument("--stall", type=float, default=1.0)
    hold.add_argument("--max", type=float, default=20.0)
    args = parser.parse_args(argv)

    if args.command == "fetch":
        print(json.dumps(fetch(json.loads(args.requests))), flush=True)
    elif args.command == "enrol":
        try:
            key = args.public_key or keys.public_key(keys.generate_private_key())
            answer = enrol(Path(args.token_file).read_text(), key)
            print(json.dumps({"ok": True, **answer}), flush=True)
        except (EnrolError, tokens.TokenError, OSError) as err:
            print(json.dumps({"ok": False, "error": str(err)}), flush=True)
    elif args.command == "appliance":
        appliance_main(args)
    elif args.command == "staff":
        staff_main(args)
    elif args.command == "profile":
        profile_main(args)
    elif args.command == "listen":
        listen_main(args)
    elif args.command == "hold":
        return hold_main(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
