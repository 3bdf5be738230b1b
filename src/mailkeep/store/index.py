"""A user's SQLite metadata index: mailboxes, counters, MODSEQ and UID allocation.

Implementation notes (invariants every function here keeps):
- Functions run inside a transaction the caller opened (disk.py's group commit, a SAVEPOINT
  per operation); none commits. A write function returns its result and the change-feed
  events to publish after the commit.
- UIDs: ``mailboxes.uidnext`` only grows (RFC 9051 2.3.1.1); a UID is handed out in the
  same transaction that inserts its row, so a crash can never reuse one.
- MODSEQ: one counter per user (``meta.modseq``), incremented once per write operation;
  a mailbox's ``highestmodseq`` is the largest MODSEQ given to anything in it (RFC 7162).
- Counters: ``mailboxes.messages/size/unseen/deleted`` and ``meta.bytes/messages`` are kept
  in step with the rows by every write; ``verify`` recomputes and compares them.
- Contents (the message file and what was parsed from it) are shared by every copy of a
  message within the user; a content row and its file go when the last copy goes.
- UIDVALIDITY: strictly increasing per user (max(previous + 1, now)), so a mailbox deleted
  and created again never repeats one.
"""

from __future__ import annotations

import bisect
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime

from mailkeep.store.changes import Change, MailboxCreated, MailboxDeleted, MailboxRenamed
from mailkeep.store.errors import (
    MailboxExists,
    MailboxNotAllowed,
    MailboxNotFound,
)
from mailkeep.store.models import (
    DEFAULT_MAILBOXES,
    INBOX,
    Flag,
    MailboxInfo,
    MailboxStatus,
    SpecialUse,
)
from mailkeep.store.names import is_inside, parent_names

MAILBOX_COLUMNS = (
    "id, name, special_use, uidvalidity, uidnext, highestmodseq, recent_from, "
    "messages, size, unseen, deleted"
)


def next_modseq(conn: sqlite3.Connection) -> int:
    """Allocate a new MODSEQ for this operation."""
    row = conn.execute(
        "UPDATE meta SET value = value + 1 WHERE key = 'modseq' RETURNING value"
    ).fetchone()
    return int(row[0])


