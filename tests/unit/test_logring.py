"""The health page's ring of recent warnings: bounded, and scrubbed of secrets and words."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from appliance.core.logring import TEXT_MAX, LogRing, scrub

TOKEN = "cbr1.eyJhIjoicmVsYXkuZXhhbXBsZS5jb206ODQ0MyIsInMiOiJzM2NyM3QifQ"
PASSWORD = "hunter2 horse battery"


@pytest.fixture
def ring() -> Iterator[tuple[LogRing, logging.Logger]]:
    logger = logging.getLogger("appliance.test_logring")
    logger.propagate = False
    ring = LogRing(size=5)
    ring.attach(logger)
    try:
        yield ring, logger
    finally:
        ring.detach(logger)
        logger.propagate = True


def _record(msg: object, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, None) if exc is not None else None
    return logging.LogRecord("x", logging.WARNING, __file__, 1, msg, args or None, exc_info)


def test_arguments_are_summarised_and_secrets_never_kept():
    text = scrub(_record("login for %s from %s failed with %r", "li-lei", "192.168.1.7", PASSWORD))
    assert text == "login for ‹str› from 192.168.1.7 failed with ‹str›"
    text = scrub(_record("enrol %s: %d tries, %.1f s, ok=%s, %s", TOKEN, 3, 1.5, True, None))
    assert text == "enrol ‹str›: 3 tries, 1.5 s, ok=True, None"
    assert scrub(_record("%(who)s sent %(n)d", {"who": "王芳", "n": 2})) == "‹str› sent 2"
    assert scrub(_record("100%% done: %s", b"raw bytes")) == "100% done: ‹bytes›"
    # An exception keeps its class (and errno name), never its message.
    err = PermissionError(13, f"cannot write {PASSWORD}")
    assert scrub(_record("tunnel: %s", err)) == "tunnel: ‹PermissionError EACCES›"
    assert scrub(_record("failed", exc=ValueError(TOKEN))) == "failed [ValueError]"
    # Too few arguments, or none where the text has a %: never the raw values.
    assert scrub(_record("a %s and %s", "x")) == "a ‹str› and ‹?›"
    assert scrub(_record("50% off")) == "50% off"


def test_a_text_that_is_not_a_constant_is_cut_and_its_tokens_hidden():
    text = scrub(_record(f"Task failed: token={TOKEN}\nTraceback: {PASSWORD}"))
    assert TOKEN not in text and "hunter2" not in text and text == "Task failed: ‹…›"
    assert len(scrub(_record("x" * 1000))) == TEXT_MAX
    assert scrub(_record("appliance.core.notifications_and_more works")).startswith("appliance")
    assert scrub(_record(Exception("not a str message"))) == "‹Exception›"


def test_the_ring_keeps_the_newest_warnings_and_counts_repeats(ring):
    handler, logger = ring
    logger.info("not kept: %s", "info")
    for i in range(7):
        logger.warning("warning %d of %s", i, PASSWORD)
    logger.error("disk %s failing", "sda")
    logger.error("disk %s failing", "sdb")  # the same text once scrubbed: counted
    entries = handler.recent()
    assert [e.text for e in entries] == [
        "disk ‹str› failing",
        "warning 6 of ‹str›",
        "warning 5 of ‹str›",
        "warning 4 of ‹str›",
        "warning 3 of ‹str›",
    ]
    assert entries[0].count == 2 and entries[0].level == "ERROR"
    assert entries[0].logger == "appliance.test_logring"
    assert handler.totals == {"WARNING": 7, "ERROR": 2}
    assert all(PASSWORD not in e.text for e in entries)
