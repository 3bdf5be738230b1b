"""Every command in every state, and random input: the core never raises anything but our
own error types, always answers, and stays in a valid state (DESIGN 4, fuzz)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailkeep.protocol.smtp.grammar import Verb
from mailkeep.protocol.smtp.server import Listener, State
from mailkeep.protocol.smtp.states import ALLOWED
from tests.protocol.smtp.session import Session, codes, config

SAMPLES: dict[Verb, str] = {
    Verb.HELO: "HELO c.example",
    Verb.EHLO: "EHLO c.example",
    Verb.MAIL: "MAIL FROM:<a@b.example>",
    Verb.RCPT: "RCPT TO:<x@y.example>",
    Verb.DATA: "DATA",
    Verb.BDAT: "BDAT 0",
    Verb.RSET: "RSET",
    Verb.NOOP: "NOOP",
    Verb.QUIT: "QUIT",
    Verb.VRFY: "VRFY bob",
    Verb.EXPN: "EXPN list",
    Verb.HELP: "HELP",
    Verb.STARTTLS: "STARTTLS",
    Verb.AUTH: "AUTH LOGIN",
}


def _greeted() -> Session:
    return Session.start(config(Listener.SUBMISSIONS, tls_active=True))


def _ready() -> Session:
    session = _greeted()
    session.say("EHLO c.example")
    return session


def _authed() -> Session:
    session = _ready()
    session.say("AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAGNvcnJlY3QgaG9yc2U=")
    assert session.conn.authenticated
    return session


def _mail() -> Session:
    session = _authed()
    session.say("MAIL FROM:<alice@example.org>")
    return session


def _rcpt() -> Session:
    session = _mail()
    session.say("RCPT TO:<x@y.example>")
    return session


def _chunking() -> Session:
    session = _rcpt()
    session.feed(b"BDAT 1\r\nx")
    return session


def _data() -> Session:
    session = _rcpt()
    session.say("DATA")
    return session


def _bdat() -> Session:
    session = _rcpt()
    session.feed(b"BDAT 100\r\n")
    return session


def _auth() -> Session:
    session = _ready()
    session.say("AUTH LOGIN")
    return session


def _tls_handshake() -> Session:
    session = Session.start(config())
    session.auto_tls = False
    session.say("EHLO c.example\r\nSTARTTLS")
    return session


PREAMBLES: dict[State, Callable[[], Session]] = {
    State.GREETED: _greeted,
    State.READY: _authed,
    State.MAIL: _mail,
    State.RCPT: _rcpt,
    State.CHUNKING: _chunking,
    State.DATA: _data,
    State.BDAT: _bdat,
    State.AUTH: _auth,
    State.TLS_HANDSHAKE: _tls_handshake,
}


@pytest.mark.parametrize("state", list(PREAMBLES))
def test_preambles_reach_their_state(state: State) -> None:
    assert PREAMBLES[state]().state is state


@pytest.mark.parametrize("verb", list(Verb))
@pytest.mark.parametrize("state", list(ALLOWED))
def test_every_command_in_every_command_state(state: State, verb: Verb) -> None:
    session = PREAMBLES[state]()
    before = session.state
    out = session.say(SAMPLES[verb])
    assert codes(out), f"no reply to {verb} in {state}"
    if verb not in ALLOWED[state]:
        assert codes(out)[-1][0] == "5"
        assert session.state is before
    else:
        assert isinstance(session.state, State)


@pytest.mark.parametrize("verb", list(Verb))
@pytest.mark.parametrize("state", [State.DATA, State.BDAT, State.TLS_HANDSHAKE])
def test_commands_in_content_or_handshake_states_are_not_executed(state: State, verb: Verb) -> None:
    session = PREAMBLES[state]()
    count = len(session.events)
    assert session.say(SAMPLES[verb]) == ""
    assert session.state is state
    assert all(
        type(e).__name__ in ("MessageChunk", "PlaintextDiscarded") for e in session.events[count:]
    )


@pytest.mark.parametrize("verb", list(Verb))
def test_every_command_as_an_auth_response_fails_the_exchange_cleanly(verb: Verb) -> None:
    session = _auth()
    assert codes(session.say(SAMPLES[verb]))[0] in ("334", "501", "535")
    assert session.state in (State.AUTH, State.READY)


LINES = st.one_of(
    st.sampled_from(list(SAMPLES.values())),
    st.sampled_from(["MAIL FROM:<>", "BDAT 3 LAST", "AUTH PLAIN", "*", ".", "", "=", "\x00"]),
    st.text(max_size=60).map(lambda t: t.replace("\r\n", "")),
)


@settings(max_examples=200, deadline=None)
@given(
    start=st.sampled_from(list(PREAMBLES)),
    lines=st.lists(LINES, max_size=12),
)
def test_random_command_sequences_keep_the_core_consistent(start: State, lines: list[str]) -> None:
    session = PREAMBLES[start]()
    for line in lines:
        session.feed(line.encode("utf-8", errors="surrogatepass") + b"\r\n")
        assert isinstance(session.state, State)
        if session.state is State.CLOSED:
            break


@settings(max_examples=200, deadline=None)
@given(start=st.sampled_from(list(PREAMBLES)), data=st.lists(st.binary(max_size=200), max_size=8))
def test_random_bytes_never_break_the_core(start: State, data: list[bytes]) -> None:
    session = PREAMBLES[start]()
    for chunk in data:
        if chunk:
            session.feed(chunk)
    session.feed(b"")
    assert session.state is State.CLOSED
