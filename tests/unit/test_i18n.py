"""The string catalogs: both languages agree, and every key the UI asks for exists."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import pytest

from appliance.core.hours import DAYS
from appliance.core.routing import STRATEGIES, TIERS
from appliance.webui import assets
from appliance.webui.i18n import CATALOG_MARK, LANGS, SECTIONS, Catalog, CatalogError, fill

_WEBUI = Path(str(resources.files("appliance.webui")))
_LOCALES = _WEBUI / "locales"
_STATIC = _WEBUI / "static"
_SLOT = re.compile(r"\{(\w+)\}")
# A string literal in a lookup's argument, unless it is compared with something.
_JS_STRING = re.compile(r"(?<![=!]=)(?<![=!]==)(?<![=!]= )(?<![=!]== )\"(\w+)\"(?!\s*[=!]=)")

# Files that may hold Chinese outside the catalogs, and why.
_CJK_ALLOWED = {
    # Search engines' names, by language; to move into the console section once the
    # console time work in that file has landed.
    "static/console-visit.js",
    # Separators a supervisor may type between two times ("09:00至12:00"): input, not text.
    "static/routing.js",
    # A comment naming the view as agents know it.
    "static/console-visitors.js",
    # The emoji's names in Chinese and English, which the picker searches: data, like
    # Unicode's own annotations; its few UI words come from the catalogs as labels.
    "static/emoji-picker.js",
}
# The widget's parts it imports on first use (file_views.LAZY_PARTS) speak its catalog.
_WIDGET_LAZY = ("widget-files.js",)
_CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def _catalogs() -> dict[str, dict[str, dict[str, str]]]:
    return {
        lang: json.loads((_LOCALES / f"{lang}.json").read_text(encoding="utf-8")) for lang in LANGS
    }


def _source(paths: Iterator[Path]) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(paths))


def _first_argument(source: str, call: str) -> Iterator[str]:
    """Yield the text of the first argument of every call to a function named `call`."""
    for found in re.finditer(rf"(?<![\w.]){call}\(", source):
        depth, start = 0, found.end()
        for i in range(start, len(source)):
            c = source[i]
            if c in "([{":
                depth += 1
            elif c in ")]}" and depth:
                depth -= 1
            elif c in ",)" and not depth:
                yield source[start:i]
                break


def _map_values(source: str, name: str) -> set[str]:
    """Return the string values of `const NAME = {k: "v"}` or `new Map([["k", "v"]])`."""
    found = re.search(rf"const {name} = (.*?);\n", source, re.S)
    assert found, f"{name} is not declared as expected"
    body = found.group(1)
    if body.startswith("new Map"):
        return set(re.findall(r"\[\s*\"\w+\"\s*,\s*\"(\w+)\"\s*\]", body))
    return set(re.findall(r":\s*\"(\w+)\"", body))


def _script_keys(source: str, lookup: str) -> set[str]:
    """Return the catalog keys a script names: literals in lookups and in the maps they use."""
    keys: set[str] = set(re.findall(r"\bT\.(\w+)", source))
    keys |= set(re.findall(r"\bT\[\s*\"(\w+)\"\s*\]", source))
    for argument in _first_argument(source, lookup):
        keys |= set(_JS_STRING.findall(argument))
        keys |= {
            value
            for name in re.findall(r"\b([A-Z][A-Z_]+)\b(?:\[|\.get\()", argument)
            for value in _map_values(source, name)
        }
    for name in set(re.findall(r"\bT\[\s*([A-Z][A-Z_]+)\[", source)):
        keys |= _map_values(source, name)
    return keys


def test_one_file_per_language():
    assert sorted(p.name for p in _LOCALES.iterdir()) == sorted(f"{lang}.json" for lang in LANGS)


def test_no_key_twice_in_a_section():
    """JSON keeps the last of two equal keys without a word; a merge can leave one."""
    for lang in LANGS:
        twice: list[str] = []

        def pairs(items: list[tuple[str, object]], twice: list[str] = twice) -> dict[str, object]:
            names = [k for k, _ in items]
            twice.extend(k for k in set(names) if names.count(k) > 1)
            return dict(items)

        json.loads((_LOCALES / f"{lang}.json").read_text(encoding="utf-8"), object_pairs_hook=pairs)
        assert twice == [], lang


def test_every_key_in_every_language_with_the_same_slots():
    catalogs = _catalogs()
    reference = catalogs[LANGS[0]]
    for lang, catalog in catalogs.items():
        assert list(catalog) == list(SECTIONS), lang
        for section in SECTIONS:
            assert catalog[section].keys() == reference[section].keys(), (lang, section)
            for key, text in catalog[section].items():
                assert isinstance(text, str) and text, (lang, section, key)
                want = set(_SLOT.findall(reference[section][key]))
                assert set(_SLOT.findall(text)) == want, (lang, section, key)
    Catalog.load()  # and the server agrees


def test_every_key_the_templates_and_views_use_exists():
    pages = _catalogs()[LANGS[0]]["pages"]
    source = _source((_WEBUI / "templates").glob("*.html")) + _source(_WEBUI.glob("*.py"))
    used = set(re.findall(r"\bt\(\s*[\"'](\w+)[\"']\s*[,)]", source))
    assert len(used) > 100
    assert used - pages.keys() == set()
    # Keys built from a prefix and a value: the values the pages pass.
    families = {
        "routing_strategy_": STRATEGIES,
        "routing_day_": DAYS,
        "routing_tier_": TIERS,
        "auto_invite_": ("any", "new", "returning", "search", "campaign", "referral", "direct"),
        "event_": (
            "transferred",
            "transfer_requested",
            "transfer_cancelled",
            "joined",
            "left",
            "missed",
        ),
    }
    for prefix in re.findall(r"\bt\(\s*[\"'](\w+_)[\"']\s*~", source):
        assert prefix in families, f"no values listed for t({prefix!r} ~ ...)"
    for prefix, values in families.items():
        assert {prefix + v for v in values} - pages.keys() == set(), prefix


def test_every_key_the_console_uses_exists():
    console = _catalogs()[LANGS[0]]["console"]
    scripts = _source(p for p in _STATIC.glob("*.js") if p.name != "console-i18n.js")
    used = _script_keys(scripts, "fmt")
    page = (_WEBUI / "templates" / "console.html").read_text(encoding="utf-8")
    used |= set(re.findall(r"data-i18n(?:-placeholder|-label)?=\"(\w+)\"", page))
    assert len(used) > 150
    assert used - console.keys() == set()


def test_every_key_the_widget_uses_exists():
    widget = _catalogs()[LANGS[0]]["widget"]
    # With the parts it loads on first use (widget/later/, and the lazy modules).
    parts = [*(_STATIC / "widget").rglob("*.js"), *(_STATIC / n for n in _WIDGET_LAZY)]
    used = _script_keys(_source(iter(parts)), "t")
    assert len(used) > 50
    assert used - widget.keys() == set()


def test_every_key_is_named_by_its_code():
    catalog = _catalogs()[LANGS[0]]
    templates = _source((_WEBUI / "templates").glob("*.html")) + _source(_WEBUI.glob("*.py"))
    built = tuple(re.findall(r"\bt\(\s*[\"'](\w+_)[\"']\s*~", templates))
    code = {
        "pages": templates,
        "console": _source(p for p in _STATIC.glob("*.js") if p.name != "console-i18n.js")
        + (_WEBUI / "templates" / "console.html").read_text(encoding="utf-8"),
        "widget": _source(
            p for p in (_STATIC / "widget").rglob("*.js") if p.name != "02-strings.js"
        )
        + _source(_STATIC / n for n in _WIDGET_LAZY),
    }
    for section, source in code.items():
        unused = {
            key
            for key in catalog[section]
            if not re.search(rf"(?<![\w-]){key}\b", source)
            and not (section == "pages" and key.startswith(built))
        }
        assert unused == set(), section


def test_no_text_outside_the_catalogs():
    for path in sorted((_WEBUI / "templates").glob("*.html")) + sorted(_STATIC.rglob("*.js")):
        name = path.relative_to(_WEBUI).as_posix()
        if name not in _CJK_ALLOWED:
            assert not _CJK.search(path.read_text(encoding="utf-8")), name
    for path in sorted((_WEBUI / "templates").glob("*.html")):
        assert not re.search(r"lang ==", path.read_text(encoding="utf-8")), path.name


@pytest.fixture
def locales(tmp_path: Path) -> Path:
    """A copy of the catalogs to break."""
    folder = tmp_path / "locales"
    shutil.copytree(_LOCALES, folder)
    return folder


def _edit(folder: Path, lang: str, section: str, key: str, text: str | None) -> None:
    path = folder / f"{lang}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    if text is None:
        del data[section][key]
    else:
        data[section][key] = text
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def test_a_broken_catalog_fails_at_start(locales: Path):
    folder: Traversable = locales  # type: ignore[assignment]
    _edit(locales, "en", "console", "unread", None)
    _edit(locales, "en", "widget", "active", "Connected with {agent}")
    _edit(locales, "zh-CN", "pages", "extra", "多余")
    with pytest.raises(CatalogError) as err:
        Catalog.load(folder)
    message = str(err.value)
    assert "en: console.unread is missing" in message
    assert "en: widget.active has slots ['agent']" in message
    assert "en: pages.extra is missing" in message
    (locales / "en.json").unlink()
    with pytest.raises(CatalogError, match=r"locales/en\.json"):
        Catalog.load(folder)


def test_scripts_get_their_section_and_their_hash_follows_it(locales: Path):
    folder: Traversable = locales  # type: ignore[assignment]
    catalog = Catalog.load()
    files = assets.Assets.load(catalog)
    console = files.files["console-i18n.js"].body
    assert CATALOG_MARK not in console
    assert catalog.script("console") in console
    assert "消息太长".encode() in console and b"Too long" in console
    widget = assets.widget_script(catalog)
    assert CATALOG_MARK not in widget and catalog.script("widget") in widget

    _edit(locales, "en", "console", "send", "Send it")
    _edit(locales, "en", "widget", "send", "Send it")
    changed = Catalog.load(folder)
    again = assets.Assets.load(changed)
    assert again.build != files.build  # versioned URLs change with a text
    assert again.files["console-i18n.js"].etag != files.files["console-i18n.js"].etag
    assert again.files["console.js"].etag == files.files["console.js"].etag
    assert assets.widget_script(changed) != widget


def test_fill_wants_exactly_one_mark():
    assert fill(b"const C = " + CATALOG_MARK + b";", b'{"en":{}}') == b'const C = {"en":{}};'
    for source in (b"const C = {};", CATALOG_MARK * 2):
        with pytest.raises(CatalogError):
            fill(source, b"{}")


def test_pages_translate_with_slots():
    catalog = Catalog.load()
    zh, en = catalog.translator("zh-CN"), catalog.translator("en")
    assert en("board_target", seconds=20) == "Target: answered within 20 s"
    assert zh("board_target", seconds=20) == "目标:20 秒内接入"
    assert en("routing_confirm_delete").count("{name}") == 1  # left for the script to fill
    assert catalog.translator("fr")("login") == zh("login")
