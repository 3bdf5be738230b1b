"""Import from Maildir (one made by Debian's Dovecot) and mbox; export to Maildir."""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
from pathlib import Path

from mailkeep.store import transfer
from mailkeep.store.disk import DiskStore
from mailkeep.store.interface import MailStore
from mailkeep.store.models import INBOX, Flag, FlagOp, NewMessage, Quota, UidSet
from tests.store.conftest import Clock, message
from tests.tools import require_tool

DOVECOT_IMAP = Path("/usr/lib/dovecot/imap")


def run_store(root: Path, body) -> None:  # type: ignore[no-untyped-def]
    async def main() -> None:
        store = DiskStore(root, clock=Clock())
        try:
            await body(store)
        finally:
            await store.close()

    asyncio.run(main())


def dovecot_session(home: Path, commands: list[bytes]) -> bytes:
    """Run Dovecot's imap binary pre-authenticated on ``home``; return what it answered."""
    require_tool("doveadm")
    uid = 65534 if os.getuid() == 0 else os.getuid()  # Dovecot refuses to work as root
    config = home / "dovecot.conf"
    config.write_text(
        f"mail_location = maildir:{home}/Maildir\nmail_uid = {uid}\nmail_gid = {uid}\n"
        f"first_valid_uid = 1\nfirst_valid_gid = 1\nssl = no\nlog_path = {home}/log\n"
        f"base_dir = {home}/run\nstate_dir = {home}/state\n"
    )
    os.chown(home, uid, uid)
    result = subprocess.run(
        [str(DOVECOT_IMAP), "-c", str(config)],
        input=b"".join(commands),
        env={"USER": "ann", "HOME": str(home), "PATH": os.environ.get("PATH", "")},
        capture_output=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def append(tag: str, mailbox: str, flags: str, raw: bytes) -> bytes:
    return f'{tag} APPEND "{mailbox}" ({flags}) {{{len(raw)}+}}\r\n'.encode() + raw + b"\r\n"


def test_import_a_maildir_made_by_dovecot(tmp_path: Path) -> None:
    # Dovecot runs as an unprivileged user: its home must not sit under pytest's 0700 dirs.
    with tempfile.TemporaryDirectory(prefix="mailkeep-dovecot-") as home_dir:
        import_dovecot_maildir(Path(home_dir), tmp_path)


def import_dovecot_maildir(home: Path, tmp_path: Path) -> None:
    raws = [message(f"m{i}", f"body {i}") for i in range(4)]
    out = dovecot_session(
        home,
        [
            b'a CREATE "Work.Projects"\r\n',
            b'b CREATE "Caf&AOk-"\r\n',
            append("c", "INBOX", "\\Flagged", raws[0]),
            append("d", "INBOX", "", raws[1]),
            append("e", "INBOX", "\\Seen \\Answered", raws[2]),
            append("f", "Work.Projects", "\\Seen", raws[3]),
            b"g SELECT INBOX\r\n",
            b"h UID STORE 2 +FLAGS (\\Deleted)\r\n",
            b"i EXPUNGE\r\n",
            b"j UID STORE 3 +FLAGS ($Forwarded Important $Label1)\r\n",
            b"k LOGOUT\r\n",
        ],
    )
    assert out.count(b" OK ") >= 10, out
    validity = int(out.split(b"[UIDVALIDITY ")[1].split(b"]")[0])

    async def body(store: MailStore) -> None:
        report = await transfer.import_maildir(store, 1, home / "Maildir", Quota())
        assert report.messages == 3
        names = {b.name for b in await store.list_mailboxes(1)}
        assert {"INBOX", "Work/Projects", "Café"} <= names
        inbox = await store.status(1, INBOX)
        assert inbox.uidvalidity == validity and inbox.uidnext == 4
        metas = {m.uid: m for m in await store.fetch(1, inbox.id, UidSet.span(1, 10))}
        assert sorted(metas) == [1, 3]  # UID 2 was expunged in Dovecot
        assert metas[1].flags == Flag.FLAGGED
        assert metas[3].flags == Flag.SEEN | Flag.ANSWERED
        assert metas[3].keywords == frozenset({"$Forwarded", "Important", "$Label1"})
        assert await store.read_message(1, inbox.id, 3) == raws[2]
        work = await store.status(1, "Work/Projects")
        [moved] = await store.fetch(1, work.id, UidSet.span(1, 10))
        assert moved.flags == Flag.SEEN
        assert await store.read_message(1, work.id, moved.uid) == raws[3]

    run_store(tmp_path / "mail", body)


def test_import_mbox(tmp_path: Path) -> None:
    mbox = tmp_path / "saved.mbox"
    mbox.write_bytes(
        b"From alice@example.org Tue Jan  2 10:00:00 2024\n"
        b"Subject: one\nStatus: RO\nX-Status: AF\n\nHello\n>From the start\n\n"
        b"From bob@example.org Wed Jan  3 11:30:00 2024\n"
        b"Subject: two\n\nSecond\n"
    )

    async def body(store: MailStore) -> None:
        report = await transfer.import_mbox(store, 1, mbox, "Old mail", Quota())
        assert report.messages == 2
        box = await store.status(1, "Old mail")
        first, second = await store.fetch(1, box.id, UidSet.span(1, 2))
        assert first.flags == Flag.SEEN | Flag.ANSWERED | Flag.FLAGGED
        assert second.flags == Flag.NONE
        assert first.internal_date.isoformat() == "2024-01-02T10:00:00+00:00"
        raw = await store.read_message(1, box.id, 1)
        assert (
            raw == b"Subject: one\r\nStatus: RO\r\nX-Status: AF\r\n\r\nHello\r\nFrom the start\r\n"
        )
        assert await store.read_message(1, box.id, 2) == b"Subject: two\r\n\r\nSecond\r\n"

    run_store(tmp_path / "mail", body)


def test_export_then_import_round_trip(tmp_path: Path) -> None:
    out = tmp_path / "export"

    async def body(store: MailStore) -> None:
        await store.create_mailbox(1, "Été/2024")
        for i in range(3):
            await store.append(
                1, INBOX, [NewMessage(message(f"m{i}"), keywords=frozenset({f"k{i}"}))], Quota()
            )
        await store.append(1, "Été/2024", [NewMessage(message("x"), Flag.DRAFT)], Quota())
        inbox = await store.status(1, INBOX)
        await store.store_flags(1, inbox.id, UidSet.of([2]), FlagOp.ADD, Flag.DELETED)
        await store.expunge(1, inbox.id)
        await store.store_flags(
            1, inbox.id, UidSet.of([3]), FlagOp.ADD, Flag.SEEN, frozenset({"$Forwarded"})
        )
        exported = await transfer.export_maildir(store, 1, out)
        assert exported.messages == 3
        await transfer.import_maildir(store, 2, out, Quota())
        for name in ("INBOX", "Été/2024"):
            a, b = await store.status(1, name), await store.status(2, name)
            assert (a.uidvalidity, a.uidnext, a.messages) == (b.uidvalidity, b.uidnext, b.messages)
            metas_a = await store.fetch(1, a.id, UidSet.span(1, 100))
            metas_b = await store.fetch(2, b.id, UidSet.span(1, 100))
            assert [(m.uid, m.flags, m.keywords, m.internal_date) for m in metas_a] == [
                (m.uid, m.flags, m.keywords, m.internal_date) for m in metas_b
            ]
            for m in metas_a:
                assert await store.read_message(1, a.id, m.uid) == await store.read_message(
                    2, b.id, m.uid
                )

    run_store(tmp_path / "mail", body)
