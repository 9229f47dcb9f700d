"""The systemd units: valid for systemd, and hardened no worse than measured.

`systemd-analyze security --offline` scores a unit's exposure from 0 (locked down)
to 10. Headscale's unit scores 1.5; ours scored 4.9 (appliance) and 5.1 (relay)
before issue 15 and 1.6 each after. The ceiling fails any change that gives back
hardening; raise it only with a reason in the unit's comments.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="needs systemd-analyze (Debian: systemd)"
)

CHECKOUT = Path(__file__).resolve().parents[2]
UNITS = {
    "callbox-appliance.service": CHECKOUT / "systemd" / "callbox-appliance.service",
    "callbox-relay.service": CHECKOUT / "systemd" / "callbox-relay.service",
    "callbox-firewall.service": CHECKOUT / "provisioning" / "callbox-firewall.service",
}
EXPOSURE_CEILING = 1.7  # measured 1.6 for both (systemd 252)
_SCORE = re.compile(r"Overall exposure level for \S+: (\d+\.\d)")


def _resolvable(name: str, directory: Path) -> Path:
    """Write the unit with its ExecStart on a program that exists here (verify checks)."""
    text = UNITS[name].read_text()
    text = re.sub(
        r"^ExecStart=/opt/callbox(-relay)?/venv/bin/(\S+)",
        f"ExecStart={os.path.realpath(sys.executable)}",
        text,
        flags=re.M,
    )
    path = directory / name
    path.write_text(text)
    return path


def _analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", *args], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("name", list(UNITS))
def test_unit_verifies(name: str, tmp_path: Path) -> None:
    done = _analyze("verify", str(_resolvable(name, tmp_path)))
    # Unknown keys and bad values are warnings on stderr with exit code 0: none allowed.
    assert done.returncode == 0 and done.stderr == "" and done.stdout == "", done


@pytest.mark.parametrize("name", ["callbox-appliance.service", "callbox-relay.service"])
def test_unit_exposure_stays_under_the_ceiling(name: str, tmp_path: Path) -> None:
    done = _analyze("security", "--offline=true", "--no-pager", str(_resolvable(name, tmp_path)))
    found = _SCORE.search(done.stdout)
    assert found is not None, done
    assert float(found.group(1)) <= EXPOSURE_CEILING, done.stdout


def test_units_keep_what_the_services_need() -> None:
    for name in ("callbox-appliance.service", "callbox-relay.service"):
        text = UNITS[name].read_text()
        assert "Type=notify" in text and "WatchdogSec=" in text
        assert "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_BIND_SERVICE" in text
        assert "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK" in text
        assert "DeviceAllow=/dev/net/tun rw" in text  # wireguard-go, where it is used
    assert "LimitNOFILE=65536" in UNITS["callbox-relay.service"].read_text()
