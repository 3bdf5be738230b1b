"""``verify``: check one user's store, and optionally repair it.

Checks: SQLite's own integrity check; every content row's file exists with the recorded
size; no stray files (unreferenced files older than an hour: younger ones may belong to a
delivery in flight, and a crash leaves such files behind); no content row without a
message; every mailbox's UIDNEXT above its largest UID; the mailbox
counters and the user's totals equal to what the rows say.

Repair (inside one write transaction): messages whose file is gone are expunged (recorded
with a new MODSEQ so IMAP clients hear of it), stray files and orphan contents removed,
UIDNEXT raised, counters recomputed. A crash only ever leaves stray files behind (files
are durable before rows refer to them), so after ``kill -9`` the store works without
repair and ``--repair`` merely tidies.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

from mailkeep.store import index, messages
from mailkeep.store.files import MessageFiles
from mailkeep.store.models import VerifyReport

_STRAY_GRACE_SECONDS = 3600  # a stray file younger than this may be a delivery in flight


def verify(
    conn: sqlite3.Connection, files: MessageFiles, user_id: int, repair: bool, now: datetime
) -> VerifyReport:
    problems: list[str] = []
    result = conn.execute("PRAGMA quick_check").fetchall()
    if [r[0] for r in result] != ["ok"]:
        problems.extend(f"database: {r[0]}" for r in result[:20])
    contents = {
        str(token): (int(cid), int(size))
        for cid, token, size in conn.execute("SELECT id, file, size FROM contents")
    }
    missing: list[int] = []
    for token, (cid, size) in contents.items():
        path = files.path(token)
        try:
            actual = path.stat().st_size
        except FileNotFoundError:
            problems.append(f"message file {token} is missing")
            missing.append(cid)
            continue
        if actual != size:
            problems.append(f"message file {token} has {actual} bytes, recorded {size}")
    for name, path in files.walk():
        if name in contents:
            continue
        try:
            age = now.timestamp() - path.stat().st_mtime
        except FileNotFoundError:
            continue
        if age < _STRAY_GRACE_SECONDS:
            continue  # may belong to a delivery in flight: written, not yet committed
        problems.append(f"stray file {name}")
        if repair:
            path.unlink(missing_ok=True)
    orphans = [
        int(r[0])
        for r in conn.execute(
            "SELECT id FROM contents WHERE NOT EXISTS "
            "(SELECT 1 FROM messages m WHERE m.content_id = contents.id)"
        )
    ]
    problems.extend(f"content {cid} has no message" for cid in orphans)
    for mid, name, uidnext, max_uid in conn.execute(
        "SELECT b.id, b.name, b.uidnext, max(m.uid) FROM mailboxes b "
        "JOIN messages m ON m.mailbox_id = b.id GROUP BY b.id"
    ).fetchall():
        if max_uid >= uidnext:
            problems.append(f"mailbox {name!r}: UIDNEXT {uidnext} <= largest UID {max_uid}")
            if repair:
                conn.execute("UPDATE mailboxes SET uidnext = ? WHERE id = ?", (max_uid + 1, mid))
    if repair and missing:
        modseq = index.next_modseq(conn)
        for cid in missing:
            for mid, uid in conn.execute(
                "SELECT mailbox_id, uid FROM messages WHERE content_id = ?", (cid,)
            ).fetchall():
                messages.remove_messages(conn, mid, [uid], modseq)
    if repair and orphans:
        for token in messages.drop_unreferenced(conn, orphans):
            files.remove(token)
    problems.extend(_check_counters(conn, repair))
    (count,) = conn.execute("SELECT count(*) FROM messages").fetchone()
    return VerifyReport(user_id, int(count), tuple(problems), repair and bool(problems))


def _check_counters(conn: sqlite3.Connection, repair: bool) -> list[str]:
    problems: list[str] = []
    actual = {
        int(r[0]): tuple(int(v or 0) for v in r[1:])
        for r in conn.execute(
            "SELECT b.id, count(m.uid), sum(m.size), sum((m.flags & 1) = 0), "
            "sum((m.flags & 8) != 0) FROM mailboxes b LEFT JOIN messages m "
            "ON m.mailbox_id = b.id GROUP BY b.id"
        )
    }
    for mid, name, *stored in conn.execute(
        "SELECT id, name, messages, size, unseen, deleted FROM mailboxes"
    ).fetchall():
        if tuple(stored) != actual.get(mid, (0, 0, 0, 0)):
            problems.append(f"mailbox {name!r}: counters {tuple(stored)} != {actual[mid]}")
            if repair:
                conn.execute(
                    "UPDATE mailboxes SET messages = ?, size = ?, unseen = ?, deleted = ? "
                    "WHERE id = ?",
                    (*actual[mid], mid),
                )
    total_messages = sum(v[0] for v in actual.values())
    total_bytes = sum(v[1] for v in actual.values())
    if index.totals(conn) != (total_bytes, total_messages):
        problems.append(f"totals {index.totals(conn)} != {(total_bytes, total_messages)}")
        if repair:
            conn.execute("UPDATE meta SET value = ? WHERE key = 'bytes'", (total_bytes,))
            conn.execute("UPDATE meta SET value = ? WHERE key = 'messages'", (total_messages,))
    return problems
