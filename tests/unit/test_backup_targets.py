"""Backup targets' own rules: what a WebDAV listing yields, what is never shown of a
target's address, and the local folder's atomic, private archives."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.core.backup_archive import Progress
from appliance.core.backup_targets import (
    LocalFolder,
    Stored,
    TargetError,
    _listing,
    webdav_label,
)

OURS = "callbox-desk-20261206T193000Z.tar.age"
LISTING = f"""<?xml version="1.0" encoding="utf-8"?>
<d:multistatus xmlns:d="DAV:">
  <d:response><d:href>/dav/callbox/</d:href>
    <d:propstat><d:prop><d:getcontentlength/></d:prop></d:propstat></d:response>
  <d:response><d:href>http://nas/dav/callbox/{OURS}</d:href>
    <d:propstat><d:prop><d:getcontentlength>1234</d:getcontentlength></d:prop></d:propstat>
  </d:response>
  <d:response><d:href>/dav/callbox/.{OURS}.part</d:href>
    <d:propstat><d:prop><d:getcontentlength>10</d:getcontentlength></d:prop></d:propstat>
  </d:response>
  <d:response><d:href>/dav/callbox/notes%20and%20more.txt</d:href>
    <d:propstat><d:prop><d:getcontentlength>5</d:getcontentlength></d:prop></d:propstat>
  </d:response>
</d:multistatus>""".encode()


def test_a_listing_yields_only_our_archives() -> None:
    assert _listing(LISTING, "nas") == [Stored(OURS, 1234)]


def test_a_listing_with_entity_tricks_or_broken_xml_is_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<d:multistatus xmlns:d="DAV:">&b;</d:multistatus>'
    )
    for raw in (bomb, b"<not xml", b""):
        with pytest.raises(TargetError):
            _listing(raw, "nas")


def test_a_target_is_shown_without_its_credentials() -> None:
    assert (
        webdav_label("https://user:pw@nas.example:8443/dav/x/") == "https://nas.example:8443/dav/x/"
    )
    assert webdav_label("http://[::1]:8080/dav/") == "http://[::1]:8080/dav/"


async def test_the_local_folder_stores_renames_lists_and_deletes_only_archives(
    tmp_path: Path,
) -> None:
    folder = LocalFolder(tmp_path / "disk" / "callbox")
    source = tmp_path / OURS
    source.write_bytes(b"x" * 1000)
    progress = Progress()
    progress.start("upload:local", 1000)
    await folder.put(source, OURS, progress)
    stored = folder.path / OURS
    assert stored.read_bytes() == b"x" * 1000 and not source.exists()  # same disk: renamed
    (folder.path / "notes.txt").write_text("not ours")
    assert await folder.archives() == [Stored(OURS, 1000)]
    assert await folder.fetch(OURS, tmp_path / "unused", progress) == stored
    await folder.delete(OURS)
    assert sorted(p.name for p in folder.path.iterdir()) == ["notes.txt"]
    with pytest.raises(TargetError):
        await folder.fetch(OURS, tmp_path / "unused", progress)
