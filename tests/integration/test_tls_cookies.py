"""Under TLS the session cookie is Secure, and the CSRF origin check uses https."""

from __future__ import annotations

import aiohttp
from aiohttp.test_utils import TestServer

from appliance.webui.app import create_app
from appliance.webui.keys import BOX
from tests.conftest import PASSWORD, csrf_in, make_settings
from tests.testca import client_context, make_ca_and_server, server_context


async def test_session_cookie_is_secure_under_tls(tmp_path):
    ca, cert, key = make_ca_and_server(tmp_path / "pki", ["127.0.0.1"])
    app = create_app(make_settings(tmp_path / "data"))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(ssl=server_context(cert, key))
    try:
        await app[BOX].accounts.create_user("tls", PASSWORD, "agent")
        connector = aiohttp.TCPConnector(ssl=client_context(ca))
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(connector=connector, cookie_jar=jar) as http:
            base = f"https://127.0.0.1:{server.port}"
            async with http.get(base + "/login") as page:
                html = await page.text()
                csrf_cookie = page.headers.getall("Set-Cookie")[0]
            token = csrf_in(html)
            async with http.post(
                base + "/login",
                data={"username": "tls", "password": PASSWORD, "csrf_token": token},
                headers={"Origin": base},
                allow_redirects=False,
            ) as r:
                assert r.status == 302
                cookie = next(v for v in r.headers.getall("Set-Cookie") if "session" in v)
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert "Secure" in csrf_cookie
    finally:
        await server.close()
