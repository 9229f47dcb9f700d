"""Shapes of the company's look: the settings page's API and what the widget reads."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from appliance.core import brand as core

Color = Annotated[
    str,
    msgspec.Meta(max_length=7, description="#rrggbb or #rgb; empty: the widget's own blue"),
]
TextColor = Literal["auto", "white", "black"]
Position = Literal["right", "left"]
OffsetX = Annotated[
    int, msgspec.Meta(ge=0, le=core.OFFSET_X_MAX, description="px from the page's side")
]
OffsetY = Annotated[
    int, msgspec.Meta(ge=0, le=core.OFFSET_Y_MAX, description="px from the page's bottom")
]
OpenAfter = Annotated[
    Annotated[int, msgspec.Meta(ge=0, le=core.OPEN_AFTER_MAX)] | None,
    msgspec.Meta(description="s after the page loads before the chat opens; null: never"),
]
Welcome = Annotated[
    dict[str, Annotated[str, msgspec.Meta(max_length=core.WELCOME_MAX)]],
    msgspec.Meta(description="the welcome text by language (zh-CN, en); none: no welcome"),
]
Label = Annotated[
    dict[str, Annotated[str, msgspec.Meta(max_length=core.LABEL_MAX)]],
    msgspec.Meta(description="the launcher's label by language; none: an icon only"),
]
Name = Annotated[
    str,
    msgspec.Meta(
        max_length=core.NAME_MAX, description="the header's title; empty: the widget's own"
    ),
]


class LookChange(msgspec.Struct, forbid_unknown_fields=True):
    """The whole look (the logo has its own operations); missing fields: defaults."""

    color: Color = ""
    text_color: TextColor = "auto"
    name: Name = ""
    welcome: Welcome = msgspec.field(default_factory=dict)
    label: Label = msgspec.field(default_factory=dict)
    position: Position = "right"
    offset_x: OffsetX = core.OFFSET_DEFAULT
    offset_y: OffsetY = core.OFFSET_DEFAULT
    open_after: OpenAfter = None


class Look(LookChange, forbid_unknown_fields=False):
    """The look as it stands, with what follows from it."""

    logo: Annotated[str, msgspec.Meta(description="the logo's URL path, or empty")] = ""
    version: Annotated[str, msgspec.Meta(description="changes with every change")] = ""
    text: Annotated[
        str, msgspec.Meta(description="#rrggbb of text on the colour; empty with the default")
    ] = ""
    contrast: Annotated[
        float | None, msgspec.Meta(description="contrast of text and colour (WCAG, 1 to 21)")
    ] = None


class OneLook(msgspec.Struct):
    look: Look


class WidgetLook(msgspec.Struct):
    """What the widget needs of the look (in the session call's answer)."""

    version: str
    color: str
    text: str
    logo: str
    name: str
    welcome: dict[str, str]
    label: dict[str, str]
    position: Position
    offset_x: int
    offset_y: int
    open_after: int | None


class Avatar(msgspec.Struct):
    """A user's photo: its URL path, or empty when they have none."""

    url: str


def logo_url(look: core.Look) -> str:
    """Return the URL path of the look's logo ("" without one); it changes with the logo."""
    return f"/api/visitor/logo/{look.logo}" if look.logo else ""


def look_out(look: core.Look) -> Look:
    """Return the settings page's form of the look."""
    ratio = round(core.contrast(look.color, look.text), 2) if look.color else None
    return Look(
        color=look.color,
        text_color=look.text_color,  # type: ignore[arg-type]
        name=look.name,
        welcome=dict(look.welcome),
        label=dict(look.label),
        position=look.position,  # type: ignore[arg-type]
        offset_x=look.offset_x,
        offset_y=look.offset_y,
        open_after=look.open_after,
        logo=logo_url(look),
        version=look.version,
        text=look.text,
        contrast=ratio,
    )


def widget_look(look: core.Look) -> WidgetLook:
    """Return the widget's form of the look."""
    return WidgetLook(
        version=look.version,
        color=look.color,
        text=look.text,
        logo=logo_url(look),
        name=look.name,
        welcome=dict(look.welcome),
        label=dict(look.label),
        position=look.position,  # type: ignore[arg-type]
        offset_x=look.offset_x,
        offset_y=look.offset_y,
        open_after=look.open_after,
    )
