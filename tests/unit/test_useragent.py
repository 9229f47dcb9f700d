"""User-Agent descriptions for the console: real browsers, Chinese in-app browsers, bots."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.core.useragent import UNKNOWN, Device, describe, load

CHROME_WIN = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)

CASES = [
    pytest.param(CHROME_WIN, Device("Chrome 120", "Windows 10", "desktop"), id="chrome-windows"),
    pytest.param(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
        Device("Edge 120", "Windows 10", "desktop"),
        id="edge-windows",
    ),
    pytest.param(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
        Device("Firefox 121", "Windows 10", "desktop"),
        id="firefox-windows",
    ),
    pytest.param(
        "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko",
        Device("IE 11", "Windows 7", "desktop"),
        id="ie11-windows7",
    ),
    pytest.param(
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.2 Safari/605.1.15",
        Device("Safari 17", "Mac OS X 10.15", "desktop"),
        id="safari-macos",
    ),
    pytest.param(
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        Device("Chrome 120", "Mac OS X 10.15", "desktop"),
        id="chrome-macos",
    ),
    pytest.param(
        "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
        Device("Firefox 121", "Linux", "desktop"),
        id="firefox-linux",
    ),
    pytest.param(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1",
        Device("Mobile Safari 17", "iOS 17.1", "mobile"),
        id="iphone-safari",
    ),
    pytest.param(
        "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/16.6 Mobile/15E148 Safari/604.1",
        Device("Mobile Safari 16", "iOS 16.6", "tablet"),
        id="ipad-safari",
    ),
    pytest.param(
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.6099.144 Mobile Safari/537.36",
        Device("Chrome Mobile 120", "Android 14", "mobile"),
        id="android-chrome-phone",
    ),
    pytest.param(
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Mobile Safari/537.36",
        Device("Chrome Mobile 120", "Android 10", "mobile"),
        id="android-chrome-reduced-ua",
    ),
    pytest.param(
        "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.6099.144 Safari/537.36",
        Device("Chrome 120", "Android 13", "tablet"),
        id="android-chrome-tablet",
    ),
    pytest.param(
        "Mozilla/5.0 (Linux; Android 10; HarmonyOS; BAH3-W59; HMSCore 6.11.0.302) "
        "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/99.0.4844.88 HuaweiBrowser/14.0.1.301 "
        "Safari/537.36",
        Device("Huawei Browser 14", "Android 10", "tablet"),
        id="huawei-matepad",
    ),
    pytest.param(
        "Mozilla/5.0 (Linux; Android 13; V2148A Build/TP1A.220624.014; wv) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Version/4.0 Chrome/107.0.5304.141 Mobile Safari/537.36 XWEB/5015 "
        "MMWEBSDK/20230303 MMWEBID/2133 MicroMessenger/8.0.34.2340(0x2800223D) WeChat/arm64 "
        "Weixin NetType/WIFI Language/zh_CN ABI/arm64",
        Device("WeChat 8.0", "Android 13", "mobile"),
        id="wechat-android",
    ),
    pytest.param(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 16_5 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.38(0x1800262c) NetType/WIFI "
        "Language/zh_CN",
        Device("WeChat 8.0", "iOS 16.5", "mobile"),
        id="wechat-iphone",
    ),
    pytest.param(
        "Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/81.0.4044.138 Safari/537.36 NetType/WIFI MicroMessenger/7.0.20.1781(0x6700143B) "
        "WindowsWechat(0x63090719) XWEB/8391",
        Device("WeChat 7.0", "Windows 10", "desktop"),
        id="wechat-windows",
    ),
    pytest.param(
        "Mozilla/5.0 (Linux; U; Android 12; zh-CN; V2118A Build/SP1A.210812.003) "
        "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/100.0.4896.58 "
        "UCBrowser/15.5.2.1242 Mobile Safari/537.36",
        Device("UC Browser 15", "Android 12", "mobile"),
        id="uc-browser",
    ),
    pytest.param(
        "Mozilla/5.0 (Linux; U; Android 12; zh-cn; PEHM00 Build/SKQ1.210216.001) "
        "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/89.0.4389.72 MQQBrowser/13.8 "
        "Mobile Safari/537.36 COVC/046401",
        Device("QQ Browser Mobile 13", "Android 12", "mobile"),
        id="qq-browser-android",
    ),
    pytest.param(
        "Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/94.0.4606.71 Safari/537.36 Core/1.94.218.400 QQBrowser/12.1.5496.400",
        Device("QQ Browser 12", "Windows 10", "desktop"),
        id="qq-browser-windows",
    ),
    pytest.param(
        "Mozilla/5.0 (Linux; Android 12; ELS-AN00 Build/HUAWEIELS-AN00; wv) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Version/4.0 Chrome/97.0.4692.98 Mobile Safari/537.36 T7/13.36 "
        "SP-engine/2.74.0 baiduboxapp/13.36.0.10 (Baidu; P1 12) NABar/1.0",
        Device("Baidu Explorer 13", "Android 12", "mobile"),
        id="baidu-box-app",
    ),
    pytest.param(
        "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
        Device("Baiduspider 2.0", "", "bot"),
        id="baiduspider",
    ),
    pytest.param(
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/120.0.6099.129 Mobile Safari/537.36 (compatible; "
        "Googlebot/2.1; +http://www.google.com/bot.html)",
        Device("Googlebot 2.1", "Android 6.0", "bot"),
        id="googlebot-smartphone",
    ),
    pytest.param(
        "Mozilla/5.0 (Linux; U; Android 5.1.1; zh-CN; SM-J3109 Build/LMY47X) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Version/4.0 Chrome/78.0.3904.108 YisouSpider/5.0 Safari/537.36",
        Device("YisouSpider 5.0", "Android 5.1", "bot"),
        id="yisou-spider-shenma",
    ),
    pytest.param("curl/8.5.0", Device("curl 8.5", "", "unknown"), id="curl"),
    pytest.param("", UNKNOWN, id="empty"),
    pytest.param("   ", UNKNOWN, id="blank"),
    pytest.param("asdf \x00 qwer", UNKNOWN, id="garbage"),
]


@pytest.mark.parametrize(("user_agent", "expected"), CASES)
def test_describe(user_agent: str, expected: Device) -> None:
    assert describe(user_agent) == expected


def test_same_user_agent_is_answered_from_the_cache() -> None:
    first = describe(CHROME_WIN + " cache-probe")
    assert describe(CHROME_WIN + " cache-probe") is first


def test_over_long_user_agent_is_cut_not_refused() -> None:
    load()
    started = time.perf_counter()
    device = describe(CHROME_WIN + " x" * 50_000)
    assert time.perf_counter() - started < 0.5
    assert device == Device("Chrome 120", "Windows 10", "desktop")


# No deadline: the first example may pay for building the parser on a busy machine.
@settings(deadline=None)
@given(st.text(max_size=600))
def test_never_raises(user_agent: str) -> None:
    device = describe(user_agent)
    assert device.kind in {"mobile", "tablet", "desktop", "bot", "unknown"}
