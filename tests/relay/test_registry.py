"""The relay registry and its CLI: tenants, one-time tokens, staff addresses, rules."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from relay_server import firewall, tokens
from relay_server.keys import generate_private_key, public_key, valid_public_key
from relay_server.registry import KeyInUseError, Registry, RegistryError


def test_tenants_get_their_own_24_and_tokens_are_single_use(tmp_path):
    registry = Registry(tmp_path / "r.db")
    a, secret_a = registry.add_tenant("acme", "Chat.Acme.CN.", 3600)
    b, secret_b = registry.add_tenant("beta", "kefu.beta.cn", 3600)
    assert (str(a.network), a.appliance_address) == ("100.64.1.0/24", "100.64.1.1")
    assert str(b.network) == "100.64.2.0/24" and a.hostname == "chat.acme.cn"
    with pytest.raises(RegistryError):
        registry.add_tenant("acme2", "chat.acme.cn", 3600)
    key = public_key(generate_private_key())
    assert registry.tenant_by_hostname("chat.acme.cn") is None  # not enrolled yet
    assert registry.redeem(secret_a, key).appliance_key == key
    with pytest.raises(RegistryError):
        registry.redeem(secret_a, key)  # spent
    with pytest.raises(RegistryError):
        registry.redeem(secret_b, key)  # a key belongs to one tenant
    assert registry.tenant_by_hostname("chat.acme.cn").name == "acme"
    # The registry keeps only the hash of a secret.
    assert secret_a.encode() not in (tmp_path / "r.db").read_bytes()


def test_expired_token_is_refused(tmp_path):
    registry = Registry(tmp_path / "r.db")
    _, secret = registry.add_tenant("old", "old.example.cn", -1)
    with pytest.raises(RegistryError):
        registry.redeem(secret, public_key(generate_private_key()))


def test_staff_addresses_and_rules(tmp_path):
    registry = Registry(tmp_path / "r.db")
    a, sa = registry.add_tenant("acme", "chat.acme.cn", 3600)
    b, sb = registry.add_tenant("beta", "chat.beta.cn", 3600)
    a = registry.redeem(sa, public_key(generate_private_key()))
    b = registry.redeem(sb, public_key(generate_private_key()))
    first = registry.add_staff(a, "li", public_key(generate_private_key()))
    second = registry.add_staff(a, "wang", public_key(generate_private_key()))
    other = registry.add_staff(b, "zhao", public_key(generate_private_key()))
    assert (first.address, second.address, other.address) == (
        "100.64.1.2",
        "100.64.1.3",
        "100.64.2.2",
    )
    caps = firewall.ApiCaps(9443, per_source=7, total=99)
    rules = firewall.render("wg0", registry.tenants(), registry.staff(), 8443, caps)
    assert "tcp dport 9443 ct state new add @api_v4 { ip saddr ct count over 7 }" in rules
    assert "ip6 saddr & ffff:ffff:ffff:ffff:: ct count over 7" in rules
    assert "tcp dport 9443 ct state new ct count over 99 reject" in rules
    assert "policy drop" in rules
    assert "ip saddr 100.64.1.2 ip daddr 100.64.1.1 tcp dport 8443 accept" in rules
    assert "ip saddr 100.64.2.2 ip daddr 100.64.2.1 tcp dport 8443 accept" in rules
    assert "ip saddr 100.64.2.2 ip daddr 100.64.1.1" not in rules  # no cross-tenant path
    assert registry.remove_staff(a, "li")
    assert [s.name for s in registry.staff(a)] == ["wang"]


def test_keys_and_tokens():
    private = generate_private_key()
    assert valid_public_key(public_key(private))
    assert not valid_public_key("not a key") and not valid_public_key(private[:-2] + "!=")
    # 32 bytes, but not wg's canonical base64 (the last character's spare bits are set):
    # `wg set` refuses it, and once in the registry it failed every later sync.
    assert not valid_public_key("x" * 43 + "=")
    assert valid_public_key("w" * 43 + "=")
    token = tokens.EnrolmentToken("relay.example.com:8443", "ab" * 32, "s3cret", 99)
    assert tokens.decode(token.encode()) == token
    for bad in ("", "cbr1.", "cbr1.!!!!", "other." + token.encode()[5:]):
        with pytest.raises(tokens.TokenError):
            tokens.decode(bad)


def test_relay_cli_init_and_tenants(tmp_path):
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "relay_server", "--data", str(tmp_path / "relay"), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    assert "init` first" in cli("tenant", "list").stderr
    init = cli("init", "--public-host", "relay.example.com")
    assert init.returncode == 0, init.stderr
    assert (tmp_path / "relay" / "wg.key").stat().st_mode & 0o077 == 0
    added = cli("tenant", "add", "--name", "acme", "--hostname", "chat.acme.cn")
    assert added.returncode == 0, added.stderr
    token = tokens.decode(added.stdout.strip().splitlines()[-1])
    assert token.api == "relay.example.com:8443" and token.expires > time.time()
    assert "100.64.1.0/24" in added.stdout
    listed = cli("tenant", "list")
    assert "chat.acme.cn" in listed.stdout and " no " in listed.stdout
    # A new token revokes the unused first one; --revoke revokes every unused token.
    renewed = cli("tenant", "token", "acme")
    assert renewed.returncode == 0, renewed.stderr
    assert "revoked 1 earlier unused token" in renewed.stdout
    assert tokens.decode(renewed.stdout.strip().splitlines()[-1]).secret != token.secret
    revoked = cli("tenant", "token", "acme", "--revoke")
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout.strip() == "revoked 1 unused enrolment token of tenant 'acme'"
    assert "revoked 0 unused" in cli("tenant", "token", "acme", "--revoke").stdout
    assert "no tenant named" in cli("tenant", "token", "nobody", "--revoke").stderr
    assert cli("tenant", "remove", "acme").returncode == 0
    assert "acme" not in cli("tenant", "list").stdout


def test_a_new_token_revokes_the_tenants_earlier_unused_ones(tmp_path):
    registry = Registry(tmp_path / "r.db")
    _, first = registry.add_tenant("acme", "chat.acme.cn", 3600)
    _, other = registry.add_tenant("beta", "chat.beta.cn", 3600)
    second, revoked = registry.new_token("acme", 3600)
    assert revoked == 1
    with pytest.raises(RegistryError):
        registry.redeem(first, public_key(generate_private_key()))  # replaced by `second`
    registry.redeem(other, public_key(generate_private_key()))  # other tenants keep theirs
    key = public_key(generate_private_key())
    assert registry.redeem(second, key).appliance_key == key
    # The box is enrolled; a leaked older token must not be able to replace its key.
    third, _ = registry.new_token("acme", 3600)
    fourth, _ = registry.new_token("acme", 3600)
    with pytest.raises(RegistryError):
        registry.redeem(third, public_key(generate_private_key()))
    assert registry.tenant("acme").appliance_key == key
    assert registry.revoke_tokens("acme") == 1  # fourth
    with pytest.raises(RegistryError):
        registry.redeem(fourth, public_key(generate_private_key()))
    assert registry.revoke_tokens("acme") == 0
    with pytest.raises(RegistryError, match="no tenant"):
        registry.revoke_tokens("nobody")


def test_a_public_key_belongs_to_one_peer_of_the_whole_relay(tmp_path):
    """Boxes, staff of every tenant and the relay itself: no key twice, one refusal."""
    relay_key = public_key(generate_private_key())
    registry = Registry(tmp_path / "r.db", relay_key=relay_key)
    _, sa = registry.add_tenant("acme", "chat.acme.cn", 3600)
    _, sb = registry.add_tenant("beta", "chat.beta.cn", 3600)
    box_a, box_b = public_key(generate_private_key()), public_key(generate_private_key())
    a, b = registry.redeem(sa, box_a), registry.redeem(sb, box_b)
    li = registry.add_staff(a, "li", public_key(generate_private_key()))
    for key in (box_b, box_a, relay_key, li.public_key):  # other box, own box, relay, staff
        with pytest.raises(KeyInUseError, match="already used by a peer of this relay"):
            registry.add_staff(a, "taken", key)
    with pytest.raises(KeyInUseError):
        registry.add_staff(b, "zhao", li.public_key)  # another tenant's staff device
    assert [s.name for s in registry.staff()] == ["li"]

    # Enrolment: a key that another box, a staff device or the relay holds is refused,
    # and the token stays unspent for the right key.
    _, sc = registry.add_tenant("gamma", "chat.gamma.cn", 3600)
    for key in (box_a, li.public_key, relay_key):
        with pytest.raises(KeyInUseError):
            registry.redeem(sc, key)
    assert registry.tenant("gamma").appliance_key is None
    own = public_key(generate_private_key())
    assert registry.redeem(sc, own).appliance_key == own
    # A re-enrolled box may keep its own key; it may not take its own staff's.
    token, _ = registry.new_token("acme", 3600)
    with pytest.raises(KeyInUseError):
        registry.redeem(token, li.public_key)
    assert registry.redeem(token, box_a).appliance_key == box_a
    assert registry.tenant("beta").appliance_key == box_b
