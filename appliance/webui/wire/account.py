"""The login pages' forms (application/x-www-form-urlencoded; read by `inputs.read_form`).

Each carries the page's `csrf_token`; the handlers answer a wrong value with the page
again, never a 500, so every field is optional here."""

from __future__ import annotations

from typing import Annotated

import msgspec

from appliance.core.accounts import User
from appliance.webui.i18n import LANGS
from appliance.webui.wire import chat

_CSRF = msgspec.Meta(description="the page's CSRF token")
_NEXT = msgspec.Meta(description="a path on this box to go to afterwards")


class LoginForm(msgspec.Struct):
    username: str = ""
    password: str = ""
    next: Annotated[str, _NEXT] = ""
    csrf_token: Annotated[str, _CSRF] = ""


class LogoutForm(msgspec.Struct):
    csrf_token: Annotated[str, _CSRF] = ""


class SetupForm(msgspec.Struct):
    token: Annotated[str, msgspec.Meta(description="the one-time setup link's token")] = ""
    username: str = ""
    display_name: str = ""
    password: str = ""
    password2: Annotated[str, msgspec.Meta(description="the password again")] = ""
    csrf_token: Annotated[str, _CSRF] = ""


class LangForm(msgspec.Struct):
    lang: Annotated[str, msgspec.Meta(description=f"one of {', '.join(LANGS)}")] = ""
    next: Annotated[str, _NEXT] = ""
    csrf_token: Annotated[str, _CSRF] = ""


class LoginQuery(msgspec.Struct):
    next: Annotated[str, _NEXT] = ""


class SetupQuery(msgspec.Struct):
    token: Annotated[
        str,
        msgspec.Meta(
            description="from the link printed at first boot; once an administrator "
            "exists, none: the page shows an administrator the steps after the first"
        ),
    ] = ""


def user_out(user: User) -> chat.User:
    """Return the wire form of a console user."""
    return chat.User(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        status=chat.Presence(user.status),
        max_chats=user.max_chats,
    )
