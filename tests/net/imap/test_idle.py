"""IDLE and the untagged updates between sessions of one user (RFC 9051 7.4.1): immediate
during IDLE, otherwise at the next command that allows them, with each session's message
numbers kept consistent. Uses imapclient (PyPI) for IDLE."""

from __future__ import annotations

import imaplib
import time
from collections.abc import Callable, Iterator

import pytest
from imapclient import IMAPClient

from tests.mailserver import PASSWORD, MailServer
from tests.net.imap.conftest import BOB, message, tls_context

Connect = Callable[..., imaplib.IMAP4_SSL]


@pytest.fixture
def idler(server: MailServer) -> Iterator[IMAPClient]:
    client = IMAPClient(
        "localhost", port=server.ports["imaps"], ssl_context=tls_context(server), timeout=20
    )
    client.login(BOB, PASSWORD)
    yield client
    client.logout()


def wait_for(client: IMAPClient, want: Callable[[list[object]], bool]) -> list[object]:
    seen: list[object] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        seen += client.idle_check(timeout=1)
        if want(seen):
            return seen
    raise AssertionError(f"no matching update: {seen}")


def test_idle_hears_append_store_and_expunge(idler: IMAPClient, connect: Connect) -> None:
    other = connect(BOB)
    other.create("idle-box")
    other.append("idle-box", None, None, message(1))
    idler.select_folder("idle-box")
    idler.idle()
    started = time.monotonic()
    other.append("idle-box", None, None, message(2))
    seen = wait_for(idler, lambda s: (2, b"EXISTS") in s)
    assert time.monotonic() - started < 2  # immediate, not at a poll interval
    other.select("idle-box")
    other.store("1", "+FLAGS", "\\Flagged")
    seen = wait_for(idler, lambda s: any(isinstance(x, tuple) and x[1] == b"FETCH" for x in s))
    fetch = next(x for x in seen if isinstance(x, tuple) and x[1] == b"FETCH")
    assert fetch[0] == 1 and b"\\Flagged" in fetch[2][fetch[2].index(b"FLAGS") + 1]  # type: ignore[index]
    other.store("1", "+FLAGS.SILENT", "\\Deleted")
    other.expunge()
    wait_for(idler, lambda s: (1, b"EXPUNGE") in s)
    idler.idle_done()
    assert idler.search("ALL") == [2]  # its UID; the map shifted with the EXPUNGE


def test_no_expunge_during_fetch_but_at_noop(connect: Connect) -> None:
    watcher = connect(BOB)
    actor = connect(BOB)
    actor.create("upd-box")
    for i in range(3):
        actor.append("upd-box", None, None, message(i))
    watcher.select("upd-box")
    actor.select("upd-box")
    actor.store("1", "+FLAGS.SILENT", "\\Deleted")
    actor.expunge()
    actor.append("upd-box", None, None, message(7))
    # numbers still mean what they meant; the expunged message is left out (RFC 2180 4.1.3)
    _, data = watcher.fetch("1:3", "(UID)")
    assert [bytes(d) for d in data] == [b"2 (UID 2)", b"3 (UID 3)"]  # type: ignore[arg-type]
    assert "EXPUNGE" not in watcher.untagged_responses
    watcher.noop()
    assert watcher.untagged_responses.pop("EXPUNGE", None) == [b"1"]
    assert watcher.untagged_responses.pop("EXISTS", [b""])[-1] == b"4"  # before the EXPUNGE
    _, data = watcher.fetch("1:3", "(UID)")
    assert [bytes(d) for d in data] == [b"1 (UID 2)", b"2 (UID 3)", b"3 (UID 4)"]  # type: ignore[arg-type]


def test_users_are_isolated(connect: Connect) -> None:
    alice = connect()
    bob = connect(BOB)
    bob.create("bob-private")
    assert alice.select("bob-private")[0] == "NO"
    assert alice.status("bob-private", "(MESSAGES)")[0] == "NO"
    alice.select("INBOX")
    assert alice.copy("1", "bob-private")[1][0].startswith(b"[TRYCREATE]")  # type: ignore[union-attr]
    assert alice.create("../bob-private")[0] == "NO"
