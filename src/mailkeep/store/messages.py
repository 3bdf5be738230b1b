"""Message operations on a user's SQLite index (append, fetch, flags, copy, expunge).

Same invariants as index.py: called inside the caller's transaction, never commits, returns
results plus change-feed events (and the message files that became unreferenced, which the
caller deletes after the commit).
"""

from __future__ import annotations

import array
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mailkeep.mail.envelope import Envelope
from mailkeep.store import index
from mailkeep.store.changes import Change, FlagsChanged, MessagesAdded, MessagesExpunged
from mailkeep.store.errors import MailboxNotAllowed, QuotaExceeded
from mailkeep.store.extract import Extracted, unpack_envelope
from mailkeep.store.models import (
    AppendResult,
    CopyResult,
    Flag,
    FlagChange,
    FlagOp,
    HeaderFields,
    MessageMeta,
    Quota,
    SortRow,
    StoreFlagsResult,
    UidSet,
    from_epoch,
    to_epoch,
)
from mailkeep.store.names import check_keyword
from mailkeep.store.query import fold, keyword_key


@dataclass(frozen=True, slots=True)
class PreparedMessage:
    """A message whose file is written and durable, ready to be recorded."""

    token: str
    size: int
    extracted: Extracted
    flags: Flag
    keywords: frozenset[str]
    internal_date: datetime | None


def check_quota(conn: sqlite3.Connection, quota: Quota, add_messages: int, add_bytes: int) -> None:
    """Raise QuotaExceeded when adding would pass a limit (RFC 9208 5.1, 0 = unlimited)."""
    used_bytes, used_messages = index.totals(conn)
    if quota.max_messages and used_messages + add_messages > quota.max_messages:
        raise QuotaExceeded("messages", quota.max_messages, used_messages)
    if quota.max_bytes and used_bytes + add_bytes > quota.max_bytes:
        raise QuotaExceeded("storage", quota.max_bytes, used_bytes)


def insert_content(conn: sqlite3.Connection, token: str, size: int, ex: Extracted) -> int:
    """Record a message file and what was parsed from it; queue its text for the index."""
    f = ex.fields
    sent, sent_tz = to_epoch(f.sent_date) if f.sent_date else (None, None)
    row = conn.execute(
        "INSERT INTO contents (file, size, sent_date, sent_tz, subject, base_subject, "
        "sort_from, sort_to, sort_cc, display_from, display_to, message_id, in_reply_to, "
        "refs, f_subject, f_from, f_to, f_cc, f_bcc, preview, info) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            token,
            size,
            sent,
            sent_tz,
            f.subject,
            f.base_subject,
            f.sort_from,
            f.sort_to,
            f.sort_cc,
            f.display_from,
            f.display_to,
            f.message_id,
            f.in_reply_to,
            f.references,
            *(fold(ex.indexed.get(n, "")) for n in ("subject", "from", "to", "cc", "bcc")),
            ex.preview,
            ex.info,
        ),
    ).fetchone()
    content_id = int(row[0])
    # A narrow table of its own: FETCH 1:* ENVELOPE reads it for every message.
    conn.execute(
        "INSERT INTO envelopes (content_id, envelope) VALUES (?, ?)", (content_id, ex.envelope)
    )
    conn.execute(
        "INSERT INTO index_queue (content_id, h, b) VALUES (?, ?, ?)",
        (content_id, fold(ex.header_text), fold(ex.body_text)),
    )
    return content_id


def normalize_keywords(
    conn: sqlite3.Connection, mailbox_id: int, keywords: Iterable[str]
) -> list[str]:
    """Validate keywords, spell them as the mailbox already does, and register new ones."""
    known = {keyword_key(k): k for k in index.mailbox_keywords(conn, mailbox_id)}
    result = []
    for keyword in keywords:
        check_keyword(keyword)
        spelled = known.get(keyword_key(keyword))
        if spelled is None:
            conn.execute(
                "INSERT INTO mailbox_keywords (mailbox_id, keyword) VALUES (?, ?)",
                (mailbox_id, keyword),
            )
            known[keyword_key(keyword)] = spelled = keyword
        result.append(spelled)
    return sorted(set(result))


