"""The site bench/insight.py plays: an ip2region table over 30-odd provinces, visitor
addresses in it, the browsers, search engines, campaigns and pages of Chinese visitors."""

from __future__ import annotations

import ipaddress
import itertools
import random
from dataclasses import dataclass
from urllib.parse import quote

SITE = "https://shop.example"

# -- the synthetic site: IP table, visitor addresses, browsers, sources, pages ----------

# (province, capital, rough share of China's internet users in %)
PROVINCES = (
    ("广东省", "广州市", 12), ("江苏省", "南京市", 7), ("山东省", "济南市", 6),
    ("浙江省", "杭州市", 6), ("河南省", "郑州市", 6), ("河北省", "石家庄市", 5),
    ("四川省", "成都市", 5), ("湖北省", "武汉市", 4), ("湖南省", "长沙市", 4),
    ("福建省", "福州市", 4), ("北京市", "北京市", 4), ("上海市", "上海市", 4),
    ("安徽省", "合肥市", 3), ("辽宁省", "沈阳市", 3), ("陕西省", "西安市", 3),
    ("江西省", "南昌市", 2), ("广西壮族自治区", "南宁市", 2), ("山西省", "太原市", 2),
    ("重庆市", "重庆市", 2), ("云南省", "昆明市", 2), ("天津市", "天津市", 2),
    ("黑龙江省", "哈尔滨市", 2), ("吉林省", "长春市", 1), ("贵州省", "贵阳市", 1),
    ("内蒙古自治区", "呼和浩特市", 1), ("新疆维吾尔自治区", "乌鲁木齐市", 1),
    ("甘肃省", "兰州市", 1), ("海南省", "海口市", 1), ("宁夏回族自治区", "银川市", 1),
    ("青海省", "西宁市", 1), ("西藏自治区", "拉萨市", 1),
)  # fmt: skip
_ABROAD = ("美国", "日本", "韩国", "新加坡", "德国", "英国", "加拿大", "澳大利亚")
_ISPS = ("电信", "联通", "移动", "0")
_KEYWORDS = (
    "在线客服系统", "客服软件", "网页客服", "呼叫中心系统", "智能客服价格", "客服系统 私有化部署",
    "企业客服 多少钱", "售后服务 电话", "退货 流程", "快递 查询", "发票 怎么开", "会员 优惠",
    "手机壳 定制", "运动鞋 男", "连衣裙 夏季", "蓝牙耳机 推荐", "笔记本电脑 优惠", "儿童 玩具",
    "茶叶 礼盒", "空气净化器",
)  # fmt: skip
_REFERRING = (
    "https://www.zhihu.com/question/{n}", "https://weibo.com/{n}/Nx{n}",
    "https://mp.weixin.qq.com/s/{n}", "https://www.douyin.com/video/{n}",
    "https://tieba.baidu.com/p/{n}", "https://www.xiaohongshu.com/explore/{n}",
)  # fmt: skip
_CAMPAIGNS = ("spring_sale", "618", "double11", "brand_kw", "retarget")
_MODELS = ("V2185A", "PGT-AN10", "M2012K11AC", "SM-S9180", "ALN-AL00", "LIO-AN00", "PHB110")


def _pages() -> list[tuple[str, str]]:
    pages = [(f"{SITE}/", "首页 - 示例商城"), (f"{SITE}/pricing", "价格与套餐")]
    pages += [(f"{SITE}/products/{n}", f"商品 {n} - 示例商城") for n in range(1, 151)]
    pages += [(f"{SITE}/support/{t}", f"帮助中心 - {t}") for t in ("faq", "returns", "invoice")]
    pages += [(f"{SITE}/blog/{n}", f"博客 {n}：客服经验谈") for n in range(1, 41)]
    return pages


PAGES = _pages()


@dataclass(frozen=True)
class Table:
    """A generated ip2region table and a set of client addresses inside it."""

    text: bytes
    ranges: int
    addresses: list[str]  # public addresses, most inside a Chinese province's range


def generate_table(ranges: int, addresses: int, rng: random.Random) -> Table:
    """Return contiguous ip2region v2 ranges over 1.0.0.0-223.255.255.255 (5 % left out:
    unknown), 80 % in China by province weight, and client addresses picked in them."""
    low, high = 1 << 24, 224 << 24
    bounds = [low, *sorted(rng.sample(range(low + 1, high), ranges - 1)), high]
    weights = [w for _, _, w in PROVINCES]
    lines: list[str] = []
    spans: list[tuple[int, int]] = []
    for start, stop in itertools.pairwise(bounds):
        spans.append((start, stop - 1))
        roll = rng.random()
        if roll < 0.05:
            continue  # not in the table
        if roll < 0.81:
            province, capital, _ = rng.choices(PROVINCES, weights)[0]
            city = capital if rng.random() < 0.7 else "0"
            place = f"中国|0|{province}|{city}|{rng.choice(_ISPS)}"
        else:
            place = f"{rng.choice(_ABROAD)}|0|0|0|0"
        first, last = ipaddress.IPv4Address(start), ipaddress.IPv4Address(stop - 1)
        lines.append(f"{first}|{last}|{place}")
    picked: list[str] = []
    while len(picked) < addresses:
        start, end = rng.choice(spans)
        address = ipaddress.IPv4Address(rng.randint(start, end))
        if address.is_global and str(address) not in picked:
            picked.append(str(address))
    return Table(("\n".join(lines) + "\n").encode(), len(lines), picked)


