"""Region of an address from an IP range table the administrator imports.

The table comes from a file (ip2region source text or an IP2Location LITE CSV) and is
never fetched: the box makes no network lookups. Ranges are stored as 16-byte
big-endian addresses (IPv4 mapped into ::ffff:0:0/96) and held in memory as sorted
arrays, so a lookup is a binary search without the database.
"""

from __future__ import annotations

import asyncio
import csv
import ipaddress
import logging
import re
import socket
import sqlite3
import sys
from array import array
from bisect import bisect_right
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

from appliance.core import audit
from appliance.core.clock import now_ms
from appliance.core.db import Database
from appliance.core.errors import Conflict, InvalidInput
from appliance.core.store import iptable as ip_store
from appliance.core.store import settings as settings_store

_LOGGER = logging.getLogger(__name__)

FORMATS = ("auto", "ip2region", "ip2location")
_MAX_LINE = 4096  # bytes of one line of the file
_PIECE = 1 << 20  # bytes parsed at once, off the event loop
_STAGE_ROWS = 5000  # rows per write job: each holds the writer ~10 ms
_V4_BASE = 0xFFFF << 32  # ::ffff:0.0.0.0
_V4_PREFIX = _V4_BASE.to_bytes(16, "big")[:12]
_V4_LIMIT = 1 << 32
_V6_LIMIT = 1 << 128
# The newer ip2region layout may end in an ISO country code or an AS number.
_CODE = re.compile(r"[A-Z]{2}|AS\d+")

# Addresses that are nobody's location: spelled out, because ipaddress's is_private
# also covers documentation networks, and its is_global excludes them too.
_PRIVATE = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",  # RFC 1918
        "100.64.0.0/10",  # carrier-grade NAT (RFC 6598)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local
        "::/128",
        "::1/128",
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
    )
)
_PRIVATE4 = tuple((int(n.network_address), int(n.netmask)) for n in _PRIVATE if n.version == 4)
_PRIVATE6 = tuple((int(n.network_address), int(n.netmask)) for n in _PRIVATE if n.version == 6)


@dataclass(frozen=True, slots=True)
class Location:
    """Where an address is, as far as the imported table knows."""

    status: str  # "found" | "private" | "unknown" | "invalid"
    country: str = ""
    province: str = ""
    city: str = ""
    isp: str = ""

    @property
    def label(self) -> str:
        """Return the most useful single name: province, else city, else country."""
        return self.province or self.city or self.country

    def public(self) -> dict[str, str]:
        """Return the location as the API shows it."""
        return {
            "status": self.status,
            "label": self.label,
            "country": self.country,
            "province": self.province,
            "city": self.city,
            "isp": self.isp,
        }


PRIVATE = Location("private")
UNKNOWN = Location("unknown")
INVALID = Location("invalid")

# line number, start, end (16-byte blobs), country, province, city, isp
StagedRow = ip_store.StagedRow


def _is_private(value: int, version: int) -> bool:
    nets = _PRIVATE4 if version == 4 else _PRIVATE6
    return any(value & mask == net for net, mask in nets)


# --- parsing -----------------------------------------------------------------------


