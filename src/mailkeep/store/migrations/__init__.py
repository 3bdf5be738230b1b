"""Schema migrations of a user's SQLite database, tracked with PRAGMA user_version.

Each step is a module ``mNNNN_*.py`` with ``VERSION`` and ``SQL``; ``migrate`` applies the
missing ones in order, each in its own transaction, so an interrupted upgrade resumes.
"""

from __future__ import annotations

import sqlite3

from mailkeep.store.migrations import m0001_initial, m0002_metadata

STEPS = (m0001_initial, m0002_metadata)
LATEST = STEPS[-1].VERSION


def migrate(conn: sqlite3.Connection) -> int:
    """Bring ``conn``'s database to the latest schema; return the version it had."""
    (before,) = conn.execute("PRAGMA user_version").fetchone()
    if before > LATEST:
        raise RuntimeError(f"store database has schema {before}, newer than this mailkeep")
    for step in STEPS:
        if step.VERSION > before:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in step.SQL.split(";\n"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {int(step.VERSION)}")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
    return int(before)
