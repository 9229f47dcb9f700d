"""What a visitor browses with: browser, operating system and kind of device."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import ua_parser

_MAX_UA = 1024  # chars looked at; real ones, WeChat's included, stay under 500
_CACHE = 4096  # distinct user agents remembered; a visitor sends the same one each page
_BOT = re.compile(r"bot|spider|crawl|slurp", re.IGNORECASE)
# uap-core matches Android's "Version/4.0 Chrome/..." WebView rule before its WeChat
# rule, so WeChat on Android reads as "Chrome Mobile WebView" (uap-core issue 479).
_WECHAT = re.compile(r"MicroMessenger/(\d+)\.(\d+)")
_MOBILE_OS = frozenset(
    {"iOS", "Android", "Windows Phone", "Windows Mobile", "BlackBerry OS", "KaiOS", "Firefox OS"}
)
_DESKTOP_OS = frozenset(
    {"Windows", "Mac OS X", "Mac OS", "Linux", "Chrome OS", "Ubuntu", "Debian", "Fedora"}
    | {"Red Hat", "Gentoo", "FreeBSD", "OpenBSD", "NetBSD", "Solaris"}
)


@dataclass(frozen=True, slots=True)
class Device:
    """A user agent as agents read it: "Chrome 120", "Android 14", "mobile"."""

    browser: str
    os: str
    kind: str  # "mobile" | "tablet" | "desktop" | "bot" | "unknown"


UNKNOWN = Device("", "", "unknown")


def describe(user_agent: str) -> Device:
    """Describe a User-Agent header; UNKNOWN when it says nothing usable."""
    return _describe(user_agent[:_MAX_UA].strip())


def load() -> None:
    """Build the parser now (about 0.1 s) rather than on the first page view."""
    _describe("Mozilla/5.0")


@functools.lru_cache(maxsize=_CACHE)
def _describe(user_agent: str) -> Device:
    if not user_agent:
        return UNKNOWN
    parsed = ua_parser.parse(user_agent)
    agent = parsed.user_agent or ua_parser.UserAgent()
    system = parsed.os or ua_parser.OS()
    device = parsed.device or ua_parser.Device()
    browser = _named(agent.family, agent.major, agent.minor, short=True)
    if wechat := _WECHAT.search(user_agent):
        browser = f"WeChat {wechat[1]}.{wechat[2]}"
    kind = _kind(user_agent, agent.family, system.family, device)
    return Device(browser, _named(system.family, system.major, system.minor), kind)


def _named(family: str, major: str | None, minor: str | None, *, short: bool = False) -> str:
    """Join a family and its version: minor only where it tells versions apart."""
    if family == "Other":
        return ""
    if not major:
        return family
    # Browsers that release monthly (Chrome 120) need no minor; WeChat 8.0 does.
    if minor and not (short and major.isdigit() and int(major) >= 10):
        return f"{family} {major}.{minor}"
    return f"{family} {major}"


def _kind(user_agent: str, browser: str, system: str, device: ua_parser.Device) -> str:
    if device.family == "Spider" or _BOT.search(browser):
        return "bot"
    if (
        device.family in ("iPad", "Generic Tablet", "Kindle")
        or device.brand == "Generic_Android_Tablet"
        or (system == "Android" and "Mobile" not in user_agent)
    ):
        return "tablet"
    if system in _MOBILE_OS or system.startswith(("Symbian", "Nokia")):
        return "mobile"
    if system in _DESKTOP_OS or "X11;" in user_agent:
        return "desktop"
    return "unknown"
