"""The typed contract: each operation declared once, with msgspec types for what it
takes and gives; its route, its input decoding and its OpenAPI entry come from that.

An `Operation` names the handler, the request body's type, the query's type and the
response's type. `Contract.install` registers the routes; `read_body`/`read_query`
decode input into those types (after `inputs.decode_json`'s checks on text and
numbers, which JSON Schema cannot say); `reply` encodes; `Contract.openapi_paths`
and `openapi_schemas` build the document. Who may call an operation is not declared
here but in `policy.py`, and the document takes its security from there.

msgspec was chosen by measurement (bench/README.md, "Contract codec benchmark").
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from appliance.core.errors import InvalidInput
from appliance.webui.inputs import decode_json
from appliance.webui.policy import policy_of
from appliance.webui.security import is_visitor_path

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
T = TypeVar("T")

_MAX_JSON = 16 * 1024  # bytes of a JSON request body
_REF = "#/components/schemas/{name}"
_ERROR = {"$ref": "#/components/responses/Error"}
_PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")
_CHANGES = ("POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True, slots=True)
class Operation:
    """One HTTP operation: route, types and what the document says of it."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    response: Any = None  # type of the JSON body answered with `status`
    status: int = 200
    body: Any = None  # type of the JSON request body
    query: Any = None  # a Struct whose fields are the query parameters
    path_types: dict[str, Any] = field(default_factory=dict)  # default: str
    errors: tuple[int, ...] = ()
    description: str = ""
    media: str = ""  # a response that is not JSON: its media type ("text/html", …)
    upload: tuple[str, ...] = ()  # a raw (not JSON) request body: its media types
    also: dict[int, Any] = field(default_factory=dict)  # other statuses: body type, or media
    token: bool = True  # a visitor route: the caller proves a visitor by a bearer token


class Contract:
    """The operations of one area of the API."""

    def __init__(self, operations: Iterable[Operation] = ()) -> None:
        self.operations = list(operations)

    def install(self, app: web.Application) -> None:
        """Register every operation's route (a GET answers HEAD too, as aiohttp's add_get)."""
        for op in self.operations:
            if op.method == "GET":
                app.router.add_get(op.path, op.handler)
            elif _takes_no_body(op):
                app.router.add_route(op.method, op.path, _bodiless(op.handler))
            else:
                app.router.add_route(op.method, op.path, op.handler)

    def types(self) -> list[Any]:
        """Return every type the operations name (for the schema components)."""
        found: list[Any] = []
        for op in self.operations:
            for kind in (op.response, op.body, *op.also.values()):
                if kind is not None and not isinstance(kind, str) and kind not in found:
                    found.append(kind)
        return found

    def openapi_paths(self) -> dict[str, Any]:
        """Return the document's `paths` entries of these operations."""
        paths: dict[str, Any] = {}
        for op in self.operations:
            paths.setdefault(_PARAM.sub(r"{\1}", op.path), {})[op.method.lower()] = _entry(op)
        return paths


def openapi_schemas(contracts: Iterable[Contract]) -> dict[str, Any]:
    """Return the schema components of every type the contracts name."""
    types: list[Any] = []
    for contract in contracts:
        types.extend(t for t in contract.types() if t not in types)
    _, components = msgspec.json.schema_components(types, ref_template=_REF)
    return components


def _schema_ref(kind: Any) -> dict[str, Any]:
    (schema,), _ = msgspec.json.schema_components([kind], ref_template=_REF)
    return schema


def _entry(op: Operation) -> dict[str, Any]:
    entry: dict[str, Any] = {"summary": op.summary, "tags": [op.tag]}
    if op.description:
        entry["description"] = op.description
    params = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": _schema_ref(op.path_types.get(name, str)),
        }
        for name in _PARAM.findall(op.path)
    ]
    if op.query is not None:
        schema = msgspec.json.schema(op.query)
        query = schema["$defs"][schema["$ref"].rsplit("/", 1)[1]]
        required = set(query.get("required", ()))
        params += [
            {"name": name, "in": "query", "required": name in required, "schema": prop}
            for name, prop in query["properties"].items()
        ]
    policy = policy_of(op.method, op.path)
    if is_visitor_path(op.path):
        if op.token:
            entry["security"] = [{"visitorToken": []}]
    elif not policy.public:
        entry["security"] = [{"consoleSession": []}]
        if op.method in _CHANGES:
            params.append(
                {
                    "name": "X-CSRF-Token",
                    "in": "header",
                    "required": True,
                    "description": "the session's CSRF token, from GET /api/console/me",
                    "schema": {"type": "string"},
                }
            )
    if params:
        entry["parameters"] = params
    if op.body is not None:  # JSON, or JSON sent as `upload` types (a beacon's text/plain)
        media = op.upload or ("application/json",)
        entry["requestBody"] = {
            "required": True,
            "content": {m: {"schema": _schema_ref(op.body)} for m in media},
        }
    elif op.upload:
        entry["requestBody"] = {
            "required": True,
            "content": {m: {"schema": {"type": "string", "format": "binary"}} for m in op.upload},
        }
    ok: dict[str, Any] = {"description": HTTPStatus(op.status).phrase}
    if op.response is not None:
        ok["content"] = {"application/json": {"schema": _schema_ref(op.response)}}
    elif op.media:
        ok["content"] = {op.media: {"schema": {"type": "string"}}}
    answers = {str(op.status): ok}
    for status, kind in op.also.items():
        content = (
            {kind: {"schema": {"type": "string"}}}  # a page, say, answered with this status
            if isinstance(kind, str)
            else {"application/json": {"schema": _schema_ref(kind)}}
        )
        answers[str(status)] = {"description": HTTPStatus(status).phrase, "content": content}
    errors = set(op.errors)
    if _takes_no_body(op):
        errors |= {413, 422}  # a body it does not take is refused (`_bodiless`)
    entry["responses"] = {**answers, **{str(code): _ERROR for code in sorted(errors)}}
    return entry


