"""The API's shapes as msgspec types, one module per area; shared pieces here."""

from __future__ import annotations

from typing import Annotated

import msgspec

# Times on the wire: ISO 8601 in the box's zone, with its offset (docs/api.md).
Time = Annotated[str, msgspec.Meta(extra_json_schema={"format": "date-time"})]
