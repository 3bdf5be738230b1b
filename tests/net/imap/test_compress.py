"""COMPRESS=DEFLATE (RFC 4978) against the running server. Python's imaplib has no
COMPRESS support, so the client here is imaplib with its socket I/O passed through zlib
(raw DEFLATE, as RFC 4978 says); mbsync and offlineimap3 use it in tests/interop/."""

from __future__ import annotations

import imaplib
import socket
import ssl
import zlib
from collections.abc import Callable, Iterator

import pytest

from tests.mailserver import PASSWORD, MailServer
from tests.net.imap.conftest import BOB, message, tls_context

Connect = Callable[..., imaplib.IMAP4_SSL]
imaplib.Commands.setdefault("COMPRESS", ("AUTH", "SELECTED"))  # imaplib knows no COMPRESS


class DeflateIMAP(imaplib.IMAP4_SSL):
    """imaplib, compressing what it sends and inflating what it reads once COMPRESS is on."""

    def __init__(self, server: MailServer) -> None:
        self._deflate: zlib._Compress | None = None
        self._inflate = zlib.decompressobj(-15)
        self._inbuf = b""
        super().__init__(
            "localhost", server.ports["imaps"], ssl_context=tls_context(server), timeout=20
        )

    def start_compression(self) -> None:
        typ, data = self._simple_command("COMPRESS", "DEFLATE")
        assert typ == "OK", data
        self._deflate = zlib.compressobj(6, zlib.DEFLATED, -15)

    def compressed(self, data: bytes) -> bytes:
        assert self._deflate is not None
        return self._deflate.compress(data) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    def send(self, data: bytes) -> None:
        self.sock.sendall(self.compressed(data) if self._deflate is not None else data)

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise imaplib.IMAP4.abort("connection closed")
        self._inbuf += self._inflate.decompress(chunk)

    def read(self, size: int) -> bytes:
        if self._deflate is None:
            return super().read(size)
        while len(self._inbuf) < size:
            self._fill()
        data, self._inbuf = self._inbuf[:size], self._inbuf[size:]
        return data

    def readline(self) -> bytes:
        if self._deflate is None:
            return super().readline()
        while b"\n" not in self._inbuf:
            self._fill()
        end = self._inbuf.index(b"\n") + 1
        line, self._inbuf = self._inbuf[:end], self._inbuf[end:]
        return line


@pytest.fixture
def deflated(server: MailServer) -> Iterator[DeflateIMAP]:
    client = DeflateIMAP(server)
    client.login(BOB, PASSWORD)
    yield client
    try:
        client.logout()
    except (imaplib.IMAP4.error, OSError):
        pass


def test_advertised_after_login(connect: Connect) -> None:
    client = connect(BOB)
    typ, data = client.capability()
    assert typ == "OK" and b"COMPRESS=DEFLATE" in bytes(data[0])  # type: ignore[arg-type]


def test_commands_and_big_literals_round_trip(deflated: DeflateIMAP) -> None:
    deflated.start_compression()
    if deflated.select("compress-box")[0] != "OK":
        deflated.create("compress-box")
        deflated.select("compress-box")
    big = message(1, body_lines=20000)  # ~500 KB: several compressed writes
    assert deflated.append("compress-box", None, None, big)[0] == "OK"
    typ, data = deflated.uid("SEARCH", "ALL")
    assert typ == "OK"
    uid = bytes(data[-1]).split()[-1]  # type: ignore[arg-type]
    typ, data = deflated.uid("FETCH", uid.decode(), "(BODY.PEEK[])")
    assert typ == "OK"
    assert data[0][1] == big  # type: ignore[index]
    assert deflated.noop()[0] == "OK"


