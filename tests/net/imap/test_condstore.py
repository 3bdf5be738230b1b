"""CONDSTORE and QRESYNC (RFC 7162) against the running server, line by line: enabling,
HIGHESTMODSEQ, FETCH MODSEQ/CHANGEDSINCE, STORE UNCHANGEDSINCE with MODIFIED, SEARCH
MODSEQ, SELECT (QRESYNC ...) with VANISHED (EARLIER), VANISHED in place of EXPUNGE, CLOSED,
concurrent sessions, and malformed parameters."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator

import imapclient
import pytest

from tests.mailserver import PASSWORD, MailServer
from tests.net.imap.conftest import imaps, message, tls_context
from tests.net.imap.transcript import Transcript, code_value, fetches

_users = itertools.count(1)
Open = Callable[[str], Transcript]


@pytest.fixture
def user(server: MailServer) -> str:
    """A fresh user with messages 1..8 (UIDs 1..8) in INBOX."""
    name = f"cond{next(_users)}@example.test"
    server.add_user(name)
    client = imaps(server, name)
    for i in range(1, 9):
        client.append("INBOX", None, None, message(i))
    client.logout()
    return name


@pytest.fixture
def session(server: MailServer) -> Iterator[Open]:
    opened: list[Transcript] = []

    def open_session(name: str) -> Transcript:
        t = Transcript(server, name)
        opened.append(t)
        return t

    yield open_session
    for t in opened:
        t.close()


def modseqs(lines: list[str]) -> dict[int, int]:
    """UID → MODSEQ from the FETCH lines."""
    out = {}
    for line in fetches(lines):
        uid = re.search(r"UID (\d+)", line)
        mod = re.search(r"MODSEQ \((\d+)\)", line)
        assert uid and mod, line
        out[int(uid.group(1))] = int(mod.group(1))
    return out


def test_capabilities(user: str, session: Open) -> None:
    caps = session(user).ok("CAPABILITY")[0].split()
    assert "CONDSTORE" in caps and "QRESYNC" in caps


def test_enabling_commands_bring_modseq(user: str, session: Open) -> None:
    t = session(user)
    plain = t.ok("SELECT INBOX")
    assert not any("HIGHESTMODSEQ" in ln for ln in plain)  # RFC 7162 3.1.2: not yet
    assert "MODSEQ" not in t.ok("FETCH 1 (FLAGS)")[0]
    first = t.ok("FETCH 1 (MODSEQ)")  # an enabling command while selected: HIGHESTMODSEQ
    highest = code_value(first, "HIGHESTMODSEQ")
    assert re.fullmatch(r"\* 1 FETCH \(MODSEQ \((\d+)\)\)", fetches(first)[0])
    flags = t.ok("FETCH 1 (FLAGS)")
    assert re.search(r"FLAGS \(.*\) MODSEQ \(\d+\)", flags[0]), flags
    status = t.ok("STATUS INBOX (HIGHESTMODSEQ MESSAGES)")
    assert re.search(rf"HIGHESTMODSEQ {highest}\b", status[0]), status

    other = session(user)
    assert other.ok("ENABLE CONDSTORE")[0] == "* ENABLED CONDSTORE"
    assert code_value(other.ok("EXAMINE INBOX"), "HIGHESTMODSEQ") == highest
    third = session(user)
    assert code_value(third.ok("SELECT INBOX (CONDSTORE)"), "HIGHESTMODSEQ") == highest


def test_fetch_changedsince(user: str, session: Open) -> None:
    t = session(user)
    highest = code_value(t.ok("SELECT INBOX (CONDSTORE)"), "HIGHESTMODSEQ")
    stored = t.ok("STORE 2,4 +FLAGS (\\Flagged)")
    assert len(fetches(stored)) == 2 and all("MODSEQ" in ln for ln in fetches(stored))
    changed = t.ok(f"FETCH 1:* (FLAGS) (CHANGEDSINCE {highest})")
    assert [ln.split()[1] for ln in fetches(changed)] == ["2", "4"]
    assert re.search(r"FLAGS \(\\Flagged( \\Recent)?\) MODSEQ \(\d+\)", fetches(changed)[0])
    found = modseqs(t.ok(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {highest})"))
    assert sorted(found) == [2, 4] and min(found.values()) > highest
    assert fetches(t.ok(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {max(found.values())})")) == []


def test_store_unchangedsince_and_modified(user: str, session: Open) -> None:
    """RFC 7162 3.1.3 and its examples: the test passes or MODIFIED lists the failures."""
    t = session(user)
    t.ok("SELECT INBOX")
    before = modseqs(t.ok("UID FETCH 1:3 (MODSEQ)"))
    done = t.ok(f"STORE 1 (UNCHANGEDSINCE {before[1]}) +FLAGS (\\Seen)")
    assert "MODIFIED" not in done[-1]
    after = modseqs(done)
    assert after[1] > before[1] and "\\Seen" in fetches(done)[0]
    stale = t.cmd(f"STORE 1 (UNCHANGEDSINCE {before[1]}) +FLAGS (\\Answered)")
    assert stale[-1].startswith("TAG OK [MODIFIED 1]"), stale
    assert "\\Answered" not in t.ok("FETCH 1 (FLAGS)")[0]
    # UID STORE: MODIFIED lists UIDs; .SILENT still reports the new MODSEQs
    silent = t.cmd(f"UID STORE 1:3 (UNCHANGEDSINCE {before[3]}) +FLAGS.SILENT (\\Draft)")
    assert silent[-1].startswith("TAG OK [MODIFIED 1]"), silent
    reported = modseqs(silent)
    assert sorted(reported) == [2, 3] and all("FLAGS" not in ln for ln in fetches(silent))
    zero = t.cmd("STORE 2 (UNCHANGEDSINCE 0) +FLAGS (\\Flagged)")  # always fails (3.1.3)
    assert zero[-1].startswith("TAG OK [MODIFIED 2]"), zero


def test_search_modseq(user: str, session: Open) -> None:
    t = session(user)
    highest = code_value(t.ok("SELECT INBOX (CONDSTORE)"), "HIGHESTMODSEQ")
    changed = modseqs(t.ok("STORE 3,5 +FLAGS (\\Seen)"))
    top = max(changed.values())
    assert t.ok(f"SEARCH MODSEQ {highest + 1}")[0] == f"* SEARCH 3 5 (MODSEQ {top})"
    assert t.ok(f"SEARCH MODSEQ {top + 1}")[0] == "* SEARCH"  # nothing: no MODSEQ
    entry = t.ok(f'UID SEARCH MODSEQ "/flags/\\\\seen" all {highest + 1} SEEN')
    assert entry[0] == f"* SEARCH 3 5 (MODSEQ {top})"
    esearch = t.ok(f"UID SEARCH RETURN (MIN COUNT) MODSEQ {highest + 1}")
    assert esearch[0].endswith(f"UID MIN 3 COUNT 2 MODSEQ {top}"), esearch
    minimum = t.ok(f"SEARCH RETURN (MIN) MODSEQ {highest + 1}")
    assert minimum[0].endswith(f"MIN 3 MODSEQ {changed[3]}"), minimum


def test_qresync_needs_enable(user: str, session: Open) -> None:
    t = session(user)
    assert t.cmd("SELECT INBOX (QRESYNC (1 1))")[-1].startswith("TAG BAD")
    t.ok("SELECT INBOX")
    refused = t.cmd("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)")
    assert refused[-1].startswith("TAG BAD") and "QRESYNC" in refused[-1]
    enabled = t.ok("ENABLE QRESYNC")  # with a mailbox selected: its HIGHESTMODSEQ first
    assert enabled[0].startswith("* OK [HIGHESTMODSEQ ") and enabled[1] == "* ENABLED QRESYNC"


def test_qresync_select_vanished_and_closed(user: str, session: Open) -> None:
    t = session(user)
    t.ok("ENABLE QRESYNC")
    selected = t.ok("SELECT INBOX")
    validity = code_value(selected, "UIDVALIDITY")
    highest = code_value(selected, "HIGHESTMODSEQ")  # QRESYNC enables CONDSTORE
    t.ok("STORE 1,2 +FLAGS.SILENT (\\Deleted)")
    t.ok("STORE 6 +FLAGS (\\Answered)")
    expunged = t.ok("EXPUNGE")
    assert expunged[:-1] == ["* VANISHED 1:2"], expunged  # RFC 7162 3.2.10.2: no EXPUNGE
    after = code_value(expunged[-1:], "HIGHESTMODSEQ")  # 3.2.7: in the tagged OK
    assert after > highest
    again = t.ok(f"SELECT INBOX (QRESYNC ({validity} {highest}))")
    assert again[0] == "* OK [CLOSED] previous mailbox closed"  # 3.2.11
    assert "* VANISHED (EARLIER) 1:2" in again
    changed = modseqs(again)
    assert list(changed) == [6]
    assert again.index("* VANISHED (EARLIER) 1:2") < again.index(fetches(again)[0])
    assert fetches(again)[0].startswith("* 4 FETCH (UID 6 FLAGS (\\Answered)")
    known = t.ok(f"SELECT INBOX (QRESYNC ({validity} {highest} 2:5))")
    assert "* VANISHED (EARLIER) 2" in known and fetches(known) == []
    stale = t.ok(f"SELECT INBOX (QRESYNC ({validity + 1} {highest}))")  # another UIDVALIDITY
    assert not any("VANISHED" in ln for ln in stale) and fetches(stale) == []
    fetched = t.ok(f"UID FETCH 1:* (FLAGS) (CHANGEDSINCE {highest} VANISHED)")
    assert fetched[0] == "* VANISHED (EARLIER) 1:2" and list(modseqs(fetched)) == [6]
    matched = t.ok(f"SELECT INBOX (QRESYNC ({validity} {highest} 1:8 (1:3 1,3,6)))")
    assert "* VANISHED (EARLIER) 1:2" in matched


def test_qresync_reconnect_gets_exactly_what_it_missed(user: str, session: Open) -> None:
    """One session changes flags and expunges while a QRESYNC client is away; on its
    return it hears exactly those expunges and changes, and live ones as they happen."""
    a = session(user)
    a.ok("ENABLE QRESYNC")
    selected = a.ok("SELECT INBOX")
    validity, highest = code_value(selected, "UIDVALIDITY"), code_value(selected, "HIGHESTMODSEQ")
    a.close()

    b = session(user)
    b.ok("SELECT INBOX")
    b.ok("UID STORE 2,5 +FLAGS (\\Seen)")
    b.ok("UID STORE 3:4 +FLAGS (\\Deleted)")
    b.ok("UID EXPUNGE 3:4")
    b.ok("UID STORE 5 +FLAGS ($Work)")
    b.ok("APPEND INBOX {4+}\r\nhi\r\n")

    back = session(user)
    back.ok("ENABLE QRESYNC")
    lines = back.ok(f"SELECT INBOX (QRESYNC ({validity} {highest} 1:8))")
    assert [ln for ln in lines if "VANISHED" in ln] == ["* VANISHED (EARLIER) 3:4"]
    found = {int(re.search(r"UID (\d+)", ln).group(1)): ln for ln in fetches(lines)}  # type: ignore[union-attr]
    assert sorted(found) == [2, 5]
    assert "\\Seen" in found[2] and "$Work" in found[5] and "\\Seen" in found[5]
    assert "* 7 EXISTS" in lines
    everything = back.ok(f"SELECT INBOX (QRESYNC ({validity} {highest}))")  # no known-uids
    assert sorted(modseqs(everything)) == [2, 5, 9]  # the new message too

    # live: VANISHED instead of EXPUNGE, FETCH with UID and MODSEQ
    b.ok("UID STORE 6 +FLAGS (\\Deleted)")
    b.ok("UID EXPUNGE 6")
    b.ok("UID STORE 7 +FLAGS (\\Flagged)")
    heard = back.ok("NOOP")
    assert "* VANISHED 6" in heard and not any("EXPUNGE" in ln for ln in heard)
    [flagged] = fetches(heard)
    assert re.fullmatch(r"\* 4 FETCH \(UID 7 FLAGS \(\\Flagged\) MODSEQ \(\d+\)\)", flagged)


def test_malformed_parameters_get_bad_and_others_go_on(user: str, session: Open) -> None:
    t = session(user)
    other = session(user)
    other.ok("SELECT INBOX")
    t.ok("ENABLE QRESYNC")
    t.ok("SELECT INBOX")
    for line, reason in [
        ("SELECT INBOX (QRESYNC (1))", ""),
        ("SELECT INBOX (QRESYNC (1 0))", "must not be 0"),
        ("SELECT INBOX (QRESYNC (1 2 1:*))", '"*" is not allowed'),
        ("SELECT INBOX (QRESYNC (1 2 1:5 (1:3 1:2)))", "differ in number"),
        ("SELECT INBOX (QRESYNC (1 2 $))", ""),
        ("SELECT INBOX (QRESYNC (x 2))", ""),
        ("STORE 1 (UNCHANGEDSINCE x) +FLAGS (\\Seen)", ""),
        ("STORE 1 (UNCHANGEDSINCE 1 UNCHANGEDSINCE 2) +FLAGS (\\Seen)", ""),
        ("FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)", "VANISHED"),
        ("UID FETCH 1 (FLAGS) (VANISHED)", "VANISHED"),
        ("FETCH 1 (FLAGS) (CHANGEDSINCE -1)", ""),
        ("SEARCH MODSEQ", ""),
    ]:
        answer = t.cmd(line)[-1]
        assert answer.startswith("TAG BAD") and reason in answer, (line, answer)
        assert other.ok("NOOP")[-1].startswith("TAG OK")
    assert t.ok("FETCH 1 (UID)")  # the session goes on


def test_no_new_flag_change_is_lost_when_an_old_one_is_skipped(user: str, session: Open) -> None:
    """A flag change committed before a SELECT's snapshot is not reported again after it,
    but every later one is, with its MODSEQ."""
    a = session(user)
    b = session(user)
    b.ok("SELECT INBOX")
    highest = code_value(a.ok("SELECT INBOX (CONDSTORE)"), "HIGHESTMODSEQ")
    b.ok("STORE 1 +FLAGS (\\Seen)")
    b.ok("STORE 1 -FLAGS (\\Seen)")
    heard = a.ok("NOOP")
    [line] = fetches(heard)
    assert re.fullmatch(r"\* 1 FETCH \(UID 1 FLAGS \(\) MODSEQ \((\d+)\)\)", line), heard
    assert modseqs(heard)[1] > highest + 1


def test_sort_and_thread_with_modseq(user: str, session: Open) -> None:
    """RFC 7162 3.1.9, 3.1.10: SORT appends (MODSEQ n), ESORT returns MODSEQ n (of the
    MIN/MAX messages alone when only those are asked), THREAD is unchanged; all enable."""
    t = session(user)
    t.ok("SELECT INBOX")
    highest = modseqs(t.ok("UID FETCH 8 (MODSEQ)"))[8]
    changed = modseqs(t.ok("STORE 2,6 +FLAGS (\\Seen)"))
    top = max(changed.values())
    assert t.ok(f"SORT (REVERSE SUBJECT) UTF-8 MODSEQ {highest + 1}")[0] == (
        f"* SORT 6 2 (MODSEQ {top})"
    )
    assert t.ok(f"SORT (ARRIVAL) UTF-8 MODSEQ {top + 1}")[0] == "* SORT"
    esort = t.ok(f"UID SORT RETURN (MAX) (ARRIVAL) UTF-8 MODSEQ {highest + 1}")
    assert esort[0].endswith(f"UID MAX 6 MODSEQ {changed[6]}"), esort
    threads = t.ok(f"THREAD ORDEREDSUBJECT UTF-8 MODSEQ {highest + 1}")
    assert threads[0] == "* THREAD (2)(6)"


def test_imapclient_condstore_helpers(server: MailServer, user: str) -> None:
    """imapclient's own CONDSTORE support: ENABLE, HIGHESTMODSEQ from select_folder and
    folder_status, fetch modifiers (CHANGEDSINCE), and the MODSEQ of a search result."""
    client = imapclient.IMAPClient(
        "localhost", port=server.ports["imaps"], ssl=True, ssl_context=tls_context(server)
    )
    try:
        client.login(user, PASSWORD)
        assert client.has_capability("CONDSTORE") and client.has_capability("QRESYNC")
        assert client.enable("CONDSTORE") == [b"CONDSTORE"]
        highest = client.select_folder("INBOX")[b"HIGHESTMODSEQ"]
        assert client.folder_status("INBOX", ["HIGHESTMODSEQ"])[b"HIGHESTMODSEQ"] == highest
        client.add_flags([3, 7], [imapclient.SEEN])
        changed = client.fetch(list(range(1, 9)), ["FLAGS"], modifiers=[f"CHANGEDSINCE {highest}"])
        assert sorted(changed) == [3, 7]
        assert all(changed[u][b"MODSEQ"][0] > highest for u in changed)
        found = client.search(["MODSEQ", str(highest + 1)])
        assert sorted(found) == [3, 7]
        assert found.modseq == max(changed[u][b"MODSEQ"][0] for u in changed)
    finally:
        client.logout()


def test_delayed_expunge_holds_highestmodseq_back(user: str, session: Open) -> None:
    """RFC 7162 3.2: while an expunge waits (no VANISHED during FETCH), a QRESYNC client is
    told a HIGHESTMODSEQ below it, so a reconnect from what it saw cannot skip it."""
    a, b = session(user), session(user)
    a.ok("ENABLE QRESYNC")
    a.ok("SELECT INBOX")
    b.ok("SELECT INBOX")
    b.ok("UID STORE 5 +FLAGS.SILENT (\\Deleted)")
    b.ok("UID EXPUNGE 5")
    b.ok("UID STORE 6 +FLAGS (\\Seen)")  # a change with a MODSEQ above the expunge's
    during = a.ok("FETCH 1:2 (FLAGS)")
    assert not any("VANISHED" in ln or "EXPUNGE" in ln for ln in during), during
    told = [int(m) for ln in during for m in re.findall(r"MODSEQ \((\d+)\)", ln)]
    held = code_value(during, "HIGHESTMODSEQ")
    assert held < max(told)  # below the UID 6 change the client has just been told of
    after = a.ok("NOOP")
    assert "* VANISHED 5" in after and not any("HIGHESTMODSEQ" in ln for ln in after)
