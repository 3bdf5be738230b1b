"""LIST (LIST-EXTENDED, LIST-STATUS, SPECIAL-USE), LSUB, STATUS, CREATE (USE), DELETE,
RENAME, SUBSCRIBE/UNSUBSCRIBE, NAMESPACE."""

from __future__ import annotations

import imaplib
from collections.abc import Callable

import pytest

from mailkeep.net.imap.mailboxes import pattern_regex
from tests.net.imap.conftest import BOB

Connect = Callable[..., imaplib.IMAP4_SSL]


def names(data: list[object]) -> list[bytes]:
    return [bytes(line).rsplit(b' "/" ', 1)[1] for line in data if line]  # type: ignore[arg-type]


def test_list_default_mailboxes_with_special_use(connect: Connect) -> None:
    client = connect(BOB)
    typ, data = client.list()
    assert typ == "OK"
    lines = [bytes(d) for d in data]  # type: ignore[arg-type]
    assert b'(\\HasNoChildren \\Sent) "/" "Sent"' in lines
    assert b'(\\HasNoChildren) "/" "INBOX"' in lines
    typ, data = client.list('""', '""')
    assert data == [b'(\\Noselect) "/" ""']


def test_create_rename_delete_and_children(connect: Connect) -> None:
    client = connect(BOB)
    assert client.create("Projects/2026/Q4")[0] == "OK"
    _, data = client.list('""', "Projects/%")
    assert [bytes(d) for d in data] == [b'(\\HasChildren) "/" "Projects/2026"']  # type: ignore[arg-type]
    _, data = client.list("Projects/", "*")
    assert names(data) == [b'"Projects/2026"', b'"Projects/2026/Q4"']
    assert client.create("Projects")[1][0].startswith(b"[ALREADYEXISTS]")
    assert client.rename("Projects/2026", "Projects/Old")[0] == "OK"
    _typ, data = client.list('""', "Projects/*")
    assert names(data) == [b'"Projects/Old"', b'"Projects/Old/Q4"']
    assert client.delete("Projects/Old/Q4")[0] == "OK"
    assert client.delete("Nope")[1][0].startswith(b"[NONEXISTENT]")
    assert client.delete("INBOX")[0] == "NO"


def test_list_extended_and_status(connect: Connect) -> None:
    client = connect(BOB)
    typ, _data = client._simple_command(  # type: ignore[attr-defined]
        "LIST", "(SPECIAL-USE)", '""', "*", "RETURN", "(STATUS (MESSAGES UIDNEXT SIZE))"
    )
    assert typ == "OK"
    lists = client.untagged_responses.pop("LIST", [])
    statuses = client.untagged_responses.pop("STATUS", [])
    assert len(lists) == 5 and all(b"\\HasNoChildren \\" in bytes(x) for x in lists)
    assert len(statuses) == 5
    assert all(b"MESSAGES 0 UIDNEXT 1 SIZE 0" in bytes(x) for x in statuses)


def test_create_special_use(connect: Connect) -> None:
    client = connect(BOB)
    typ, data = client._simple_command("CREATE", "Important", "(USE (\\Flagged))")  # type: ignore[attr-defined]
    assert typ == "NO"  # the store keeps the five RFC 6154 uses it offers by default
    typ, _ = client._simple_command("CREATE", "MyArchive", "(USE (\\Archive))")  # type: ignore[attr-defined]
    typ, data = client.list('""', "MyArchive")
    if typ == "OK" and data[0] is not None:
        assert b"\\Archive" in bytes(data[0])  # type: ignore[arg-type]


def test_subscribe_lsub_and_list_subscribed(connect: Connect) -> None:
    client = connect(BOB)
    client.create("Sub1")
    assert client.subscribe("Sub1")[0] == "OK"
    assert client.subscribe("Ghost")[0] == "OK"  # a name that does not exist may be subscribed
    _, data = client.lsub('""', "*")
    lsub = [bytes(d) for d in data]  # type: ignore[arg-type]
    assert b'() "/" "Sub1"' in lsub and b'(\\Noselect) "/" "Ghost"' in lsub
    _, _ = client._simple_command("LIST", "(SUBSCRIBED)", '""', "*")  # type: ignore[attr-defined]
    listed = [bytes(x) for x in client.untagged_responses.pop("LIST", [])]
    assert b'(\\NonExistent \\Subscribed) "/" "Ghost"' in listed
    assert b'(\\HasNoChildren \\Subscribed) "/" "Sub1"' in listed
    assert client.unsubscribe("Ghost")[0] == "OK"
    _typ, data = client.lsub('""', "Ghost")
    assert data == [None]


def test_status_and_namespace(connect: Connect) -> None:
    client = connect()
    typ, data = client.status("INBOX", "(MESSAGES UIDVALIDITY UNSEEN DELETED SIZE RECENT)")
    assert typ == "OK" and b"MESSAGES" in bytes(data[0])  # type: ignore[arg-type]
    assert client.status("Missing", "(MESSAGES)")[0] == "NO"
    typ, data = client.namespace()
    assert data == [b'(("" "/")) NIL NIL']


def test_utf7_names_round_trip(connect: Connect) -> None:
    client = connect(BOB)
    assert client.create("&AMk-t&AOk-")[0] == "OK"  # "Été"
    _, data = client.list('""', "&AMk-t&AOk-")
    assert data == [b'(\\HasNoChildren) "/" "&AMk-t&AOk-"']
    with pytest.raises(imaplib.IMAP4.error, match="modified UTF-7"):
        client.create('"bad&name"')


def test_pattern_wildcards() -> None:
    assert pattern_regex("", "%").fullmatch("Sent")
    assert not pattern_regex("", "%").fullmatch("a/b")
    assert pattern_regex("", "*").fullmatch("a/b")
    assert pattern_regex("a/", "%").fullmatch("a/b")
    assert pattern_regex("", "inbox").fullmatch("INBOX")
    assert not pattern_regex("", "sent").fullmatch("Sent")  # only INBOX ignores case
    assert not pattern_regex("", "a.c").fullmatch("abc")  # no regex leaks through
