"""Annotations (RFC 5464 METADATA) in a user's database: read all of one mailbox's, or
change several at once, all or nothing, within the limits.

Entry names arrive checked and lower-cased by the IMAP layer (RFC 5464 3.2: they are
case-insensitive); values are octets. Mailbox id ``SERVER_METADATA`` (0) holds the
server annotations as this user sees them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from mailkeep.store.errors import MetadataLimitReached, MetadataTooLarge, MetadataTooMany
from mailkeep.store.models import MetadataLimits


def read(conn: sqlite3.Connection, mailbox_id: int) -> dict[str, bytes]:
    rows = conn.execute(
        "SELECT entry, value FROM metadata WHERE mailbox_id = ? ORDER BY entry", (mailbox_id,)
    ).fetchall()
    return {str(entry): bytes(value) for entry, value in rows}


def apply(
    current: dict[str, bytes],
    others_total: int,
    changes: Sequence[tuple[str, bytes | None]],
    limits: MetadataLimits,
) -> dict[str, bytes]:
    """One mailbox's annotations after ``changes`` (None removes an entry), or the limit
    error; ``others_total`` is the size of the user's other annotations. A change that
    shrinks what is already over a limit (lowered since) is allowed."""
    after = dict(current)
    for entry, value in changes:
        if value is None:
            after.pop(entry, None)
        else:
            if len(value) > limits.max_value:
                raise MetadataTooLarge(limits.max_value)
            after[entry] = value
    if len(after) > max(limits.max_entries, len(current)):
        raise MetadataTooMany("too many annotations")
    before_size = sum(len(v) for v in current.values())
    after_size = sum(len(v) for v in after.values())
    if others_total + after_size > limits.max_total and after_size > before_size:
        raise MetadataLimitReached(f"annotations would take {others_total + after_size} octets")
    return after


def write(
    conn: sqlite3.Connection,
    mailbox_id: int,
    changes: Sequence[tuple[str, bytes | None]],
    limits: MetadataLimits,
) -> None:
    """Set (or with None remove) each entry; raise before changing anything when a limit
    would be passed (RFC 5464 4.3: one failure leaves every entry as it was)."""
    (others,) = conn.execute(
        "SELECT COALESCE(SUM(length(value)), 0) FROM metadata WHERE mailbox_id != ?",
        (mailbox_id,),
    ).fetchone()
    apply(read(conn, mailbox_id), int(others), changes, limits)
    for entry, value in changes:
        if value is None:
            conn.execute(
                "DELETE FROM metadata WHERE mailbox_id = ? AND entry = ?", (mailbox_id, entry)
            )
        else:
            conn.execute(
                "INSERT OR REPLACE INTO metadata (mailbox_id, entry, value) VALUES (?, ?, ?)",
                (mailbox_id, entry, value),
            )
