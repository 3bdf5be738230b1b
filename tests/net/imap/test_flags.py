"""STORE and UID STORE: FLAGS, +FLAGS, -FLAGS, .SILENT, keywords."""

from __future__ import annotations

import imaplib
from collections.abc import Callable

import pytest

from tests.net.imap.conftest import BOB, message

Connect = Callable[..., imaplib.IMAP4_SSL]


def test_store_forms(connect: Connect) -> None:
    client = connect(BOB)
    client.create("flags-box")
    for i in range(3):
        client.append("flags-box", None, None, message(i))
    client.select("flags-box")
    typ, data = client.store("1:2", "+FLAGS", "(\\Seen $Important)")
    assert typ == "OK"
    assert data == [
        b"1 (FLAGS (\\Seen \\Recent $Important) UID 1)",
        b"2 (FLAGS (\\Seen \\Recent $Important) UID 2)",
    ]
    typ, data = client.store("2", "-FLAGS", "($Important)")
    assert data == [b"2 (FLAGS (\\Seen \\Recent) UID 2)"]
    typ, data = client.uid("STORE", "3", "FLAGS", "(\\Answered \\Draft)")
    assert data == [b"3 (FLAGS (\\Answered \\Draft \\Recent) UID 3)"]
    typ, data = client.store("1:3", "+FLAGS.SILENT", "\\Flagged")
    assert typ == "OK" and data == [None]
    _, data = client.fetch("1:3", "(FLAGS)")
    assert all(b"\\Flagged" in bytes(d) for d in data)  # type: ignore[arg-type]
    typ, data = client.search(None, "KEYWORD", "$Important")
    assert data == [b"1"]


def test_bad_keyword_is_refused(connect: Connect) -> None:
    client = connect(BOB)
    client.select("INBOX")
    client.append("INBOX", None, None, message(1))
    client.noop()
    with pytest.raises(imaplib.IMAP4.error, match="invalid keyword"):
        client.store("1", "+FLAGS", "(\\NotAFlag)")
    assert client.noop()[0] == "OK"