class RangeParser:
    """Turn the bytes of a range file, fed in pieces, into rows; InvalidInput names the line."""

    def __init__(self, fmt: str = "auto") -> None:
        if fmt not in FORMATS:
            raise InvalidInput(f"format must be one of {', '.join(FORMATS)}")
        self.format = "" if fmt == "auto" else fmt
        self.line = 0  # the number of the last line read
        self._rest = b""
        self._v6_edition: bool | None = None  # IP2Location: decided by the first row
        self._seen_data = False

    def feed(self, data: bytes) -> list[StagedRow]:
        """Parse every complete line of data (with what an earlier piece left over)."""
        buf = self._rest + data if self._rest else data
        lines = buf.split(b"\n")
        self._rest = lines.pop()
        if len(self._rest) > _MAX_LINE:
            raise InvalidInput(f"line {self.line + len(lines) + 1}: longer than {_MAX_LINE} bytes")
        rows: list[StagedRow] = []
        for raw in lines:
            self._parse_raw(raw, rows)
        return rows

    def finish(self) -> list[StagedRow]:
        """Parse the last line (one without a newline) and return its row, if any."""
        rows: list[StagedRow] = []
        rest, self._rest = self._rest, b""
        if rest:
            self._parse_raw(rest, rows)
        return rows

    def _parse_raw(self, raw: bytes, rows: list[StagedRow]) -> None:
        self.line += 1
        if len(raw) > _MAX_LINE:
            raise InvalidInput(f"line {self.line}: longer than {_MAX_LINE} bytes")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            raise InvalidInput(f"line {self.line}: not UTF-8 text") from err
        if self.line == 1:
            text = text.removeprefix("\ufeff")
        text = text.strip()
        if not text or text.startswith("#"):
            return
        if not self.format:
            self.format = _detect(text, self.line)
        row = self._ip2region(text) if self.format == "ip2region" else self._ip2location(text)
        if row is not None:
            self._seen_data = True
            rows.append(row)

    def _ip2region(self, text: str) -> StagedRow:
        fields = [f.strip() for f in text.split("|")]
        if len(fields) == 6:  # start|end|country|province|city|isp
            place = fields[2:6]
        elif len(fields) == 7 and _CODE.fullmatch(fields[6]):
            place = fields[2:6]  # the newer layout with a trailing country code or AS
        elif len(fields) == 7:  # v2 ip.merge.txt: start|end|country|region|province|city|isp
            place = [fields[2], fields[4], fields[5], fields[6]]
        else:
            raise InvalidInput(
                f"line {self.line}: expected 6 or 7 fields separated by |, found {len(fields)}"
            )
        start = self._address(fields[0])
        end = self._address(fields[1])
        country, province, city, isp = ("" if v == "0" else v for v in place)
        return self._row(start, end, country, province, city, isp)

    def _address(self, text: str) -> bytes:
        try:
            if ":" in text:
                return socket.inet_pton(socket.AF_INET6, text)
            return _V4_PREFIX + socket.inet_pton(socket.AF_INET, text)
        except OSError as err:
            raise InvalidInput(f"line {self.line}: {text[:60]!r} is not an IP address") from err

    def _ip2location(self, text: str) -> StagedRow | None:
        try:
            fields = next(csv.reader((text,), strict=True))
        except csv.Error as err:
            raise InvalidInput(f"line {self.line}: not a CSV row ({err})") from err
        first = fields[0].strip() if fields else ""
        if not self._seen_data and first.lower().startswith("ip"):
            return None  # a header row such as "ip_from,ip_to,country_code,..."
        if len(fields) == 4:  # DB1: ip_from, ip_to, country_code, country_name
            place = [fields[3], "", ""]
        elif len(fields) >= 6:  # DB3 and up: ..., region_name, city_name, ...
            place = fields[3:6]
        else:
            raise InvalidInput(
                f"line {self.line}: expected an IP2Location LITE row (DB1, DB3, DB5, DB9, "
                f"DB11), found {len(fields)} fields"
            )
        low = self._number(fields[0], "ip_from")
        high = self._number(fields[1], "ip_to")
        if self._v6_edition is None:
            # An IPv6 edition begins with the range 0 .. ::fffe:ffff:ffff, far above 2^32.
            self._v6_edition = high >= _V4_LIMIT
        if not self._v6_edition:
            if high >= _V4_LIMIT or low >= _V4_LIMIT:
                raise InvalidInput(
                    f"line {self.line}: beyond 255.255.255.255 in an IPv4 edition file"
                )
            low, high = _V4_BASE + low, _V4_BASE + high
        country, province, city = ("" if v.strip() == "-" else v.strip() for v in place)
        return self._row(
            low.to_bytes(16, "big"), high.to_bytes(16, "big"), country, province, city, ""
        )

    def _number(self, text: str, name: str) -> int:
        text = text.strip()
        if not text.isdigit() or len(text) > 39:
            raise InvalidInput(f"line {self.line}: {name} {text[:60]!r} is not a whole number")
        value = int(text)
        if value >= _V6_LIMIT:
            raise InvalidInput(f"line {self.line}: {name} is beyond the IPv6 space")
        return value

    def _row(
        self, start: bytes, end: bytes, country: str, province: str, city: str, isp: str
    ) -> StagedRow:
        if start > end:  # same length, big-endian: byte order is numeric order
            raise InvalidInput(f"line {self.line}: the range starts after it ends")
        return (self.line, start, end, country, province, city, isp)