def test_idle_updates_are_not_held_in_the_compressor(
    deflated: DeflateIMAP, connect: Connect
) -> None:
    deflated.start_compression()
    if deflated.select("idle-zbox")[0] != "OK":
        deflated.create("idle-zbox")
        deflated.select("idle-zbox")
    deflated.send(b"i1 IDLE\r\n")
    assert deflated.readline().startswith(b"+ ")  # the continuation arrives compressed
    other = connect(BOB)
    other.append("idle-zbox", None, None, message(7))
    # the EXISTS must be readable now: the socket timeout (20 s) fails the test otherwise
    assert deflated.readline().rstrip().endswith(b"EXISTS")
    deflated.send(b"DONE\r\n")
    while not (line := deflated.readline()).startswith(b"i1 "):
        assert line.startswith(b"* ")  # RECENT (IMAP4rev1) may follow EXISTS
    assert line.startswith(b"i1 OK")


def test_commands_pipelined_right_after_compress(server: MailServer) -> None:
    raw = socket.create_connection(("127.0.0.1", server.ports["imaps"]), timeout=20)
    with tls_context(server).wrap_socket(raw, server_hostname="localhost") as sock:
        reader = sock.makefile("rb")
        reader.readline()
        sock.sendall(b'a LOGIN %s "%s"\r\n' % (BOB.encode(), PASSWORD.encode()))
        while not reader.readline().startswith(b"a OK"):
            pass
        deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
        pipelined = deflate.compress(b"b NOOP\r\n") + deflate.flush(zlib.Z_SYNC_FLUSH)
        sock.sendall(b"c COMPRESS DEFLATE\r\n" + pipelined)  # one write: both at once
        assert reader.readline().startswith(b"c OK")  # uncompressed
        inflate = zlib.decompressobj(-15)
        got = b""
        while b"b OK" not in got:
            chunk = sock.recv(4096)
            assert chunk
            got += inflate.decompress(chunk)


def test_compress_twice_and_unknown_mechanisms_are_bad(
    deflated: DeflateIMAP, connect: Connect
) -> None:
    plain = connect(BOB)
    with pytest.raises(imaplib.IMAP4.error, match="only compression mechanism is DEFLATE"):
        plain._simple_command("COMPRESS", "LZW")
    assert plain.noop()[0] == "OK"  # still uncompressed
    deflated.start_compression()
    with pytest.raises(imaplib.IMAP4.error, match="already active"):
        deflated._simple_command("COMPRESS", "DEFLATE")
    assert deflated.noop()[0] == "OK"


def test_corrupt_stream_ends_that_session_only(server: MailServer, connect: Connect) -> None:
    bystander = connect(BOB)
    raw = socket.create_connection(("127.0.0.1", server.ports["imaps"]), timeout=20)
    with tls_context(server).wrap_socket(raw, server_hostname="localhost") as sock:
        reader = sock.makefile("rb")
        reader.readline()
        sock.sendall(
            b'a LOGIN %s "%s"\r\nc COMPRESS DEFLATE\r\n' % (BOB.encode(), PASSWORD.encode())
        )
        while not reader.readline().startswith(b"c OK"):
            pass
        sock.sendall(b"\xff\xfe\xfd not deflate at all\r\n" * 4)
        inflate = zlib.decompressobj(-15)
        got = b""
        while chunk := sock.recv(4096):
            got += inflate.decompress(chunk)
        assert got.startswith(b"* BYE") and b"corrupt" in got
    assert bystander.noop()[0] == "OK"
    assert bystander.select("INBOX")[0] == "OK"


def test_tls_context_is_verified(server: MailServer) -> None:
    # the helper above speaks over verified TLS: COMPRESS runs under TLS (RFC 4978 3)
    assert tls_context(server).verify_mode is ssl.CERT_REQUIRED


def test_unauthenticate_with_compression_says_bye(deflated: DeflateIMAP) -> None:
    """RFC 8437 3 allows a BYE when the session cannot be reset in place; with COMPRESS on,
    where the client's compressed stream ends is not knowable, so the server closes."""
    deflated.start_compression()
    deflated.send(b"u1 UNAUTHENTICATE\r\n")
    line = deflated.readline()
    assert line.startswith(b"* BYE "), line
    assert b"reconnect" in line
    assert deflated.sock.recv(1) == b""  # and the server closed the connection
    deflated.shutdown()
