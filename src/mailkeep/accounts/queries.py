"""The reads the directory and its resolution share, each one SQL statement (or two) on a
connection inside the caller's transaction. No validation, no errors of their own."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from mailkeep.accounts.models import User
from mailkeep.mail.address import Address, fold_local, parse_address


@dataclass(frozen=True, slots=True)
class UserRow:
    """What login and delivery need of a user, in one lookup."""

    id: int
    address: Address
    password_hash: str
    disabled: bool
    scram_iterations: int | None = None  # None: no SCRAM keys stored yet


def stored_address(text: str) -> Address:
    """An address the directory wrote itself (canonical, so it always parses)."""
    return parse_address(text)


def domain_id(db: sqlite3.Connection, name: str) -> int | None:
    """The id of the local domain ``name`` (lower-case A-labels), or None."""
    row = db.execute("SELECT id FROM domains WHERE name = ?", (name,)).fetchone()
    return None if row is None else int(row[0])


def catchall(db: sqlite3.Connection, domain: int) -> Address | None:
    row = db.execute("SELECT catchall FROM domains WHERE id = ?", (domain,)).fetchone()
    return stored_address(row[0]) if row is not None and row[0] else None


def user_row(db: sqlite3.Connection, address: Address) -> UserRow | None:
    """The user whose address is ``address`` (compared by key), or None."""
    row = db.execute(
        "SELECT u.id, u.local, u.password_hash, u.disabled, u.scram_iterations FROM users u"
        " JOIN domains d ON d.id = u.domain_id WHERE d.name = ? AND u.local_key = ?",
        (address.domain, fold_local(address.local)),
    ).fetchone()
    if row is None:
        return None
    iterations = None if row[4] is None else int(row[4])
    return UserRow(
        int(row[0]), Address(row[1], address.domain), str(row[2]), bool(row[3]), iterations
    )


def user_by_id(db: sqlite3.Connection, user_id: int) -> User | None:
    row = db.execute(
        "SELECT u.local, d.name, u.quota_bytes, u.quota_messages, u.disabled, u.created"
        " FROM users u JOIN domains d ON d.id = u.domain_id WHERE u.id = ?",
        (user_id,),
    ).fetchone()
    if row is None:
        return None
    admin_of = tuple(
        name
        for (name,) in db.execute(
            "SELECT d.name FROM user_admin_domains a JOIN domains d ON d.id = a.domain_id"
            " WHERE a.user_id = ? ORDER BY d.name",
            (user_id,),
        )
    )
    local, domain, quota_bytes, quota_messages, disabled, created = row
    return User(
        user_id,
        Address(local, domain),
        quota_bytes,
        quota_messages,
        bool(disabled),
        created,
        admin_of,
    )


def alias_targets(db: sqlite3.Connection, address: Address) -> list[Address]:
    """The targets of the alias ``address``, in the order they were added; [] if none."""
    rows = db.execute(
        "SELECT a.target FROM aliases a JOIN domains d ON d.id = a.domain_id"
        " WHERE d.name = ? AND a.local_key = ? ORDER BY a.id",
        (address.domain, fold_local(address.local)),
    )
    return [stored_address(target) for (target,) in rows]
