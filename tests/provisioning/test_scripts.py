"""The provisioning scripts pass shellcheck (quoting, unset variables, bad tests)."""

from __future__ import annotations

import subprocess
from pathlib import Path

PROVISIONING = Path(__file__).resolve().parents[2] / "provisioning"


def test_scripts_pass_shellcheck() -> None:
    scripts = sorted(str(p) for p in PROVISIONING.glob("*.sh"))
    assert len(scripts) == 4  # install, relay-install, uninstall, and their lib
    done = subprocess.run(
        ["shellcheck", "--external-sources", *scripts],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=PROVISIONING.parent,
    )
    assert done.returncode == 0, done.stdout + done.stderr
