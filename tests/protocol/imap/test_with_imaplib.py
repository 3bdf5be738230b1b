"""Real clients (Python's imaplib; imapclient, which uses LITERAL+ when offered) against
the core on loopback, with a tiny threaded driver standing in for the asyncio adapter:
literals in both directions, the "+" handshake, non-synchronizing literals, MULTIAPPEND,
a streamed body."""

from __future__ import annotations

import contextlib
import imaplib
import socket
import threading
from collections.abc import Iterator

import pytest
from imapclient import IMAPClient

from mailkeep.protocol.imap import commands as c
from mailkeep.protocol.imap import responses as r
from mailkeep.protocol.imap import untagged as u
from mailkeep.protocol.imap.connection import IMAPServerConnection
from mailkeep.protocol.imap.events import (
    NEED_DATA,
    CommandInvalid,
    CommandReceived,
    ConnectionClosed,
    Write,
)
from mailkeep.protocol.imap.fetch import FetchAttr, FetchBody
from mailkeep.protocol.imap.values import Atom, Raw, Stream, Value


class Driver:
    """Serves one connection with canned answers; keeps appended messages in a list."""

    def __init__(self, sock: socket.socket, caps: list[str]) -> None:
        self.sock = sock
        self.caps = caps
        self.conn = IMAPServerConnection()
        self.messages: list[bytes] = []
        self.commands: list[c.TaggedCommand] = []
        self.continuations = 0  # "+" requests for synchronizing literals

    def write(self, response: r.Response) -> None:
        for chunk in self.conn.send_chunks(response):
            if isinstance(chunk, Stream):
                index = chunk.source
                assert isinstance(index, int)
                self.sock.sendall(self.messages[index])  # as if streamed from a file
            else:
                self.sock.sendall(chunk)

    def run(self) -> None:
        self.sock.sendall(b"* OK mailkeep test\r\n")
        while True:
            event = self.conn.next_event()
            if event is NEED_DATA:
                data = self.sock.recv(65536)
                self.conn.receive_data(data)
                continue
            if isinstance(event, Write):
                self.continuations += 1
                self.sock.sendall(event.data)
            elif isinstance(event, CommandInvalid):
                self.write(event.error.reply)
            elif isinstance(event, ConnectionClosed):
                self.sock.close()
                return
            else:
                assert isinstance(event, CommandReceived)
                self.commands.append(event.command)
                for response in self.answer(event.command):
                    self.write(response)

    def answer(self, tagged: c.TaggedCommand) -> Iterator[r.Response]:
        command, tag = tagged.command, tagged.tag
        if isinstance(command, c.Capability):
            yield u.capability(self.caps)
        elif isinstance(command, c.Select):
            yield u.exists(len(self.messages))
        elif isinstance(command, c.Append):
            self.messages += [m.data for m in command.messages]
        elif isinstance(command, c.Search):
            yield u.search(range(1, len(self.messages) + 1))
        elif isinstance(command, c.Fetch):
            for number in command.sequence.numbers(len(self.messages)):
                items: list[Value] = []
                for item in command.items:
                    if item is FetchAttr.UID:
                        items += [Atom("UID"), number]
                    elif item is FetchAttr.RFC822_SIZE:
                        items += [Atom("RFC822.SIZE"), len(self.messages[number - 1])]
                    elif isinstance(item, FetchBody):
                        size = len(self.messages[number - 1])
                        items += [Raw(item.response_name()), Stream(size, number - 1)]
                yield u.fetch(number, items)
        elif isinstance(command, c.Logout):
            yield r.BYE_LOGOUT
        yield r.ok(f"{tagged.name} completed").tagged(tag)


@contextlib.contextmanager
def serving(caps: list[str]) -> Iterator[tuple[int, list[Driver]]]:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    drivers: list[Driver] = []
    errors: list[BaseException] = []

    def serve() -> None:
        sock, _ = listener.accept()
        sock.settimeout(10)
        driver = Driver(sock, caps)
        drivers.append(driver)
        try:
            driver.run()
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield port, drivers
    finally:
        thread.join(10)
        listener.close()
        assert not errors, errors


def test_imaplib_session() -> None:
    with serving(["IMAP4rev1"]) as (port, drivers):
        client = imaplib.IMAP4("127.0.0.1", port, timeout=10)
        _imaplib_session(client, drivers[0])


def _imaplib_session(client: imaplib.IMAP4, driver: Driver) -> None:
    client.login("joe", 'p"w d\\')  # imaplib quotes this password
    assert driver.commands[-1].command == c.Login("joe", 'p"w d\\')
    message = b"Subject: hi\r\n\r\nline one\r\nline two\r\n"
    assert client.append("INBOX", "(\\Seen)", None, message)[0] == "OK"
    assert driver.messages == [message]
    client.select("INBOX")
    assert client.search(None, "ALL") == ("OK", [b"1"])
    typ, data = client.fetch("1", "(UID RFC822.SIZE BODY.PEEK[])")
    assert typ == "OK"
    assert data[0][1] == message  # type: ignore[index]
    assert b"RFC822.SIZE %d" % len(message) in data[0][0]  # type: ignore[index]
    typ, data = client.uid("FETCH", "1", "(BODY.PEEK[])")
    assert typ == "OK"
    assert client.logout()[0] == "BYE"


@pytest.mark.parametrize("literal_plus", [False, True])
def test_imapclient_session(literal_plus: bool) -> None:
    caps = ["IMAP4rev1", "MULTIAPPEND"] + (["LITERAL+"] if literal_plus else [])
    with serving(caps) as (port, drivers):
        client = IMAPClient("127.0.0.1", port, ssl=False, timeout=10)
        client.login("joe", "pw")
        driver = drivers[0]
        first, second = b"Subject: one\r\n\r\nx\r\n", b"Subject: two\r\n\r\ny\r\n"
        client.multiappend("INBOX", [first, {"msg": second, "flags": ["\\Seen"]}])
        append = driver.commands[-1].command
        assert isinstance(append, c.Append)
        assert [m.data for m in append.messages] == [first, second]
        assert append.messages[1].flags == ("\\Seen",)
        client.select_folder("INBOX")
        assert client.search(["TEXT", "café"], charset="UTF-8") == [1, 2]
        search = driver.commands[-1].command
        assert isinstance(search, c.Search) and search.charset == "UTF-8"
        fetched = client.fetch([1, 2], ["BODY.PEEK[]"])
        assert [fetched[n][b"BODY[]"] for n in (1, 2)] == [first, second]
        client.logout()
    # with LITERAL+ the client sends literals without waiting for "+"
    assert (driver.continuations == 0) == literal_plus, driver.continuations
