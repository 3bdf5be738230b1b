"""Helpers for driving the IMAP core in tests."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from mailkeep.protocol.imap.connection import IMAPLimits, IMAPServerConnection
from mailkeep.protocol.imap.events import NEED_DATA, Event

_LITERAL_AT_END = re.compile(rb"~?\{(\d+)\}\Z")


def events(conn: IMAPServerConnection, data: bytes = b"") -> list[Event]:
    """Feed ``data`` (when given) and collect events until NEED_DATA."""
    if data:
        conn.receive_data(data)
    out: list[Event] = []
    while True:
        event = conn.next_event()
        if event is NEED_DATA:
            return out
        assert not isinstance(event, type(NEED_DATA))
        out.append(event)


def new_conn(authenticated: bool = False, **limits: int) -> IMAPServerConnection:
    return IMAPServerConnection(IMAPLimits(**limits), authenticated=authenticated)


def imaplib_lines(wire: bytes) -> list[bytes | tuple[bytes, bytes]]:
    """Split one response the way imaplib reads it (what imapclient's parser takes): a
    line ending in a literal header becomes (line, literal), the rest stays bytes."""
    assert wire.endswith(b"\r\n")
    out: list[bytes | tuple[bytes, bytes]] = []
    pos = 0
    while pos < len(wire):
        end = wire.index(b"\r\n", pos)
        line = wire[pos:end]
        pos = end + 2
        m = _LITERAL_AT_END.search(line)
        if m:
            size = int(m.group(1))
            out.append((line, wire[pos : pos + size]))
            pos += size
        else:
            out.append(line)
    return out


_MARKER = re.compile(rb"~?\{(\d+)\+?\}\Z")


def split_command(wire: bytes) -> tuple[list[bytes], list[bytes]]:
    """A whole command (CRLF-terminated, literals inline) as the framing hands it over."""
    lines: list[bytes] = []
    literals: list[bytes] = []
    pos = 0
    while True:
        end = wire.index(b"\r\n", pos)
        line = wire[pos:end]
        lines.append(line)
        pos = end + 2
        m = _MARKER.search(line)
        if not m:
            assert pos == len(wire), "one command at a time"
            return lines, literals
        size = int(m.group(1))
        literals.append(wire[pos : pos + size])
        pos += size


CORPUS = Path(__file__).resolve().parents[3] / ".." / "shared" / "corpus"


def corpus_file(*parts: str) -> Path:
    """A file of the shared third-party corpus; skips (fails in CI) when it is absent."""
    path = CORPUS.joinpath(*parts)
    if not path.is_file():
        message = f"corpus file {path} is absent"
        if os.environ.get("MAILKEEP_REQUIRE_TOOLS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path
