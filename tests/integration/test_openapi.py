"""The OpenAPI document is valid and covers every HTTP route the app serves."""

from __future__ import annotations

import asyncio
import re

from openapi_spec_validator import validate


async def test_openapi_document_is_valid_and_complete(running, http_sessions):
    async with http_sessions().get(running.url("/api/openapi.json")) as r:
        assert r.status == 200
        spec = await r.json()
    await asyncio.to_thread(validate, spec)  # CPU-heavy: not on the loop
    documented = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}
    served = set()
    for route in running.server.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or ""
        if route.method == "HEAD" or path.startswith("/static") or not path:
            continue
        served.add((route.method, re.sub(r"\{(\w+)\}", r"{\1}", path)))
    assert served - documented == set(), f"undocumented routes: {served - documented}"
    assert documented - served == set(), f"documented but not served: {documented - served}"