def _detect(text: str, line: int) -> str:
    if "|" in text:
        return "ip2region"
    first = text.split(",", 1)[0].strip().strip('"')
    if text.startswith('"') or first.isdigit() or first.lower() == "ip_from":
        return "ip2location"
    raise InvalidInput(f"line {line}: cannot tell the format; choose ip2region or ip2location")


async def _pieces(source: AsyncIterable[bytes] | bytes) -> AsyncIterator[bytes]:
    """Regroup a byte source into pieces of about _PIECE bytes."""
    if isinstance(source, bytes | bytearray | memoryview):
        data = memoryview(source)
        for at in range(0, len(data), _PIECE):
            yield bytes(data[at : at + _PIECE])
        return
    held: list[bytes] = []
    size = 0
    async for chunk in source:
        held.append(chunk)
        size += len(chunk)
        if size >= _PIECE:
            yield b"".join(held)
            held, size = [], 0
    if held:
        yield b"".join(held)


# --- storage -------------------------------------------------------------------------

# An import never holds the writer for long and never leaves a half table: rows are
# staged (store.iptable), copied in key order and checked for overlaps in short jobs
# into a twin of ip_ranges, and one last job swaps the twin in.
_COPY_ROWS = 20_000  # rows per copy job


@dataclass(slots=True)
class _Copy:
    """How far the copy from the stage into the twin has come."""

    after: tuple[bytes, int] = (b"", 0)  # the last (start, line) copied
    end: bytes = b""  # the end of the last range copied
    count: int = 0


def _copy(state: _Copy, conn: sqlite3.Connection) -> bool:
    """Copy the next rows in address order, refusing overlaps; tell whether all are done."""
    rows = ip_store.staged_after(conn, state.after, _COPY_ROWS)
    for start, line, end, *_ in rows:
        if state.count and state.end >= start:
            raise InvalidInput(f"line {line}: the range overlaps line {state.after[1]}")
        state.after, state.end = (start, line), end
        state.count += 1
    ip_store.add_to_twin(conn, [(start, end, *place) for start, _, end, *place in rows])
    return len(rows) < _COPY_ROWS


def _swap(fmt: str, count: int, at: int, by: audit.Actor | None, conn: sqlite3.Connection) -> None:
    """Put the twin in the table's place and record what it holds."""
    if count == 0:
        raise InvalidInput("the file holds no ranges")
    ip_store.swap_in_twin(conn)
    settings_store.save(
        conn,
        [("iptable.format", fmt), ("iptable.ranges", str(count)), ("iptable.imported_at", str(at))],
    )
    if by is not None:
        audit.record(conn, by, "iptable.import", "", {"format": fmt, "ranges": count})


# --- the in-memory index ---------------------------------------------------------------


class _Wide:
    """A packed run of 16-byte big-endian addresses that bisect can search."""

    __slots__ = ("_buf",)

    def __init__(self, buf: bytes) -> None:
        self._buf = buf

    def __len__(self) -> int:
        return len(self._buf) // 16

    def __getitem__(self, i: int) -> bytes:
        return self._buf[16 * i : 16 * i + 16]


def _uint32(packed: bytearray) -> array[int]:
    """Return big-endian 32-bit values as an array of native unsigned ints."""
    values = array("I")
    assert values.itemsize == 4
    values.frombytes(packed)
    if sys.byteorder == "little":
        values.byteswap()
    return values


