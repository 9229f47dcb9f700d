"""Where a visit came from: search engine and keyword, campaign, referring site or direct."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes, urlsplit

_MAX_URL = 4096  # chars of a referrer or landing URL that are looked at
_MAX_PARAMS = 64  # query parameters read from one URL
_MAX_KEYWORD = 200  # chars
_MAX_UTM = 200  # chars per UTM value
_UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
_HOST = re.compile(r"[\w.:-]{1,253}")
# Ad tracking templates left unfilled, such as utm_term={keyword}.
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


@dataclass(frozen=True, slots=True)
class Source:
    """How a visitor reached the site, as shown to agents and matched by invite rules."""

    kind: str  # "search" | "campaign" | "referral" | "direct"
    engine: str = ""  # "baidu" | "sogou" | "so360" | "shenma" | "bing" | "google" | ...
    keyword: str = ""  # decoded search words when the referrer carries them
    site: str = ""  # referring host without "www.", "" for direct
    utm: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Engine:
    name: str
    search_hosts: re.Pattern[str]  # every page on these is a result or click-through page
    domain: re.Pattern[str]  # other hosts of the engine count only with a keyword
    params: tuple[str, ...]  # keyword parameters, preferred first
    aliases: frozenset[str]  # utm_source values that name the engine


def _engine(name: str, search: str, domain: str, params: str, aliases: str) -> _Engine:
    return _Engine(
        name,
        re.compile(search),
        re.compile(domain),
        tuple(params.split()),
        frozenset(aliases.split()),
    )


_GOOGLE_TLD = r"google\.(?:com|co\.[a-z]{2}|com\.[a-z]{2}|[a-z]{2})"
# Baidu sends wd= on the desktop and word= on phones; /link and /baidu.php (paid clicks)
# carry no keyword at all, and since 2015 most results send only the origin.
_ENGINES = (
    _engine(
        "baidu",
        r"(?:www\.|m\.|wap\.)?baidu\.com",
        r"(?:[\w-]+\.)+baidu\.com",
        "wd word",
        "baidu baidu.com 百度",
    ),
    _engine(
        "sogou",
        r"(?:www\.|m\.|wap\.)?sogou\.com",
        r"(?:[\w-]+\.)+sogou\.com",
        "query keyword",
        "sogou sogou.com 搜狗",
    ),
    _engine(
        "so360",
        r"(?:www\.|m\.)?(?:so|haosou)\.com|so\.360\.cn",
        r"(?:[\w-]+\.)+so\.com",
        "q",
        "so360 360 so.com 360search haosou 360搜索",
    ),
    _engine(
        "shenma",
        r"(?:[\w-]+\.)*sm\.cn",
        r"(?:[\w-]+\.)*sm\.cn",
        "q",
        "shenma sm sm.cn 神马",
    ),
    _engine(
        "bing",
        r"(?:www\.|cn\.|global\.)?bing\.com",
        r"(?:[\w-]+\.)+bing\.com",
        "q",
        "bing bing.com 必应",
    ),
    _engine(
        "google",
        rf"(?:www\.|m\.)?{_GOOGLE_TLD}",
        rf"(?:[\w-]+\.)+{_GOOGLE_TLD}",
        "q",
        "google google.com 谷歌",
    ),
    _engine(
        "toutiao",
        r"so\.toutiao\.com",
        r"(?:[\w-]+\.)*toutiao\.com",
        "keyword",
        "toutiao 头条",
    ),
    _engine(
        "yandex",
        r"(?:www\.)?(?:yandex\.(?:ru|com|com\.tr|by|kz|ua|uz)|ya\.ru)",
        r"(?:[\w-]+\.)+yandex\.(?:ru|com)",
        "text",
        "yandex",
    ),
    _engine(
        "duckduckgo",
        r"(?:www\.|html\.|lite\.)?duckduckgo\.com",
        r"(?:[\w-]+\.)+duckduckgo\.com",
        "q",
        "duckduckgo ddg",
    ),
    _engine(
        "yahoo",
        r"(?:[a-z]{2}\.)?search\.yahoo\.(?:com|co\.jp)",
        r"(?:[\w-]+\.)+yahoo\.(?:com|co\.jp)",
        "p",
        "yahoo",
    ),
)
# Click ids that ad networks append to the landing URL of a paid result.
_CLICK_IDS = {"bd_vid": "baidu", "qhclickid": "so360", "msclkid": "bing", "gclid": "google"}
# Android apps announce themselves as android-app://<package>/ instead of a page URL.
_APP_ENGINES = {"com.google.android.googlequicksearchbox": "google"}


def classify(referrer: str, landing_url: str, own_hosts: Iterable[str] = ()) -> Source:
    """Tell where a visit came from; never raises, whatever the browser sent."""
    landing = _Url.parse(landing_url)
    ref = _Url.parse(referrer)
    if ref.host and _bare(ref.host) in _own(own_hosts, landing.host):
        ref = _Url()
    found = _search(ref)
    campaign = _campaign(landing.query, found, ref.host)
    if campaign is not None:
        return campaign
    if found is not None:
        return found
    if ref.host:
        return Source("referral", site=_bare(ref.host))
    return Source("direct")


@dataclass(frozen=True, slots=True)
class _Url:
    scheme: str = ""
    host: str = ""
    query: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: object) -> _Url:
        """Split a URL into its lower-case host (kept only for web and app URLs) and query."""
        if not isinstance(text, str) or not text:
            return cls()
        if len(text) > _MAX_URL:
            # Drop the parameter the cut runs through: half a keyword decodes to mojibake.
            text = text[:_MAX_URL]
            text = text[: max(text.rfind("&"), text.find("?"))] if "?" in text else text
        try:
            parts = urlsplit(text.strip())
            host = (parts.hostname or "").rstrip(".")
        except ValueError:
            return cls()
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https", "android-app") or not _HOST.fullmatch(host):
            scheme, host = "", ""
        return cls(scheme, host, _query(parts.query))


def _own(own_hosts: Iterable[str], landing_host: str) -> set[str]:
    hosts = {_bare(landing_host)}
    if isinstance(own_hosts, str):
        own_hosts = (own_hosts,)
    for entry in own_hosts:
        try:
            hosts.add(_bare(urlsplit(entry if "//" in entry else f"//{entry}").hostname or ""))
        except (TypeError, ValueError):
            continue
    hosts.discard("")
    return hosts


def _query(query: str) -> dict[str, bytes]:
    params: dict[str, bytes] = {}
    for pair in query.split("&", _MAX_PARAMS)[:_MAX_PARAMS]:
        name, _, value = pair.partition("=")
        name = name.strip().lower()
        if name and name not in params:
            params[name] = unquote_to_bytes(value.replace("+", " "))
    return params


def _search(ref: _Url) -> Source | None:
    if ref.scheme == "android-app":
        name = _APP_ENGINES.get(ref.host)
        return Source("search", engine=name, site=ref.host) if name else None
    for engine in _ENGINES:
        everywhere = engine.search_hosts.fullmatch(ref.host) is not None
        if not everywhere and not engine.domain.fullmatch(ref.host):
            continue
        words = (_text(ref.query[name]) for name in engine.params if name in ref.query)
        keyword = next(filter(None, words), "")
        if everywhere or keyword:
            return Source("search", engine=engine.name, keyword=keyword, site=_bare(ref.host))
    return None


def _campaign(landing: dict[str, bytes], found: Source | None, ref_host: str) -> Source | None:
    utm = {key: value for key in _UTM_KEYS if (value := _text(landing.get(key, b""), _MAX_UTM))}
    clicked = next((name for key, name in _CLICK_IDS.items() if landing.get(key)), "")
    if not utm and not clicked:
        return None
    # A click id can ride along on a shared link; the referrer is fresher evidence.
    engine = _named_engine(utm.get("utm_source", "")) or (found.engine if found else clicked)
    keyword = utm.get("utm_term", "")[:_MAX_KEYWORD] or (found.keyword if found else "")
    return Source("campaign", engine=engine, keyword=keyword, site=_bare(ref_host), utm=utm)


def _named_engine(source: str) -> str:
    wanted = _bare(source)
    return next((engine.name for engine in _ENGINES if wanted in engine.aliases), "")


def _text(raw: bytes, limit: int = _MAX_KEYWORD) -> str:
    """Decode percent-decoded bytes to one line of bounded, readable text."""
    if not raw:
        return ""
    printable = "".join(" " if unicodedata.category(c)[0] == "C" else c for c in _decode(raw))
    words = " ".join(printable.split())
    return "" if _PLACEHOLDER.fullmatch(words) else words[:limit]


def _decode(raw: bytes) -> str:
    # UTF-8 first even when the URL declares ie=gbk: GBK text is almost never valid
    # UTF-8, while UTF-8 text mostly "decodes" as GB18030 too, into mojibake.
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", errors="replace")


def _bare(host: str) -> str:
    host = host.lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host
