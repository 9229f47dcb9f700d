"""Chinese-aware text for full-text search: normalise, split into terms, build a query,
cut highlighted snippets.

Measured, then chosen (bench/README.md, "Search benchmark"): SQLite's trigram
tokenizer cannot find a 1- or 2-character word, and jieba segments a word differently
inside and outside a sentence. So Python splits the text and a plain FTS5 table
(unicode61) stores what it makes: every Chinese character alone and every pair of
neighbours (1+2-character terms), and every run of letters and digits as one word.
A word of letters and digits in a query also matches the longer words it begins
(x20 finds x200); a Chinese word matches only as written.
A Chinese word in a query becomes a phrase of its pairs (宽带套餐: "宽带 带套 套餐"),
which matches exactly where the index has those pairs one after the other; a single
character matches the character alone. Both sides are normalised the same way first:
NFKC (full-width letters and digits become half-width), case folded, and traditional
characters folded to simplified ones (core/hanzi_fold.py).
"""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from appliance.core.hanzi_fold import FOLD

QUERY_MAX = 200  # characters of a search query
TERMS_MAX = 16  # words and Chinese runs in one query
SNIPPET_CHARS = 120  # characters of text around the first hit
_WORD_MAX = 64  # characters of one letters-and-digits word that are indexed
# A letters-and-digits word of at least this many characters also finds the longer
# words it begins (x20 finds x200, refund finds refunds); a shorter one would merge the
# doclists of every word with that first character (cost measured in bench/README.md).
PREFIX_MIN = 2


def normalise(text: str) -> str:
    """Return text as the index sees it: NFKC, case folded, traditional folded."""
    return unicodedata.normalize("NFKC", text).casefold().translate(FOLD)


def _is_han(ch: str) -> bool:
    code = ord(ch)
    return (
        0x4E00 <= code <= 0x9FFF  # CJK unified ideographs
        or 0x3400 <= code <= 0x4DBF  # extension A
        or 0x20000 <= code <= 0x3134F  # extensions B-G
        or 0x3040 <= code <= 0x30FF  # kana
        or 0xAC00 <= code <= 0xD7AF  # hangul syllables
    )


def runs(text: str) -> Iterator[tuple[bool, str]]:
    """Yield (is_chinese, run) for the runs of Chinese characters and of letters and
    digits in normalised text; everything else separates them."""
    start = 0
    kind: bool | None = None
    for i, ch in enumerate(text):
        now = _is_han(ch) if ch.isalnum() else None
        if now != kind:
            if kind is not None:
                yield kind, text[start:i]
            start, kind = i, now
    if kind is not None:
        yield kind, text[start:]


def _chinese_terms(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    # The pairs first, one after the other, so a word's pairs are a phrase; then the
    # characters alone. A pair never equals a character, so phrases never straddle.
    return [run[i : i + 2] for i in range(len(run) - 1)] + list(run)


def terms(text: str) -> list[str]:
    """Return the index terms of a text (normalised here)."""
    found: list[str] = []
    for chinese, run in runs(normalise(text)):
        if chinese:
            found.extend(_chinese_terms(run))
        else:
            found.append(run[:_WORD_MAX])
    return found


def index_text(text: str) -> str:
    """Return what the FTS table stores for a text: its terms, space separated."""
    return " ".join(terms(text))


class QueryTooLong(ValueError):
    """A query longer than QUERY_MAX characters or with more than TERMS_MAX parts."""


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed search: the FTS5 MATCH expression and the parts it asks for."""

    match: str  # '' when the text had no letters, digits or Chinese characters
    parts: tuple[str, ...]  # normalised words and Chinese runs, for highlighting


def parse(text: str) -> Query:
    """Parse what someone typed into an FTS5 expression: every part must occur."""
    if len(text) > QUERY_MAX:
        raise QueryTooLong(f"a search is at most {QUERY_MAX} characters")
    parts: list[str] = []
    for _chinese, run in runs(normalise(text)):
        if run not in parts:
            parts.append(run)
    if len(parts) > TERMS_MAX:
        raise QueryTooLong(f"a search has at most {TERMS_MAX} words")
    phrases = []
    for part in parts:
        if not _is_han(part[0]):
            word = part[:_WORD_MAX]
            # Terms hold only letters and digits: no quote to escape.
            phrases.append(f'"{word}"*' if len(word) >= PREFIX_MIN else f'"{word}"')
            continue
        # A Chinese word: its pairs, in order, are a phrase (a character alone itself).
        pairs = [part[i : i + 2] for i in range(len(part) - 1)] or [part]
        phrases.append('"' + " ".join(pairs) + '"')
    return Query(" AND ".join(phrases), tuple(parts))


@dataclass(frozen=True, slots=True)
class Piece:
    """A piece of a snippet: text, and whether it is a hit to mark."""

    text: str
    mark: bool


def _spans(text: str, parts: Sequence[str]) -> tuple[str, list[int], list[tuple[int, int]]]:
    """Normalise text char by char, keeping where each character came from; return it,
    the map and the hit spans (in original positions)."""
    folded: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        for out in normalise(ch):
            folded.append(out)
            origin.append(i)
    flat = "".join(folded)
    spans: list[tuple[int, int]] = []
    for part in parts:
        at = flat.find(part)
        while at >= 0:
            end = at + len(part)
            spans.append((origin[at], origin[end - 1] + 1))
            at = flat.find(part, end)
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return flat, origin, merged


def snippet(text: str, parts: Sequence[str], width: int = SNIPPET_CHARS) -> list[Piece]:
    """Cut a window of the text around its first hit, with the hits marked."""
    text = " ".join(text.split())  # one line: newlines and runs of spaces collapse
    _, _, spans = _spans(text, parts)
    first = spans[0][0] if spans else 0
    start = max(0, first - width // 3)
    end = min(len(text), start + width)
    pieces: list[Piece] = []
    if start > 0:
        pieces.append(Piece("…", False))
    at = start
    for span_start, span_end in spans:
        if span_end <= start or span_start >= end:
            continue
        span_start, span_end = max(span_start, start), min(span_end, end)
        if span_start > at:
            pieces.append(Piece(text[at:span_start], False))
        pieces.append(Piece(text[span_start:span_end], True))
        at = span_end
    if at < end:
        pieces.append(Piece(text[at:end], False))
    if end < len(text):
        pieces.append(Piece("…", False))
    return pieces


def snippet_html(pieces: Sequence[Piece]) -> str:
    """Render a snippet as HTML: every piece escaped, hits inside <mark>."""
    return "".join(
        f"<mark>{html.escape(p.text)}</mark>" if p.mark else html.escape(p.text) for p in pieces
    )
