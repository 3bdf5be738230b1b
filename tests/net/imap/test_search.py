"""SEARCH and UID SEARCH: keys, OR/NOT, sequence sets, ESEARCH return options, SEARCHRES."""

from __future__ import annotations

import imaplib
from collections.abc import Callable

import pytest

from tests.net.imap.conftest import BOB, message

Connect = Callable[..., imaplib.IMAP4_SSL]


@pytest.fixture
def client(connect: Connect) -> imaplib.IMAP4_SSL:
    c = connect(BOB)
    if c.select("search-box")[0] != "OK":
        c.create("search-box")
        for i in range(1, 7):
            flags = "(\\Flagged)" if i % 2 == 0 else None
            raw = message(i, subject="Apples" if i <= 3 else "Pears")
            raw += b"unique-word-%d\r\n" % i
            c.append("search-box", flags, None, raw)
        c.select("search-box")
    return c


def search(client: imaplib.IMAP4_SSL, *criteria: str, uid: bool = False) -> list[int]:
    typ, data = client.uid("SEARCH", *criteria) if uid else client.search(None, *criteria)
    assert typ == "OK"
    return [int(n) for n in bytes(data[0]).split()]  # type: ignore[arg-type]


def test_keys(client: imaplib.IMAP4_SSL) -> None:
    assert search(client, "ALL") == [1, 2, 3, 4, 5, 6]
    assert search(client, "SUBJECT", "apples") == [1, 2, 3]
    assert search(client, "FLAGGED") == [2, 4, 6]
    assert search(client, "UNFLAGGED", "SUBJECT", "pears") == [5]
    assert search(client, "OR", "BODY", "unique-word-1", "BODY", "unique-word-6") == [1, 6]
    assert search(client, "NOT", "SUBJECT", "apples") == [4, 5, 6]
    assert search(client, "2:4") == [2, 3, 4]
    assert search(client, "UID", "5:*") == [5, 6]
    assert search(client, "LARGER", "10", "SMALLER", "100000", "5") == [5]
    assert search(client, "TEXT", "carol@example.org", "HEADER", "Message-ID", "<3@") == [3]
    assert search(client, "SENTON", "24-Nov-2026", "1:2") == [1, 2]
    assert search(client, "SINCE", "1-Jan-2000", "BEFORE", "1-Jan-2001") == []


def test_charset_utf8(client: imaplib.IMAP4_SSL) -> None:
    assert search(client, "CHARSET", "UTF-8", "SUBJECT", "pears") == [4, 5, 6]
    typ, data = client.search("KOI8-R", "ALL")
    assert typ == "NO" and b"BADCHARSET" in bytes(data[0])  # type: ignore[arg-type]


def test_esearch_and_searchres(client: imaplib.IMAP4_SSL) -> None:
    typ, data = client.uid("SEARCH", "RETURN", "(MIN MAX COUNT ALL)", "FLAGGED")
    assert typ == "OK"
    esearch = client.untagged_responses.pop("ESEARCH", [data[0]])
    text = bytes(esearch[-1])  # type: ignore[arg-type]
    assert b"UID MIN 2 MAX 6 COUNT 3 ALL 2,4,6" in text
    typ, data = client.search(None, "RETURN", "(SAVE)", "SUBJECT", "pears")
    assert typ == "OK" and "ESEARCH" not in client.untagged_responses
    typ, data = client.fetch("$", "(UID)")
    assert [bytes(d).split()[0] for d in data] == [b"4", b"5", b"6"]  # type: ignore[arg-type]
    assert search(client, "$", "FLAGGED") == [4, 6]
