"""Normalising and splitting text for search: every case issue 14 names, checked on the
terms and on a real FTS5 table (SQLite as the box has it). The labelled set below (56
queries: 1- and 2-character words, longer words and words inside them, mixed scripts,
full-width forms, traditional characters, typos and near misses) must find exactly its
expected hits: recall 1.0 and nothing else."""

from __future__ import annotations

import sqlite3
import unicodedata

import pytest

from appliance.core import hanzi_fold, textsearch
from appliance.core.textsearch import Piece, QueryTooLong, index_text, normalise, parse, terms


@pytest.fixture
def fts() -> sqlite3.Connection:
    """A contentless unicode61 FTS5 table, as migration 0024 makes it."""
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE VIRTUAL TABLE t USING fts5 (title, body, content = '',"
        " tokenize = 'unicode61 remove_diacritics 2')"
    )
    return conn


def _add(conn: sqlite3.Connection, *texts: str) -> None:
    for i, text in enumerate(texts, 1):
        conn.execute("INSERT INTO t (rowid, title, body) VALUES (?, '', ?)", (i, index_text(text)))


def _found(conn: sqlite3.Connection, query: str) -> set[int]:
    match = parse(query).match
    if not match:
        return set()
    return {r[0] for r in conn.execute("SELECT rowid FROM t WHERE t MATCH ?", (match,))}


def test_chinese_runs_become_pairs_then_characters():
    assert terms("宽带") == ["宽带", "宽", "带"]
    assert terms("退") == ["退"]
    assert terms("携号转网") == ["携号", "号转", "转网", "携", "号", "转", "网"]
    # Letters and digits are one word each; punctuation separates.
    assert terms("X200型号，4G套餐!") == ["x200", "型号", "型", "号", "4g", "套餐", "套", "餐"]


def test_full_width_and_half_width_are_the_same():
    assert normalise("Ｘ２００　４Ｇ") == "x200 4g"
    assert terms("４Ｇ套餐") == terms("4G套餐")
    assert parse("ＶＩＰ").match == parse("vip").match == '"vip"*'


def test_traditional_folds_to_simplified():
    assert normalise("寬帶辦理") == "宽带办理"
    assert terms("攜號轉網") == terms("携号转网")
    assert parse("寬帶").match == parse("宽带").match
    assert parse("帳號").parts == ("帳号",)  # 帳 (帐 or 账) is left alone on purpose


def test_the_fold_table_is_one_to_one_and_settled():
    pairs = hanzi_fold.pairs()
    assert len(pairs) == hanzi_fold.PAIRS >= 500
    traditional = {t for t, _ in pairs}
    assert len(traditional) == len(pairs)
    for trad, simp in pairs:
        assert trad != simp
        assert simp not in traditional  # folding twice changes nothing
        assert unicodedata.normalize("NFKC", trad) == trad
    for kept in "乾著瞭徵於藉夥覆餘帳":
        assert kept not in traditional


def test_a_query_is_a_phrase_of_pairs_per_chinese_word():
    assert parse("宽带").match == '"宽带"'
    assert parse("宽带套餐").match == '"宽带 带套 套餐"'
    assert parse("退").match == '"退"'
    assert parse("X200 型号").match == '"x200"* AND "型号"'
    assert parse("4G 套餐").match == '"4g"* AND "套餐"'
    assert parse("宽带 宽带").parts == ("宽带",)


def test_punctuation_only_finds_nothing_and_long_queries_are_refused():
    assert parse("？！…（）——，。").match == ""
    assert parse("   ").match == ""
    with pytest.raises(QueryTooLong):
        parse("宽" * (textsearch.QUERY_MAX + 1))
    with pytest.raises(QueryTooLong):
        parse("宽" * 1000)
    with pytest.raises(QueryTooLong):
        parse(" ".join(f"w{i}" for i in range(textsearch.TERMS_MAX + 1)))
    assert parse("宽" * textsearch.QUERY_MAX).parts == ("宽" * textsearch.QUERY_MAX,)


