"""Every (state, command) pair: a command is read only in the states that allow it
(RFC 9051 6: BAD otherwise), and the session does not change state on a refusal."""

from __future__ import annotations

import pytest

from mailkeep.protocol.imap import responses as r
from mailkeep.protocol.imap.events import CommandInvalid, CommandReceived
from mailkeep.protocol.imap.parser import COMMAND_NAMES
from mailkeep.protocol.imap.states import ALLOWED, KNOWN_COMMANDS, State, next_state

from .drive import events, new_conn

EXAMPLES = {
    "CAPABILITY": b"CAPABILITY",
    "NOOP": b"NOOP",
    "LOGOUT": b"LOGOUT",
    "ID": b"ID NIL",
    "STARTTLS": b"STARTTLS",
    "AUTHENTICATE": b"AUTHENTICATE PLAIN",
    "LOGIN": b"LOGIN a b",
    "ENABLE": b"ENABLE CONDSTORE",
    "SELECT": b"SELECT INBOX",
    "EXAMINE": b"EXAMINE INBOX",
    "CREATE": b"CREATE x",
    "DELETE": b"DELETE x",
    "RENAME": b"RENAME x y",
    "SUBSCRIBE": b"SUBSCRIBE x",
    "UNSUBSCRIBE": b"UNSUBSCRIBE x",
    "LIST": b'LIST "" *',
    "LSUB": b'LSUB "" *',
    "NAMESPACE": b"NAMESPACE",
    "STATUS": b"STATUS x (MESSAGES)",
    "APPEND": b"APPEND x {1+}\r\nm",
    "IDLE": b"IDLE",
    "UNAUTHENTICATE": b"UNAUTHENTICATE",
    "COMPRESS": b"COMPRESS DEFLATE",
    "GETQUOTA": b'GETQUOTA ""',
    "GETQUOTAROOT": b"GETQUOTAROOT INBOX",
    "SETQUOTA": b'SETQUOTA "" (STORAGE 1)',
    "GETMETADATA": b'GETMETADATA "" /shared/comment',
    "SETMETADATA": b"SETMETADATA INBOX (/private/comment NIL)",
    "CHECK": b"CHECK",
    "CLOSE": b"CLOSE",
    "UNSELECT": b"UNSELECT",
    "EXPUNGE": b"EXPUNGE",
    "SEARCH": b"SEARCH ALL",
    "FETCH": b"FETCH 1 FLAGS",
    "STORE": b"STORE 1 +FLAGS \\Seen",
    "COPY": b"COPY 1 x",
    "MOVE": b"MOVE 1 x",
    "SORT": b"SORT (DATE) UTF-8 ALL",
    "THREAD": b"THREAD REFERENCES UTF-8 ALL",
}
EXAMPLES |= {
    f"UID {name}": b"UID " + EXAMPLES[name].replace(b"EXPUNGE", b"EXPUNGE 1")
    for name in ("EXPUNGE", "SEARCH", "FETCH", "STORE", "COPY", "MOVE", "SORT", "THREAD")
}


def test_tables_cover_the_parser() -> None:
    assert KNOWN_COMMANDS == COMMAND_NAMES - {"UID"} == set(EXAMPLES)


@pytest.mark.parametrize("state", [State.NOT_AUTHENTICATED, State.AUTHENTICATED, State.SELECTED])
@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_state_command_pair(state: State, name: str) -> None:
    conn = new_conn(max_literal_before_login=1)
    conn.state = state
    got = events(conn, b"t " + EXAMPLES[name] + b"\r\n")
    assert len(got) == 1
    if name in ALLOWED[state]:
        assert isinstance(got[0], CommandReceived), got
        assert got[0].command.name == name
    else:
        assert isinstance(got[0], CommandInvalid), got
        assert got[0].error.reply == r.BAD_WRONG_STATE.tagged("t")
        conn.send(got[0].error.reply)
        assert conn.state is state


def test_logout_state_reads_nothing() -> None:
    conn = new_conn()
    conn.close()
    assert conn.state is State.LOGOUT
    assert [type(e).__name__ for e in events(conn, b"a NOOP\r\n")] == ["ConnectionClosed"]


@pytest.mark.parametrize("state", list(State))
def test_bad_never_changes_state(state: State) -> None:
    for name in EXAMPLES:
        assert next_state(state, name, r.Status.BAD) is state
