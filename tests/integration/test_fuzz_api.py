"""Fuzz every operation of the served OpenAPI document (schemathesis, valid and invalid
data), logged in as each role with its CSRF token and as a visitor with a token,
against the real `appliance run` process: never a server error, never a hang, and
every API error in the JSON error body. The last test reports the figures."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings

from appliance.webui.openapi import build_openapi
from tests.conftest import PASSWORD, csrf_in
from tests.contract_check import ContractMismatch, _validator

_EXAMPLES = int(os.environ.get("CALLBOX_FUZZ_EXAMPLES", "15"))  # per operation (x4 callers)
_TIMEOUT = 10.0  # s a single request may take before it counts as a hang
_START_TIMEOUT = 30.0  # s for `appliance run` to listen
_ROLES = ("agent", "supervisor", "admin")
# /logout ends the caller's own session, which the next examples need; the login and
# setup forms are reached (as anonymous forms) through the other callers' examples.
_SKIPPED = {("POST", "/logout")}

schema = schemathesis.openapi.from_dict(build_openapi())
# Callers authenticate as themselves (cookies, tokens); generated security parameters
# would replace the session cookie and test only the 401 path.
schema.config.generation.update(max_examples=_EXAMPLES, with_security_parameters=False)


@dataclass
class Figures:
    requests: int = 0
    operations: set[str] = field(default_factory=set)
    server_errors: list[str] = field(default_factory=list)
    bad_error_bodies: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)


FIGURES = Figures()


@dataclass
class Target:
    """The running appliance and a logged-in HTTP session per caller."""

    base: str
    log: Path
    callers: dict[str, tuple[requests.Session, dict[str, str]]]
    caller_ids: set[int] = field(default_factory=set)
    victim_id: int = 0


def _login(base: str, username: str) -> tuple[requests.Session, dict[str, str]]:
    http = requests.Session()
    page = http.get(base + "/login", timeout=_TIMEOUT)
    token = csrf_in(page.text)
    answer = http.post(
        base + "/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
        timeout=_TIMEOUT,
    )
    assert answer.status_code == 302, answer.text
    me = http.get(base + "/api/console/me", timeout=_TIMEOUT).json()
    return http, {"X-CSRF-Token": me["csrf_token"]}


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    data = tmp_path_factory.mktemp("fuzz") / "data"
    command = [sys.executable, "-m", "appliance", "--data", str(data)]
    # The callers, and one more user for the admin's user actions to land on.
    for role in (*_ROLES, "victim"):
        subprocess.run(
            [
                *command,
                "user",
                "add",
                f"fuzz-{role}",
                "--role",
                "agent" if role == "victim" else role,
                "--password-stdin",
            ],
            input=PASSWORD,
            text=True,
            check=True,
            capture_output=True,
            timeout=60,
        )
    log = data.parent / "appliance.log"
    env = {
        **os.environ,
        # The fuzzer is one visitor at one address: limits would answer most of its
        # requests with 429 and hide the handlers behind them.
        "CALLBOX_VISITOR_MSG_BURST": "100000",
        "CALLBOX_IP_MSG_BURST": "100000",
        "CALLBOX_VISITOR_CONV_BURST": "100000",
        "CALLBOX_IP_CONV_BURST": "100000",
    }
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [*command, "run", "--host", "127.0.0.1", "--port", "0", "--no-mdns"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        port = None
        deadline = time.monotonic() + _START_TIMEOUT
        while port is None and time.monotonic() < deadline and proc.poll() is None:
            found = re.search(r"listening on port (\d+)", log.read_text())
            port = int(found.group(1)) if found else None
            time.sleep(0.1)
        assert port is not None, log.read_text()
        base = f"http://127.0.0.1:{port}"
        callers = {role: _login(base, f"fuzz-{role}") for role in _ROLES}
        ids = {
            http.get(base + "/api/console/me", timeout=_TIMEOUT).json()["user"]["id"]
            for http, _ in callers.values()
        }
        admin = callers["admin"][0]
        listing = admin.get(base + "/api/admin/users", timeout=_TIMEOUT).json()
        victim = next(u["id"] for u in listing["users"] if u["username"] == "fuzz-victim")
        visitor = requests.Session()
        session = visitor.post(base + "/api/visitor/session", json={}, timeout=_TIMEOUT).json()
        callers["visitor"] = (visitor, {"Authorization": f"Bearer {session['token']}"})
        yield Target(base, log, callers, ids, victim)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _check(case: Any, caller: str, response: requests.Response) -> None:
    FIGURES.requests += 1
    FIGURES.statuses[response.status_code] = FIGURES.statuses.get(response.status_code, 0) + 1
    what = f"{caller} {case.method} {case.formatted_path} -> {response.status_code}"
    if response.status_code >= 500:
        FIGURES.server_errors.append(f"{what}: {response.text[:300]}")
        return
    if response.headers.get("Content-Type", "").startswith("application/json"):
        try:
            validator = _validator(case.operation.method, case.operation.path, response.status_code)
        except ContractMismatch as err:
            validator = None
            if response.status_code != 405:  # aiohttp's own answer to a method it lacks
                FIGURES.mismatches.append(f"{caller}: {err}")
        if validator is not None:
            errors = list(validator.iter_errors(response.json()))
            if errors:
                FIGURES.mismatches.append(f"{what}: {errors[0].message}")
    if response.status_code >= 400 and case.operation.path.startswith("/api/"):
        try:
            code = response.json()["error"]["code"]
        except (ValueError, KeyError, TypeError):
            code = None
        if not isinstance(code, str):
            FIGURES.bad_error_bodies.append(f"{what}: {response.text[:200]}")


@schema.parametrize()
@settings(
    deadline=None,
    suppress_health_check=list(HealthCheck),
    max_examples=_EXAMPLES,
    derandomize=True,
    database=None,
)
def test_every_operation_as_every_caller(case: Any, target: Target) -> None:
    if (case.operation.method.upper(), case.operation.path) in _SKIPPED:
        return
    FIGURES.operations.add(f"{case.operation.method.upper()} {case.operation.path}")
    if (
        case.operation.path.startswith("/api/admin/users/{user_id}")
        and (case.path_parameters or {}).get("user_id") in target.caller_ids
    ):
        # Disabling a caller, ending its sessions or resetting its password would
        # answer every later request of that caller with 401: act on the victim instead.
        case.path_parameters["user_id"] = target.victim_id
    visitor_route = case.operation.path.startswith("/api/visitor/")
    for caller, (http, headers) in target.callers.items():
        if visitor_route != (caller == "visitor") and caller != "agent":
            continue  # visitor routes as a visitor (and one console user); console as staff
        response = case.call(base_url=target.base, session=http, headers=headers, timeout=_TIMEOUT)
        _check(case, caller, response)
    assert not FIGURES.server_errors, FIGURES.server_errors[-1]
    assert not FIGURES.bad_error_bodies, FIGURES.bad_error_bodies[-1]
    assert not FIGURES.mismatches, FIGURES.mismatches[-1]


def test_fuzz_figures(target: Target) -> None:
    """Every operation reached, none answered 500, and no traceback in the server log."""
    document = build_openapi()
    expected = {
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if (method.upper(), path) not in _SKIPPED
    }
    missed = expected - FIGURES.operations
    print(
        f"\nfuzz: {FIGURES.requests} requests to {len(FIGURES.operations)} operations, "
        f"{len(FIGURES.server_errors)} server errors, {len(FIGURES.mismatches)} responses "
        f"off their schema; statuses {sorted(FIGURES.statuses.items())}"
    )
    assert not missed, f"operations the fuzzer did not reach: {sorted(missed)}"
    assert FIGURES.requests >= len(expected) * 2
    assert not FIGURES.server_errors, FIGURES.server_errors[:5]
    log = target.log.read_text()
    assert "Traceback" not in log, log[log.index("Traceback") - 300 :][:3000]