def user_agents(count: int, rng: random.Random) -> list[str]:
    """Return `count` distinct User-Agents of the browsers Chinese visitors use."""

    def chrome() -> str:
        return f"Chrome/{rng.randint(109, 131)}.0.{rng.randint(5000, 6800)}.{rng.randint(0, 200)}"

    def ios() -> tuple[int, int]:
        return rng.randint(14, 18), rng.randint(0, 6)

    def make() -> str:
        kind = rng.random()
        webkit = "AppleWebKit/605.1.15 (KHTML, like Gecko)"
        if kind < 0.22:
            return (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like"
                f" Gecko) {chrome()} Safari/537.36"
                + (f" Edg/{rng.randint(109, 131)}.0.{rng.randint(1000, 2900)}.0" * (kind < 0.06))
            )
        if kind < 0.40:
            major, minor = ios()
            return (
                f"Mozilla/5.0 (iPhone; CPU iPhone OS {major}_{minor} like Mac OS X) {webkit}"
                f" Version/{major}.{minor} Mobile/15E148 Safari/604.1"
            )
        if kind < 0.58:
            major, minor = ios()
            return (
                f"Mozilla/5.0 (iPhone; CPU iPhone OS {major}_{minor} like Mac OS X) {webkit}"
                f" Mobile/15E148 MicroMessenger/8.0.{rng.randint(30, 50)}"
                f"(0x1800{rng.randint(0x2000, 0x3200):04x}) NetType/{rng.choice(('WIFI', '4G'))}"
                " Language/zh_CN"
            )
        android = f"Linux; Android {rng.randint(10, 14)}; {rng.choice(_MODELS)}"
        if kind < 0.78:
            return (
                f"Mozilla/5.0 ({android} Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML,"
                f" like Gecko) Version/4.0 {chrome()} Mobile Safari/537.36"
                f" XWEB/{rng.randint(1000, 9999)} MMWEBSDK/20240301"
                f" MicroMessenger/8.0.{rng.randint(30, 50)}.2560"
                f"(0x2800{rng.randint(0x2000, 0x3200):04x}) WeChat/arm64 Weixin NetType/WIFI"
                " Language/zh_CN ABI/arm64"
            )
        if kind < 0.90:
            return (
                f"Mozilla/5.0 ({android}; HMSCore 6.{rng.randint(5, 13)}.0.{rng.randint(100, 399)})"
                f" AppleWebKit/537.36 (KHTML, like Gecko) {chrome()} HuaweiBrowser/"
                f"14.0.{rng.randint(0, 6)}.{rng.randint(300, 340)} Mobile Safari/537.36"
            )
        if kind < 0.96:
            major, minor = ios()
            return (
                f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {webkit} Version/{major}.{minor}"
                " Safari/605.1.15"
            )
        if kind < 0.99:
            major, minor = ios()
            return (
                f"Mozilla/5.0 (iPad; CPU OS {major}_{minor} like Mac OS X) {webkit}"
                f" Version/{major}.{minor} Mobile/15E148 Safari/604.1"
            )
        return "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)"

    found: dict[str, None] = {}
    while len(found) < count:
        found[make()] = None
    return list(found)


def landing(rng: random.Random) -> tuple[str, str]:
    """Return a first page and its referrer: search engines with keywords (UTF-8 and GBK),
    Baidu without one, campaigns (UTM), other sites, or direct."""
    word = rng.choice(_KEYWORDS)
    q = quote(word)
    page = rng.choice(PAGES)[0]
    roll = rng.random()
    searches = (
        (0.25, f"https://www.baidu.com/s?wd={q}&ie=utf-8&tn=baiduhome_pg"),
        (0.32, f"https://www.baidu.com/s?ie=gbk&wd={quote(word.encode('gbk'))}"),
        (0.40, f"https://m.baidu.com/s?word={q}"),
        (0.47, f"https://www.baidu.com/link?url=x{rng.getrandbits(64):x}"),
        (0.55, f"https://www.sogou.com/web?query={q}&ie=utf8"),
        (0.61, f"https://www.so.com/s?q={q}&src=srp"),
        (0.64, f"https://m.sm.cn/s?q={q}"),
        (0.66, f"https://cn.bing.com/search?q={q}"),
    )
    for upto, referrer in searches:
        if roll < upto:
            return page, referrer
    if roll < 0.76:
        camp = rng.choice(_CAMPAIGNS)
        url = f"{SITE}/landing/{camp}?utm_source=baidu&utm_medium=cpc&utm_campaign={camp}"
        return f"{url}&utm_term={q}", f"https://www.baidu.com/baidu.php?sc=x{rng.getrandbits(32):x}"
    if roll < 0.84:
        return page, rng.choice(_REFERRING).format(n=rng.randrange(10**6, 10**7))
    return page, ""


@dataclass
class Profile:
    """One visitor as the driver plays them."""

    index: int
    address: str  # "" sends from 127.0.0.1
    user_agent: str
    landing: str
    referrer: str
    token: str = ""
    visitor_id: str = ""
    page: str = ""  # the page they are on: the next page view's referrer


def profiles(
    n: int, table: Table, agents: list[str], netns: bool, rng: random.Random
) -> list[Profile]:
    """Return n visitors; about 20 share an address (homes, offices, carrier NAT)."""
    out = []
    for i in range(n):
        rank = int(len(agents) * rng.random() ** 3)  # popular browsers first
        url, referrer = landing(rng)
        address = rng.choice(table.addresses) if netns else ""
        out.append(Profile(i, address, agents[rank], url, referrer))
    return out
