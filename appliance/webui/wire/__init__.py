"""The API's shapes as msgspec types, one module per area; shared pieces here."""

from __future__ import annotations

from typing import Annotated, overload

import msgspec

from appliance.core.clock import local_iso

# Times on the wire: ISO 8601 in the box's zone, with its offset (docs/api.md).
Time = Annotated[str, msgspec.Meta(extra_json_schema={"format": "date-time"})]


@overload
def wire_time(ms: int) -> str: ...
@overload
def wire_time(ms: int | None) -> str | None: ...
def wire_time(ms: int | None) -> str | None:
    """The one place a stored time (UTC milliseconds) becomes a wire time: ISO 8601 in
    the box's zone with its offset, to the millisecond (2026-12-06T10:21:51.123+08:00)."""
    return local_iso(ms)


class ErrorDetail(msgspec.Struct):
    """What went wrong: a stable code for programs, a sentence for people."""

    code: str
    message: str
    retry_after: Annotated[int, msgspec.Meta(description="429: seconds to wait")] | (
        msgspec.UnsetType
    ) = msgspec.UNSET


class ErrorBody(msgspec.Struct):
    """Every API error's body (security.json_error)."""

    error: ErrorDetail
