"""One owner per table: SQL lives in appliance/core/store/, each table's in its owner.

The rules (appliance/core/store/__init__.py):
1. No module outside the store names a table in SQL (FROM, JOIN, INTO, UPDATE, TABLE).
2. Only a table's owner writes it (INSERT, UPDATE, DELETE, REPLACE).
3. A statement's main table (its first FROM) belongs to the module it is in; other
   aggregates' tables may be JOINed or read in a subquery, never changed.
   A fragment that starts with "(" is a subquery and has no main table of its own.

Run as `python -m tests.unit.test_store_owners [table ...]` to list what breaks them.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from appliance.core.store import OWNERS

_ROOT = Path(__file__).resolve().parents[2] / "appliance"
_STORE = _ROOT / "core" / "store"
# The database plumbing itself, which names no aggregate's table.
_PLUMBING = {_ROOT / "core" / "db.py", _ROOT / "core" / "migrate.py"}
_TABLES = "|".join(sorted(OWNERS, key=len, reverse=True))
_NAMED = re.compile(rf"\b(FROM|JOIN|INTO|UPDATE|TABLE)\s+({_TABLES})\b", re.IGNORECASE)
_WRITE = re.compile(
    rf"\b(?:INSERT(?:\s+OR\s+\w+)?\s+INTO|REPLACE\s+INTO|UPDATE|DELETE\s+FROM)\s+({_TABLES})\b",
    re.IGNORECASE,
)
_FIRST_FROM = re.compile(r"\bFROM\s+(\w+)", re.IGNORECASE)


@dataclass(frozen=True)
class Breach:
    """One place where SQL for a table is not where it belongs."""

    path: str
    line: int
    table: str
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.table}: {self.why}"


def _strings(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Yield (line, text) of every string constant, f-strings with their holes blanked."""
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = [
                v.value if isinstance(v, ast.Constant) and isinstance(v.value, str) else " ? "
                for v in node.values
            ]
            yield node.lineno, "".join(parts)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def _inside_fstring(tree: ast.AST) -> set[int]:
    """Ids of constants that are parts of an f-string (checked with their f-string)."""
    return {
        id(v)
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr)
        for v in node.values
        if isinstance(v, ast.Constant)
    }


def check_source(rel: str, source: str, store_module: str | None) -> list[Breach]:
    """Return the breaches in one module's source; store_module is its name in the store."""
    tree = ast.parse(source, rel)
    skip = _inside_fstring(tree)
    found: list[Breach] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and id(node) in skip:
            continue
        if not isinstance(node, ast.JoinedStr | ast.Constant):
            continue
        literal = next(_strings(node), None)  # None: a constant that is not a string
        if literal is None:
            continue
        line, text = literal
        if not re.search(r"\b(SELECT|INSERT|UPDATE|DELETE|REPLACE)\b", text):
            continue
        named = {m.group(2).lower() for m in _NAMED.finditer(text)}
        if not named:
            continue
        if store_module is None:
            found += [Breach(rel, line, t, "SQL outside the store") for t in sorted(named)]
            continue
        for match in _WRITE.finditer(text):
            table = match.group(1).lower()
            if OWNERS[table] != store_module:
                found.append(Breach(rel, line, table, f"written outside {OWNERS[table]}.py"))
        first = _FIRST_FROM.search(text)
        if first and not text.lstrip().startswith("(") and first.group(1).lower() in OWNERS:
            table = first.group(1).lower()
            if OWNERS[table] != store_module and not _WRITE.search(text):
                found.append(Breach(rel, line, table, f"main table outside {OWNERS[table]}.py"))
    return found


def breaches(tables: set[str] | None = None) -> list[Breach]:
    """Return every breach of the rules in the appliance, for some tables (all if None)."""
    found: list[Breach] = []
    for path in sorted(_ROOT.rglob("*.py")):
        if path in _PLUMBING:
            continue
        in_store = path.parent == _STORE and path.stem != "__init__"
        rel = str(path.relative_to(_ROOT.parent))
        found += check_source(rel, path.read_text(), path.stem if in_store else None)
    return [b for b in found if tables is None or b.table in tables]


def test_every_table_is_in_the_owner_map() -> None:
    texts = [p.read_text() for p in sorted((_ROOT / "core" / "migrations").glob("*.sql"))]
    created = {
        m.group(1)
        for text in texts
        for m in re.finditer(r"CREATE TABLE (?:IF NOT EXISTS )?(\w+)", text)
    }
    # A table a later migration drops (and does not make again) no longer needs one.
    created -= {m.group(1) for text in texts for m in re.finditer(r"DROP TABLE (\w+)", text)}
    assert created == set(OWNERS), "every table needs an owner in store.OWNERS"
    for module in set(OWNERS.values()):
        assert (_STORE / f"{module}.py").exists(), f"store/{module}.py is named but missing"


def test_sql_for_each_table_lives_in_its_store_module() -> None:
    found = breaches()
    assert not found, "\n".join(str(b) for b in found)


def test_the_check_catches_each_kind_of_breach() -> None:
    service = 'def f(conn):\n    conn.execute(f"SELECT a FROM {T} JOIN visitors v ON 1")\n'
    assert [(b.table, b.why) for b in check_source("core/x.py", service, None)] == [
        ("visitors", "SQL outside the store")
    ]
    write = 'SQL = "UPDATE users SET x = 1 WHERE id = ?"\n'
    assert [b.why for b in check_source("s.py", write, "conversations")] == [
        "written outside accounts.py"
    ]
    assert check_source("s.py", write, "accounts") == []
    main = 'SQL = "SELECT id FROM users u JOIN conversations c ON c.agent_id = u.id"\n'
    assert [b.why for b in check_source("s.py", main, "conversations")] == [
        "main table outside accounts.py"
    ]
    assert check_source("s.py", main, "accounts") == []
    sub = 'SQL = "(SELECT count(*) FROM conversations c WHERE c.agent_id = u.id)"\n'
    assert check_source("s.py", sub, "accounts") == []
    upsert = 'SQL = "INSERT OR IGNORE INTO visits (a) SELECT 1 FROM visitors"\n'
    assert [b.table for b in check_source("s.py", upsert, "visitors")] == ["visits"]
    prose = '"""Read the visitors from the queue."""\n'
    assert check_source("s.py", prose, None) == []


if __name__ == "__main__":
    wanted = set(sys.argv[1:]) or None
    for breach in breaches(wanted):
        print(breach)
