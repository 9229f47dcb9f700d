"""Relay settings: `relay.toml` in the data dir (written by `init`), then environment."""

from __future__ import annotations

import os
import tomllib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

CONFIG_FILE = "relay.toml"
DEFAULT_DATA = "/var/lib/callbox-relay"

# Ports the appliance serves on its overlay address; the relay forwards to them.
APPLIANCE_VISITOR_PORT = 443  # TLS, PROXY v2 header first
APPLIANCE_ACME_PORT = 80  # HTTP-01 challenges only
APPLIANCE_CONSOLE_PORT = 8443  # console over TLS, for staff devices


class ConfigError(ValueError):
    """A missing or unusable relay setting."""


@dataclass(frozen=True, slots=True)
class RelayConfig:
    """Everything `relay-server run` needs."""

    data_dir: Path
    public_host: str = ""  # DNS name or address appliances and staff dial
    bind: str = "0.0.0.0"  # noqa: S104 - a public relay listens on its public address
    https_port: int = 443
    http_port: int = 80
    api_port: int = 8443  # enrolment (HTTPS, public)
    wg_port: int = 51820
    interface: str = "cbrelay0"
    metrics_bind: str = "127.0.0.1"
    metrics_port: int = 9480
    token_ttl: float = 86400.0  # s an enrolment token stays valid
    hello_timeout: float = 10.0  # s a visitor may take to send its ClientHello
    connect_timeout: float = 10.0  # s to reach an appliance through the tunnel
    handshake_timeout: float = 10.0  # s a visitor may stay silent after its ClientHello
    idle_timeout: float = 300.0  # s with no byte either way (WebSockets ping every 30 s)
    visitors_per_source: int = 256  # open visitor connections from one IPv4 or IPv6 /64
    max_visitors: int = 0  # open visitor connections in all; 0: all the fd budget allows
    fd_reserve: int = 256  # descriptors visitors may never take (APIs, registry, wg, nft)
    api_connections_per_source: int = 16  # open enrolment API connections per source
    api_connections: int = 128  # open enrolment API connections in all (within fd_reserve)

    @property
    def registry_path(self) -> Path:
        return self.data_dir / "registry.db"

    @property
    def key_path(self) -> Path:
        return self.data_dir / "wg.key"

    @property
    def cert_path(self) -> Path:
        return self.data_dir / "api.pem"

    @property
    def cert_key_path(self) -> Path:
        return self.data_dir / "api.key"


def data_dir(flag: str | None) -> Path:
    """Return the data dir from the flag, the environment or the default."""
    return Path(flag or os.environ.get("CALLBOX_RELAY_DATA") or DEFAULT_DATA)


def load(directory: Path) -> RelayConfig:
    """Read relay.toml; fail naming the setting that is missing or wrong."""
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise ConfigError(f"{path} is missing: run `relay-server init` first")
    try:
        values: dict[str, Any] = tomllib.loads(path.read_text("utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: {err}") from err
    known = {f.name for f in fields(RelayConfig)} - {"data_dir"}
    unknown = set(values) - known
    if unknown:
        raise ConfigError(f"{path}: unknown settings {sorted(unknown)}")
    config = RelayConfig(data_dir=directory)
    for name in known:
        env = os.environ.get("CALLBOX_RELAY_" + name.upper())
        raw = env if env is not None else values.get(name)
        if raw is None:
            continue
        kind = type(getattr(config, name))
        try:
            config = replace(config, **{name: kind(raw)})
        except (TypeError, ValueError) as err:
            raise ConfigError(f"setting {name!r} has an unusable value: {raw!r}") from err
    if not config.public_host:
        raise ConfigError("setting 'public_host' is required (the relay's DNS name)")
    return config


def render(config: RelayConfig) -> str:
    """Return relay.toml for a config (pure; the caller writes it)."""
    lines = ["# Callbox relay settings (written by `relay-server init`)"]
    for name, value in asdict(config).items():
        if name == "data_dir":
            continue
        lines.append(f"{name} = {value!r}" if not isinstance(value, str) else f'{name} = "{value}"')
    return "\n".join(lines) + "\n"