def _insert_message(
    conn: sqlite3.Connection,
    mailbox_id: int,
    uid: int,
    modseq: int,
    flags: int,
    keywords: str,
    content_id: int,
    size: int,
    internal: tuple[int, int],
    save_date: int,
) -> None:
    conn.execute(
        "INSERT INTO messages (mailbox_id, uid, modseq, flags, keywords, content_id, size, "
        "internal_date, internal_tz, save_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (mailbox_id, uid, modseq, flags, keywords, content_id, size, *internal, save_date),
    )


def append(
    conn: sqlite3.Connection,
    mailbox: str,
    prepared: Sequence[PreparedMessage],
    quota: Quota,
    now: datetime,
    uids: Sequence[int] | None = None,
    uidvalidity: int | None = None,
) -> tuple[AppendResult, list[Change]]:
    """Record durable message files as new messages of ``mailbox`` (all or nothing); an
    import may give the UIDs (ascending, from UIDNEXT on) and, for a mailbox that never held
    a message, the UIDVALIDITY to keep."""
    row = index.mailbox_row(conn, mailbox)
    mailbox_id = int(row["id"])
    if uidvalidity is not None:
        index.set_uidvalidity(conn, row, uidvalidity)
        row = index.mailbox_row(conn, mailbox)
    if uids is not None:
        check_kept_uids(uids, len(prepared), int(row["uidnext"]))
    check_quota(conn, quota, len(prepared), sum(p.size for p in prepared))
    modseq = index.next_modseq(conn)
    uid = int(row["uidnext"])
    assigned: list[int] = []
    size_total = unseen_total = deleted_total = 0
    save = int(now.timestamp())
    for i, p in enumerate(prepared):
        if uids is not None:
            uid = uids[i]
        assigned.append(uid)
        content_id = insert_content(conn, p.token, p.size, p.extracted)
        keywords = " ".join(normalize_keywords(conn, mailbox_id, p.keywords))
        internal = to_epoch(p.internal_date or now)
        _insert_message(
            conn,
            mailbox_id,
            uid,
            modseq,
            int(p.flags),
            keywords,
            content_id,
            p.size,
            internal,
            save,
        )
        unseen, deleted = index.flag_counts(int(p.flags))
        size_total += p.size
        unseen_total += unseen
        deleted_total += deleted
        uid += 1
    conn.execute("UPDATE mailboxes SET uidnext = ? WHERE id = ?", (uid, mailbox_id))
    index.adjust_mailbox(
        conn,
        mailbox_id,
        messages=len(prepared),
        size=size_total,
        unseen=unseen_total,
        deleted=deleted_total,
        modseq=modseq,
    )
    index.adjust_totals(conn, len(prepared), size_total)
    added = UidSet.of(assigned)
    result = AppendResult(mailbox_id, int(row["uidvalidity"]), added)
    return result, [MessagesAdded(mailbox_id, added, uid, modseq)]


def check_kept_uids(uids: Sequence[int], count: int, uidnext: int) -> None:
    """UIDs an import wants to keep must be one per message, ascending, from UIDNEXT on."""
    if len(uids) != count:
        raise ValueError("one UID per imported message")
    previous = uidnext - 1
    for uid in uids:
        if not previous < uid < 2**32:
            raise MailboxNotAllowed(f"UID {uid} cannot be kept (UIDNEXT is {previous + 1})")
        previous = uid


_META_COLUMNS = (
    "m.uid, m.modseq, m.flags, m.keywords, m.size, m.internal_date, m.internal_tz, m.save_date"
)
_FIELD_COLUMNS = (
    ", c.subject, c.base_subject, c.sort_from, c.sort_to, c.sort_cc, c.display_from, "
    "c.display_to, c.sent_date, c.sent_tz, c.message_id, c.in_reply_to, c.refs"
)


_NO_KEYWORDS: frozenset[str] = frozenset()
_FLAGS = tuple(Flag(i) for i in range(32))  # Flag(n) costs microseconds; FETCH 1:* is hot


def _keywords(text: str) -> frozenset[str]:
    return frozenset(text.split()) if text else _NO_KEYWORDS


