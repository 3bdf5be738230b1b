"""Sequence numbers stay what the client was told; updates follow RFC 9051 7.4.1."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailkeep.protocol.imap.encoder import encode
from mailkeep.protocol.imap.errors import CommandSyntaxError
from mailkeep.protocol.imap.sequence import parse_sequence_set
from mailkeep.protocol.imap.sequencemap import SequenceMap, expunge_allowed
from mailkeep.protocol.imap.values import Atom


def wire(seqmap: SequenceMap, allow: bool = True, vanished: bool = False) -> list[bytes]:
    return [encode(d) for d in seqmap.updates(allow, vanished)]


def test_resolve_numbers_and_uids() -> None:
    m = SequenceMap([3, 5, 9, 10])
    assert m.exists == 4 and m.uid_at(3) == 9 and m.number_of(10) == 4
    assert m.number_of(4) is None
    assert m.resolve(parse_sequence_set("2:*"), uid=False) == [(2, 5), (3, 9), (4, 10)]
    assert m.resolve(parse_sequence_set("6:*"), uid=False) == [(4, 10)]  # * is 4: 4:6
    assert m.resolve(parse_sequence_set("4:9"), uid=True) == [(2, 5), (3, 9)]
    assert m.resolve(parse_sequence_set("11:*"), uid=True) == [(4, 10)]  # RFC 9051 6.4.9
    assert m.resolve(parse_sequence_set("$"), uid=True, saved=[(9, 10)]) == [(3, 9), (4, 10)]
    with pytest.raises(CommandSyntaxError, match="no such message"):
        m.resolve(parse_sequence_set("5"), uid=False)


def test_empty_mailbox() -> None:
    m = SequenceMap([])
    assert m.resolve(parse_sequence_set("1:*"), uid=True) == []
    assert m.resolve(parse_sequence_set("*"), uid=False) == []
    with pytest.raises(CommandSyntaxError):
        m.resolve(parse_sequence_set("1"), uid=False)


def test_expunge_waits_for_an_allowed_moment() -> None:
    m = SequenceMap([1, 2, 3, 4])
    m.expunge([2, 4, 99])
    assert wire(m, allow=False) == []
    assert m.exists == 4 and m.uid_at(4) == 4  # the client still sees 4 messages
    assert wire(m) == [b"* 4 EXPUNGE\r\n", b"* 2 EXPUNGE\r\n"]
    assert list(m.uids) == [1, 3]
    assert not m.pending


def test_vanished_instead_of_expunge() -> None:
    m = SequenceMap([1, 2, 3, 4, 7])
    m.expunge([2, 3, 7])
    assert wire(m, vanished=True) == [b"* VANISHED 2:3,7\r\n"]
    assert list(m.uids) == [1, 4]


def test_delayed_expunges_keep_their_lowest_modseq() -> None:
    """RFC 7162 3.2: while expunges wait, the map knows the lowest of their MODSEQs, so a
    QRESYNC client is never told a HIGHESTMODSEQ that would let it skip them."""
    m = SequenceMap([1, 2, 3, 4])
    assert m.delayed_expunge_modseq is None
    m.expunge([3], 40)
    m.expunge([2], 35)
    m.expunge([9], 20)  # unknown UID: ignored, its MODSEQ too
    assert m.delayed_expunge_modseq == 35
    assert m.updates(allow_expunge=False) == [] and m.delayed_expunge_modseq == 35
    assert wire(m, allow=True, vanished=True) == [b"* VANISHED 2:3\r\n"]
    assert m.delayed_expunge_modseq is None


def test_new_messages_then_flags() -> None:
    m = SequenceMap([1, 2])
    m.add([5, 4, 2])
    m.flags_changed(4, [Atom("FLAGS"), [Atom("\\Seen")]])
    m.flags_changed(1, [Atom("FLAGS"), []])
    assert m.resolve(parse_sequence_set("*"), uid=False) == [(2, 2)]  # not yet announced
    m.expunge([1])
    assert wire(m, allow=False) == [
        b"* 4 EXISTS\r\n",
        b"* 3 FETCH (UID 4 FLAGS (\\Seen))\r\n",
    ]  # no FETCH for the message about to be expunged
    assert wire(m) == [b"* 1 EXPUNGE\r\n"]
    assert list(m.uids) == [2, 4, 5]


def test_added_then_expunged_before_announced() -> None:
    m = SequenceMap([1])
    m.add([2, 3])
    m.expunge([2])
    assert wire(m) == [b"* 2 EXISTS\r\n"]
    assert list(m.uids) == [1, 3]


def test_expunge_rules() -> None:
    assert not expunge_allowed(None)
    for name in ("FETCH", "STORE", "SEARCH"):
        assert not expunge_allowed(name)
    for name in ("NOOP", "IDLE", "UID FETCH", "UID STORE", "UID SEARCH", "EXPUNGE", "MOVE"):
        assert expunge_allowed(name)


@given(
    st.lists(st.integers(1, 60), unique=True).map(sorted),
    st.lists(
        st.tuples(st.sampled_from(["add", "expunge", "report"]), st.lists(st.integers(1, 90))),
        max_size=12,
    ),
)
def test_client_view_matches_the_mailbox(
    start: list[int], steps: list[tuple[str, list[int]]]
) -> None:
    """Replaying the responses on a client-side list gives the session's map, and after a
    final report both equal the mailbox."""
    m = SequenceMap(start)
    mailbox = set(start)
    client = list(start)
    for op, uids in steps:
        if op == "add":
            fresh = [u for u in uids if u > max(mailbox | set(client), default=0)]
            mailbox.update(fresh)
            m.add(fresh)
        elif op == "expunge":
            mailbox.difference_update(uids)
            m.expunge(uids)
        _replay(client, m.updates(allow_expunge=op == "report"), m)
    _replay(client, m.updates(allow_expunge=True), m)
    assert client == list(m.uids) == sorted(mailbox)


def _replay(client: list[int], responses: list, m: SequenceMap) -> None:  # type: ignore[type-arg]
    for response in responses:
        number, kind = response.values[0], response.values[1]
        if kind == Atom("EXPUNGE"):
            del client[number - 1]
        elif kind == Atom("EXISTS"):
            client += list(m.uids)[len(client) : number]
            assert len(client) == number