def _takes_no_body(op: Operation) -> bool:
    """A JSON operation that changes something and takes no body (forms and redirects
    read their own)."""
    return (
        op.method != "GET"
        and op.body is None
        and not op.upload
        and not op.media
        and op.status < 300
    )


class _NoBody(msgspec.Struct, forbid_unknown_fields=True):
    """What an operation without a body accepts: nothing, or an empty JSON object."""


def _bodiless(handler: Handler) -> Handler:
    """Refuse a body on an operation that takes none (422), rather than ignore it: what
    a client sends is either understood or refused, never silently dropped."""

    async def checked(request: web.Request) -> web.StreamResponse:
        if request.body_exists:
            await read_body(request, _NoBody)
        return await handler(request)

    return checked


async def read_body(request: web.Request, kind: type[T]) -> T:
    """Decode a bounded JSON body into `kind`; raise a clear 4xx otherwise."""
    if request.content_length is not None and request.content_length > _MAX_JSON:
        raise web.HTTPRequestEntityTooLarge(max_size=_MAX_JSON, actual_size=request.content_length)
    raw = await request.content.read(_MAX_JSON + 1)
    if len(raw) > _MAX_JSON:
        raise web.HTTPRequestEntityTooLarge(max_size=_MAX_JSON, actual_size=len(raw))
    return convert(decode_json(raw) if raw.strip() else {}, kind)


def read_query(request: web.Request, kind: type[T]) -> T:
    """Decode the query string into `kind` (text parameters become numbers, booleans).

    An empty parameter (`?source=`, as a cleared form field sends it) counts as absent.
    """
    return convert({k: v for k, v in request.query.items() if v != ""}, kind, strict=False)


def convert(value: Any, kind: type[T], *, strict: bool = True) -> T:
    """Check a decoded value against a contract type; raise InvalidInput (422) if off."""
    try:
        return msgspec.convert(value, kind, strict=strict)
    except msgspec.ValidationError as err:
        raise InvalidInput(explain(str(err), kind)) from err


_AT = re.compile(r"^(?P<what>.*?)(?: - at `(?P<path>[^`]*)`)?$")
_TYPE_WORDS = {
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "str": "text",
    "object": "a JSON object",
    "array": "a list",
}


def explain(message: str, kind: Any) -> str:
    """Say what msgspec found wrong in the words of the API's other errors.

    "Expected `int` >= 1 - at `$.page_view_days`" becomes "page_view_days must be
    between 1 and 3650": the whole rule, read from the type's own schema.
    """
    found = _AT.match(message)
    assert found is not None  # the pattern matches any text
    what, path = found["what"], found["path"] or "$"
    steps: list[str | int] = [
        key if key else int(index) for key, index in re.findall(r"\.(\w+)|\[(\d+)\]", path)
    ]
    names = [step for step in steps if isinstance(step, str)]
    name = names[-1] if names else "body"
    if unknown := re.match(r"Object contains unknown field `(.+)`", what):
        return f"unknown field: {unknown[1]}"
    if missing := re.match(r"Object missing required field `(.+)`", what):
        return f"{missing[1]} is required"
    if typed := re.match(r"Expected `(\w+)`, got", what):
        return f"{name} must be {_TYPE_WORDS.get(typed[1], typed[1])}"
    schema = _field_schema(kind, steps)
    if "enum" in schema:
        return f"{name} must be one of {', '.join(map(str, schema['enum']))}"
    if "minimum" in schema and "maximum" in schema:
        return f"{name} must be between {schema['minimum']} and {schema['maximum']}"
    if "of length" in what:
        low, high = schema.get("minLength", 0), schema.get("maxLength")
        if high is not None:
            return f"{name} must be text of {low}-{high} characters"
        return f"{name} must not be empty" if low == 1 else f"{name} must be {low}+ characters"
    if "regex" in what:
        # The type says what the text must look like in its description, where it can.
        about = schema.get("description")
        return f"{name} must be {about}" if about else f"{name} is malformed"
    if typed := re.match(r"Expected `(\w+)`", what):
        return f"{name} must be {_TYPE_WORDS.get(typed[1], typed[1])}"
    return message


def _field_schema(kind: Any, steps: list[str | int]) -> dict[str, Any]:
    """The JSON schema of the field at `keys` inside `kind` ({} if it cannot be found)."""
    document = msgspec.json.schema(kind)
    defs = document.get("$defs", {})

    def resolve(schema: dict[str, Any]) -> dict[str, Any]:
        while True:
            if "$ref" in schema:
                schema = defs.get(schema["$ref"].rsplit("/", 1)[1], {})
            elif "anyOf" in schema:  # X | None: the X
                options = [s for s in schema["anyOf"] if s.get("type") != "null"]
                schema = options[0] if len(options) == 1 else {}
            else:
                return schema

    schema = resolve(document)
    for step in steps:
        if isinstance(step, str):
            schema = resolve(schema.get("properties", {}).get(step, {}))
        else:  # an item of a list, or of a fixed-length tuple
            prefix = schema.get("prefixItems", [])
            schema = resolve(prefix[step] if step < len(prefix) else schema.get("items", {}))
    return schema


def reply(value: Any, status: int = 200) -> web.Response:
    """Answer with a contract value (a Struct, or plain JSON-able data) as JSON."""
    return web.Response(
        body=msgspec.json.encode(value), status=status, content_type="application/json"
    )
