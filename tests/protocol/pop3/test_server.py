"""The POP3 core, driven in memory: transcripts from RFC 1939/2449/2595/5034 behaviour."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailkeep.protocol.pop3 import responses as r
from mailkeep.protocol.pop3.events import (
    NEED_DATA,
    ConnectionClosed,
    LoginRequested,
    RetrieveRequested,
    ScramFinished,
    ScramLookupRequested,
    StartTLSRequested,
    UpdateRequested,
    Write,
)
from mailkeep.protocol.pop3.multiline import DotStuffer, stuff_lines
from mailkeep.protocol.pop3.server import MaildropEntry, POP3ServerConnection, POP3Settings
from mailkeep.protocol.pop3.states import State
from mailkeep.protocol.sasl.scram import ScramSHA256Server, derive_credentials

DROP = [MaildropEntry(10, 120, "7.10"), MaildropEntry(11, 200, "7.11")]


def make(tls: bool = True, available: bool = True, **kw: int) -> POP3ServerConnection:
    return POP3ServerConnection(
        POP3Settings("mail.example.test", tls_active=tls, tls_available=available, **kw)
    )


def drain(conn: POP3ServerConnection) -> list[object]:
    events = []
    while (event := conn.next_event()) is not NEED_DATA:
        events.append(event)
        if isinstance(event, ConnectionClosed):
            break
    return events


def talk(conn: POP3ServerConnection, data: bytes) -> bytes:
    """Feed data; return what the core wrote, asserting it asked nothing else."""
    conn.receive_data(data)
    events = drain(conn)
    assert all(isinstance(e, Write | ConnectionClosed) for e in events), events
    return b"".join(e.data for e in events if isinstance(e, Write))


def logged_in(maildrop: list[MaildropEntry] = DROP) -> POP3ServerConnection:
    conn = make()
    conn.receive_data(b"USER alice@example.test\r\nPASS s3cret pass\r\n")
    events = drain(conn)
    assert events[0] == Write(r.USER_ACCEPTED.encode())
    assert isinstance(events[1], LoginRequested)
    assert (events[1].username, events[1].password) == ("alice@example.test", "s3cret pass")
    assert "s3cret" not in repr(events[1])
    conn.login_accepted(maildrop)
    assert drain(conn) == [Write(b"+OK maildrop has 2 messages (320 octets)\r\n")]
    return conn


def test_greeting() -> None:
    assert make().greeting().startswith(b"+OK mail.example.test")


def test_stat_list_uidl() -> None:
    conn = logged_in()
    assert talk(conn, b"STAT\r\n") == b"+OK 2 320\r\n"
    assert talk(conn, b"LIST\r\n") == b"+OK scan listing follows\r\n1 120\r\n2 200\r\n.\r\n"
    assert talk(conn, b"LIST 2\r\n") == b"+OK 2 200\r\n"
    assert talk(conn, b"UIDL\r\n") == b"+OK unique-id listing follows\r\n1 7.10\r\n2 7.11\r\n.\r\n"
    assert talk(conn, b"uidl 1\r\n") == b"+OK 1 7.10\r\n"
    assert talk(conn, b"LIST 3\r\n").startswith(b"-ERR no such message")
    assert talk(conn, b"LIST x\r\n").startswith(b"-ERR syntax")
    assert talk(conn, b"LIST 0\r\n").startswith(b"-ERR no such message")


def test_dele_rset_and_update() -> None:
    conn = logged_in()
    assert talk(conn, b"DELE 1\r\n").startswith(b"+OK")
    assert talk(conn, b"DELE 1\r\n").startswith(b"-ERR message is deleted")
    assert talk(conn, b"STAT\r\n") == b"+OK 1 200\r\n"
    assert talk(conn, b"LIST\r\n") == b"+OK scan listing follows\r\n2 200\r\n.\r\n"
    assert talk(conn, b"RETR 1\r\n").startswith(b"-ERR message is deleted")
    assert talk(conn, b"RSET\r\n").startswith(b"+OK maildrop has 2")
    assert talk(conn, b"DELE 2\r\n").startswith(b"+OK")
    conn.receive_data(b"QUIT\r\n")
    assert drain(conn) == [UpdateRequested((11,))]
    assert conn.state is State.UPDATE
    conn.update_finished(True)
    assert drain(conn) == [Write(r.BYE.encode()), ConnectionClosed()]


def test_quit_without_deletions_and_dropped_connection() -> None:
    conn = logged_in()
    assert talk(conn, b"QUIT\r\n") == r.BYE.encode()
    conn = logged_in()
    talk(conn, b"DELE 1\r\n")
    conn.receive_data(b"")
    assert drain(conn) == [ConnectionClosed()]  # RFC 1939 6: no UPDATE without QUIT


def test_retr_and_top_events() -> None:
    conn = logged_in()
    conn.receive_data(b"RETR 2\r\nTOP 1 5\r\n")
    assert drain(conn) == [
        RetrieveRequested(b"+OK 200 octets\r\n", 2, 11, 200, None),
        RetrieveRequested(b"+OK top of message follows\r\n", 1, 10, 120, 5),
    ]
    assert talk(conn, b"TOP 1\r\n").startswith(b"-ERR syntax")
    assert talk(conn, b"TOP 1 -1\r\n").startswith(b"-ERR syntax")


def test_login_refused_without_tls() -> None:
    conn = make(tls=False)
    assert talk(conn, b"USER a\r\n") == r.TLS_REQUIRED.encode()
    assert talk(conn, b"PASS b\r\n") == r.TLS_REQUIRED.encode()
    assert talk(conn, b"AUTH PLAIN AGEAYg==\r\n") == r.TLS_REQUIRED.encode()
    assert b"[AUTH]" in r.TLS_REQUIRED.encode()
    capa = talk(conn, b"CAPA\r\n")
    assert b"STLS\r\n" in capa and b"USER" not in capa and b"SASL" not in capa


def test_stls_discards_injected_commands_and_resets() -> None:
    conn = make(tls=False)
    conn.receive_data(b"STLS\r\nUSER evil\r\nPASS x\r\n")
    assert drain(conn) == [Write(r.STLS_BEGIN.encode()), StartTLSRequested(19)]
    assert conn.next_event() is NEED_DATA
    conn.tls_started()
    capa = talk(conn, b"CAPA\r\n")
    assert b"STLS" not in capa and b"USER\r\n" in capa and b"SASL PLAIN\r\n" in capa
    assert talk(conn, b"STLS\r\n").startswith(b"-ERR TLS is already active")


def test_stls_unavailable() -> None:
    conn = make(tls=False, available=False)
    assert talk(conn, b"STLS\r\n").startswith(b"-ERR STLS is not available")


@pytest.mark.parametrize(
    "lines",
    [
        [b"AUTH PLAIN " + base64.b64encode(b"\x00bob\x00pw")],
        [b"AUTH PLAIN", base64.b64encode(b"\x00bob\x00pw")],
    ],
)
def test_auth_plain(lines: list[bytes]) -> None:
    conn = make()
    conn.receive_data(b"".join(line + b"\r\n" for line in lines))
    events = drain(conn)
    if len(lines) == 2:
        assert events.pop(0) == Write(b"+ \r\n")
    assert events == [LoginRequested("", "bob", "pw")]
    conn.login_rejected()
    assert drain(conn) == [Write(r.LOGIN_FAILED.encode())]
    assert conn.state is State.AUTHORIZATION


def test_auth_errors() -> None:
    conn = make()
    assert talk(conn, b"AUTH CRAM-MD5\r\n").startswith(b"-ERR unsupported")
    assert talk(conn, b"AUTH PLAIN\r\n*\r\n") == b"+ \r\n" + r.AUTH_CANCELLED.encode()
    assert talk(conn, b"AUTH PLAIN !!!\r\n") == r.AUTH_BAD_RESPONSE.encode()
    assert talk(conn, b"AUTH PLAIN =\r\n") == r.AUTH_BAD_RESPONSE.encode()
    assert talk(conn, b"AUTH\r\n") == b"+OK SASL mechanisms follow\r\nPLAIN\r\n.\r\n"


def test_in_use() -> None:
    conn = make()
    conn.receive_data(b"USER a\r\nPASS b\r\n")
    drain(conn)
    conn.login_rejected(r.ACCOUNT_IN_USE)
    assert drain(conn) == [Write(b"-ERR [IN-USE] this mailbox is open in another POP3 session\r\n")]


def test_pipelined_commands_wait_for_login() -> None:
    conn = make()
    conn.receive_data(b"USER a\r\nPASS b\r\nSTAT\r\nQUIT\r\n")
    events = drain(conn)
    assert isinstance(events[-1], LoginRequested)
    assert conn.next_event() is NEED_DATA
    conn.login_accepted(DROP[:1])
    assert b"".join(e.data for e in drain(conn) if isinstance(e, Write)).endswith(
        b"+OK 1 120\r\n+OK bye\r\n"
    )


def test_wrong_state_unknown_and_error_limit() -> None:
    conn = make(max_errors=3)
    assert talk(conn, b"STAT\r\n") == r.WRONG_STATE.encode()
    assert talk(conn, b"FOO\r\n") == r.UNKNOWN_COMMAND.encode()
    assert talk(conn, b"APOP a b\r\n") == r.APOP_UNSUPPORTED.encode()
    conn.receive_data(b"XYZ\r\n")
    assert drain(conn) == [Write(r.TOO_MANY_ERRORS.encode()), ConnectionClosed()]
    assert conn.state is State.CLOSED


def test_long_line_is_refused_without_buffering() -> None:
    conn = make(max_line=100)
    assert talk(conn, b"NOOP" + b"x" * 500) == r.LINE_TOO_LONG.encode()
    assert len(conn._buffer) == 0
    assert talk(conn, b"y" * 500 + b"\r\nNOOP\r\n") == r.NOOP_OK.encode()


def test_nul_and_bad_utf8() -> None:
    conn = make()
    assert talk(conn, b"USER a\x00b\r\n") == r.SYNTAX_ERROR.encode()
    assert talk(conn, b"USER \xff\r\n") == r.SYNTAX_ERROR.encode()


def _stuff(data: bytes, chunk: int, lines: int | None = None) -> bytes:
    stuffer = DotStuffer(lines)
    out = b"".join(stuffer.feed(data[i : i + chunk]) for i in range(0, len(data), chunk))
    return out + stuffer.finish()


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1000])
def test_dot_stuffing_across_chunks(chunk: int) -> None:
    msg = b".starts\r\nSubject: x\r\n\r\n.\r\nbody\r\n..two\r\nend"
    expected = b"..starts\r\nSubject: x\r\n\r\n..\r\nbody\r\n...two\r\nend\r\n.\r\n"
    assert _stuff(msg, chunk) == expected


@pytest.mark.parametrize("chunk", [1, 4, 1000])
def test_top(chunk: int) -> None:
    msg = b"A: 1\r\nB: 2\r\n\r\nl1\r\n.l2\r\nl3\r\n"
    assert _stuff(msg, chunk, 0) == b"A: 1\r\nB: 2\r\n\r\n.\r\n"
    assert _stuff(msg, chunk, 2) == b"A: 1\r\nB: 2\r\n\r\nl1\r\n..l2\r\n.\r\n"
    assert _stuff(msg, chunk, 10) == b"A: 1\r\nB: 2\r\n\r\nl1\r\n..l2\r\nl3\r\n.\r\n"
    assert _stuff(b"A: 1\r\n", chunk, 3) == b"A: 1\r\n.\r\n"


def test_stuff_lines() -> None:
    assert stuff_lines([".x", "y"]) == b"..x\r\ny\r\n.\r\n"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=60), max_size=12), st.booleans())
def test_random_input_never_raises(chunks: list[bytes], tls: bool) -> None:
    conn = make(tls=tls, max_line=64)
    for chunk in chunks:
        conn.receive_data(chunk)
        for event in drain(conn):
            if isinstance(event, LoginRequested):
                conn.login_accepted(DROP)
            elif isinstance(event, StartTLSRequested):
                conn.tls_started()
            elif isinstance(event, UpdateRequested):
                conn.update_finished(True)
        assert conn.state in State


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300), st.integers(1, 50))
def test_dot_stuffing_round_trip(data: bytes, chunk: int) -> None:
    out = _stuff(data, chunk)
    assert out.endswith(b".\r\n")
    body = out[: -len(b".\r\n")]
    lines = body.split(b"\n")
    assert all(not line.startswith(b".") or line.startswith(b"..") for line in lines)
    unstuffed = b"\n".join(line[1:] if line.startswith(b".") else line for line in lines)
    assert unstuffed == data or unstuffed == data + b"\r\n"


# RFC 7677 3 (user "user", password "pencil") through POP3 AUTH (RFC 5034).
SCRAM_NONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
SCRAM_SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
SCRAM_FIRST = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
SCRAM_FINAL = (
    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
)


def scram_conn() -> POP3ServerConnection:
    settings = POP3Settings(
        "mail.example.test",
        tls_active=True,
        tls_available=False,
        sasl_mechanisms=("SCRAM-SHA-256", "PLAIN"),
    )
    return POP3ServerConnection(
        settings, mechanisms=lambda name: ScramSHA256Server(nonce=lambda: SCRAM_NONCE)
    )


def b64line(data: bytes) -> bytes:
    return base64.b64encode(data) + b"\r\n"


@pytest.mark.parametrize("initial", [True, False])
def test_auth_scram_sha_256_rfc7677_vector(initial: bool) -> None:
    conn = scram_conn()
    assert b"SASL SCRAM-SHA-256 PLAIN\r\n" in talk(conn, b"CAPA\r\n")
    if initial:
        conn.receive_data(b"AUTH SCRAM-SHA-256 " + b64line(SCRAM_FIRST))
    else:
        assert talk(conn, b"AUTH SCRAM-SHA-256\r\n") == b"+ \r\n"
        conn.receive_data(b64line(SCRAM_FIRST))
    assert drain(conn) == [ScramLookupRequested("", "user")]
    conn.scram_keys(derive_credentials("pencil", SCRAM_SALT, 4096))
    server_first = drain(conn)
    assert server_first == [
        Write(b"+ " + b64line(b"r=rOprNGfwEbeRWgbNEkqO" + SCRAM_NONCE.encode() + b",s="
              + base64.b64encode(SCRAM_SALT) + b",i=4096"))
    ]  # fmt: skip
    conn.receive_data(b64line(SCRAM_FINAL))
    assert drain(conn) == [
        Write(b"+ " + b64line(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="))
    ]
    conn.receive_data(b"\r\n")  # the client's empty answer to the server-final message
    assert drain(conn) == [ScramFinished("", "user", verified=True)]
    conn.login_accepted(DROP)
    assert drain(conn) == [Write(b"+OK maildrop has 2 messages (320 octets)\r\n")]
    assert conn.state is State.TRANSACTION


def test_auth_scram_wrong_proof_and_cancel() -> None:
    conn = scram_conn()
    conn.receive_data(b"AUTH SCRAM-SHA-256 " + b64line(SCRAM_FIRST))
    assert drain(conn) == [ScramLookupRequested("", "user")]
    conn.scram_keys(derive_credentials("not pencil", SCRAM_SALT, 4096))
    drain(conn)
    conn.receive_data(b64line(SCRAM_FINAL))
    [finished] = drain(conn)
    assert isinstance(finished, ScramFinished) and not finished.verified
    conn.login_rejected()
    assert drain(conn) == [Write(r.LOGIN_FAILED.encode())]
    assert conn.state is State.AUTHORIZATION
    # cancelled after the lookup: back to AUTHORIZATION, the session goes on
    conn.receive_data(b"AUTH SCRAM-SHA-256 " + b64line(SCRAM_FIRST))
    drain(conn)
    conn.scram_keys(None)
    drain(conn)
    assert talk(conn, b"*\r\n") == r.AUTH_CANCELLED.encode()
    assert conn.state is State.AUTHORIZATION
    assert talk(conn, b"NOOP\r\n") == b"+OK \r\n"  # the session goes on
    assert talk(conn, b"AUTH SCRAM-SHA-256 !!!\r\n") == r.AUTH_BAD_RESPONSE.encode()
    assert talk(conn, b"AUTH SCRAM-SHA-256 " + b64line(b"p=x,,n=u,r=1")) == (
        r.AUTH_BAD_RESPONSE.encode()
    )  # channel binding asked for: refused before any lookup
