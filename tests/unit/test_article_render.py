"""Article bodies as Markdown rendered safely: what an attacker writes never runs, what
an editor writes (tables, code, lists, the box's own pictures) stays."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from appliance.core.article_render import ATTRIBUTES, TAGS, plain, render, sanitize

PICTURE = "/help/images/0123456789abcdef.png"


class _Elements(HTMLParser):
    """The elements of a piece of HTML as a browser would build them: (tag, attributes)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def elements(markup: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Elements()
    parser.feed(markup)
    parser.close()
    return parser.found


def assert_allowed(markup: str) -> None:
    """Every element and attribute is on the allow-list; no handler, no script URL."""
    for tag, attrs in elements(markup):
        assert tag in TAGS, tag
        for name, value in attrs.items():
            assert name in ATTRIBUTES.get(tag, set()) or (tag == "a" and name == "rel"), name
            assert not (value or "").strip().lower().startswith(("javascript:", "data:"))


@pytest.mark.parametrize(
    "markdown",
    [
        "<script>alert(1)</script>",
        "text <script>alert(1)</script> more",
        "<img src=x onerror=alert(1)>",
        '<a href="#" onclick="alert(1)">x</a>',
        '<iframe src="https://evil.example/"></iframe>',
        "<svg onload=alert(1)></svg>",
        '<div style="position:fixed">x</div>',
    ],
)
def test_raw_html_is_shown_as_text(markdown: str) -> None:
    out = render(markdown)
    assert_allowed(out)
    assert [tag for tag, _ in elements(out)] == ["p"]
    assert "&lt;" in out  # the markup typed is visible, as text


@pytest.mark.parametrize(
    "link",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "vbscript:msgbox(1)",
        "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
        "file:///etc/passwd",
    ],
)
def test_dangerous_links_lose_their_target(link: str) -> None:
    out = render(f"[click]({link}) and <{link}>")
    assert_allowed(out)
    assert all("href" not in attrs for _, attrs in elements(out))


def test_pictures_only_from_the_box() -> None:
    out = render(
        f"![ours]({PICTURE}) ![data](data:image/png;base64,iVBORw0KGgo=) "
        "![far](https://tracker.example/pixel.png) ![odd](/help/images/../secret.png)"
    )
    assert out.count("<img") == 1
    assert f'<img src="{PICTURE}" alt="ours">' in out
    assert "data:" not in out and "tracker" not in out and "secret" not in out


def test_the_sanitiser_alone_removes_handlers_scripts_and_frames() -> None:
    dirty = (
        '<p onclick="x()" style="color:red">a<script>evil()</script>'
        '<iframe src="https://e.example/">inside</iframe>'
        f'<img src="{PICTURE}" onerror="x()"><a href="javascript:x()">j</a>'
        '<object data="x.swf"></object><embed src="x"><form><input></form></p>'
    )
    out = sanitize(dirty)
    assert_allowed(out)
    for gone in ("onclick", "onerror", "style", "script", "evil", "iframe", "inside", "object"):
        assert gone not in out
    assert "embed" not in out and "<form" not in out and "<input" not in out
    assert "javascript" not in out and f'src="{PICTURE}"' in out


def test_tables_code_and_lists_are_kept() -> None:
    out = render(
        "## 步骤\n\n1. 重启光猫\n2. 检查网线\n\n- a\n- b\n\n"
        "| 型号 | 速率 |\n|:--|--:|\n| X200 | 1000M |\n\n"
        "```\nping 192.168.1.1 <b>\n```\n\n`code` **粗** *斜* ~~旧~~\n\n> 注意"
    )
    for kept in (
        "<h2>步骤</h2>",
        "<ol>",
        "<li>重启光猫</li>",
        "<ul>",
        "<table>",
        "<th>型号</th>",
        "<td>X200</td>",
        "<pre><code>ping 192.168.1.1 &lt;b&gt;",
        "<code>code</code>",
        "<strong>粗</strong>",
        "<em>斜</em>",
        "<s>旧</s>",
        "<blockquote>",
    ):
        assert kept in out, kept
    assert_allowed(out)
    assert "style=" not in out  # column alignment is dropped with the style attribute


def test_outside_links_are_kept_with_rel() -> None:
    out = render("[帮助](https://example.com/a?b=1) [mail](mailto:help@example.com)")
    assert 'href="https://example.com/a?b=1"' in out
    assert 'rel="noopener noreferrer nofollow"' in out
    assert 'href="mailto:help@example.com"' in out


def test_plain_text_for_descriptions() -> None:
    assert (
        plain("# 宽带 & <断线>\n\n先重启光猫。\n\n- 再检查网线")
        == "宽带 & <断线> 先重启光猫。 再检查网线"
    )
    assert len(plain("字" * 500, 50)) == 50
