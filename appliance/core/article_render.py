"""Article bodies are Markdown; this is the one place they become HTML.

Two layers, so one mistake is not enough: markdown-it-py parses CommonMark with raw
HTML turned off (a `<script>` typed in an article is shown as text) and refuses
`javascript:`, `vbscript:`, `file:` and most `data:` links itself; then nh3 (ammonia)
keeps only the tags and attributes on the allow-list below and only http(s), mailto
and tel links. Pictures are the box's own only (`/help/images/<name>`, uploaded by
staff, core/article_images.py): a picture from elsewhere would tell a third party who
reads the article, so its tag is dropped. Every outside link gets
`rel="noopener noreferrer nofollow"`.

Everything that shows an article as HTML calls `render`: the widget's article view,
the public /help pages and the console's preview.
"""

from __future__ import annotations

import asyncio
import html
import re
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

IMAGE_PATH = "/help/images/"
# A stored picture's name: its content hash and the extension of the type the box wrote.
IMAGE_NAME = re.compile(r"[0-9a-f]{16}\.(?:png|jpg|webp)")
_NO_SRC = re.compile(r"<img(?![^>]*\bsrc=)[^>]*>")
_CACHED = 256  # rendered bodies kept (a popular article is read far more than written)

TAGS = frozenset(
    {
        "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6",
        "strong", "em", "del", "s", "code", "pre", "blockquote",
        "ul", "ol", "li", "a", "img",
        "table", "thead", "tbody", "tr", "th", "td",
    }
)  # fmt: skip
ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
}
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
# Dropped with what they hold, not only their tags (the text of a script is no article).
_DROP_WITH_CONTENT = frozenset({"script", "style", "iframe", "object", "embed", "template"})


def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
        ["table", "strikethrough"]
    )


def _keep(tag: str, attribute: str, value: str) -> str | None:
    """Keep a picture only when it is one of the box's own; other values as they are."""
    if tag == "img" and attribute == "src":
        name = value.removeprefix(IMAGE_PATH)
        return value if value != name and IMAGE_NAME.fullmatch(name) else None
    return value


@lru_cache(maxsize=1)
def _cleaner() -> nh3.Cleaner:
    return nh3.Cleaner(
        tags=set(TAGS),
        clean_content_tags=set(_DROP_WITH_CONTENT),
        attributes=ATTRIBUTES,
        url_schemes=set(URL_SCHEMES),
        attribute_filter=_keep,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def sanitize(markup: str) -> str:
    """Return HTML with only the allow-listed tags, attributes and link schemes."""
    # An <img> left without a src is a broken picture: the filter took its src away.
    return _NO_SRC.sub("", _cleaner().clean(markup))


@lru_cache(maxsize=_CACHED)
def render(markdown: str) -> str:
    """Return an article body (Markdown) as safe HTML."""
    return sanitize(_parser().render(markdown))


async def render_off_loop(markdown: str) -> str:
    """Render in a thread: a 50 KB body takes ~0.1-0.3 s of Python, too long for the loop."""
    return await asyncio.to_thread(render, markdown)


def plain(markdown: str, limit: int = 160) -> str:
    """Return the first `limit` characters of an article's text (for a description)."""
    spaced = re.sub(r"(</?(?:p|h[1-6]|li|td|th|br|pre|blockquote)\b)", r" \1", render(markdown))
    text = " ".join(html.unescape(nh3.clean(spaced, tags=set())).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
