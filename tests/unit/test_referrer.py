"""Referrer classification: real search engine referrers, campaigns, referrals, garbage."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.core.referrer import Source, classify

LANDING = "https://www.example.cn/pricing"
OWN = ("callbox.example:8443", "shop.example.cn")
# "客服系统" and friends as browsers percent-encode them from UTF-8 and GBK pages.
KEFU_UTF8 = "%E5%AE%A2%E6%9C%8D%E7%B3%BB%E7%BB%9F"
KEFU_GBK = "%BF%CD%B7%FE%CF%B5%CD%B3"
ZAIXIAN_UTF8 = "%E5%9C%A8%E7%BA%BF%E5%AE%A2%E6%9C%8D"  # 在线客服
ZAIXIAN_GB2312 = "%D4%DA%CF%DF%BF%CD%B7%FE"
RUANJIAN_GBK = "%CD%F8%D5%BE%BF%CD%B7%FE%C8%ED%BC%FE"  # 网站客服软件


def search(engine: str, site: str, keyword: str = "") -> Source:
    return Source("search", engine=engine, keyword=keyword, site=site)


def referral(site: str) -> Source:
    return Source("referral", site=site)


DIRECT = Source("direct")

SEARCH = [
    pytest.param(
        "https://www.baidu.com/s?ie=utf-8&f=8&rsv_bp=1&tn=baidu&wd="
        f"{KEFU_UTF8}&oq=&rsv_pq=e3f1b2c40001a2b3&rsv_t=1a2bQ",
        search("baidu", "baidu.com", "客服系统"),
        id="baidu-pc-utf8",
    ),
    pytest.param(
        f"http://www.baidu.com/s?wd={KEFU_GBK}&ie=gbk&tn=site888_pg",
        search("baidu", "baidu.com", "客服系统"),
        id="baidu-pc-gbk",
    ),
    pytest.param(
        f"http://www.baidu.com/baidu?word={ZAIXIAN_GB2312}&tn=myie2dg&ie=gb2312",
        search("baidu", "baidu.com", "在线客服"),
        id="baidu-old-form-gb2312",
    ),
    pytest.param(
        f"https://m.baidu.com/s?word={ZAIXIAN_UTF8}&sa=ib&ts=4061513&t_kt=0&ms=1",
        search("baidu", "m.baidu.com", "在线客服"),
        id="baidu-mobile",
    ),
    pytest.param(
        f"https://m.baidu.com/from=844b/s?word={KEFU_UTF8}&ssid=0&uid=0",
        search("baidu", "m.baidu.com", "客服系统"),
        id="baidu-mobile-from-path",
    ),
    pytest.param(
        "https://www.baidu.com/link?url=Xq3BKh2_kLnQ8fT7HcZ1vM&wd=&eqid=d5b0e1f30004f05b6",
        search("baidu", "baidu.com"),
        id="baidu-link-without-keyword",
    ),
    pytest.param("https://www.baidu.com/", search("baidu", "baidu.com"), id="baidu-origin"),
    pytest.param(
        "https://www.baidu.com/baidu.php?url=a000000aa0GR7Xy1cV9OQ",
        search("baidu", "baidu.com"),
        id="baidu-paid-click",
    ),
    pytest.param(
        "https://www.baidu.com/s?wd=%E5%AE%A2%E6%9C%8D++%E7%B3%BB%E7%BB%9F"
        "%E3%80%80%E4%BB%B7%E6%A0%BC%09",
        search("baidu", "baidu.com", "客服 系统 价格"),
        id="baidu-spaces-normalised",
    ),
    pytest.param(
        f"https://image.baidu.com/search/index?tn=baiduimage&word={KEFU_UTF8}",
        search("baidu", "image.baidu.com", "客服系统"),
        id="baidu-subdomain-with-keyword",
    ),
    pytest.param(
        "https://zhidao.baidu.com/question/1234567890.html",
        referral("zhidao.baidu.com"),
        id="baidu-content-site-is-referral",
    ),
    pytest.param(
        f"https://www.sogou.com/web?query={KEFU_UTF8}&_asf=www.sogou.com&w=01019900&ie=utf8",
        search("sogou", "sogou.com", "客服系统"),
        id="sogou-pc-utf8",
    ),
    pytest.param(
        f"http://www.sogou.com/web?query={RUANJIAN_GBK}&_asf=www.sogou.com&_ast=1420012345",
        search("sogou", "sogou.com", "网站客服软件"),
        id="sogou-pc-gbk",
    ),
    pytest.param(
        f"https://m.sogou.com/web/searchList.jsp?keyword={ZAIXIAN_UTF8}&pid=sogou-waps-7880d7",
        search("sogou", "m.sogou.com", "在线客服"),
        id="sogou-mobile",
    ),
    pytest.param(
        f"https://weixin.sogou.com/weixin?type=2&query={KEFU_UTF8}&ie=utf8",
        search("sogou", "weixin.sogou.com", "客服系统"),
        id="sogou-wechat-articles",
    ),
    pytest.param(
        f"https://www.so.com/s?ie=utf-8&src=360sou_newhome&q={KEFU_UTF8}",
        search("so360", "so.com", "客服系统"),
        id="so360-pc",
    ),
    pytest.param(
        f"https://m.so.com/s?q={ZAIXIAN_UTF8}&src=home&srcg=home_next",
        search("so360", "m.so.com", "在线客服"),
        id="so360-mobile",
    ),
    pytest.param(
        "https://www.so.com/link?m=bGoqPhTmLr2dXq1", search("so360", "so.com"), id="so360-link"
    ),
    pytest.param(
        f"https://m.sm.cn/s?q={KEFU_UTF8}&from=smor&safe=1&snum=6",
        search("shenma", "m.sm.cn", "客服系统"),
        id="shenma",
    ),
    pytest.param(
        f"https://yz.m.sm.cn/s?q={ZAIXIAN_UTF8}&from=wm845578",
        search("shenma", "yz.m.sm.cn", "在线客服"),
        id="shenma-yz",
    ),
    pytest.param(
        f"https://cn.bing.com/search?q={KEFU_UTF8}&form=QBLH&sp=-1&pq=kefu",
        search("bing", "cn.bing.com", "客服系统"),
        id="bing-cn",
    ),
    pytest.param(
        "https://www.bing.com/search?q=live+chat+software&qs=n&form=QBRE",
        search("bing", "bing.com", "live chat software"),
        id="bing-www",
    ),
    pytest.param("https://www.bing.com/", search("bing", "bing.com"), id="bing-origin"),
    pytest.param("https://www.google.com/", search("google", "google.com"), id="google"),
    pytest.param("https://www.google.com.hk/", search("google", "google.com.hk"), id="google-hk"),
    pytest.param(
        "https://www.google.co.jp/search?q=callbox&hl=ja",
        search("google", "google.co.jp", "callbox"),
        id="google-with-q",
    ),
    pytest.param(
        "android-app://com.google.android.googlequicksearchbox/https/www.google.com",
        search("google", "com.google.android.googlequicksearchbox"),
        id="google-android-app",
    ),
    pytest.param(
        "https://mail.google.com/mail/u/0/", referral("mail.google.com"), id="gmail-is-referral"
    ),
    pytest.param(
        f"https://so.toutiao.com/search?keyword={KEFU_UTF8}&pd=synthesis&source=input",
        search("toutiao", "so.toutiao.com", "客服系统"),
        id="toutiao",
    ),
    pytest.param(
        "https://yandex.ru/search/?text=%D1%87%D0%B0%D1%82&lr=213",
        search("yandex", "yandex.ru", "чат"),
        id="yandex",
    ),
    pytest.param(
        "https://duckduckgo.com/", search("duckduckgo", "duckduckgo.com"), id="duckduckgo"
    ),
    pytest.param(
        "https://tw.search.yahoo.com/search?p=live+chat&fr=yfp-search-sb",
        search("yahoo", "tw.search.yahoo.com", "live chat"),
        id="yahoo",
    ),
]

OTHER = [
    pytest.param(
        "https://www.zhihu.com/question/123/answer/456", referral("zhihu.com"), id="referral"
    ),
    pytest.param(
        "HTTPS://WWW.Example.ORG:8080/a?b=c", referral("example.org"), id="referral-port-case"
    ),
    pytest.param(
        "android-app://com.tencent.mm/", referral("com.tencent.mm"), id="android-app-referral"
    ),
    pytest.param("https://www.example.cn/products", DIRECT, id="internal-same-host"),
    pytest.param("https://example.cn/", DIRECT, id="internal-without-www"),
    pytest.param("https://shop.example.cn/cart", DIRECT, id="internal-own-host"),
    pytest.param("https://callbox.example:8443/chat", DIRECT, id="internal-own-host-port"),
    pytest.param("", DIRECT, id="empty"),
    pytest.param("not a url", DIRECT, id="garbage"),
    pytest.param("javascript:alert(1)", DIRECT, id="javascript"),
    pytest.param("http://[::1/", DIRECT, id="broken-ipv6"),
    pytest.param("https://exa mple.com/", DIRECT, id="space-in-host"),
    pytest.param("ftp://files.example.net/", DIRECT, id="ftp"),
    pytest.param("x" * 10_000, DIRECT, id="over-long-garbage"),
    pytest.param(
        f"https://www.baidu.com/s?wd=%E5%AE%A2%E6%9C%8D&rsv_t={'a' * 10_000}",
        search("baidu", "baidu.com", "客服"),
        id="over-long-keeps-host-and-keyword",
    ),
    pytest.param(
        f"https://www.baidu.com/s?wd={'%E5%AE%A2' * 1000}",
        search("baidu", "baidu.com"),
        id="over-long-keyword-cut-is-dropped",
    ),
    pytest.param(
        "https://www.baidu.com/s?wd=%E5%AE%A2%00%0A%E6%9C%8D%E2%80%8B",
        search("baidu", "baidu.com", "客 服"),
        id="control-characters",
    ),
    pytest.param(
        "https://www.baidu.com/s?wd=%FF%FE%80",
        search("baidu", "baidu.com", "\ufffd\ufffd\ufffd"),
        id="undecodable-bytes",
    ),
]


@pytest.mark.parametrize(("referrer", "expected"), SEARCH + OTHER)
def test_classify(referrer: str, expected: Source) -> None:
    assert classify(referrer, LANDING, OWN) == expected


UTM_ALL = (
    "utm_source=baidu&utm_medium=cpc&utm_campaign=spring_sale"
    f"&utm_term={KEFU_UTF8}&utm_content=ad%201"
)
CAMPAIGNS = [
    pytest.param(
        "https://www.baidu.com/baidu.php?url=a000000aa0GR7Xy1cV9OQ",
        f"{LANDING}?{UTM_ALL}",
        Source(
            "campaign",
            engine="baidu",
            keyword="客服系统",
            site="baidu.com",
            utm={
                "utm_source": "baidu",
                "utm_medium": "cpc",
                "utm_campaign": "spring_sale",
                "utm_term": "客服系统",
                "utm_content": "ad 1",
            },
        ),
        id="utm-all-five",
    ),
    pytest.param(
        "",
        f"{LANDING}?utm_source=newsletter&utm_medium=email&utm_campaign=2024-06#top",
        Source(
            "campaign",
            utm={"utm_source": "newsletter", "utm_medium": "email", "utm_campaign": "2024-06"},
        ),
        id="utm-newsletter-no-referrer",
    ),
    pytest.param(
        f"https://www.sogou.com/web?query={KEFU_UTF8}&ie=utf8",
        f"{LANDING}?utm_source=sogou&utm_medium=cpc&utm_term=%7Bkeyword%7D",
        Source(
            "campaign",
            engine="sogou",
            keyword="客服系统",
            site="sogou.com",
            utm={"utm_source": "sogou", "utm_medium": "cpc"},
        ),
        id="utm-unfilled-placeholder-keyword-from-referrer",
    ),
    pytest.param(
        "https://www.example.cn/",
        f"{LANDING}?UTM_SOURCE=Baidu&utm_medium=cpc",
        Source("campaign", engine="baidu", utm={"utm_source": "Baidu", "utm_medium": "cpc"}),
        id="utm-upper-case-internal-referrer",
    ),
    pytest.param(
        "https://www.baidu.com/",
        f"{LANDING}?bd_vid=11876532145873920356",
        Source("campaign", engine="baidu", site="baidu.com"),
        id="baidu-bd-vid",
    ),
    pytest.param(
        "",
        f"{LANDING}?gclid=Cj0KCQiA4NWrBhD-ARIsAFCKwWt",
        Source("campaign", engine="google"),
        id="google-gclid",
    ),
    pytest.param(
        f"https://www.so.com/s?q={KEFU_UTF8}",
        f"{LANDING}?gclid=Cj0KCQiA4NWrBhD",
        Source("campaign", engine="so360", keyword="客服系统", site="so.com"),
        id="click-id-loses-to-referrer",
    ),
    pytest.param(
        "",
        f"{LANDING}?utm_source=partner&utm_campaign={'x' * 500}",
        Source("campaign", utm={"utm_source": "partner", "utm_campaign": "x" * 200}),
        id="utm-value-bounded",
    ),
    pytest.param(
        "https://www.zhihu.com/question/1",
        f"{LANDING}?utm_source=zhihu&utm_medium=social",
        Source("campaign", site="zhihu.com", utm={"utm_source": "zhihu", "utm_medium": "social"}),
        id="utm-with-referral",
    ),
]


@pytest.mark.parametrize(("referrer", "landing", "expected"), CAMPAIGNS)
def test_campaign(referrer: str, landing: str, expected: Source) -> None:
    assert classify(referrer, landing, OWN) == expected


def test_gbk_literal_is_what_a_gbk_page_sends() -> None:
    assert quote("客服系统".encode("gbk")) == KEFU_GBK


def test_keyword_is_bounded() -> None:
    source = classify(f"https://www.baidu.com/s?wd={'%E5%AE%A2' * 400}", LANDING)
    assert source.keyword == "客" * 200


def test_own_hosts_accepts_urls_and_a_single_string() -> None:
    assert classify("https://help.example.net/x", LANDING, ["https://help.example.net/"]).kind == (
        "direct"
    )
    assert classify("https://help.example.net/x", LANDING, "help.example.net").kind == "direct"


def test_unusable_landing_url_still_classifies_the_referrer() -> None:
    assert classify(f"https://m.so.com/s?q={KEFU_UTF8}", "") == search(
        "so360", "m.so.com", "客服系统"
    )
    assert classify("https://www.zhihu.com/", "::not a url::") == referral("zhihu.com")


_URLISH = st.one_of(
    st.text(max_size=300),
    st.builds(lambda host, rest: f"https://{host}/{rest}", st.text(max_size=40), st.text()),
    st.builds(
        lambda raw: f"https://www.baidu.com/s?wd={quote(raw)}&ie=gbk", st.binary(max_size=80)
    ),
)


@given(_URLISH, _URLISH, st.lists(st.text(max_size=30), max_size=3))
def test_never_raises(referrer: str, landing: str, own: list[str]) -> None:
    source = classify(referrer, landing, own)
    assert source.kind in {"search", "campaign", "referral", "direct"}
    assert len(source.keyword) <= 200
    assert all(len(value) <= 200 for value in source.utm.values())
    assert "\n" not in source.keyword
