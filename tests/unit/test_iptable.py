"""The IP table: parsing both families of files, lookups at the edges, safe re-imports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from appliance.core import iptable
from appliance.core.db import Database
from appliance.core.errors import Conflict, InvalidInput
from appliance.core.iptable import IpTable, Location, RangeParser, TableStatus

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "box.db")
    await database.open()
    yield database
    await database.close()


@pytest.fixture
async def table(db: Database) -> IpTable:
    ips = IpTable(db)
    await ips.load()
    return ips


def where(location: Location) -> tuple[str, str, str, str, str]:
    return (location.status, location.country, location.province, location.city, location.isp)


# --- ip2region ----------------------------------------------------------------------


IP2REGION_V2 = [
    ("1.0.0.0", ("found", "澳大利亚", "", "", "")),  # first address of the first range
    ("1.0.0.255", ("found", "澳大利亚", "", "", "")),  # its last
    ("1.0.1.0", ("found", "中国", "福建省", "福州市", "电信")),
    ("1.0.3.255", ("found", "中国", "福建省", "福州市", "电信")),
    ("1.0.5.6", ("found", "澳大利亚", "维多利亚", "墨尔本", "")),
    ("1.0.8.0", ("unknown", "", "", "", "")),  # just after the last 1.0.x range
    ("114.114.114.114", ("found", "中国", "江苏省", "南京市", "")),
    ("114.114.113.255", ("unknown", "", "", "", "")),  # just before
    ("114.114.115.0", ("unknown", "", "", "", "")),  # just after
    ("223.5.5.5", ("found", "中国", "浙江省", "杭州市", "阿里云")),
    ("::ffff:223.5.5.5", ("found", "中国", "浙江省", "杭州市", "阿里云")),  # IPv4-mapped
    ("::ffff:df05:505", ("found", "中国", "浙江省", "杭州市", "阿里云")),  # same, in hex
    ("0.255.255.255", ("private", "", "", "", "")),
    ("8.8.8.8", ("unknown", "", "", "", "")),
    ("2001:db8::1", ("unknown", "", "", "", "")),
]


@pytest.mark.parametrize(("address", "expected"), IP2REGION_V2)
async def test_ip2region_v2_layout(table: IpTable, address: str, expected: tuple[str, ...]):
    result = await table.import_csv(fixture("ip2region_v2.txt"), "ip2region")
    assert result == {"ranges": 5, "format": "ip2region"}
    assert where(table.lookup(address)) == expected


IP2REGION_SOURCE = [
    ("1.0.2.3", ("found", "中国", "福建省", "福州市", "电信")),
    ("1.0.15.255", ("found", "中国", "广东省", "广州市", "电信")),
    ("1.0.16.0", ("found", "日本", "", "", "")),
    ("1.0.4.0", ("unknown", "", "", "", "")),  # the gap between two ranges
    ("223.255.237.1", ("found", "中国", "上海", "上海市", "电信")),  # with a trailing "CN"
    ("2001:da8::", ("found", "中国", "北京市", "北京市", "教育网")),
    ("2001:da8:ffff:ffff:ffff:ffff:ffff:ffff", ("found", "中国", "北京市", "北京市", "教育网")),
    ("2001:da9::", ("unknown", "", "", "", "")),
    ("2001:da7:ffff:ffff:ffff:ffff:ffff:ffff", ("unknown", "", "", "", "")),
    ("240e:3a1:4c58:a870::1", ("found", "中国", "广东省", "", "电信")),
]


@pytest.mark.parametrize(("address", "expected"), IP2REGION_SOURCE)
async def test_ip2region_source_layout_with_ipv6(
    table: IpTable, address: str, expected: tuple[str, ...]
):
    result = await table.import_csv(fixture("ip2region_source.txt"), "auto")
    assert result == {"ranges": 6, "format": "ip2region"}
    assert where(table.lookup(address)) == expected


# --- IP2Location LITE ---------------------------------------------------------------


DB3_IPV4 = [
    ("1.0.0.0", ("found", "Australia", "Queensland", "Brisbane", "")),
    ("1.0.1.0", ("found", "China", "Fujian", "Fuzhou", "")),
    ("1.0.3.255", ("found", "China", "Fujian", "Fuzhou", "")),
    ("1.0.4.0", ("unknown", "", "", "", "")),
    ("2.144.7.7", ("found", "Iran, Islamic Republic of", "Tehran", "Tehran", "")),
    ("8.8.8.8", ("found", "United States of America", "California", "Mountain View", "")),
    ("8.8.9.0", ("unknown", "", "", "", "")),
]


@pytest.mark.parametrize(("address", "expected"), DB3_IPV4)
async def test_ip2location_db3_ipv4(table: IpTable, address: str, expected: tuple[str, ...]):
    result = await table.import_csv(fixture("ip2location_db3.csv"), "auto")
    assert result == {"ranges": 5, "format": "ip2location"}
    assert where(table.lookup(address)) == expected


DB3_IPV6 = [
    ("1.0.0.7", ("found", "Australia", "Queensland", "Brisbane", "")),  # mapped rows
    ("::ffff:1.0.2.1", ("found", "China", "Fujian", "Fuzhou", "")),
    ("1.0.4.0", ("unknown", "", "", "", "")),  # a "-" row
    ("2001:200::1", ("found", "Japan", "Tokyo", "Tokyo", "")),
    ("2001:200:ffff:ffff:ffff:ffff:ffff:ffff", ("found", "Japan", "Tokyo", "Tokyo", "")),
    ("2001:201::", ("unknown", "", "", "", "")),
    ("2400:da00::6666", ("found", "China", "Beijing", "Beijing", "")),
]


@pytest.mark.parametrize(("address", "expected"), DB3_IPV6)
async def test_ip2location_ipv6_edition(table: IpTable, address: str, expected: tuple[str, ...]):
    result = await table.import_csv(fixture("ip2location_db3_ipv6.csv"), "ip2location")
    assert result == {"ranges": 7, "format": "ip2location"}
    assert where(table.lookup(address)) == expected


async def test_ip2location_db1_db5_and_a_header(table: IpTable):
    db1 = b'"16777216","16777471","AU","Australia"\n'
    await table.import_csv(db1, "auto")
    assert where(table.lookup("1.0.0.1")) == ("found", "Australia", "", "", "")
    db5 = (
        b"ip_from,ip_to,country_code,country_name,region_name,city_name,latitude,longitude\n"
        b'"16777216","16777471","AU","Australia","Queensland","Brisbane","-27.4","153.0"\n'
    )
    assert await table.import_csv(db5, "auto") == {"ranges": 1, "format": "ip2location"}
    assert table.lookup("1.0.0.1").label == "Queensland"


# --- addresses that never reach the table -------------------------------------------


@pytest.mark.parametrize(
    ("address", "status"),
    [
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("172.32.0.1", "found"),  # just outside 172.16/12 (and in the table below)
        ("192.168.1.20", "private"),
        ("127.0.0.1", "private"),
        ("169.254.10.1", "private"),  # link-local
        ("100.63.255.255", "found"),  # just below 100.64/10
        ("100.64.0.0", "private"),  # CGNAT
        ("100.127.255.255", "private"),
        ("100.128.0.0", "found"),  # just outside 100.64/10
        ("::1", "private"),
        ("fe80::1", "private"),
        ("fe80::1%eth0", "private"),
        ("fd12:3456::1", "private"),  # ULA
        ("::ffff:192.168.0.9", "private"),
        ("::ffff:10.0.0.1", "private"),
        ("", "invalid"),
        ("not an address", "invalid"),
        ("1.2.3", "invalid"),
        ("300.1.1.1", "invalid"),
        ("1.2.3.4/24", "invalid"),
        (" 100.128.0.5 ", "found"),
    ],
)
async def test_private_and_invalid_addresses(table: IpTable, address: str, status: str):
    # A table that would claim the private ranges too, to show they are not looked up.
    everything = (
        b"::|::fffe:ffff:ffff|Y|0|0|0|0\n"
        b"0.0.0.0|255.255.255.255|X|0|0|0|0\n"
        b"::1:0:0:0|ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff|Y|0|0|0|0\n"
    )
    await table.import_csv(everything)
    assert table.lookup(address).status == status


async def test_nothing_loaded_says_unknown(table: IpTable):
    assert table.status() == TableStatus(ranges=0, format="", imported_at=None)
    assert table.lookup("1.0.1.1") == Location("unknown")
    assert table.lookup("1.0.1.1").label == ""
    assert table.lookup(None).status == "invalid"


def test_label_prefers_province_then_city_then_country():
    assert Location("found", "中国", "广东省", "深圳市").label == "广东省"
    assert Location("found", "中国", "", "深圳市").label == "深圳市"
    assert Location("found", "中国").label == "中国"
    assert Location("private").label == ""


# --- detection and bad input --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        ("1.0.0.0|1.0.0.255|澳大利亚|0|0|0|0\n", "ip2region"),
        ("\ufeff# comment\n\n1.0.0.0|1.0.0.255|A|B|C|D\n", "ip2region"),
        ('"16777216","16777471","AU","Australia","-","-"\r\n', "ip2location"),
        ("16777216,16777471,AU,Australia,-,-\n", "ip2location"),
    ],
)
def test_auto_detection(text: str, fmt: str):
    parser = RangeParser("auto")
    rows = parser.feed(text.encode()) + parser.finish()
    assert parser.format == fmt
    assert len(rows) == 1


@pytest.mark.parametrize(
    ("text", "fmt", "message"),
    [
        ("1.0.0.0|1.0.0.255|A|0|0|0\n1.0.1.0|1.0.0.255|B|0|0|0\n", "auto", "line 2: the range"),
        ("1.0.0.0|1.0.0.255|A|0|0\n", "auto", "line 1: expected 6 or 7 fields"),
        ("1.0.0.0|1.0.0.256|A|0|0|0\n", "auto", "line 1: '1.0.0.256' is not an IP"),
        ("\n\n1.0.0.0|x|A|0|0|0\n", "auto", "line 3:"),
        ('"1","2","A"\n', "ip2location", "line 1: expected an IP2Location LITE row"),
        ('"1","x","A","B"\n', "ip2location", "line 1: ip_to 'x' is not a whole number"),
        ('"0","16777215","-","-"\n"1","4294967296","A","B"\n', "auto", "line 2: beyond"),
        ('"1","2","A","B\n', "ip2location", "line 1: not a CSV row"),
        ("hello world\n", "auto", "line 1: cannot tell the format"),
        ("1.0.0.0|1.0.0.255|\xff|0|0|0\n", "auto", "line 1: not UTF-8"),
        ("1.0.0.0|1.0.0.255|" + "x" * 5000 + "|0|0|0\n", "auto", "line 1: longer than"),
        ("1.0.0.0|1.0.0.255|A|0|0|0\n" + "y" * 5000, "auto", "line 2: longer than"),
    ],
)
def test_bad_rows_name_their_line(text: str, fmt: str, message: str):
    data = text.encode("latin-1") if "\xff" in text else text.encode()
    parser = RangeParser(fmt)
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(")):
        parser.feed(data)
        parser.finish()


def test_unknown_format_is_refused():
    with pytest.raises(InvalidInput, match="format must be one of"):
        RangeParser("geoip")


async def test_lines_split_across_pieces(table: IpTable, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(iptable, "_PIECE", 5)  # regroup into pieces of a few bytes

    async def trickle(data: bytes) -> AsyncIterator[bytes]:
        for at in range(0, len(data), 7):
            yield data[at : at + 7]

    data = fixture("ip2location_db3.csv")
    assert await table.import_csv(trickle(data), "auto") == {"ranges": 5, "format": "ip2location"}
    assert table.lookup("2.144.0.0").country == "Iran, Islamic Republic of"
    # No newline after the last row is fine too.
    await table.import_csv(b"1.0.0.0|1.0.0.255|A|0|0|0")
    assert table.lookup("1.0.0.9").country == "A"


# --- replacing the table ------------------------------------------------------------


async def test_a_bad_file_keeps_the_old_table(db: Database, table: IpTable):
    await table.import_csv(fixture("ip2region_v2.txt"))
    before = table.status()
    assert before.ranges == 5 and before.format == "ip2region"
    assert isinstance(before.imported_at, int)
    bad = fixture("ip2location_db3.csv") + b'"3","2","XX","Bad"\n'
    with pytest.raises(InvalidInput, match="line 6: the range starts after it ends"):
        await table.import_csv(bad)
    overlapping = b"2.0.0.0|2.0.0.255|A|0|0|0\n1.0.0.0|1.0.0.255|B|0|0|0\n2.0.0.9|2.0.1.0|C|0|0|0\n"
    with pytest.raises(InvalidInput, match="line 3: the range overlaps line 1"):
        await table.import_csv(overlapping)
    with pytest.raises(InvalidInput, match="no ranges"):
        await table.import_csv(b"# only a comment\n")
    assert table.status() == before
    assert table.lookup("1.0.1.1").province == "福建省"
    # The stored table is the old one too, and no staging table is left behind.
    again = IpTable(db)
    await again.load()
    assert again.status() == before
    assert again.lookup("1.0.1.1").province == "福建省"
    names = await db.fetchall("SELECT name FROM sqlite_master WHERE name LIKE 'ip_ranges%'")
    assert [row["name"] for row in names] == ["ip_ranges"]


async def test_re_import_replaces_the_table(db: Database, table: IpTable):
    await table.import_csv(fixture("ip2region_v2.txt"))
    assert table.lookup("223.5.5.5").province == "浙江省"
    result = await table.import_csv(fixture("ip2location_db3.csv"))
    assert result == {"ranges": 5, "format": "ip2location"}
    assert table.lookup("223.5.5.5").status == "unknown"  # gone with the old file
    assert table.lookup("1.0.1.1").province == "Fujian"
    again = IpTable(db)
    await again.load()
    assert again.status().format == "ip2location"
    assert again.status().ranges == 5
    assert again.lookup("1.0.1.1").province == "Fujian"
    row = await db.fetchone("SELECT value FROM box_settings WHERE key = 'iptable.ranges'")
    assert row is not None and row["value"] == "5"


async def test_one_import_at_a_time(table: IpTable):
    release = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield b"1.0.0.0|1.0.0.255|A|0|0|0\n"
        await release.wait()

    first = asyncio.create_task(table.import_csv(slow()))
    await asyncio.sleep(0.05)
    with pytest.raises(Conflict, match="already running"):
        await table.import_csv(b"1.0.0.0|1.0.0.255|B|0|0|0\n")
    release.set()
    assert (await first)["ranges"] == 1
    assert table.lookup("1.0.0.1").country == "A"
