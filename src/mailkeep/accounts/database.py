"""The accounts database: one SQLite file (WAL, foreign keys on) with versioned migrations.

``schema_version`` holds one row, the number of migrations applied. Opening the database
applies the missing ones in one transaction; a database newer than this program is refused
rather than guessed at. Migrations are append-only: never edit one that has shipped.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from mailkeep.errors import UserError

# Each migration is a list of statements run in one transaction, in order.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE domains (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,   -- lower-case A-labels
            catchall TEXT,               -- canonical address text, NULL = no catch-all
            created INTEGER NOT NULL
        )""",
        # AUTOINCREMENT: a user id is never reused, so a new user never inherits the
        # mailbox directory of a deleted one (the store keys on the id).
        """CREATE TABLE users (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            domain_id INTEGER NOT NULL REFERENCES domains(id),
            local TEXT NOT NULL,         -- the local part's value as first given
            local_key TEXT NOT NULL,     -- its comparison form (mail.address.fold_local)
            password_hash TEXT NOT NULL, -- argon2id PHC string
            quota_bytes INTEGER NOT NULL DEFAULT 0 CHECK (quota_bytes >= 0),
            quota_messages INTEGER NOT NULL DEFAULT 0 CHECK (quota_messages >= 0),
            disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
            created INTEGER NOT NULL,
            UNIQUE (domain_id, local_key)
        )""",
        """CREATE TABLE user_admin_domains (
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            domain_id INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
            PRIMARY KEY (user_id, domain_id)
        )""",
        """CREATE TABLE aliases (
            id INTEGER PRIMARY KEY,
            domain_id INTEGER NOT NULL REFERENCES domains(id),
            local TEXT NOT NULL,
            local_key TEXT NOT NULL,
            target TEXT NOT NULL,        -- canonical address text
            target_key TEXT NOT NULL,    -- mail.address.Address.key of target
            UNIQUE (domain_id, local_key, target_key)
        )""",
    ),
    # 2: SCRAM-SHA-256 keys (RFC 5802 3) beside the argon2id hash. NULL until computed:
    # users made before this migration get them at their next password login.
    (
        "ALTER TABLE users ADD COLUMN scram_salt BLOB",
        "ALTER TABLE users ADD COLUMN scram_iterations INTEGER",
        "ALTER TABLE users ADD COLUMN scram_stored_key BLOB",
        "ALTER TABLE users ADD COLUMN scram_server_key BLOB",
        """CREATE TABLE secrets (
            name TEXT PRIMARY KEY,
            value BLOB NOT NULL
        )""",
        # Keys the salts of unknown users are derived from, so a SCRAM prober sees the same
        # salt on every try and cannot tell unknown names from known ones.
        "INSERT INTO secrets (name, value) VALUES ('scram_fake_salt_key', randomblob(32))",
    ),
)


def open_database(path: Path | None) -> sqlite3.Connection:
    """Open (creating it mode 0600 if missing) and migrate; None gives a private in-memory one.

    Raises UserError with one line when the file cannot be created, read or understood.
    """
    try:
        if path is None:
            connection = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        else:
            _create_private(path)
            connection = sqlite3.connect(
                path, isolation_level=None, check_same_thread=False, timeout=5.0
            )
    except (OSError, sqlite3.Error) as exc:
        raise UserError(f"cannot open the accounts database {path}: {_reason(exc)}") from None
    try:
        connection.execute("PRAGMA foreign_keys = ON")
        if path is not None:
            connection.execute("PRAGMA journal_mode = WAL")
        migrate(connection)
    except sqlite3.Error as exc:
        connection.close()
        raise UserError(f"cannot open the accounts database {path}: {_reason(exc)}") from None
    except BaseException:
        connection.close()
        raise
    return connection


def migrate(connection: sqlite3.Connection) -> int:
    """Apply missing migrations in one transaction; return the resulting version."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = connection.execute("SELECT version FROM schema_version").fetchone()
        version = 0 if row is None else int(row[0])
        if version > len(MIGRATIONS):
            raise UserError(
                f"the accounts database is at schema version {version}, newer than this "
                f"mailkeep understands ({len(MIGRATIONS)}): upgrade mailkeep"
            )
        for statements in MIGRATIONS[version:]:
            for statement in statements:
                connection.execute(statement)
        if row is None:
            connection.execute(
                "INSERT INTO schema_version (version) VALUES (?)", (len(MIGRATIONS),)
            )
        else:
            connection.execute("UPDATE schema_version SET version = ?", (len(MIGRATIONS),))
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return len(MIGRATIONS)


def _create_private(path: Path) -> None:
    """Create an empty database file readable by its owner only (it holds password hashes)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower() if exc.strerror[:1].isupper() else exc.strerror
    return str(exc)