def current_modseq(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT value FROM meta WHERE key = 'modseq'").fetchone()[0])


def adjust_totals(conn: sqlite3.Connection, messages: int, size: int) -> None:
    """Change the user's totals (quota usage)."""
    conn.execute(
        "UPDATE meta SET value = value + CASE key WHEN 'messages' THEN ? ELSE ? END "
        "WHERE key IN ('messages', 'bytes')",
        (messages, size),
    )


def totals(conn: sqlite3.Connection) -> tuple[int, int]:
    """(bytes, messages) over all the user's mailboxes."""
    rows = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('bytes', 'messages')"))
    return int(rows["bytes"]), int(rows["messages"])


def adjust_mailbox(
    conn: sqlite3.Connection,
    mailbox_id: int,
    *,
    messages: int = 0,
    size: int = 0,
    unseen: int = 0,
    deleted: int = 0,
    modseq: int | None = None,
) -> None:
    """Change a mailbox's counters (and raise its HIGHESTMODSEQ to ``modseq``)."""
    conn.execute(
        "UPDATE mailboxes SET messages = messages + ?, size = size + ?, unseen = unseen + ?, "
        "deleted = deleted + ?, highestmodseq = max(highestmodseq, ?) WHERE id = ?",
        (messages, size, unseen, deleted, modseq or 0, mailbox_id),
    )


def flag_counts(flags: int) -> tuple[int, int]:
    """(unseen, deleted) contributions of one message with ``flags``."""
    return (0 if flags & Flag.SEEN else 1), (1 if flags & Flag.DELETED else 0)


def _new_uidvalidity(conn: sqlite3.Connection, now: datetime) -> int:
    row = conn.execute(
        "UPDATE meta SET value = max(value + 1, ?) WHERE key = 'uidvalidity' RETURNING value",
        (int(now.timestamp()) & 0xFFFFFFFF,),
    ).fetchone()
    return int(row[0])


def set_uidvalidity(conn: sqlite3.Connection, row: sqlite3.Row, uidvalidity: int) -> None:
    """Give a mailbox that never held a message the UIDVALIDITY of an imported one."""
    if not 0 < uidvalidity < 2**32:
        raise MailboxNotAllowed(f"UIDVALIDITY {uidvalidity} is out of range")
    used = conn.execute("SELECT 1 FROM expunged WHERE mailbox_id = ? LIMIT 1", (row["id"],))
    if int(row["uidnext"]) != 1 or used.fetchone() is not None:
        raise MailboxNotAllowed(f"mailbox {row['name']!r} already holds or held messages")
    conn.execute("UPDATE mailboxes SET uidvalidity = ? WHERE id = ?", (uidvalidity, row["id"]))
    conn.execute("UPDATE meta SET value = max(value, ?) WHERE key = 'uidvalidity'", (uidvalidity,))


def mailbox_row(conn: sqlite3.Connection, name: str) -> sqlite3.Row:
    row = conn.execute(
        f"SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE name = ?",  # noqa: S608 (constant)
        (name,),
    ).fetchone()
    if row is None:
        raise MailboxNotFound(f"no mailbox {name!r}")
    return row  # type: ignore[no-any-return]


def mailbox_row_by_id(conn: sqlite3.Connection, mailbox_id: int) -> sqlite3.Row:
    row = conn.execute(
        f"SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE id = ?",  # noqa: S608 (constant)
        (mailbox_id,),
    ).fetchone()
    if row is None:
        raise MailboxNotFound(f"mailbox {mailbox_id} no longer exists")
    return row  # type: ignore[no-any-return]


def _insert_mailbox(
    conn: sqlite3.Connection, name: str, special_use: SpecialUse | None, now: datetime
) -> int:
    modseq = current_modseq(conn)
    row = conn.execute(
        "INSERT INTO mailboxes (name, special_use, uidvalidity, uidnext, highestmodseq, "
        "recent_from) VALUES (?, ?, ?, 1, ?, 1) RETURNING id",
        (name, special_use.value if special_use else None, _new_uidvalidity(conn, now), modseq),
    ).fetchone()
    return int(row[0])


def ensure_user(conn: sqlite3.Connection, now: datetime) -> bool:
    """Create INBOX and the special-use mailboxes (subscribed) for a new user."""
    if conn.execute("SELECT 1 FROM mailboxes LIMIT 1").fetchone() is not None:
        return False
    _insert_mailbox(conn, INBOX, None, now)
    conn.execute("INSERT OR IGNORE INTO subscriptions (name) VALUES (?)", (INBOX,))
    for name, use in DEFAULT_MAILBOXES:
        _insert_mailbox(conn, name, use, now)
        conn.execute("INSERT OR IGNORE INTO subscriptions (name) VALUES (?)", (name,))
    return True


def list_mailboxes(conn: sqlite3.Connection) -> list[MailboxInfo]:
    rows = conn.execute("SELECT id, name, special_use FROM mailboxes ORDER BY name").fetchall()
    subscribed = {r[0] for r in conn.execute("SELECT name FROM subscriptions")}
    names = [r[1] for r in rows]
    result = []
    for i, (mailbox_id, name, use) in enumerate(rows):
        prefix = name + "/"
        # Sorted by name: children, if any, follow after names sorting between.
        has_children = any(n.startswith(prefix) for n in names[i + 1 :])
        result.append(
            MailboxInfo(
                id=mailbox_id,
                name=name,
                special_use=SpecialUse(use) if use else None,
                subscribed=name in subscribed,
                has_children=has_children,
            )
        )
    return result


def subscriptions(conn: sqlite3.Connection) -> list[str]:
    return [r[0] for r in conn.execute("SELECT name FROM subscriptions ORDER BY name")]


def set_subscribed(conn: sqlite3.Connection, name: str, subscribed: bool) -> None:
    if subscribed:
        conn.execute("INSERT OR IGNORE INTO subscriptions (name) VALUES (?)", (name,))
    else:
        conn.execute("DELETE FROM subscriptions WHERE name = ?", (name,))


def create_mailbox(
    conn: sqlite3.Connection,
    name: str,
    special_use: SpecialUse | None,
    now: datetime,
    max_mailboxes: int,
) -> tuple[MailboxInfo, list[Change]]:
    """CREATE with missing superiors; see MailStore.create_mailbox."""
    exists = conn.execute("SELECT 1 FROM mailboxes WHERE name = ?", (name,)).fetchone()
    if exists is not None:
        raise MailboxExists(f"mailbox {name!r} already exists")
    missing = [
        p
        for p in parent_names(name)
        if conn.execute("SELECT 1 FROM mailboxes WHERE name = ?", (p,)).fetchone() is None
    ]
    (count,) = conn.execute("SELECT count(*) FROM mailboxes").fetchone()
    if max_mailboxes and count + len(missing) + 1 > max_mailboxes:
        raise MailboxNotAllowed(f"too many mailboxes (limit {max_mailboxes})")
    events: list[Change] = []
    for parent in missing:
        events.append(MailboxCreated(_insert_mailbox(conn, parent, None, now), parent))
    mailbox_id = _insert_mailbox(conn, name, special_use, now)
    events.append(MailboxCreated(mailbox_id, name))
    subscribed = conn.execute("SELECT 1 FROM subscriptions WHERE name = ?", (name,)).fetchone()
    info = MailboxInfo(mailbox_id, name, special_use, subscribed is not None, False)
    return info, events


def has_children(conn: sqlite3.Connection, name: str) -> bool:
    prefix = name + "/"
    row = conn.execute(
        "SELECT 1 FROM mailboxes WHERE substr(name, 1, ?) = ? LIMIT 1", (len(prefix), prefix)
    ).fetchone()
    return row is not None


def delete_mailbox_row(conn: sqlite3.Connection, name: str) -> tuple[int, list[Change]]:
    """Check DELETE is allowed and drop the mailbox row; the caller removes the messages."""
    if name == INBOX:
        raise MailboxNotAllowed("INBOX cannot be deleted")
    row = mailbox_row(conn, name)
    if has_children(conn, name):
        raise MailboxNotAllowed(f"mailbox {name!r} has children: delete them first")
    conn.execute("DELETE FROM mailboxes WHERE id = ?", (row["id"],))
    conn.execute("DELETE FROM mailbox_keywords WHERE mailbox_id = ?", (row["id"],))
    conn.execute("DELETE FROM expunged WHERE mailbox_id = ?", (row["id"],))
    return int(row["id"]), [MailboxDeleted(int(row["id"]), name)]


def rename_mailbox(
    conn: sqlite3.Connection, old: str, new: str, now: datetime, max_mailboxes: int
) -> tuple[int | None, list[Change]]:
    """RENAME a mailbox and its children. For INBOX, returns the id of the new mailbox the
    caller must move INBOX's messages into; otherwise None."""
    row = mailbox_row(conn, old)
    if old == new:
        raise MailboxExists(f"mailbox {new!r} already exists")
    if conn.execute("SELECT 1 FROM mailboxes WHERE name = ?", (new,)).fetchone() is not None:
        raise MailboxExists(f"mailbox {new!r} already exists")
    if is_inside(new, old):
        raise MailboxNotAllowed("a mailbox cannot be renamed into itself")
    if old == INBOX:
        info, created = create_mailbox(conn, new, None, now, max_mailboxes)
        return info.id, created
    events: list[Change] = []
    for parent in parent_names(new):
        if conn.execute("SELECT 1 FROM mailboxes WHERE name = ?", (parent,)).fetchone() is None:
            events.append(MailboxCreated(_insert_mailbox(conn, parent, None, now), parent))
    prefix = old + "/"
    children = conn.execute(
        "SELECT id, name FROM mailboxes WHERE substr(name, 1, ?) = ?", (len(prefix), prefix)
    ).fetchall()
    moves = [(int(row["id"]), old, new)] + [
        (int(cid), cname, new + cname[len(old) :]) for cid, cname in children
    ]
    # Two steps so that no intermediate state violates the UNIQUE(name) constraint.
    for mid, _, _ in moves:
        conn.execute("UPDATE mailboxes SET name = ? || id WHERE id = ?", ("\x01rename-", mid))
    for mid, source, target in moves:
        conn.execute("UPDATE mailboxes SET name = ? WHERE id = ?", (target, mid))
        events.append(MailboxRenamed(mid, source, target))
    return None, events


def first_unseen_uid(conn: sqlite3.Connection, mailbox_id: int) -> int | None:
    row = conn.execute(
        "SELECT min(uid) FROM messages WHERE mailbox_id = ? AND (flags & 1) = 0", (mailbox_id,)
    ).fetchone()
    return None if row[0] is None else int(row[0])


def mailbox_keywords(conn: sqlite3.Connection, mailbox_id: int) -> tuple[str, ...]:
    return tuple(
        r[0]
        for r in conn.execute(
            "SELECT keyword FROM mailbox_keywords WHERE mailbox_id = ? ORDER BY keyword",
            (mailbox_id,),
        )
    )


def status_of(
    conn: sqlite3.Connection, row: sqlite3.Row, uids: Sequence[int] | None = None
) -> MailboxStatus:
    """A MailboxStatus from a mailboxes row (counters are maintained, so this is cheap).
    Given the mailbox's ascending ``uids`` (a SELECT reads them anyway), the recent count is
    taken from them instead of a query."""
    mailbox_id = int(row["id"])
    if uids is not None:
        recent = len(uids) - bisect.bisect_left(uids, int(row["recent_from"]))
    else:
        recent = conn.execute(
            "SELECT count(*) FROM messages WHERE mailbox_id = ? AND uid >= ?",
            (mailbox_id, row["recent_from"]),
        ).fetchone()[0]
    return MailboxStatus(
        id=mailbox_id,
        name=row["name"],
        uidvalidity=int(row["uidvalidity"]),
        uidnext=int(row["uidnext"]),
        highestmodseq=int(row["highestmodseq"]),
        messages=int(row["messages"]),
        unseen=int(row["unseen"]),
        deleted=int(row["deleted"]),
        recent=int(recent),
        size=int(row["size"]),
        first_unseen_uid=first_unseen_uid(conn, mailbox_id) if row["unseen"] else None,
        keywords=mailbox_keywords(conn, mailbox_id),
    )


def existing_uids(
    conn: sqlite3.Connection, mailbox_id: int, ranges: Iterable[tuple[int, int]]
) -> list[int]:
    """The UIDs of ``ranges`` that exist in the mailbox, ascending."""
    result: list[int] = []
    for lo, hi in ranges:
        result.extend(
            r[0]
            for r in conn.execute(
                "SELECT uid FROM messages WHERE mailbox_id = ? AND uid BETWEEN ? AND ? "
                "ORDER BY uid",
                (mailbox_id, lo, hi),
            )
        )
    return result