def _meta(
    row: tuple[Any, ...], with_info: bool, with_fields: bool, with_envelope: bool
) -> MessageMeta:
    """A MessageMeta from a row of _META_COLUMNS and the optional groups, in fetch's order."""
    preview = ""
    info: bytes | None = None
    fields: HeaderFields | None = None
    envelope: Envelope | None = None
    at = 8
    if with_info or with_fields:
        preview = row[at]
        at += 1
    if with_info:
        info = bytes(row[at])
        at += 1
    if with_fields:
        f = row[at : at + 12]
        sent = from_epoch(f[7], f[8]) if f[7] is not None else None
        fields = HeaderFields(
            subject=f[0],
            base_subject=f[1],
            sort_from=f[2],
            sort_to=f[3],
            sort_cc=f[4],
            display_from=f[5],
            display_to=f[6],
            sent_date=sent,
            message_id=f[9],
            in_reply_to=f[10],
            references=f[11],
        )
        at += 12
    if with_envelope:
        envelope = unpack_envelope(row[at])
    return MessageMeta(
        row[0],
        row[1],
        _FLAGS[row[2]],
        _keywords(row[3]),
        row[4],
        row[5],
        row[6],
        row[7],
        preview,
        info,
        fields,
        envelope,
    )  # positional: measurably cheaper for FETCH 1:*


def fetch(
    conn: sqlite3.Connection,
    mailbox_id: int,
    uids: UidSet,
    changed_since: int | None,
    with_info: bool,
    with_fields: bool,
    with_envelope: bool = False,
) -> list[MessageMeta]:
    index.mailbox_row_by_id(conn, mailbox_id)
    join = with_info or with_fields
    columns = _META_COLUMNS
    if join:
        columns += ", c.preview"
    if with_info:
        columns += ", c.info"
    if with_fields:
        columns += _FIELD_COLUMNS
    if with_envelope:
        columns += ", e.envelope"
    # CHANGEDSINCE (QRESYNC resynchronisation) walks the MODSEQ index, so a few changes in a
    # big mailbox cost a few rows, not a scan (RFC 7162 3.2.5.2).
    table = "messages m INDEXED BY messages_modseq" if changed_since else "messages m"
    sql = f"SELECT {columns} FROM {table} "  # noqa: S608 (constant columns)
    if join:
        sql += "JOIN contents c ON c.id = m.content_id "
    if with_envelope:
        sql += "JOIN envelopes e ON e.content_id = m.content_id "
    sql += "WHERE m.mailbox_id = ? AND m.modseq > ? AND m.uid BETWEEN ? AND ?"
    if not changed_since:
        sql += " ORDER BY m.uid"
    result: list[MessageMeta] = []
    cursor = conn.cursor()
    cursor.row_factory = None  # plain tuples: FETCH 1:* is the hottest read
    for lo, hi in uids.ranges:
        rows = cursor.execute(sql, (mailbox_id, changed_since or 0, lo, hi)).fetchall()
        if changed_since:
            rows.sort()  # by UID, the first column
        result.extend(_meta(row, with_info, with_fields, with_envelope) for row in rows)
    return result


_SORT_SQL = (
    "SELECT m.uid, m.size, m.internal_date, COALESCE(c.sent_date, m.internal_date), "
    "c.subject, c.base_subject, c.sort_from, c.sort_to, c.sort_cc, c.display_from, "
    "c.display_to, c.message_id, c.in_reply_to, c.refs "
    "FROM messages m JOIN contents c ON c.id = m.content_id "
    "WHERE m.mailbox_id = ? AND m.uid BETWEEN ? AND ? ORDER BY m.uid"
)


def sort_fields(conn: sqlite3.Connection, mailbox_id: int, uids: UidSet) -> list[SortRow]:
    """SORT/THREAD fields of the messages in ``uids``, ascending: one query over the span
    of ``uids`` (a search result has many small ranges), filtered here."""
    index.mailbox_row_by_id(conn, mailbox_id)
    if not uids:
        return []
    ranges = uids.ranges
    cursor = conn.cursor()
    cursor.row_factory = None
    rows = cursor.execute(_SORT_SQL, (mailbox_id, ranges[0][0], ranges[-1][1])).fetchall()
    if len(ranges) > 1:
        wanted = set(uids)
        rows = [row for row in rows if row[0] in wanted]
    return list(map(SortRow._make, rows))


