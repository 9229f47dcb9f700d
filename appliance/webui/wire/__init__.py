"""The API's shapes as msgspec types, one module per area; shared pieces here."""

from __future__ import annotations

from typing import Annotated

import msgspec

# Times on the wire: ISO 8601 in the box's zone, with its offset (docs/api.md).
Time = Annotated[str, msgspec.Meta(extra_json_schema={"format": "date-time"})]


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
