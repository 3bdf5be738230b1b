"""Reply values and their encoding (RFC 5321 4.2.1, RFC 2034 3), and adapter-side aborts."""

from __future__ import annotations

import pytest

from mailkeep.errors import LocalProtocolError
from mailkeep.protocol.smtp import replies
from mailkeep.protocol.smtp.events import NEED_DATA, ConnectionClosed
from mailkeep.protocol.smtp.replies import Reply
from mailkeep.protocol.smtp.server import State
from tests.protocol.smtp.session import Session


def test_multiline_encoding_with_and_without_enhanced_codes() -> None:
    reply = Reply(550, "5.7.1", "first\nsecond")
    assert reply.encode() == b"550-5.7.1 first\r\n550 5.7.1 second\r\n"
    assert reply.encode(with_enhanced=False) == b"550-first\r\n550 second\r\n"
    assert replies.auth_challenge("").encode() == b"334 \r\n"


@pytest.mark.parametrize(
    ("code", "enhanced", "text"),
    [
        (250, "5.0.0", "class differs"),
        (250, "2.0", "short"),
        (199, None, "code"),
        (600, None, "code"),
        (250, None, "inject\r\n250 more"),
        (250, None, "nul\x00"),
    ],
)
def test_bad_replies_are_our_bug(code: int, enhanced: str | None, text: str) -> None:
    with pytest.raises(LocalProtocolError):
        Reply(code, enhanced, text)


def test_every_named_reply_is_valid_and_enhanced_matches_its_class() -> None:
    named = [v for v in vars(replies).values() if isinstance(v, Reply)]
    assert len(named) > 40
    for reply in named:  # RFC 2034 3: every 2xx, 4xx and 5xx carries one
        assert (reply.enhanced is None) == (300 <= reply.code < 400), reply


def test_abort_on_timeout_mid_data_closes_with_421() -> None:
    session = Session.start()
    session.say("EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nDATA")
    session.feed(b"partial line")
    assert session.conn.abort(replies.TIMEOUT) == b"421 4.4.2 Timeout, closing\r\n"
    assert session.state is State.CLOSED
    assert isinstance(session.conn.next_event(), ConnectionClosed)


def test_abort_drops_a_pending_event() -> None:
    session = Session.start()
    session.conn.receive_data(b"NOOP\r\n")
    session.conn.next_event()  # Noop, waiting for its reply
    assert session.conn.abort(replies.SHUTTING_DOWN).startswith(b"421 ")
    assert session.conn.next_event() is not NEED_DATA