def message_file(conn: sqlite3.Connection, mailbox_id: int, uid: int) -> str | None:
    row = conn.execute(
        "SELECT c.file FROM messages m JOIN contents c ON c.id = m.content_id "
        "WHERE m.mailbox_id = ? AND m.uid = ?",
        (mailbox_id, uid),
    ).fetchone()
    return None if row is None else str(row[0])


def _new_flags(
    op: FlagOp, old_flags: int, old_keywords: frozenset[str], flags: int, keywords: list[str]
) -> tuple[int, frozenset[str]]:
    old_by_key = {keyword_key(k): k for k in old_keywords}
    if op is FlagOp.REPLACE:
        return flags, frozenset(keywords)
    if op is FlagOp.ADD:
        merged = dict(old_by_key)
        for k in keywords:
            merged.setdefault(keyword_key(k), k)
        return old_flags | flags, frozenset(merged.values())
    removed = {keyword_key(k) for k in keywords}
    return old_flags & ~flags, frozenset(v for k, v in old_by_key.items() if k not in removed)


def store_flags(
    conn: sqlite3.Connection,
    mailbox_id: int,
    uids: UidSet,
    op: FlagOp,
    flags: Flag,
    keywords: frozenset[str],
    unchanged_since: int | None,
) -> tuple[StoreFlagsResult, list[Change]]:
    index.mailbox_row_by_id(conn, mailbox_id)
    wanted = normalize_keywords(conn, mailbox_id, keywords) if op is not FlagOp.REMOVE else []
    if op is FlagOp.REMOVE:
        wanted = [check_keyword(k) for k in keywords]
    modseq: int | None = None
    changed: list[FlagChange] = []
    modified: list[int] = []
    d_unseen = d_deleted = 0
    for lo, hi in uids.ranges:
        rows = conn.execute(
            "SELECT uid, modseq, flags, keywords FROM messages "
            "WHERE mailbox_id = ? AND uid BETWEEN ? AND ? ORDER BY uid",
            (mailbox_id, lo, hi),
        ).fetchall()
        for uid, old_modseq, old_flags, old_kw_text in rows:
            if unchanged_since is not None and old_modseq > unchanged_since:
                modified.append(uid)  # RFC 7162 3.1.3: MODIFIED, even if a no-op
                continue
            old_kw = _keywords(old_kw_text)
            new_flags, new_kw = _new_flags(op, old_flags, old_kw, int(flags), wanted)
            if new_flags == old_flags and new_kw == old_kw:
                continue
            if modseq is None:
                modseq = index.next_modseq(conn)
            conn.execute(
                "UPDATE messages SET flags = ?, keywords = ?, modseq = ? "
                "WHERE mailbox_id = ? AND uid = ?",
                (new_flags, " ".join(sorted(new_kw)), modseq, mailbox_id, uid),
            )
            old_unseen, old_deleted = index.flag_counts(old_flags)
            new_unseen, new_deleted = index.flag_counts(new_flags)
            d_unseen += new_unseen - old_unseen
            d_deleted += new_deleted - old_deleted
            changed.append(FlagChange(uid, modseq, Flag(new_flags), new_kw))
    events: list[Change] = []
    if modseq is not None:
        index.adjust_mailbox(conn, mailbox_id, unseen=d_unseen, deleted=d_deleted, modseq=modseq)
        events.append(FlagsChanged(mailbox_id, tuple(changed), modseq))
    return StoreFlagsResult(tuple(changed), UidSet.of(modified)), events