class _Index:
    """Sorted starts and ends with an index into deduplicated locations."""

    def __init__(self, rows: Iterable[tuple[bytes, bytes, str, str, str, str]]) -> None:
        # Measured over 700,000 rows: packing bytes and converting once at the end
        # builds the index in half the time of per-row int conversions.
        v4_starts, v4_ends, v4_places = bytearray(), bytearray(), []
        v6_starts, v6_ends, v6_places = bytearray(), bytearray(), []
        self.places: list[Location] = []
        seen: dict[tuple[str, str, str, str], int] = {}
        for start, end, country, province, city, isp in rows:
            key = (country, province, city, isp)
            place = seen.get(key)
            if place is None:
                place = seen[key] = len(self.places)
                status = "found" if country or province or city else "unknown"
                self.places.append(Location(status, country, province, city, isp))
            if start[:12] == _V4_PREFIX == end[:12]:
                v4_starts += start[12:]
                v4_ends += end[12:]
                v4_places.append(place)
            else:
                v6_starts += start
                v6_ends += end
                v6_places.append(place)
        self.v4_starts = _uint32(v4_starts)
        self.v4_ends = _uint32(v4_ends)
        self.v4_places = array("I", v4_places)
        self.v6_starts = _Wide(bytes(v6_starts))
        self.v6_ends = _Wide(bytes(v6_ends))
        self.v6_places = array("I", v6_places)

    def __len__(self) -> int:
        return len(self.v4_starts) + len(self.v6_places)

    def find(self, value: int, version: int) -> Location:
        if version == 4:
            i = bisect_right(self.v4_starts, value) - 1
            if i >= 0 and value <= self.v4_ends[i]:
                return self.places[self.v4_places[i]]
            value += _V4_BASE  # a range may also span the mapped block from outside
        key = value.to_bytes(16, "big")
        i = bisect_right(self.v6_starts, key) - 1
        if i >= 0 and key <= self.v6_ends[i]:
            return self.places[self.v6_places[i]]
        return UNKNOWN


def _read_index(conn: sqlite3.Connection) -> _Index:
    return _Index(ip_store.ranges(conn))


@dataclass(frozen=True, slots=True)
class TableStatus:
    """What the IP table holds: how many ranges, from which format, imported when."""

    ranges: int
    format: str  # "", ip2region or ip2location
    imported_at: int | None  # UTC ms


class IpTable:
    """The imported IP range table: lookups in memory, imports in one swap."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._index = _Index(())
        self._meta: dict[str, str] = {}
        self._importing = asyncio.Lock()

    async def load(self) -> None:
        """Build the in-memory index from the stored table (in a thread)."""
        index = await self._db.read(_read_index)
        self._meta = await self._db.read(partial(settings_store.values, prefix="iptable."))
        self._index = index
        _LOGGER.info("IP table: %d ranges, %d places", len(index), len(index.places))

    def lookup(self, address: str | None) -> Location:
        """Return where an address is; private and unknown addresses say so."""
        if not address:
            return INVALID
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return INVALID
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        value = int(ip)
        if _is_private(value, ip.version):
            return PRIVATE
        return self._index.find(value, ip.version)

    def status(self) -> TableStatus:
        """Return how many ranges are loaded, from which format, imported when."""
        at = self._meta.get("iptable.imported_at", "")
        return TableStatus(
            ranges=len(self._index),
            format=self._meta.get("iptable.format", ""),
            imported_at=int(at) if at.isdigit() else None,
        )

    async def import_csv(
        self,
        source: AsyncIterable[bytes] | bytes,
        fmt: str = "auto",
        *,
        by: audit.Actor | None = None,
    ) -> dict[str, Any]:
        """Replace the table with a file's ranges; on any error the old table stays.

        `by`: who imports it, recorded in the audit log in the swap's transaction.
        """
        parser = RangeParser(fmt)
        if self._importing.locked():
            raise Conflict("an import of the IP table is already running")
        async with self._importing:
            await self._db.write(ip_store.create_stage)
            try:
                async for piece in _pieces(source):
                    await self._stage(await asyncio.to_thread(parser.feed, piece))
                await self._stage(parser.finish())
                copy, done = _Copy(), False
                while not done:
                    done = await self._db.write(partial(_copy, copy))
                count = copy.count
                await self._db.write(partial(_swap, parser.format, count, now_ms(), by))
            finally:
                await self._db.write(ip_store.drop_stage)
            await self.load()
        _LOGGER.info("IP table imported: %d ranges (%s)", count, parser.format)
        return {"ranges": count, "format": parser.format}

    async def _stage(self, rows: list[StagedRow]) -> None:
        for at in range(0, len(rows), _STAGE_ROWS):
            await self._db.write(partial(ip_store.stage, rows=rows[at : at + _STAGE_ROWS]))
