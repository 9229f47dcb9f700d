"""The box's relay side without a network: tokens, certificates, profiles, state."""

from __future__ import annotations

import base64
import json

import pytest

from appliance.relay import state as relay_state
from appliance.relay.enrolment import EnrolmentError, _api_address, _endpoint, parse_token
from appliance.relay.staff import StaffError, check_name, render_config
from appliance.relay.tls import (
    CertificateError,
    console_context,
    import_visitor_certificate,
    visitor_context,
)
from appliance.relay.wireguard import generate_private_key, public_key
from tests.testca import make_ca_and_server

STATE = relay_state.RelayState(
    tenant="acme",
    hostname="chat.acme.test",
    network="100.64.1.0/24",
    address="100.64.1.1",
    overlay="100.64.0.0/10",
    relay_address="100.64.0.1",
    relay_public_key="K" * 43 + "=",
    endpoint="198.51.100.1:51820",
    tunnel_api="http://100.64.0.1:8081",
)


def _token(**fields: object) -> str:
    data = {"a": "relay.example.com:8443", "f": "ab" * 32, "s": "secret", "e": 1} | fields
    return "cbr1." + base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_token_parsing_and_relay_override():
    token = parse_token(_token())
    assert token.api == "relay.example.com:8443" and token.secret == "secret"
    assert _api_address(token, None) == "relay.example.com:8443"
    assert _api_address(token, "198.51.100.1") == "198.51.100.1:8443"
    assert _api_address(token, "198.51.100.1:9443") == "198.51.100.1:9443"
    assert _endpoint("relay.example.com:51820", "198.51.100.1") == "198.51.100.1:51820"
    for bad in ("", "cbr2.x", "cbr1.!!", _token(f="zz")):
        with pytest.raises(EnrolmentError):
            parse_token(bad)


def test_keys_match_wireguard_format():
    private = generate_private_key()
    assert len(private) == 44 and len(public_key(private)) == 44
    assert public_key(private) != private


def test_staff_profile_routes_only_the_console(tmp_path):
    config = render_config("PRIV", "100.64.1.7", STATE)
    assert "Address = 100.64.1.7/32" in config
    assert "AllowedIPs = 100.64.1.1/32" in config  # nothing else goes through the tunnel
    assert "Endpoint = 198.51.100.1:51820" in config
    assert "PersistentKeepalive = 25" in config
    for bad in ("", "../etc", "a b", "x" * 65, "-lead"):
        with pytest.raises(StaffError):
            check_name(bad)
    assert check_name("li-lei.laptop") == "li-lei.laptop"


def test_state_file_is_private(tmp_path):
    relay_state.save(tmp_path, STATE)
    assert relay_state.load(tmp_path) == STATE
    assert (tmp_path / relay_state.STATE_FILE).stat().st_mode & 0o077 == 0
    assert relay_state.load(tmp_path / "nothing") is None


def test_visitor_certificate_import_checks_key_and_name(tmp_path):
    _, cert, key = make_ca_and_server(tmp_path / "a", ["chat.acme.test"])
    _, other_cert, other_key = make_ca_and_server(tmp_path / "b", ["other.test"])
    data = tmp_path / "data"
    with pytest.raises(CertificateError, match="does not belong"):
        import_visitor_certificate(data, cert.read_bytes(), other_key.read_bytes(), None)
    with pytest.raises(CertificateError, match="does not name"):
        import_visitor_certificate(
            data, other_cert.read_bytes(), other_key.read_bytes(), "chat.acme.test"
        )
    with pytest.raises(CertificateError):
        import_visitor_certificate(data, b"junk", key.read_bytes(), None)
    assert visitor_context(data) is None
    import_visitor_certificate(data, cert.read_bytes(), key.read_bytes(), "chat.acme.test")
    assert visitor_context(data) is not None
    assert (data / "tls" / "visitor.key").stat().st_mode & 0o077 == 0


def test_console_certificate_comes_from_the_boxs_own_ca(tmp_path):
    from cryptography import x509

    console_context(tmp_path, "100.64.1.1")
    ca = x509.load_pem_x509_certificate((tmp_path / "tls" / "console-ca.pem").read_bytes())
    leaf = x509.load_pem_x509_certificate((tmp_path / "tls" / "console.pem").read_bytes())
    assert leaf.issuer == ca.subject
    leaf.verify_directly_issued_by(ca)
    first = (tmp_path / "tls" / "console.pem").read_bytes()
    console_context(tmp_path, "100.64.1.1")
    assert (tmp_path / "tls" / "console.pem").read_bytes() == first  # reused
    console_context(tmp_path, "100.64.2.1")
    assert (tmp_path / "tls" / "console.pem").read_bytes() != first  # re-issued on a new address


def test_secrets_reach_wg_on_stdin_under_uvloop_too():
    """`wg set … private-key /dev/stdin` must be able to open its stdin (uvloop regression)."""
    import asyncio

    import uvloop

    from appliance.relay.wireguard import run

    for factory in (asyncio.new_event_loop, uvloop.new_event_loop):
        with asyncio.Runner(loop_factory=factory) as runner:
            assert runner.run(run("sh", "-c", "cat /dev/stdin", stdin=b"secret\n")) == "secret\n"
