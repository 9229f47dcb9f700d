"""Backup archives: what goes in, that Debian's `age` opens them, and that a wrong key,
a damaged or cut archive, a foreign file or an unsafe entry is refused."""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
from dataclasses import asdict
from pathlib import Path

import pyrage
import pytest

from appliance.core import backup_archive as archive
from appliance.core.migrate import apply_migrations

AGE = shutil.which("age")


def make_data(data: Path) -> None:
    """A data folder as a box leaves it, with things an archive must leave out."""
    data.mkdir()
    conn = sqlite3.connect(data / "callbox.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    apply_migrations(conn)
    conn.execute("INSERT INTO box_settings (key, value) VALUES ('probe', '关键数据')")
    conn.close()
    (data / "secret.key").write_bytes(os.urandom(32))
    (data / "uploads" / "ab").mkdir(parents=True)
    (data / "uploads" / "ab" / "abcdef").write_bytes(os.urandom(300_000))
    (data / "uploads" / "ab" / ".part-upload.tmp").write_bytes(b"half")
    (data / "backups").mkdir()
    (data / "backups" / "callbox-x-20260101T000000Z.tar.age").write_bytes(b"old")
    (data / "restore-previous-20260101-000000").mkdir()
    (data / "restore-previous-20260101-000000" / "callbox.db").write_bytes(b"old")
    (data / ".secret.key.1234.tmp").write_bytes(b"tmp")


def manifest_for(copy: Path) -> archive.Manifest:
    return archive.Manifest(
        format=archive.FORMAT,
        box="desk",
        created_at=1_765_000_000_000,
        version="0.1.0",
        schema=archive.schema_of(copy),
    )


@pytest.fixture
def keys() -> archive.Keys:
    return archive.new_keys()


@pytest.fixture
def made(tmp_path: Path, keys: archive.Keys) -> Path:
    """An archive of a data folder."""
    data = tmp_path / "data"
    make_data(data)
    copy = tmp_path / "copy.db"
    progress = archive.Progress()
    archive.snapshot(data / "callbox.db", copy, progress)
    assert progress.phase == "snapshot" and progress.done == copy.stat().st_size
    out = tmp_path / "callbox-desk-20261206T000000Z.tar.age"
    size = archive.write_archive(
        data, copy, manifest_for(copy), keys.recipient, out, progress, skip={data / "backups"}
    )
    assert size == out.stat().st_size and progress.phase == "archive"
    assert progress.done == progress.total > 300_000
    assert out.stat().st_mode & 0o777 == 0o600
    return out


def test_an_archive_holds_the_database_and_the_files_and_opens_again(
    made: Path, tmp_path: Path, keys: archive.Keys
) -> None:
    assert made.read_bytes().startswith(b"age-encryption.org/v1\n")
    dest = tmp_path / "restored"
    progress = archive.Progress()
    manifest = archive.unpack(made, archive.read_identity(keys.identity), dest, progress)
    assert manifest.box == "desk" and manifest.files == 2
    assert manifest.schema[0] == "0001_initial.sql" and manifest.db_bytes > 0
    found = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert found == ["callbox.db", "secret.key", "uploads/ab/abcdef"]
    data = tmp_path / "data"
    for name in ("secret.key", "uploads/ab/abcdef"):
        assert (dest / name).read_bytes() == (data / name).read_bytes()
    conn = sqlite3.connect(dest / "callbox.db")
    assert conn.execute("SELECT value FROM box_settings WHERE key = 'probe'").fetchone() == (
        "关键数据",
    )
    conn.close()


def test_the_stock_age_tool_opens_an_archive(
    made: Path, tmp_path: Path, keys: archive.Keys
) -> None:
    assert AGE is not None, "Debian's age is not installed (scripts/install-deps)"
    key_file = tmp_path / "key.txt"
    key_file.write_text(f"# emergency kit of desk\n{keys.identity}\n")
    plain = tmp_path / "callbox.tar"
    subprocess.run(
        [AGE, "--decrypt", "-i", str(key_file), "-o", str(plain), str(made)],
        check=True,
        timeout=60,
    )
    with tarfile.open(plain) as tar:
        names = tar.getnames()
        assert names == [archive.MANIFEST, "callbox.db", "secret.key", "uploads/ab/abcdef"]
        handle = tar.extractfile(archive.MANIFEST)
        assert handle is not None
        assert json.loads(handle.read())["box"] == "desk"


def _refused(path: Path, identity: object, tmp_path: Path) -> str:
    dest = tmp_path / f"out-{path.name}"
    with pytest.raises(archive.ArchiveRefused) as caught:
        archive.unpack(path, identity, dest, archive.Progress())
    return caught.value.code


def test_a_wrong_key_a_damaged_or_cut_archive_and_a_foreign_file_are_refused(
    made: Path, tmp_path: Path, keys: archive.Keys
) -> None:
    right = archive.read_identity(keys.identity)
    wrong = archive.read_identity(archive.new_keys().identity)
    assert _refused(made, wrong, tmp_path) == "wrong_key"

    raw = made.read_bytes()
    damaged = tmp_path / "damaged.tar.age"
    middle = len(raw) // 2
    damaged.write_bytes(raw[:middle] + bytes([raw[middle] ^ 0x01]) + raw[middle + 1 :])
    assert _refused(damaged, right, tmp_path) == "damaged"

    cut = tmp_path / "cut.tar.age"
    cut.write_bytes(raw[: len(raw) - 1000])
    assert _refused(cut, right, tmp_path) == "damaged"

    foreign = tmp_path / "notes.tar.age"
    foreign.write_bytes(b"these are not the files you are looking for\n" * 100)
    assert _refused(foreign, right, tmp_path) == "not_a_backup"


def _sealed(tmp_path: Path, keys: archive.Keys, name: str, build) -> Path:  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        build(tar)
    path = tmp_path / name
    recipient = pyrage.x25519.Recipient.from_str(keys.recipient)
    path.write_bytes(pyrage.encrypt(buffer.getvalue(), [recipient]))
    return path


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _manifest(schema: list[str]) -> bytes:
    return json.dumps(
        asdict(archive.Manifest(archive.FORMAT, "evil", 0, "9", schema, 0, 0))
    ).encode()


def test_archives_made_to_the_public_key_by_anyone_else_are_checked(
    tmp_path: Path, keys: archive.Keys
) -> None:
    # The recipient is no secret: whoever has it can make an archive. What it holds is
    # checked like any input before anything is replaced.
    right = archive.read_identity(keys.identity)
    good_db = tmp_path / "good.db"
    conn = sqlite3.connect(good_db, isolation_level=None)
    apply_migrations(conn)
    conn.close()
    schema = archive.schema_of(good_db)

    plain = tmp_path / "plain.tar.age"
    plain.write_bytes(
        pyrage.encrypt(b"x" * 5000, [pyrage.x25519.Recipient.from_str(keys.recipient)])
    )
    assert _refused(plain, right, tmp_path) == "not_a_backup"

    no_manifest = _sealed(tmp_path, keys, "a.tar.age", lambda t: _add(t, "callbox.db", b"x"))
    assert _refused(no_manifest, right, tmp_path) == "not_a_backup"

    def escape(tar: tarfile.TarFile) -> None:
        _add(tar, archive.MANIFEST, _manifest(schema))
        _add(tar, "../escaped.txt", b"out of the folder")

    assert _refused(_sealed(tmp_path, keys, "b.tar.age", escape), right, tmp_path) == (
        "not_a_backup"
    )
    assert not (tmp_path / "escaped.txt").exists()

    def link(tar: tarfile.TarFile) -> None:
        _add(tar, archive.MANIFEST, _manifest(schema))
        info = tarfile.TarInfo("secret.key")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/shadow"
        tar.addfile(info)

    assert _refused(_sealed(tmp_path, keys, "c.tar.age", link), right, tmp_path) == ("not_a_backup")

    def journal(tar: tarfile.TarFile) -> None:  # would overwrite the restore's own files
        _add(tar, archive.MANIFEST, _manifest(schema))
        _add(tar, "restore.json", b"{}")

    assert _refused(_sealed(tmp_path, keys, "d.tar.age", journal), right, tmp_path) == (
        "not_a_backup"
    )

    def garbage_db(tar: tarfile.TarFile) -> None:
        _add(tar, archive.MANIFEST, _manifest(schema))
        _add(tar, "callbox.db", b"SQLite format 3\x00" + os.urandom(8192))

    assert _refused(_sealed(tmp_path, keys, "e.tar.age", garbage_db), right, tmp_path) == (
        "db_damaged"
    )

    newer_db = tmp_path / "newer.db"
    shutil.copy(good_db, newer_db)
    conn = sqlite3.connect(newer_db, isolation_level=None)
    conn.execute("INSERT INTO schema_migrations (name) VALUES ('9999_from_the_future.sql')")
    conn.close()

    def newer(tar: tarfile.TarFile) -> None:
        _add(tar, archive.MANIFEST, _manifest(schema))
        _add(tar, "callbox.db", newer_db.read_bytes())

    assert _refused(_sealed(tmp_path, keys, "f.tar.age", newer), right, tmp_path) == (
        "newer_version"
    )


def test_keys_are_read_from_a_key_file_or_refused() -> None:
    keys = archive.new_keys()
    assert keys.identity.startswith("AGE-SECRET-KEY-1") and keys.recipient.startswith("age1")
    assert archive.valid_recipient(keys.recipient)
    text = f"# created: 2026-12-06\n# public key: {keys.recipient}\n  {keys.identity}  \n"
    assert str(archive.read_identity(text)) == keys.identity
    # A changed checksum character (never the one it has: 1 in 32 keys ends in Q).
    changed = keys.identity[:-1] + ("Q" if keys.identity[-1] != "Q" else "P")
    for bad in ("", "hello", keys.recipient, changed, keys.identity.lower()):
        with pytest.raises(archive.ArchiveRefused) as caught:
            archive.read_identity(bad)
        assert caught.value.code == "key_invalid"