_DOCS = (
    "我家的宽带又断了，能帮忙看看吗",  # 1
    "申请退款需要三个工作日",  # 2
    "X200型号的路由器怎么重启",  # 3
    "４Ｇ套餐每月30元",  # 4
    "我想办理携号转网业务",  # 5
    "寬帶安裝預約",  # 6 traditional
    "退货和换货的区别",  # 7
    "账户余额查询",  # 8
    "The router model x200 is out of stock",  # 9
    "ＶＩＰ客户专线：４００－８８８－１２３４",  # 10 full width
    "iPhone 15 无法接收短信验证码",  # 11
    "手机停机后如何复机",  # 12
    "國際漫遊費用說明",  # 13 traditional
    "发票抬头填写错误怎么修改",  # 14
    "套餐外流量按1元/GB计费",  # 15
    "5G信号弱，网速慢",  # 16
    "退订增值业务",  # 17
)


@pytest.mark.parametrize(
    ("query", "want"),
    [
        ("宽带", {1, 6}),  # 2 characters, in simplified and traditional text
        ("寬帶", {1, 6}),  # traditional query
        ("退款", {2}),
        ("退", {2, 7, 17}),  # 1 character
        ("宽", {1, 6}),
        ("X200 型号", {3}),
        ("x200", {3, 9}),
        ("Ｘ２００", {3, 9}),  # full width
        ("4G 套餐", {4}),
        ("4g套餐", {4}),
        ("套餐", {4, 15}),
        ("携号转网", {5}),
        ("转网", {5}),  # inside a word
        ("号转", {5}),
        ("宽代", set()),  # a typo does not match
        ("退宽", set()),  # neighbours that are not neighbours
        ("带又", {1}),
        ("余额", {8}),
        ("ROUTER", {9}),
        ("？？", set()),
        ("vip", {10}),
        ("VIP客户", {10}),
        ("400", {10}),
        ("888 1234", {10}),
        ("iphone", {11}),
        ("iPhone 15", {11}),
        ("验证码", {11}),
        ("短信", {11}),
        ("停机", {12}),
        ("复机", {12}),
        ("国际漫游", {13}),
        ("漫游费用", {13}),
        ("費用說明", {13}),
        ("發票", {14}),
        ("抬头", {14}),
        ("修改", {14}),
        ("流量", {15}),
        ("1元", {15}),
        ("gb", {15}),
        ("ＧＢ", {15}),
        ("5G", {16}),
        ("5g 网速", {16}),
        ("网速慢", {16}),
        ("信号", {16}),
        ("退订", {17}),
        ("业务", {5, 17}),
        ("帮忙", {1}),
        ("余额查询", {8}),
        ("路由器", {3}),
        ("out of stock", {9}),
        ("宽带带", set()),  # typos and near misses find nothing
        ("退款款", set()),
        ("x2000", set()),
        ("x20", {3, 9}),  # letters and digits: the words they begin too
        ("rout", {9}),
        ("5", set()),  # one letter or digit alone: whole words only
        ("套参", set()),
        ("漫游国际", set()),
        ("6G", set()),
    ],
)
def test_search_finds_every_word(fts: sqlite3.Connection, query: str, want: set[int]):
    _add(fts, *_DOCS)
    assert _found(fts, query) == want


def test_pairs_never_join_across_punctuation_or_words(fts: sqlite3.Connection):
    _add(fts, "宽，带", "宽 带", "宽x带")
    assert _found(fts, "宽带") == set()
    assert _found(fts, "宽") == {1, 2, 3}


def test_snippets_mark_hits_and_escape_markup():
    text = "客户说<b>寬帶</b>很慢 & 要求退款"
    pieces = textsearch.snippet(text, parse("宽带 退款").parts)
    assert [p.text for p in pieces if p.mark] == ["寬帶", "退款"]  # shown as written
    assert "".join(p.text for p in pieces) == text
    html = textsearch.snippet_html(pieces)
    assert html == "客户说&lt;b&gt;<mark>寬帶</mark>&lt;/b&gt;很慢 &amp; 要求<mark>退款</mark>"
    assert "<b>" not in html


def test_snippets_cut_a_window_around_the_first_hit():
    text = "前" * 300 + "退款" + "后" * 300
    pieces = textsearch.snippet(text, ("退款",), width=60)
    assert pieces[0] == Piece("…", False) and pieces[-1] == Piece("…", False)
    assert Piece("退款", True) in pieces
    assert sum(len(p.text) for p in pieces[1:-1]) == 60
    full_width = textsearch.snippet("型号Ｘ２００", parse("x200").parts)
    assert [p.text for p in full_width if p.mark] == ["Ｘ２００"]
