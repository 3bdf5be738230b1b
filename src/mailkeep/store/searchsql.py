"""SEARCH on a user's SQLite index: criteria → SQL, then confirm where SQL is not exact.

The full-text index is an FTS5 table with the trigram tokenizer (case-sensitive, over text
already casefolded at delivery, see query.fold) and ``detail=none``: a GLOB '*term*' on a
column is answered from the trigram index and then checked against the stored text by
SQLite, so it is exact. A term under 3 characters has no trigram: it is found with instr()
over the stored text (a scan; SQLite 3.40's trigram GLOB wrongly finds nothing for a short
term of 3 or more bytes, e.g. two Greek letters). Texts
not yet moved into the index (delivery queues them, the writer indexes when idle) are
searched in ``index_queue`` the same way, so a search never misses fresh mail.

Everything compiles to exact SQL except HEADER with a field the store does not keep in a
column (and very long UID lists): those compile to a superset ("may match") and every
candidate is confirmed with query.evaluate. NOT of an inexact criterion cannot narrow, so
it compiles to TRUE and is decided in the confirm step.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from functools import cache

from mailkeep.store import index
from mailkeep.store.models import Flag, from_epoch
from mailkeep.store.query import (
    INDEXED_HEADERS,
    Age,
    All,
    And,
    Body,
    Candidate,
    Criterion,
    DateField,
    DateIs,
    HasFlag,
    HasKeyword,
    Header,
    ModSeqAtLeast,
    Not,
    Or,
    SizeIs,
    Text,
    Uids,
    evaluate,
    fold,
    keyword_key,
)

MAX_SQL_RANGES = 64  # longer UID lists are checked in Python (bisect) rather than in SQL

_DATE_SQL = {
    DateField.INTERNAL: "date(m.internal_date + m.internal_tz * 60, 'unixepoch')",
    DateField.SAVED: "date(m.save_date, 'unixepoch')",
    DateField.SENT: "date(c.sent_date + c.sent_tz * 60, 'unixepoch')",
}
_DATE_OP = {"before": "<", "on": "=", "since": ">="}


def glob_pattern(text: str) -> str:
    """A GLOB pattern matching ``text`` as a substring (wildcards in it escaped)."""
    escaped = "".join(f"[{ch}]" if ch in "*?[" else ch for ch in text)
    return f"*{escaped}*"


MIN_INDEXED_CHARS = 3  # the trigram tokenizer's unit


def _text_match(column: str, folded: str) -> tuple[str, list[object]]:
    """Rows whose ``column`` ("h" or "b", never from input) contains ``folded``."""
    if len(folded) >= MIN_INDEXED_CHARS:
        test, value = f"{column} GLOB ?", glob_pattern(folded)
    else:
        test, value = f"instr({column}, ?) > 0", folded
    fts = f"SELECT rowid FROM fts WHERE {test}"  # noqa: S608
    queued = f"SELECT content_id FROM index_queue WHERE {test}"  # noqa: S608
    return f"m.content_id IN ({fts} UNION ALL {queued})", [value, value]


def _needs_contents(criterion: Criterion) -> bool:
    """True when the SQL of ``criterion`` reads columns of ``contents`` (alias c)."""
    match criterion:
        case DateIs(field, _, _):
            return field is DateField.SENT
        case Header(name, value):
            return name.lower() in INDEXED_HEADERS and bool(value)
        case Not(inner):
            return _needs_contents(inner)
        case And(items):
            return any(_needs_contents(i) for i in items)
        case Or(left, right):
            return _needs_contents(left) or _needs_contents(right)
    return False


def compile_criterion(criterion: Criterion, now: datetime) -> tuple[str, list[object], bool]:
    """(SQL condition, parameters, exact): rows satisfying SQL are a superset of the
    matches, and equal to them when ``exact``."""
    match criterion:
        case All():
            return "1", [], True
        case Uids(uids):
            if len(uids.ranges) > MAX_SQL_RANGES:
                return "1", [], False
            if not uids.ranges:
                return "0", [], True
            parts = " OR ".join("m.uid BETWEEN ? AND ?" for _ in uids.ranges)
            return f"({parts})", [v for r in uids.ranges for v in r], True
        case HasFlag(flag):
            return "(m.flags & ?) != 0", [int(flag)], True
        case HasKeyword(keyword):
            return (
                "instr(' ' || lower(m.keywords) || ' ', ?) > 0",
                [f" {keyword_key(keyword)} "],
                True,
            )
        case DateIs(field, op, day):
            sql = f"{_DATE_SQL[field]} {_DATE_OP[op]} ?"
            if field is DateField.SENT:
                sql = f"(c.sent_date IS NOT NULL AND {sql})"
            return sql, [day.isoformat()], True
        case Age(op, seconds):
            cmp = ">=" if op == "older" else "<="
            return f"(? - m.internal_date) {cmp} ?", [now.timestamp(), seconds], True
        case SizeIs(op, size):
            return f"m.size {op} ?", [size], True
        case ModSeqAtLeast(modseq):
            return "m.modseq >= ?", [modseq], True
        case Header(name, value):
            lname = name.lower()
            if lname in INDEXED_HEADERS and value:
                folded = fold(value)
                params: list[object] = [folded]
                sql = f"instr(c.f_{lname}, ?) > 0"
                if len(folded) >= MIN_INDEXED_CHARS:
                    # The header text's trigrams narrow first (the column check is per row).
                    narrow, extra = _text_match("h", folded)
                    sql, params = f"({narrow} AND {sql})", extra + params
                return sql, params, True
            sql, params = _text_match("h", fold(lname + ":"))
            if value:
                more, extra = _text_match("h", fold(value))
                sql, params = f"({sql} AND {more})", params + extra
            return sql, params, False
        case Body(value):
            if not value:
                return "1", [], True
            sql, params = _text_match("b", fold(value))
            return sql, params, True
        case Text(value):
            if not value:
                return "1", [], True
            h_sql, h_params = _text_match("h", fold(value))
            b_sql, b_params = _text_match("b", fold(value))
            return f"({h_sql} OR {b_sql})", h_params + b_params, True
        case Not(inner):
            sql, params, exact = compile_criterion(inner, now)
            return (f"NOT {sql}", params, True) if exact else ("1", [], False)
        case And(items):
            if not items:
                return "1", [], True
            compiled = [compile_criterion(i, now) for i in items]
            sql = " AND ".join(c[0] for c in compiled)
            return f"({sql})", [p for c in compiled for p in c[1]], all(c[2] for c in compiled)
        case Or(left, right):
            ls, lp, le = compile_criterion(left, now)
            rs, rp, re_ = compile_criterion(right, now)
            return f"({ls} OR {rs})", lp + rp, le and re_
    raise TypeError(f"not a search criterion: {criterion!r}")


def _content_text(conn: sqlite3.Connection, content_id: int, column: str) -> str:
    # ``column`` is "h" or "b", never from input.
    row = conn.execute(
        f"SELECT {column} FROM fts WHERE rowid = ?",  # noqa: S608
        (content_id,),
    ).fetchone()
    if row is None:
        row = conn.execute(
            f"SELECT {column} FROM index_queue WHERE content_id = ?",  # noqa: S608
            (content_id,),
        ).fetchone()
    return "" if row is None else str(row[0])


_CANDIDATE_COLUMNS = (
    "m.uid, m.modseq, m.flags, m.keywords, m.size, m.internal_date, m.internal_tz, "
    "m.save_date, c.sent_date, c.sent_tz, c.id, c.f_subject, c.f_from, c.f_to, c.f_cc, c.f_bcc"
)


def _candidate(conn: sqlite3.Connection, row: sqlite3.Row) -> Candidate:
    content_id = row[10]
    headers = dict(zip(INDEXED_HEADERS, row[11:16], strict=True))
    return Candidate(
        uid=row[0],
        modseq=row[1],
        flags=Flag(row[2]),
        keywords=frozenset(row[3].split()),
        size=row[4],
        internal_date=from_epoch(row[5], row[6]),
        save_date=from_epoch(row[7]),
        sent_date=from_epoch(row[8], row[9]) if row[8] is not None else None,
        headers=headers.__getitem__,
        header_text=cache(lambda: _content_text(conn, content_id, "h")),
        body_text=cache(lambda: _content_text(conn, content_id, "b")),
    )


def search(
    conn: sqlite3.Connection, mailbox_id: int, criterion: Criterion, now: datetime
) -> list[int]:
    """UIDs of the mailbox's messages matching ``criterion``, ascending."""
    index.mailbox_row_by_id(conn, mailbox_id)
    where, params, exact = compile_criterion(criterion, now)
    table = "messages m INDEXED BY messages_modseq" if _by_modseq(criterion) else "messages m"
    if exact:
        join = "JOIN contents c ON c.id = m.content_id " if _needs_contents(criterion) else ""
        # One string rather than a row per match: 100,000 UIDs cost milliseconds, not tens.
        sql = (
            f"SELECT group_concat(uid) FROM (SELECT m.uid AS uid FROM {table} "  # noqa: S608
            f"{join}WHERE m.mailbox_id = ? AND {where} ORDER BY m.uid)"
        )
        (text,) = conn.execute(sql, [mailbox_id, *params]).fetchone()
        return list(json.loads(f"[{text}]")) if text else []
    sql = (
        f"SELECT {_CANDIDATE_COLUMNS} FROM {table} "  # noqa: S608 (our own SQL, values bound)
        f"JOIN contents c ON c.id = m.content_id WHERE m.mailbox_id = ? AND {where} ORDER BY m.uid"
    )
    rows = conn.execute(sql, [mailbox_id, *params]).fetchall()
    return [row[0] for row in rows if evaluate(criterion, _candidate(conn, row), now)]


def _by_modseq(criterion: Criterion) -> bool:
    """A MODSEQ lower bound that every match must meet (RFC 7162 3.1.5: SEARCH MODSEQ, and
    CHANGEDSINCE and QRESYNC, which search by it). The planner would otherwise walk the
    UID order to spare the sort, reading the whole mailbox to find a few changes."""
    if isinstance(criterion, ModSeqAtLeast):
        return True
    return isinstance(criterion, And) and any(
        isinstance(c, ModSeqAtLeast) for c in criterion.criteria
    )