def remove_messages(
    conn: sqlite3.Connection, mailbox_id: int, uids: Sequence[int], modseq: int | None
) -> list[str]:
    """Delete message rows (recording them as expunged at ``modseq`` unless None, which is
    for a mailbox being deleted); return the files of contents no copy refers to any more."""
    size_total = unseen_total = deleted_total = 0
    content_ids: set[int] = set()
    for uid in uids:
        row = conn.execute(
            "DELETE FROM messages WHERE mailbox_id = ? AND uid = ? "
            "RETURNING flags, size, content_id",
            (mailbox_id, uid),
        ).fetchone()
        if row is None:
            continue
        unseen, deleted = index.flag_counts(row[0])
        size_total += row[1]
        unseen_total += unseen
        deleted_total += deleted
        content_ids.add(row[2])
        if modseq is not None:
            conn.execute(
                "INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq) VALUES (?, ?, ?)",
                (mailbox_id, uid, modseq),
            )
    count = len(uids)
    index.adjust_mailbox(
        conn,
        mailbox_id,
        messages=-count,
        size=-size_total,
        unseen=-unseen_total,
        deleted=-deleted_total,
        modseq=modseq,
    )
    index.adjust_totals(conn, -count, -size_total)
    return drop_unreferenced(conn, content_ids)


def drop_unreferenced(conn: sqlite3.Connection, content_ids: Iterable[int]) -> list[str]:
    """Delete contents no message refers to; return their file tokens."""
    files: list[str] = []
    for content_id in content_ids:
        used = conn.execute(
            "SELECT 1 FROM messages WHERE content_id = ? LIMIT 1", (content_id,)
        ).fetchone()
        if used is not None:
            continue
        row = conn.execute(
            "DELETE FROM contents WHERE id = ? RETURNING file", (content_id,)
        ).fetchone()
        conn.execute("DELETE FROM fts WHERE rowid = ?", (content_id,))
        conn.execute("DELETE FROM envelopes WHERE content_id = ?", (content_id,))
        conn.execute("DELETE FROM index_queue WHERE content_id = ?", (content_id,))
        if row is not None:
            files.append(str(row[0]))
    return files


def expunge(
    conn: sqlite3.Connection, mailbox_id: int, uids: UidSet | None
) -> tuple[UidSet, list[str], list[Change]]:
    index.mailbox_row_by_id(conn, mailbox_id)
    ranges = uids.ranges if uids is not None else ((1, 2**32),)
    doomed: list[int] = []
    for lo, hi in ranges:
        doomed.extend(
            r[0]
            for r in conn.execute(
                "SELECT uid FROM messages WHERE mailbox_id = ? AND uid BETWEEN ? AND ? "
                "AND (flags & ?) != 0 ORDER BY uid",
                (mailbox_id, lo, hi, int(Flag.DELETED)),
            )
        )
    if not doomed:
        return UidSet(), [], []
    modseq = index.next_modseq(conn)
    files = remove_messages(conn, mailbox_id, doomed, modseq)
    gone = UidSet.of(doomed)
    return gone, files, [MessagesExpunged(mailbox_id, gone, modseq)]


def copy(
    conn: sqlite3.Connection,
    source_id: int,
    uids: UidSet,
    dest: str,
    quota: Quota,
    now: datetime,
    move: bool,
) -> tuple[CopyResult, list[str], list[Change]]:
    """COPY or MOVE (RFC 6851 3.3: the copies and the expunge in one transaction)."""
    index.mailbox_row_by_id(conn, source_id)
    dest_row = index.mailbox_row(conn, dest)
    dest_id = int(dest_row["id"])
    rows: list[sqlite3.Row] = []
    for lo, hi in uids.ranges:
        rows.extend(
            conn.execute(
                "SELECT uid, flags, keywords, content_id, size, internal_date, internal_tz "
                "FROM messages WHERE mailbox_id = ? AND uid BETWEEN ? AND ? ORDER BY uid",
                (source_id, lo, hi),
            ).fetchall()
        )
    uidvalidity = int(dest_row["uidvalidity"])
    if not rows:
        return CopyResult(uidvalidity, (), ()), [], []
    size_total = sum(r[4] for r in rows)
    if not move:
        check_quota(conn, quota, len(rows), size_total)
    modseq = index.next_modseq(conn)
    first = uid = int(dest_row["uidnext"])
    unseen_total = deleted_total = 0
    save = int(now.timestamp())
    for _, flags, keywords, content_id, size, idate, itz in rows:
        kw = " ".join(normalize_keywords(conn, dest_id, _keywords(keywords)))
        _insert_message(conn, dest_id, uid, modseq, flags, kw, content_id, size, (idate, itz), save)
        unseen, deleted = index.flag_counts(flags)
        unseen_total += unseen
        deleted_total += deleted
        uid += 1
    conn.execute("UPDATE mailboxes SET uidnext = ? WHERE id = ?", (uid, dest_id))
    index.adjust_mailbox(
        conn,
        dest_id,
        messages=len(rows),
        size=size_total,
        unseen=unseen_total,
        deleted=deleted_total,
        modseq=modseq,
    )
    index.adjust_totals(conn, len(rows), size_total)
    src_uids = tuple(int(r[0]) for r in rows)
    new_uids = UidSet.span(first, uid - 1)
    events: list[Change] = [MessagesAdded(dest_id, new_uids, uid, modseq)]
    files: list[str] = []
    if move:
        files = remove_messages(conn, source_id, src_uids, modseq)
        events.append(MessagesExpunged(source_id, UidSet.of(src_uids), modseq))
    result = CopyResult(uidvalidity, src_uids, tuple(range(first, uid)))
    return result, files, events


