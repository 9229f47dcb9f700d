"""The string catalogs: one file per language under locales/, read once at start.

Each file has three sections: `pages` (server-rendered templates), `console` (the
agent console's scripts) and `widget` (the visitor widget). Templates get a
translator for one language; the console and widget scripts get their section, for
every language, filled into their source when the static assets are prepared.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Self

from aiohttp import web

from appliance.settings import LANGS as LANGS  # the pages' and scripts' one list

LANG_COOKIE = "callbox_lang"
SECTIONS = ("pages", "console", "widget")

# What a script's source holds where its catalog goes: an empty object, so the file
# is valid JavaScript before it is filled.
CATALOG_MARK = b"/*@catalog*/{}"

_SLOT = re.compile(r"\{(\w+)\}")  # the JS side fills {name} slots with the same pattern

Texts = Mapping[str, str]


class CatalogError(ValueError):
    """A catalog file is missing, malformed, or disagrees with the reference language."""


def _locales_dir() -> Traversable:
    return resources.files("appliance.webui") / "locales"


def slots(text: str) -> set[str]:
    """Return the names of the {slots} a text expects."""
    return set(_SLOT.findall(text))


def problems(catalogs: Mapping[str, Mapping[str, Texts]]) -> list[str]:
    """List every way the catalogs disagree with the reference language, or nothing."""
    found: list[str] = []
    reference = catalogs[LANGS[0]]
    for lang, catalog in catalogs.items():
        if sorted(catalog) != sorted(SECTIONS):
            found.append(f"{lang}: sections {sorted(catalog)}, expected {sorted(SECTIONS)}")
            continue
        for section in SECTIONS:
            texts, ref = catalog[section], reference[section]
            for key in ref.keys() - texts.keys():
                found.append(f"{lang}: {section}.{key} is missing")
            for key in texts.keys() - ref.keys():
                found.append(f"{lang}: {section}.{key} is not in {LANGS[0]}")
            for key in texts.keys() & ref.keys():
                if not isinstance(texts[key], str):
                    found.append(f"{lang}: {section}.{key} is not a string")
                elif isinstance(ref[key], str) and slots(texts[key]) != slots(ref[key]):
                    found.append(
                        f"{lang}: {section}.{key} has slots {sorted(slots(texts[key]))}, "
                        f"{LANGS[0]} has {sorted(slots(ref[key]))}"
                    )
    return found


def _read(folder: Traversable, lang: str) -> dict[str, dict[str, str]]:
    entry = folder / f"{lang}.json"
    try:
        data = json.loads(entry.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CatalogError(f"locales/{lang}.json: {err}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise CatalogError(f"locales/{lang}.json: expected an object of sections of strings")
    return data


@dataclass(frozen=True, slots=True)
class Catalog:
    """Every language's texts, by section and key."""

    texts: Mapping[str, Mapping[str, Texts]]  # lang -> section -> key -> text

    @classmethod
    def load(cls, folder: Traversable | None = None) -> Self:
        """Read locales/<lang>.json for every language; fail on any disagreement."""
        where = folder or _locales_dir()
        texts = {lang: _read(where, lang) for lang in LANGS}
        found = problems(texts)
        if found:
            raise CatalogError("string catalogs disagree:\n  " + "\n  ".join(found))
        return cls(texts)

    def translator(self, lang: str) -> Callable[..., str]:
        """Return t(key, **values) for the pages in one language."""
        texts = self.texts[lang if lang in self.texts else LANGS[0]]["pages"]

        def t(key: str, **values: object) -> str:
            text = texts[key]
            return text.format(**values) if values else text

        return t

    def names(self) -> list[tuple[str, str]]:
        """Return every language with its name in itself, for the language switch."""
        return [(lang, self.texts[lang]["pages"]["language_name"]) for lang in LANGS]

    def script(self, section: str) -> bytes:
        """Return one section in every language as a JS object literal (JSON, UTF-8).

        The widget's keys named `later…` are for the parts it loads on first use
        (static/widget/later/): section "widget" leaves them out of the script every
        page loads, and WIDGET_LATER is them alone, for those parts.
        """
        data: dict[str, Texts] = {}
        for lang in LANGS:
            if section in (WIDGET_LATER, "widget"):
                later = section == WIDGET_LATER
                texts = self.texts[lang]["widget"]
                data[lang] = {k: v for k, v in texts.items() if _later(k) == later}
            else:
                data[lang] = self.texts[lang][section]
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


WIDGET_LATER = "widget_later"  # Catalog.script: the widget's strings of its later parts


def _later(key: str) -> bool:
    return key.startswith("later") and key[5:6].isupper()


CATALOG = web.AppKey("catalog", Catalog)


def fill(source: bytes, catalog: bytes) -> bytes:
    """Put a catalog where a script's source marks it (exactly one mark)."""
    count = source.count(CATALOG_MARK)
    if count != 1:
        raise CatalogError(f"expected one {CATALOG_MARK.decode()} in the script, found {count}")
    return source.replace(CATALOG_MARK, catalog)


def pick_lang(cookie: str | None, default: str) -> str:
    """Choose the page language: the user's choice, else the box's default."""
    return cookie if cookie in LANGS else default
