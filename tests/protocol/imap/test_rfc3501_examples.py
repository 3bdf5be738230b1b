"""Every client line of RFC 3501's examples goes through the core (framing and parser):
each is a well-formed command except the RFC's own deliberately bad ones."""

from __future__ import annotations

import re

import pytest

from mailkeep.protocol.imap import commands as c
from mailkeep.protocol.imap import responses as r
from mailkeep.protocol.imap.events import (
    CommandInvalid,
    CommandReceived,
    ConnectionClosed,
    Write,
)
from mailkeep.protocol.imap.states import State

from .drive import corpus_file, events, new_conn

# The RFC's examples of commands a server must refuse (RFC 3501 6.4.9 note, 7.5).
KNOWN_BAD = {"A442", "A044"}


def _blocks() -> list[tuple[str, list[str]]]:
    text = corpus_file("rfc", "rfc3501-examples.txt").read_text(encoding="utf-8")
    blocks = []
    for chunk in re.split(r"^### ", text, flags=re.M)[1:]:
        title, _, body = chunk.partition("\n")
        lines = [line[2:].lstrip(" ") for line in body.splitlines() if line.startswith("C:")]
        # RFC prose standing in for input, not input
        lines = [line for line in lines if not line.startswith("...")]
        if lines:
            blocks.append((title, lines))
    return blocks


def _ids() -> list[str]:
    try:
        return [title.split("]")[0].strip("[") for title, _ in _blocks()]
    except BaseException:
        return []


@pytest.mark.parametrize("index", range(len(_ids()) or 1))
def test_client_lines_parse(index: int) -> None:
    blocks = _blocks()
    title, lines = blocks[index]
    if "AUTHENTICATE" in title:
        lines = lines[:1]  # the rest are GSSAPI tokens, wrapped over several lines
    conn = new_conn()
    first = lines[0].split(" ")[1].upper() if " " in lines[0] else ""
    if first not in ("CAPABILITY", "STARTTLS", "LOGIN", "AUTHENTICATE", "NOOP", "LOGOUT"):
        conn.state = State.SELECTED
    stream = ("\r\n".join(lines) + "\r\n").encode("utf-8")
    got = events(conn, stream)
    parsed: list[str] = []
    refused: list[str] = []
    while got:
        event = got.pop(0)
        if isinstance(event, Write):
            assert event.data.startswith(b"+ ")
            continue
        if isinstance(event, ConnectionClosed):
            assert conn.state is State.LOGOUT and not got
            break
        if isinstance(event, CommandInvalid):
            refused.append(event.error.tag or "")
            conn.send(event.error.reply)
        else:
            assert isinstance(event, CommandReceived), event
            parsed.append(event.command.tag)
            if isinstance(event.command.command, c.StartTLS):
                conn.send(r.OK_STARTTLS.tagged(event.command.tag))
                conn.tls_started()
                # the examples continue "under the TLS layer"; feed what follows again
                rest = stream.split(b"STARTTLS\r\n", 1)[1]
                got += events(conn, rest)
                continue
            conn.send(r.OK_DONE.tagged(event.command.tag))
        got += events(conn)
    assert set(refused) <= KNOWN_BAD, (title, refused)
    assert parsed or refused
    if "7.5." in title:  # continuation requests: the bad command got no "+"
        assert refused == ["A044"] and parsed == ["A001"]


def test_all_examples_seen() -> None:
    assert len(_blocks()) == 33  # the blocks with client lines