def move_all(conn: sqlite3.Connection, source_id: int, dest_id: int) -> list[Change]:
    """RENAME INBOX: every INBOX message goes to the new mailbox, keeping order and flags."""
    dest_name = index.mailbox_row_by_id(conn, dest_id)["name"]
    all_uids = UidSet.span(1, 2**32)
    _, _, events = copy(conn, source_id, all_uids, dest_name, Quota(), from_epoch(0), True)
    return events


def vanished(conn: sqlite3.Connection, mailbox_id: int, since_modseq: int) -> UidSet:
    index.mailbox_row_by_id(conn, mailbox_id)
    rows = conn.execute(
        "SELECT uid FROM expunged WHERE mailbox_id = ? AND modseq > ?", (mailbox_id, since_modseq)
    )
    return UidSet.of(r[0] for r in rows)


def claim_recent(conn: sqlite3.Connection, mailbox_id: int) -> UidSet:
    row = index.mailbox_row_by_id(conn, mailbox_id)
    uids = conn.execute(
        "SELECT uid FROM messages WHERE mailbox_id = ? AND uid >= ? ORDER BY uid",
        (mailbox_id, row["recent_from"]),
    ).fetchall()
    conn.execute("UPDATE mailboxes SET recent_from = uidnext WHERE id = ?", (mailbox_id,))
    return UidSet.of(r[0] for r in uids)


def all_uids(conn: sqlite3.Connection, mailbox_id: int) -> array.array[int]:
    """Every UID of the mailbox, ascending, as a compact array (SELECT's sequence map).

    Read as one comma-separated string, parsed by the JSON decoder: a row (or an int()) per
    UID would cost several times more at 100,000.
    """
    (text,) = conn.execute(
        "SELECT group_concat(uid) FROM "
        "(SELECT uid FROM messages WHERE mailbox_id = ? ORDER BY uid)",
        (mailbox_id,),
    ).fetchone()
    return array.array("I", json.loads(f"[{text}]")) if text else array.array("I")


def uids_from(conn: sqlite3.Connection, mailbox_id: int, first: int) -> array.array[int]:
    """The mailbox's UIDs from ``first`` on, ascending (what arrived since a cached list)."""
    rows = conn.execute(
        "SELECT uid FROM messages WHERE mailbox_id = ? AND uid >= ? ORDER BY uid",
        (mailbox_id, first),
    ).fetchall()
    return array.array("I", [r[0] for r in rows])


def index_pending(conn: sqlite3.Connection, limit: int) -> int:
    """Move up to ``limit`` queued texts into the full-text index; return how many."""
    rows = conn.execute(
        "SELECT content_id, h, b FROM index_queue ORDER BY content_id LIMIT ?", (limit,)
    ).fetchall()
    if rows:
        conn.executemany("INSERT INTO fts (rowid, h, b) VALUES (?, ?, ?)", rows)
        conn.executemany("DELETE FROM index_queue WHERE content_id = ?", [(r[0],) for r in rows])
    return len(rows)
