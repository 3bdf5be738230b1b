"""COPY, MOVE and their UID forms, with COPYUID (UIDPLUS) and TRYCREATE."""

from __future__ import annotations

import imaplib
from collections.abc import Callable

from tests.net.imap.conftest import BOB, message

Connect = Callable[..., imaplib.IMAP4_SSL]


def test_copy_and_move(connect: Connect) -> None:
    client = connect(BOB)
    client.create("cm-src")
    client.create("cm-dst")
    for i in range(4):
        client.append("cm-src", "(\\Flagged)" if i == 0 else None, None, message(i))
    client.select("cm-src")
    typ, data = client.copy("1:2", "cm-dst")
    assert typ == "OK"
    uidvalidity = client.status("cm-dst", "(UIDVALIDITY)")[1][0]
    assert data[0].startswith(b"[COPYUID ")  # type: ignore[union-attr]
    assert bytes(data[0]).split()[2:4] == [b"1:2", b"1:2]"]  # type: ignore[arg-type]
    assert bytes(data[0]).split()[1] in bytes(uidvalidity)  # type: ignore[arg-type]
    typ, data = client.uid("MOVE", "3:4", "cm-dst")
    assert typ == "OK"
    assert client.untagged_responses.pop("EXPUNGE", None) == [b"4", b"3"]
    _, data = client.search(None, "ALL")
    assert data == [b"1 2"]
    client.select("cm-dst", readonly=True)
    _, data = client.fetch("1:4", "(UID FLAGS)")
    assert len(data) == 4 and b"\\Flagged" in bytes(data[0])  # type: ignore[arg-type]
    _, data = client.fetch("3", "(BODY.PEEK[])")
    assert data[0][1] == message(2)  # type: ignore[index]


def test_copy_to_missing_mailbox_says_trycreate(connect: Connect) -> None:
    client = connect(BOB)
    client.select("INBOX")
    client.append("INBOX", None, None, message(9))
    client.noop()
    typ, data = client.copy("1", "no-such-box")
    assert typ == "NO" and data[0].startswith(b"[TRYCREATE]")  # type: ignore[union-attr]
