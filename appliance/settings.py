"""Typed settings: environment first, then `callbox.toml` in the data dir, then defaults."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_DATA_DIR = "./callbox-data"
CONFIG_FILE = "callbox.toml"
_ENV_PREFIX = "CALLBOX_"
# The UI's languages, each with a catalog in appliance/webui/locales/<lang>.json; the
# first is the reference the others are checked against, and the scripts' fallback.
LANGS = ("zh-CN", "en")
TICKET_PASS_RANGE = (1, 3600)  # s, the bounds of ticket_pass_seconds


class SettingsError(ValueError):
    """A setting is missing or has a value that cannot be used."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the appliance reads at start; immutable once built."""

    data_dir: Path = Path(DEFAULT_DATA_DIR)
    host: str = "0.0.0.0"  # noqa: S104 - the console is meant for the whole LAN
    port: int = 8080
    mdns: bool = True
    lang: str = "zh-CN"
    # Limits on untrusted visitor input; the benchmark raises the rate ones.
    max_message_bytes: int = 4096
    max_frame_bytes: int = 64 * 1024
    max_chats_default: int = 5
    visitor_msg_rate: float = 1.0  # messages per second, sustained, per visitor
    visitor_msg_burst: int = 10
    ip_msg_rate: float = 20.0  # per client address
    ip_msg_burst: int = 60
    visitor_conv_rate: float = 1 / 60  # new conversations per second per visitor
    visitor_conv_burst: int = 3
    ip_conv_rate: float = 0.5
    ip_conv_burst: int = 20
    visitor_view_rate: float = 1.0  # tracked page views per second per visitor
    visitor_view_burst: int = 30
    ip_view_rate: float = 50.0  # per client address (offices share one)
    ip_view_burst: int = 500
    # Load shedding (core/load.py): past these the box refuses new conversations (loop
    # lag or writer wait, s), and past the last one new chat lines too, each with a retry.
    overload_loop_lag: float = 0.5
    overload_writer_wait: float = 1.0
    overload_writer_saturated: float = 3.0
    overload_loop_saturated: float = 2.0
    # Chat lines are stored by a helper process beside the writer thread, off the GIL
    # the event loop holds (core/db_helper.py, issue 18); off: the writer stores them.
    writer_helper: bool = True
    login_attempts: int = 5  # failures per window: an address is then refused, a name slowed
    login_window: float = 300.0  # seconds
    session_ttl: float = 12 * 3600.0  # seconds
    presence_grace: float = 60.0  # seconds an online agent may be disconnected
    # s after a visitor's first knowledge-base search or read a chat undoes the deflection
    kb_deflection_window: float = 600.0
    ticket_confirm_days: int = 7  # a resolved ticket closes itself after this many days
    # Seconds between passes of the service desk's timed work (schedules, timed rules,
    # SLA warnings and escalations, auto-close); tests shorten it to watch an SLA fire.
    ticket_pass_seconds: int = 60
    # Relay tunnel (used once the box is enrolled; needs CAP_NET_ADMIN).
    tunnel_interface: str = "cbox0"
    visitor_port: int = 443  # TLS from visitors, through the relay, on the overlay address
    console_tls_port: int = 8443  # the console for staff devices, on the overlay address
    acme_port: int = 80  # ACME HTTP-01 answers, on the overlay address
    admin_from_staff: bool = False  # let staff devices open the admin pages too
    # Prometheus /metrics on 127.0.0.1 only, at this port; 0: not served (webui/metrics.py).
    metrics_port: int = 0
    # ACME for the visitor certificate from the admin page (`appliance cert acme` takes
    # its own flags); a CA bundle to trust for a private ACME server ("" = the system's).
    acme_directory: str = "https://acme-v02.api.letsencrypt.org/directory"
    acme_ca_bundle: str = ""

    @property
    def db_path(self) -> Path:
        """Return the SQLite database file inside the data dir."""
        return self.data_dir / "callbox.db"


def _convert(name: str, raw: Any, target: Any) -> Any:
    """Convert a raw config or environment value to the field's type."""
    try:
        if isinstance(target, bool):
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError(raw)
        if isinstance(target, Path):
            return Path(str(raw))
        return type(target)(raw)
    except (TypeError, ValueError) as err:
        raise SettingsError(f"setting {name!r} has an unusable value: {raw!r}") from err


def load_settings(overrides: dict[str, Any] | None = None) -> Settings:
    """Build settings from overrides (flags), environment, config file and defaults."""
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    base = Settings()
    data_dir = Path(
        str(overrides.get("data_dir") or os.environ.get("CALLBOX_DATA") or DEFAULT_DATA_DIR)
    )
    file_values: dict[str, Any] = {}
    config = data_dir / CONFIG_FILE
    if config.is_file():
        try:
            file_values = tomllib.loads(config.read_text("utf-8"))
        except tomllib.TOMLDecodeError as err:
            raise SettingsError(f"{config}: {err}") from err
    values: dict[str, Any] = {"data_dir": data_dir}
    for field in fields(Settings):
        name = field.name
        if name == "data_dir":
            continue
        default = getattr(base, name)
        env = os.environ.get(_ENV_PREFIX + name.upper())
        if name in overrides:
            values[name] = _convert(name, overrides[name], default)
        elif env is not None:
            values[name] = _convert(name, env, default)
        elif name in file_values:
            values[name] = _convert(name, file_values[name], default)
    unknown = set(file_values) - {f.name for f in fields(Settings)}
    if unknown:
        raise SettingsError(f"{config}: unknown settings {sorted(unknown)}")
    settings = replace(base, **values)
    if settings.lang not in LANGS:
        raise SettingsError(f"setting 'lang' must be one of {', '.join(LANGS)}")
    if not TICKET_PASS_RANGE[0] <= settings.ticket_pass_seconds <= TICKET_PASS_RANGE[1]:
        low, high = TICKET_PASS_RANGE
        raise SettingsError(f"setting 'ticket_pass_seconds' must be between {low} and {high}")
    if not 0 <= settings.port < 65536:
        raise SettingsError("setting 'port' must be between 0 (any free port) and 65535")
    if not 0 <= settings.metrics_port < 65536:
        raise SettingsError("setting 'metrics_port' must be between 0 (off) and 65535")
    return settings
