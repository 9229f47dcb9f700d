"""Shapes of pictures and files in chats: the file a message carries, the limits."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from appliance.core import conversation as core
from appliance.core.files import MAX_MB, Limits

Kind = Literal["image", "pdf", "office", "zip", "text"]  # core.filetypes.KINDS
ClientId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
FileName = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=255,
        description="the file's name (its extension must match its content: a type lie "
        "is refused); kept at most 120 characters",
    ),
]
MaxMb = Annotated[int, msgspec.Meta(ge=1, le=MAX_MB, description="MiB")]


class FileRef(msgspec.Struct):
    """The file a message carries; the message's body is its name."""

    id: str
    name: str
    kind: Annotated[Kind, msgspec.Meta(description="the family of its format")]
    type: Annotated[str, msgspec.Meta(description="its media type, read from its content")]
    size: Annotated[int, msgspec.Meta(description="bytes, as stored")]
    width: int | None = None
    height: int | None = None
    thumb: Annotated[bool, msgspec.Meta(description="a picture with a smaller copy (?thumb=1)")] = (
        False
    )


class UploadQuery(msgspec.Struct):
    """Who sends the file under which id, and its name (the body is the file itself)."""

    client_msg_id: ClientId
    name: FileName


class FileQuery(msgspec.Struct):
    """How to get a file: its thumbnail, and whether to save it rather than show it."""

    thumb: bool = False
    download: bool = False


class FileLimits(msgspec.Struct):
    """What the box takes: a size and families of formats, with their extensions."""

    max_mb: MaxMb
    max_bytes: int
    kinds: list[Kind]
    extensions: Annotated[
        list[str], msgspec.Meta(description="of every allowed format, for a file picker")
    ]


class FileLimitsChange(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Any of the limits; the others stay as they are. kinds [] switches uploads off."""

    max_mb: MaxMb | msgspec.UnsetType = msgspec.UNSET
    kinds: (
        Annotated[
            list[Kind], msgspec.Meta(max_length=5, description="image, pdf, office, zip, text")
        ]
        | msgspec.UnsetType
    ) = msgspec.UNSET


def file_out(file: core.Attachment) -> FileRef:
    """Return the wire form of a message's file."""
    return FileRef(
        id=file.id,
        name=file.name,
        kind=file.kind,  # type: ignore[arg-type]
        type=file.mime,
        size=file.size,
        width=file.width,
        height=file.height,
        thumb=file.thumb_sha256 is not None,
    )


def limits_out(limits: Limits) -> FileLimits:
    """Return the wire form of the limits."""
    return FileLimits(
        max_mb=limits.max_mb,
        max_bytes=limits.max_bytes,
        kinds=list(limits.kinds),  # type: ignore[arg-type]
        extensions=limits.extensions(),
    )
