"""A session that falls behind the change feed (store.change_feed_max_pending) re-reads the
mailbox instead of keeping a backlog, and must still report every change it missed:
arrivals, expunges, and flag changes (issue 5's defect: the last were lost). The server
here allows a backlog of 3 changes, so a few commands from another session overflow it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.mailserver import MailServer, make_server
from tests.net.imap.conftest import imaps, message
from tests.net.imap.transcript import Transcript, fetches

USER = "lagging@example.test"


@pytest.fixture(scope="module")
def small_feed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailServer]:
    srv = make_server(tmp_path_factory.mktemp("feed"), "[store]\nchange_feed_max_pending = 3\n")
    srv.add_user(USER)
    srv.deliver_offline(USER, [message(i) for i in range(1, 11)])
    srv.start()
    yield srv
    srv.stop()


def flags_by_uid(lines: list[str]) -> dict[int, str]:
    out = {}
    for line in fetches(lines):
        found = re.search(r"UID (\d+)", line)
        flags = re.search(r"FLAGS \(([^)]*)\)", line)
        assert found and flags, line
        out[int(found.group(1))] = flags.group(1)
    return out


@pytest.mark.parametrize("condstore", [False, True])
def test_changes_missed_in_an_overflow_are_reported(
    small_feed: MailServer, condstore: bool
) -> None:
    box = f"box{int(condstore)}"
    client = imaps(small_feed, USER)
    client.create(box)
    for i in range(1, 11):
        client.append(box, None, None, message(i))
    lagging = Transcript(small_feed, USER)
    busy = Transcript(small_feed, USER)
    try:
        lagging.ok("ENABLE IMAP4rev2 QRESYNC" if condstore else "ENABLE IMAP4rev2")
        lagging.ok(f"SELECT {box}")
        busy.ok(f"SELECT {box}")
        busy.ok("UID STORE 2 +FLAGS (\\Seen)")  # one change each: six in all, backlog is 3
        busy.ok("UID STORE 4 +FLAGS (\\Flagged)")
        busy.ok("UID STORE 4 +FLAGS ($Later)")
        busy.ok("UID STORE 9 +FLAGS (\\Deleted)")
        busy.ok("UID EXPUNGE 9")
        client.append(box, None, None, message(11))

        heard = lagging.ok("NOOP")
        assert ("* VANISHED 9" if condstore else "* 9 EXPUNGE") in heard, heard
        assert "* 10 EXISTS" in heard
        changed = flags_by_uid(heard)
        assert changed[2].split() == ["\\Seen"]
        assert sorted(changed[4].split()) == ["$Later", "\\Flagged"]
        assert set(changed) <= {2, 4}  # nothing else changed
        assert all(("MODSEQ" in ln) == condstore for ln in fetches(heard))
        assert flags_by_uid(lagging.ok("UID FETCH 4 (FLAGS)"))[4] == changed[4]
        assert lagging.ok("NOOP")[:-1] == []  # and nothing is reported twice
    finally:
        client.logout()
        lagging.close()
        busy.close()
