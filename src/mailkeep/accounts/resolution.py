"""Where mail for an address goes: users, aliases, subaddresses and catch-alls expanded.

For each address met, in order: an exact user; an alias (each target expanded in turn); the
same two with the subaddress stripped (``user+tag`` → ``user``); the domain's catch-all. An
address of a domain that is not local is a remote recipient. An address already on the
current expansion path is a loop and adds nothing (so lists that include each other work);
nesting deeper than ``max_depth`` makes the whole resolution a LOOP, because quietly losing
recipients would be worse. Disabled users are dropped. Recipients are unique, in order.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from mailkeep.accounts import queries
from mailkeep.accounts.models import LocalRecipient, Outcome, Resolution
from mailkeep.mail.address import Address, split_subaddress


@dataclass
class _Expansion:
    """What one resolution has collected so far."""

    separator: str
    max_depth: int
    local: dict[int, LocalRecipient] = field(default_factory=dict)
    remote: dict[str, Address] = field(default_factory=dict)
    disabled: bool = False
    loop: bool = False
    too_deep: bool = False


def resolve(
    db: sqlite3.Connection, address: Address, *, separator: str, max_depth: int
) -> Resolution:
    """Resolve an envelope recipient, inside the caller's (read) transaction."""
    if address.is_literal or queries.domain_id(db, address.domain) is None:
        return Resolution(address, Outcome.NOT_LOCAL_DOMAIN)
    acc = _Expansion(separator, max_depth)
    found, detail = _expand(db, address, (), acc)
    if acc.too_deep:
        return Resolution(address, Outcome.LOOP)
    if acc.local or acc.remote:
        local, remote = tuple(acc.local.values()), tuple(acc.remote.values())
        return Resolution(address, Outcome.DELIVER, local, remote, detail)
    if found and acc.disabled:
        return Resolution(address, Outcome.DISABLED)
    if found and acc.loop:
        return Resolution(address, Outcome.LOOP)
    return Resolution(address, Outcome.NO_SUCH_USER)


def alias_reaches(
    db: sqlite3.Connection, address: Address, user_id: int, *, separator: str, max_depth: int
) -> bool:
    """True when ``address`` is an alias (not a catch-all) whose expansion reaches the user."""
    acc = _Expansion(separator, max_depth)
    if not _expand_alias(db, address, (address.key,), acc):
        return False
    return user_id in acc.local and not acc.too_deep


def _expand(
    db: sqlite3.Connection, address: Address, path: tuple[str, ...], acc: _Expansion
) -> tuple[bool, str | None]:
    """Add what ``address`` reaches to ``acc``; return (matched anything, tag stripped)."""
    domain = None if address.is_literal else queries.domain_id(db, address.domain)
    if domain is None:
        acc.remote.setdefault(address.key, address)
        return True, None
    if address.key in path:
        acc.loop = True
        return True, None
    if len(path) >= acc.max_depth:
        acc.too_deep = True
        return True, None
    path = (*path, address.key)
    if _expand_user(db, address, acc) or _expand_alias(db, address, path, acc):
        return True, None
    split = split_subaddress(address, acc.separator)
    if split is not None:
        base, tag = split
        if _expand_user(db, base, acc) or _expand_alias(db, base, path, acc):
            return True, tag
    target = queries.catchall(db, domain)
    if target is not None:
        _expand(db, target, path, acc)
        return True, None
    return False, None


def _expand_user(db: sqlite3.Connection, address: Address, acc: _Expansion) -> bool:
    row = queries.user_row(db, address)
    if row is None:
        return False
    if row.disabled:
        acc.disabled = True
    else:
        acc.local.setdefault(row.id, LocalRecipient(row.id, row.address))
    return True


def _expand_alias(
    db: sqlite3.Connection, address: Address, path: tuple[str, ...], acc: _Expansion
) -> bool:
    targets = queries.alias_targets(db, address)
    for target in targets:
        _expand(db, target, path, acc)
    return bool(targets)
