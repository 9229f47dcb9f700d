"""`appliance user ...` from the shell, as IT runs it on the box: add, role, passwd
(prompt-free with --stdin, or temporary), list, disable; the last admin is kept."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from appliance.core.box import Box
from tests.conftest import PASSWORD, make_settings


async def cli(data: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "appliance", "--data", str(data), "user", *args]
    return await asyncio.to_thread(
        subprocess.run, command, input=stdin, text=True, capture_output=True, timeout=60
    )


async def test_user_commands_change_roles_and_passwords_and_keep_the_last_admin(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    assert (
        await cli(data, "add", "root", "--role", "admin", "--password-stdin", stdin=PASSWORD)
    ).returncode == 0
    assert (await cli(data, "add", "lina", "--password-stdin", stdin=PASSWORD)).returncode == 0

    done = await cli(data, "role", "lina", "supervisor")
    assert done.returncode == 0 and "'lina' is now supervisor" in done.stdout
    done = await cli(data, "passwd", "lina", "--stdin", stdin="her new password\n")
    assert done.returncode == 0 and "sessions ended" in done.stdout

    refused = await cli(data, "role", "root", "agent")
    assert refused.returncode == 1 and "at least one enabled admin" in refused.stderr
    refused = await cli(data, "disable", "root")
    assert refused.returncode == 1 and "at least one enabled admin" in refused.stderr
    refused = await cli(data, "role", "nobody", "agent")
    assert refused.returncode == 1 and "no user named 'nobody'" in refused.stderr
    refused = await cli(data, "role", "lina", "god")
    assert refused.returncode == 2  # argparse: not one of the roles
    refused = await cli(data, "passwd", "lina", "--stdin", stdin="short\n")
    assert refused.returncode == 1 and "at least 8" in refused.stderr
    refused = await cli(data, "passwd", "lina")  # no terminal, no --stdin
    assert refused.returncode == 1 and "--stdin" in refused.stderr

    listing = await cli(data, "list")
    assert listing.returncode == 0 and "2fa" in listing.stdout
    assert any(
        line.split()[1:4] == ["lina", "supervisor", "offline"]
        for line in listing.stdout.splitlines()[1:]
    )

    box = Box(make_settings(data))
    await box.open()
    try:
        facts, ok = await box.accounts.check_password("lina", "her new password")
        assert ok and facts is not None and facts.user.role == "supervisor"
        assert not facts.must_change_password
        assert not (await box.accounts.check_password("lina", PASSWORD))[1]
    finally:
        await box.close()

    done = await cli(data, "passwd", "lina", "--temporary", "--stdin", stdin="for one login\n")
    assert done.returncode == 0
    box = Box(make_settings(data))
    await box.open()
    try:
        facts, ok = await box.accounts.check_password("lina", "for one login")
        assert ok and facts is not None and facts.must_change_password
    finally:
        await box.close()
