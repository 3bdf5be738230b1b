"""The client commands and server responses of RFC 7162's examples, through the core's
parser and encoder (the server's behaviour on them is in tests/net/imap/test_condstore.py)."""

from __future__ import annotations

import pytest

from mailkeep.protocol.imap import commands as c
from mailkeep.protocol.imap import untagged as u
from mailkeep.protocol.imap.encoder import encode
from mailkeep.protocol.imap.fetch import FetchAttr
from mailkeep.protocol.imap.parser import parse_command
from mailkeep.protocol.imap.responses import Code, Data, StatusResponse, ok
from mailkeep.protocol.imap.search import And, FlagKey, ModSeqKey
from mailkeep.protocol.imap.sequence import SequenceSet, parse_sequence_set
from mailkeep.protocol.imap.values import Atom

from .drive import split_command


def parse(wire: bytes) -> c.Command:
    return parse_command(*split_command(wire + b"\r\n")).command


def seq(text: str) -> SequenceSet:
    return parse_sequence_set(text)


COMMANDS: list[tuple[bytes, c.Command]] = [
    (b"a SELECT INBOX (CONDSTORE)", c.Select("INBOX", condstore=True)),  # 3.1.8
    (b"A142 EXAMINE INBOX (CONDSTORE)", c.Select("INBOX", read_only=True, condstore=True)),
    (
        b"A042 STATUS blurdybloop (UIDNEXT MESSAGES HIGHESTMODSEQ)",  # 3.1.7
        c.Status("blurdybloop", ("UIDNEXT", "MESSAGES", "HIGHESTMODSEQ")),
    ),
    (
        b"a103 UID STORE 6,4,8 (UNCHANGEDSINCE 12121231777) +FLAGS.SILENT (\\Deleted)",  # 3.1.3
        c.Store(True, seq("6,4,8"), c.StoreMode.ADD, ("\\Deleted",), True, 12121231777),
    ),
    (
        b"d105 STORE 7,5,9 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)",
        c.Store(False, seq("7,5,9"), c.StoreMode.ADD, ("\\Deleted",), True, 320162338),
    ),
    (
        b"s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)",  # 3.1.4.1
        c.Fetch(True, seq("1:*"), (FetchAttr.UID, FetchAttr.FLAGS), 12345),
    ),
    (b"a FETCH 1:3 (MODSEQ)", c.Fetch(False, seq("1:3"), (FetchAttr.MODSEQ,))),  # 3.1.4.2
    (
        b"s100 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)",  # 3.2.6
        c.Fetch(True, seq("300:500"), (FetchAttr.UID, FetchAttr.FLAGS), 12345, True),
    ),
    (
        b"A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))",  # 3.2.5.1
        c.Select(
            "INBOX",
            qresync=c.QresyncParams(67890007, 20050715194045000, seq("41,43:211,214:541")),
        ),
    ),
    (
        b"B04 SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 "  # 3.2.5.2
        b"(5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,29976,29979,29982,"
        b"29985,29988,29991,29994,29997)))",
        c.Select(
            "INBOX",
            qresync=c.QresyncParams(
                67890007,
                90060115194045000,
                seq("1:29997"),
                seq("5000,7500,9000,9990:9999"),
                seq(
                    "15000,22500,27000,29970,29973,29976,29979,29982,29985,29988,29991,29994,29997"
                ),
            ),
        ),
    ),
    (b"A01 ENABLE QRESYNC", c.Enable(("QRESYNC",))),  # 3.2.3
    (b"A02 ENABLE QRESYNC CONDSTORE", c.Enable(("QRESYNC", "CONDSTORE"))),
]


@pytest.mark.parametrize(("wire", "command"), COMMANDS)
def test_example_commands_parse(wire: bytes, command: c.Command) -> None:
    assert parse(wire) == command


def test_search_modseq_example() -> None:
    """3.1.5: ``a SEARCH MODSEQ "/flags/\\\\draft" all 620162338`` (and with other keys)."""
    command = parse(b'a SEARCH MODSEQ "/flags/\\\\draft" all 620162338')
    assert isinstance(command, c.Search)
    assert command.criteria == ModSeqKey(620162338, "/flags/\\draft", "ALL")
    command = parse(b"t SEARCH OR NOT MODSEQ 720162338 LARGER 50000 SEEN")
    assert isinstance(command, c.Search) and isinstance(command.criteria, And)
    assert command.criteria.keys[-1] == FlagKey("\\Seen")


RESPONSES: list[tuple[Data | StatusResponse, bytes]] = [
    (
        ok("Highest", Code("HIGHESTMODSEQ", (715194045007,))),
        b"* OK [HIGHESTMODSEQ 715194045007] Highest\r\n",
    ),
    (
        ok("Conditional STORE failed", Code("MODIFIED", (Atom("7,9"),))).tagged("d105"),
        b"d105 OK [MODIFIED 7,9] Conditional STORE failed\r\n",
    ),
    (
        u.fetch(1, [Atom("UID"), 4, Atom("MODSEQ"), [12121231000]]),
        b"* 1 FETCH (UID 4 MODSEQ (12121231000))\r\n",
    ),
    (
        u.fetch(5, [Atom("MODSEQ"), [20121231000]]),
        b"* 5 FETCH (MODSEQ (20121231000))\r\n",
    ),
    (
        u.search([2, 5, 6, 7, 11, 12, 18, 19, 20, 23], 917162500),
        b"* SEARCH 2 5 6 7 11 12 18 19 20 23 (MODSEQ 917162500)\r\n",
    ),
    (
        u.esearch("a", False, all_="1:3,5", modseq=1236),
        b'* ESEARCH (TAG "a") ALL 1:3,5 MODSEQ 1236\r\n',
    ),
    (
        u.status(
            "blurdybloop", [("MESSAGES", 231), ("UIDNEXT", 44292), ("HIGHESTMODSEQ", 7011231777)]
        ),
        b'* STATUS "blurdybloop" (MESSAGES 231 UIDNEXT 44292 HIGHESTMODSEQ 7011231777)\r\n',
    ),
    (u.vanished("300:310,405,411", earlier=True), b"* VANISHED (EARLIER) 300:310,405,411\r\n"),
    (u.vanished("405,407,410,425"), b"* VANISHED 405,407,410,425\r\n"),
    (
        ok("Previous mailbox is now closed", Code("CLOSED")),
        b"* OK [CLOSED] Previous mailbox is now closed\r\n",
    ),
]


@pytest.mark.parametrize(("response", "wire"), RESPONSES)
def test_example_responses_encode(response: Data | StatusResponse, wire: bytes) -> None:
    assert encode(response) == wire
