"""A test-only middleware: every JSON answer of the app is checked against the schema
the served OpenAPI document gives its operation and status, so a handler that drifts
from the contract fails the test that called it."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any

import jsonschema
from aiohttp import web

from appliance.webui.openapi import build_openapi

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ContractMismatch(AssertionError):
    """A response that does not match its documented schema."""


# What the middleware found; the app fixture fails the test that caused any.
MISMATCHES: list[str] = []


@functools.cache
def _document() -> dict[str, Any]:
    return build_openapi()


@functools.cache
def _validator(method: str, template: str, status: int) -> jsonschema.Validator | None:
    document = _document()
    operation = document["paths"].get(template, {}).get(method.lower())
    if operation is None:
        return None
    answer = operation["responses"].get(str(status))
    if answer is None:
        raise ContractMismatch(f"{method} {template} answered {status}, not documented")
    if "$ref" in answer:  # the shared Error response
        answer = document["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
    schema = answer.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return None
    root = {**schema, "components": document["components"]}
    return jsonschema.Draft202012Validator(root)


@web.middleware
async def check_responses(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Validate JSON answers of documented operations against their schema."""
    response = await handler(request)
    resource = request.match_info.route.resource
    if (
        resource is None
        or not isinstance(response, web.Response)
        or response.content_type != "application/json"
        or response.body is None
    ):
        return response
    try:
        validator = _validator(request.method, resource.canonical, response.status)
    except ContractMismatch as err:
        MISMATCHES.append(str(err))
        return response
    if validator is not None:
        assert isinstance(response.body, bytes)
        errors = sorted(validator.iter_errors(json.loads(response.body)), key=str)
        if errors:
            MISMATCHES.append(
                f"{request.method} {resource.canonical} {response.status}: {errors[0].message}"
                f" at {list(errors[0].absolute_path)}"
            )
    return response
