"""The console is found by name on the LAN: two hosts, real multicast DNS."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import urllib.request

import pytest

from tests.system.processes import ApplianceProcess, Lan

_BROWSE = textwrap.dedent(
    """
    import asyncio, json
    from zeroconf import IPVersion
    from zeroconf.asyncio import AsyncServiceBrowser, AsyncZeroconf

    async def main():
        found = asyncio.get_running_loop().create_future()

        def seen(zeroconf, service_type, name, state_change):
            if name.startswith("Callbox console") and not found.done():
                found.set_result(name)

        azc = AsyncZeroconf(ip_version=IPVersion.V4Only)
        browser = AsyncServiceBrowser(azc.zeroconf, "_http._tcp.local.", handlers=[seen])
        name = await asyncio.wait_for(found, 15)
        info = await azc.async_get_service_info("_http._tcp.local.", name, 5000)
        print(json.dumps({"name": name, "addresses": info.parsed_addresses(),
                          "port": info.port, "path": info.properties[b"path"].decode()}))
        await browser.async_cancel()
        await azc.async_close()

    asyncio.run(main())
    """
)


@pytest.fixture
def lan():
    network = Lan()
    yield network
    network.close()


async def test_console_is_advertised_and_reachable_by_its_mdns_name(lan, tmp_path):
    box = await asyncio.to_thread(
        ApplianceProcess,
        tmp_path / "data",
        host="0.0.0.0",
        port=8080,
        mdns=True,
        prefix=lan.prefix(lan.a),
    )
    try:
        browse = await asyncio.to_thread(
            subprocess.run,
            [*lan.prefix(lan.b), sys.executable, "-c", _BROWSE],
            capture_output=True,
            text=True,
            timeout=40,
            check=False,
        )
        assert browse.returncode == 0, browse.stderr
        import json

        found = json.loads(browse.stdout)
        assert found["name"].startswith("Callbox console (")
        assert found["addresses"] == [lan.addr_a]
        assert found["port"] == 8080 and found["path"] == "/console"
        fetch = await asyncio.to_thread(
            subprocess.run,
            [
                *lan.prefix(lan.b),
                sys.executable,
                "-c",
                f"import urllib.request; print(urllib.request.urlopen("
                f"'http://{lan.addr_a}:8080/login', timeout=5).status)",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert fetch.stdout.strip() == "200", fetch.stderr
    finally:
        assert await asyncio.to_thread(box.stop) == 0
    assert urllib.request is not None
