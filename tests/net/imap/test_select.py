"""SELECT/EXAMINE responses, CLOSE, UNSELECT, EXPUNGE and UID EXPUNGE."""

from __future__ import annotations

import imaplib
from collections.abc import Callable

import pytest

from tests.net.imap.conftest import BOB, message

Connect = Callable[..., imaplib.IMAP4_SSL]


def fill(client: imaplib.IMAP4_SSL, name: str, count: int) -> None:
    assert client.create(name)[0] == "OK"
    for i in range(count):
        assert client.append(name, None, None, message(i))[0] == "OK"


def test_select_reports_the_mailbox(connect: Connect) -> None:
    client = connect(BOB)
    fill(client, "sel-a", 3)
    typ, data = client.select("sel-a")
    assert typ == "OK" and data == [b"3"]
    r = client.untagged_responses
    assert r["RECENT"] == [b"3"]
    assert b"\\Seen" in r["FLAGS"][0]
    assert int(r["UIDNEXT"][0]) == 4
    assert int(r["UIDVALIDITY"][0]) > 0
    assert b"\\*" in r["PERMANENTFLAGS"][0]
    assert r["READ-WRITE"] == [b""] or "READ-WRITE" in r
    # a second SELECT: \Recent was claimed by the first
    client.select("sel-a")
    assert client.untagged_responses["RECENT"] == [b"0"]


def test_examine_is_read_only(connect: Connect) -> None:
    client = connect(BOB)
    fill(client, "sel-ro", 1)
    typ, _ = client.select("sel-ro", readonly=True)
    assert typ == "OK"
    assert client.untagged_responses["PERMANENTFLAGS"] == [b"()"]
    typ, data = client.store("1", "+FLAGS", "\\Deleted")
    assert typ == "NO" and b"READ-ONLY" in data[0]  # type: ignore[operator]


def test_select_missing_mailbox_deselects(connect: Connect) -> None:
    client = connect(BOB)
    client.select("INBOX")
    typ, data = client.select("does-not-exist")
    assert typ == "NO" and data[0].startswith(b"[NONEXISTENT]")  # type: ignore[union-attr]
    client.state = "SELECTED"  # let imaplib send it: the server must refuse
    with pytest.raises(imaplib.IMAP4.error, match="not allowed now"):
        client.fetch("1", "FLAGS")


def test_expunge_reports_numbers_highest_first(connect: Connect) -> None:
    client = connect(BOB)
    fill(client, "sel-ex", 5)
    client.select("sel-ex")
    client.store("2,4", "+FLAGS.SILENT", "\\Deleted")
    typ, data = client.expunge()
    assert typ == "OK" and data == [b"4", b"2"]
    typ, data = client.search(None, "ALL")
    assert data == [b"1 2 3"]


def test_uid_expunge_only_within_the_set(connect: Connect) -> None:
    client = connect(BOB)
    fill(client, "sel-uidex", 4)
    client.select("sel-uidex")
    client.store("1:4", "+FLAGS.SILENT", "\\Deleted")
    typ, _ = client.uid("EXPUNGE", "3:4")
    assert typ == "OK"
    assert client.untagged_responses.pop("EXPUNGE", None) == [b"4", b"3"]
    _, data = client.uid("SEARCH", "ALL")
    assert data == [b"1 2"]


def test_close_expunges_silently_and_unselect_does_not(connect: Connect) -> None:
    client = connect(BOB)
    fill(client, "sel-close", 3)
    client.select("sel-close")
    client.store("1", "+FLAGS.SILENT", "\\Deleted")
    assert client.unselect()[0] == "OK"
    assert client.status("sel-close", "(MESSAGES)")[1] == [b'"sel-close" (MESSAGES 3)']
    client.select("sel-close")
    assert client.close()[0] == "OK"
    assert "EXPUNGE" not in client.untagged_responses
    assert client.status("sel-close", "(MESSAGES)")[1] == [b'"sel-close" (MESSAGES 2)']
