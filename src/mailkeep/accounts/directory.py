"""The account directory: local domains, users, aliases and catch-alls in one SQLite file
(data_dir/accounts.sqlite3), and the lookups the protocols make.

Implementation notes:

- Addresses are compared by ``Address.key``: domains as lower-case A-labels, local parts
  case-folded (mail.address explains why). What a person typed first is kept for display.
- Threads: one connection guarded by a lock. Every method may be called from any thread
  (from asyncio: ``await asyncio.to_thread(directory.resolve, address)``); calls run one at a
  time, each a few SQLite lookups. No lock is held while a password is hashed or verified.
- Every change runs in one ``BEGIN IMMEDIATE`` transaction and every mistake raises
  UserError with one line before anything is committed, so a refused change changes nothing.
- ``resolve``: see accounts.resolution for the order and the loop rules. A user and an
  alias never share an address (refused on add).
- Each password is kept twice, never in clear: an argon2id hash (PLAIN, LOGIN, USER/PASS)
  and SCRAM-SHA-256 keys (RFC 5802 3: salt, iterations, StoredKey, ServerKey). Both are
  made whenever a password is set; users from before SCRAM get their keys at their next
  successful password login, the one moment the password is in hand. ``scram_ready`` says
  when every enabled user has keys: only then do the protocols offer SCRAM, so no client
  picks a mechanism that must fail for its user.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from mailkeep.accounts import queries, resolution
from mailkeep.accounts.database import open_database
from mailkeep.accounts.models import Alias, Domain, Outcome, Resolution, User
from mailkeep.accounts.passwords import PasswordError, PasswordHasher, scram_keys
from mailkeep.accounts.verified import VerifiedLogins
from mailkeep.errors import UserError
from mailkeep.mail.address import (
    Address,
    AddressError,
    fold_local,
    parse_address,
    split_subaddress,
)
from mailkeep.mail.hostname import check_hostname, to_alabel, to_ulabel
from mailkeep.protocol.sasl.exchange import ScramCredentials

log = logging.getLogger(__name__)

DATABASE_NAME = "accounts.sqlite3"  # under data_dir
DEFAULT_MAX_ALIAS_DEPTH = 10  # the config's default; see config.schema.Accounts
DEFAULT_SCRAM_ITERATIONS = 10_000  # the config's default; see config.schema.Accounts
_SCRAM_READY_RECHECK_SECONDS = 30.0  # while some users lack keys (an upgraded database)


class Directory:
    """Domains, users and aliases, and the lookups SMTP, IMAP and POP3 make."""

    def __init__(
        self,
        path: Path | None,
        *,
        hasher: PasswordHasher | None = None,
        subaddress_separator: str = "+",
        max_alias_depth: int = DEFAULT_MAX_ALIAS_DEPTH,
        scram_iterations: int = DEFAULT_SCRAM_ITERATIONS,
        clock: Callable[[], float] = time.time,
        verified: VerifiedLogins | None = None,
    ) -> None:
        """Open the database file at ``path`` (see ``DATABASE_NAME``), creating and migrating
        it as needed; None gives a private in-memory directory (for tests of its users).
        ``verified`` remembers recent successful logins (accounts.verified); without it every
        login costs a full password verification."""
        self._db = open_database(path)
        self._lock = threading.RLock()
        self._hasher = hasher or PasswordHasher()
        self._separator = subaddress_separator
        self._max_depth = max_alias_depth
        self._clock = clock
        self._verified = verified
        self.scram_iterations = scram_iterations
        row = self._db.execute(
            "SELECT value FROM secrets WHERE name = 'scram_fake_salt_key'"
        ).fetchone()
        self.scram_fake_salt_key = bytes(row[0])
        self._scram_ready = False
        self._scram_checked = float("-inf")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Directory:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- transactions ------------------------------------------------------------------

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several queries."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                yield self._db
            finally:
                self._db.execute("COMMIT")

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    raise UserError(f"the accounts database is busy, try again ({exc})") from None
                raise UserError(f"the accounts database refused the change ({exc})") from None
            try:
                yield self._db
            except sqlite3.Error as exc:  # e.g. a read-only file or a full disk
                self._db.execute("ROLLBACK")
                raise UserError(f"the accounts database refused the change ({exc})") from None
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._db.execute("ROLLBACK")
                raise UserError(f"the accounts database refused the change ({exc})") from None

    # -- domains -----------------------------------------------------------------------

    def add_domain(self, name: str) -> Domain:
        """Make ``name`` a local domain."""
        domain = _domain_name(name)
        with self._write() as db:
            if queries.domain_id(db, domain) is not None:
                raise UserError(f"domain {to_ulabel(domain)} already exists")
            now = int(self._clock())
            db.execute("INSERT INTO domains (name, created) VALUES (?, ?)", (domain, now))
        return Domain(domain, None, now)

    def delete_domain(self, name: str, *, force: bool = False) -> None:
        """Remove a local domain; with users or aliases only when ``force`` (they go too)."""
        domain = _domain_name(name)
        with self._write() as db:
            domain_id = self._require_domain(db, domain)
            users = _count(db, "SELECT count(*) FROM users WHERE domain_id = ?", domain_id)
            aliases = _count(
                db, "SELECT count(DISTINCT local_key) FROM aliases WHERE domain_id = ?", domain_id
            )
            if (users or aliases) and not force:
                raise UserError(
                    f"domain {to_ulabel(domain)} has {_plural(users, 'user')} and "
                    f"{_plural(aliases, 'alias', 'aliases')}: delete them first, or force "
                    "(--force) to delete them with the domain"
                )
            db.execute("DELETE FROM aliases WHERE domain_id = ?", (domain_id,))
            db.execute("DELETE FROM users WHERE domain_id = ?", (domain_id,))
            db.execute("DELETE FROM domains WHERE id = ?", (domain_id,))

    def list_domains(self) -> list[Domain]:
        with self._read() as db:
            rows = db.execute("SELECT name, catchall, created FROM domains ORDER BY name")
            return [Domain(n, queries.stored_address(c) if c else None, t) for n, c, t in rows]

    def get_domain(self, name: str) -> Domain:
        domain = _domain_name(name)
        with self._read() as db:
            row = db.execute(
                "SELECT name, catchall, created FROM domains WHERE name = ?", (domain,)
            ).fetchone()
        if row is None:
            raise _not_local(domain)
        return Domain(row[0], queries.stored_address(row[1]) if row[1] else None, row[2])

    def set_catchall(self, name: str, target: str | None) -> Domain:
        """Send mail for unknown addresses of the domain to ``target``; None turns it off."""
        domain = _domain_name(name)
        address = None if target is None else _parse(target)
        with self._write() as db:
            domain_id = self._require_domain(db, domain)
            if address is not None:
                self._check_target(db, address)
            db.execute(
                "UPDATE domains SET catchall = ? WHERE id = ?",
                (None if address is None else address.text, domain_id),
            )
        return self.get_domain(domain)

    def is_local_domain(self, domain: str) -> bool:
        """True when mail for ``domain`` (any spelling: U-labels, A-labels, any case) is ours."""
        try:
            name = to_alabel(domain)
        except ValueError:
            return False
        with self._lock:
            return queries.domain_id(self._db, name) is not None

    # -- users -------------------------------------------------------------------------

    def add_user(
        self,
        address: str,
        password: str,
        *,
        quota_bytes: int = 0,
        quota_messages: int = 0,
        admin_of: Sequence[str] = (),
    ) -> User:
        """Create a user; the password is hashed before any lock is taken."""
        parsed = _parse(address)
        _check_quota(quota_bytes, quota_messages)
        encoded, keys = self._hash(password)
        with self._write() as db:
            domain_id = self._check_new_user(db, parsed)
            cursor = db.execute(
                "INSERT INTO users (domain_id, local, local_key, password_hash, quota_bytes,"
                " quota_messages, created, scram_salt, scram_iterations, scram_stored_key,"
                " scram_server_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    domain_id,
                    parsed.local,
                    fold_local(parsed.local),
                    encoded,
                    quota_bytes,
                    quota_messages,
                    int(self._clock()),
                    keys.salt,
                    keys.iterations,
                    keys.stored_key,
                    keys.server_key,
                ),
            )
            user_id = cursor.lastrowid
            assert user_id is not None
            self._set_admin_of(db, user_id, admin_of)
            return _user_by_id(db, user_id)

    def check_new_user(self, address: str) -> None:
        """Raise the UserError ``add_user`` would for this address (before asking for a
        password); the check is repeated in ``add_user``'s own transaction."""
        parsed = _parse(address)
        with self._read() as db:
            self._check_new_user(db, parsed)

    def _check_new_user(self, db: sqlite3.Connection, address: Address) -> int:
        domain_id = self._require_domain(db, address.domain)
        if queries.user_row(db, address) is not None:
            raise UserError(f"user {address.display()} already exists")
        if queries.alias_targets(db, address):
            raise UserError(f"{address.display()} is an alias: delete the alias first")
        return domain_id

    def delete_user(self, address: str) -> list[str]:
        """Remove a user. Returns what still points to the address (alias sources, and
        "catch-all of DOMAIN"), now reaching no one there, for the caller to mention."""
        parsed = _parse(address)
        with self._write() as db:
            user_id = self._require_user(db, parsed)
            db.execute("DELETE FROM users WHERE id = ?", (user_id,))
            self._forget(user_id)
            return self._referrers(db, parsed)

    @staticmethod
    def _referrers(db: sqlite3.Connection, address: Address) -> list[str]:
        found = [
            Address(local, domain).display()
            for local, domain in db.execute(
                "SELECT DISTINCT a.local, d.name FROM aliases a JOIN domains d"
                " ON d.id = a.domain_id WHERE a.target_key = ? ORDER BY a.id",
                (address.key,),
            )
        ]
        for name, catchall in db.execute(
            "SELECT name, catchall FROM domains WHERE catchall IS NOT NULL ORDER BY name"
        ):
            if queries.stored_address(catchall) == address:
                found.append(f"catch-all of {to_ulabel(name)}")
        return found

    def get_user(self, address: str) -> User:
        parsed = _parse(address)
        with self._read() as db:
            return _user_by_id(db, self._require_user(db, parsed))

    def user_by_id(self, user_id: int) -> User | None:
        """The user with this id, or None (e.g. deleted since)."""
        with self._read() as db:
            return queries.user_by_id(db, user_id)

    def list_users(self, domain: str | None = None) -> list[User]:
        """All users, or those of one domain, by address."""
        with self._read() as db:
            if domain is None:
                ids = db.execute("SELECT id FROM users")
            else:
                domain_id = self._require_domain(db, _domain_name(domain))
                ids = db.execute("SELECT id FROM users WHERE domain_id = ?", (domain_id,))
            users = [_user_by_id(db, row[0]) for row in ids.fetchall()]
        return sorted(users, key=lambda u: (u.address.domain, u.address.key))

    def set_password(self, address: str, password: str) -> None:
        parsed = _parse(address)
        encoded, keys = self._hash(password)
        with self._write() as db:
            user_id = self._require_user(db, parsed)
            db.execute("UPDATE users SET password_hash = ? WHERE id = ?", (encoded, user_id))
            self._forget(user_id)
            _store_scram_keys(db, user_id, keys)

    def set_disabled(self, address: str, disabled: bool) -> User:
        """Disable (no login, no delivery) or enable a user."""
        parsed = _parse(address)
        with self._write() as db:
            user_id = self._require_user(db, parsed)
            db.execute("UPDATE users SET disabled = ? WHERE id = ?", (int(disabled), user_id))
            self._forget(user_id)
            return _user_by_id(db, user_id)

    def update_user(
        self,
        address: str,
        *,
        quota_bytes: int | None = None,
        quota_messages: int | None = None,
        admin_of: Sequence[str] | None = None,
    ) -> User:
        """Change a user's quotas (0 = unlimited) and/or the domains whose every address
        they may send as (replacing the list); None leaves a setting as it is. All or nothing.
        """
        parsed = _parse(address)
        _check_quota(quota_bytes or 0, quota_messages or 0)
        with self._write() as db:
            user_id = self._require_user(db, parsed)
            if quota_bytes is not None:
                db.execute("UPDATE users SET quota_bytes = ? WHERE id = ?", (quota_bytes, user_id))
            if quota_messages is not None:
                db.execute(
                    "UPDATE users SET quota_messages = ? WHERE id = ?", (quota_messages, user_id)
                )
            if admin_of is not None:
                db.execute("DELETE FROM user_admin_domains WHERE user_id = ?", (user_id,))
                self._set_admin_of(db, user_id, admin_of)
            return _user_by_id(db, user_id)

    # -- aliases -----------------------------------------------------------------------

    def add_alias(self, source: str, targets: Sequence[str]) -> Alias:
        """Make ``source`` forward to ``targets`` (added to any it already has)."""
        parsed = _parse(source)
        if not targets:
            raise UserError(f"alias {parsed.display()} needs at least one target")
        wanted = [_parse(t) for t in targets]
        with self._write() as db:
            domain_id = self._require_domain(db, parsed.domain)
            if queries.user_row(db, parsed) is not None:
                raise UserError(
                    f"{parsed.display()} is a user: an alias with the same address would "
                    "never be used"
                )
            for target in wanted:
                if target == parsed:
                    raise UserError(f"alias {parsed.display()} cannot point to itself")
                self._check_target(db, target)
                db.execute(
                    "INSERT OR IGNORE INTO aliases (domain_id, local, local_key, target,"
                    " target_key) VALUES (?, ?, ?, ?, ?)",
                    (domain_id, parsed.local, fold_local(parsed.local), target.text, target.key),
                )
            if self._resolve(db, parsed).outcome is Outcome.LOOP:
                raise UserError(f"alias {parsed.display()} would make a routing loop")
            return Alias(parsed, tuple(queries.alias_targets(db, parsed)))

    def delete_alias(self, source: str, targets: Sequence[str] = ()) -> None:
        """Remove some targets of an alias, or (none given) the whole alias."""
        parsed = _parse(source)
        with self._write() as db:
            domain_id = self._require_domain(db, parsed.domain)
            if not queries.alias_targets(db, parsed):
                raise UserError(f"no such alias {parsed.display()}")
            key = fold_local(parsed.local)
            if not targets:
                db.execute(
                    "DELETE FROM aliases WHERE domain_id = ? AND local_key = ?", (domain_id, key)
                )
                return
            for text in targets:
                target = _parse(text)
                deleted = db.execute(
                    "DELETE FROM aliases WHERE domain_id = ? AND local_key = ? AND target_key = ?",
                    (domain_id, key, target.key),
                ).rowcount
                if not deleted:
                    raise UserError(
                        f"alias {parsed.display()} does not point to {target.display()}"
                    )

    def list_aliases(self, domain: str | None = None) -> list[Alias]:
        """All aliases, or those of one domain, by source address."""
        with self._read() as db:
            query = (
                "SELECT a.local, d.name, a.target FROM aliases a JOIN domains d"
                " ON d.id = a.domain_id"
            )
            if domain is None:
                rows = db.execute(query + " ORDER BY a.id").fetchall()
            else:
                domain_id = self._require_domain(db, _domain_name(domain))
                rows = db.execute(query + " WHERE d.id = ? ORDER BY a.id", (domain_id,)).fetchall()
        grouped: dict[Address, list[Address]] = {}
        for local, domain_name, target in rows:
            grouped.setdefault(Address(local, domain_name), []).append(
                queries.stored_address(target)
            )
        aliases = [Alias(source, tuple(targets)) for source, targets in grouped.items()]
        return sorted(aliases, key=lambda a: (a.source.domain, a.source.key))

    # -- lookups for the protocols -----------------------------------------------------

    def resolve(self, address: Address | str) -> Resolution:
        """Where mail for an envelope recipient goes (see the module notes for the order).

        A string that is not an address raises UserError; protocol code passes an Address.
        """
        parsed = _parse(address) if isinstance(address, str) else address
        with self._read() as db:
            return self._resolve(db, parsed)

    def authenticate(self, login: str, password: str) -> User | None:
        """The user whose full address is ``login`` if ``password`` is theirs and they are
        enabled; else None, after the same work either way (no user enumeration by timing).
        A hash made with older parameters is replaced on success. A password that verified
        against the same stored hash within the last minutes is not verified again (see
        accounts.verified); a disabled user is refused either way."""
        try:
            address = parse_address(login)
        except AddressError:
            self._hasher.verify_dummy()
            return None
        with self._read() as db:
            row = queries.user_row(db, address)
        if row is None:
            self._hasher.verify_dummy()
            return None
        user_id, encoded = row.id, row.password_hash
        verified = self._verified
        if verified is not None and not row.disabled and verified.check(user_id, encoded, password):
            return self.user_by_id(user_id)
        if not self._hasher.verify(encoded, password) or row.disabled:
            return None
        if row.scram_iterations != self.scram_iterations:
            self._add_scram_keys(user_id, password)
        if self._hasher.needs_rehash(encoded):
            fresh = self._hasher.hash(password)
            try:
                with self._lock:
                    self._db.execute(
                        "UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?",
                        (fresh, user_id, encoded),
                    )
            except sqlite3.Error as exc:  # the login stands; the next one retries
                log.warning("password rehash failed user_id=%d error=%s", user_id, exc)
        elif verified is not None:
            verified.remember(user_id, encoded, password)
        return self.user_by_id(user_id)

    def scram_credentials(self, login: str) -> tuple[int, ScramCredentials] | None:
        """The user id and stored SCRAM keys for ``login`` (a full address), or None: no such
        user, disabled, or no keys yet."""
        try:
            address = parse_address(login)
        except AddressError:
            return None
        with self._read() as db:
            row = queries.user_row(db, address)
            if row is None or row.disabled or row.scram_iterations is None:
                return None
            salt, iterations, stored, server = db.execute(
                "SELECT scram_salt, scram_iterations, scram_stored_key, scram_server_key"
                " FROM users WHERE id = ?",
                (row.id,),
            ).fetchone()
        return row.id, ScramCredentials(bytes(salt), int(iterations), bytes(stored), bytes(server))

    def scram_ready(self) -> bool:
        """True when every enabled user has SCRAM keys, so SCRAM can be offered to anyone.
        Once true it stays true (every new password comes with keys); until then it is
        looked up again at most every few seconds."""
        if self._scram_ready:
            return True
        now = time.monotonic()
        if now - self._scram_checked < _SCRAM_READY_RECHECK_SECONDS:
            return False
        self._scram_checked = now
        with self._lock:
            missing = self._db.execute(
                "SELECT EXISTS (SELECT 1 FROM users WHERE disabled = 0"
                " AND scram_stored_key IS NULL)"
            ).fetchone()[0]
        self._scram_ready = not missing
        return self._scram_ready

    def _add_scram_keys(self, user_id: int, password: str) -> None:
        """Keys for a user who has none (or other iterations), from a password just verified."""
        try:
            keys = scram_keys(password, self.scram_iterations)
            with self._lock:
                _store_scram_keys(self._db, user_id, keys)
        except (PasswordError, sqlite3.Error) as exc:  # the login stands; the next retries
            log.warning("scram keys not stored user_id=%d error=%s", user_id, exc)
            return
        self._scram_checked = float("-inf")  # perhaps the last user without keys

    def may_send_as(self, user: User, address: Address | str) -> bool:
        """May ``user`` use ``address`` as the envelope or header sender?

        Yes for their own address, an alias that reaches them, subaddresses of either, and
        any address in a domain they administer; never for a disabled or deleted user.
        """
        try:
            wanted = parse_address(address) if isinstance(address, str) else address
        except AddressError:
            return False
        with self._read() as db:
            current = queries.user_by_id(db, user.id)
            if current is None or current.disabled:
                return False
            if wanted.domain in current.admin_of:
                return True
            candidates = [wanted]
            split = split_subaddress(wanted, self._separator)
            if split is not None:
                candidates.append(split[0])
            for candidate in candidates:
                if candidate == current.address:
                    return True
                if resolution.alias_reaches(
                    db, candidate, current.id, separator=self._separator, max_depth=self._max_depth
                ):
                    return True
        return False

    # -- internals ---------------------------------------------------------------------

    def _forget(self, user_id: int) -> None:
        if self._verified is not None:
            self._verified.forget_user(user_id)

    def _hash(self, password: str) -> tuple[str, ScramCredentials]:
        """The argon2id hash and the SCRAM keys of a new password."""
        try:
            return self._hasher.hash(password), scram_keys(password, self.scram_iterations)
        except PasswordError as exc:
            raise UserError(str(exc)) from None

    def _resolve(self, db: sqlite3.Connection, address: Address) -> Resolution:
        return resolution.resolve(db, address, separator=self._separator, max_depth=self._max_depth)

    def _check_target(self, db: sqlite3.Connection, target: Address) -> None:
        """A local target must reach someone now (remote targets are not checked)."""
        if target.is_literal or queries.domain_id(db, target.domain) is None:
            return
        outcome = self._resolve(db, target).outcome
        if outcome is Outcome.NO_SUCH_USER:
            raise UserError(f"{target.display()} does not exist: add the user or alias first")
        if outcome is Outcome.DISABLED:
            raise UserError(f"{target.display()} is disabled")

    def _require_domain(self, db: sqlite3.Connection, domain: str) -> int:
        domain_id = queries.domain_id(db, domain)
        if domain_id is None:
            raise _not_local(domain)
        return domain_id

    def _require_user(self, db: sqlite3.Connection, address: Address) -> int:
        """The id of the user with this address, or UserError."""
        self._require_domain(db, address.domain)
        row = queries.user_row(db, address)
        if row is None:
            raise UserError(f"no such user {address.display()}")
        return row.id

    def _set_admin_of(self, db: sqlite3.Connection, user_id: int, domains: Sequence[str]) -> None:
        for name in domains:
            domain_id = self._require_domain(db, _domain_name(name))
            db.execute(
                "INSERT OR IGNORE INTO user_admin_domains (user_id, domain_id) VALUES (?, ?)",
                (user_id, domain_id),
            )


def _parse(text: str) -> Address:
    try:
        return parse_address(text.strip())
    except AddressError as exc:
        raise UserError(str(exc)) from None


def _store_scram_keys(db: sqlite3.Connection, user_id: int, keys: ScramCredentials) -> None:
    db.execute(
        "UPDATE users SET scram_salt = ?, scram_iterations = ?, scram_stored_key = ?,"
        " scram_server_key = ? WHERE id = ?",
        (keys.salt, keys.iterations, keys.stored_key, keys.server_key, user_id),
    )


def _user_by_id(db: sqlite3.Connection, user_id: int) -> User:
    """A user known to exist (just written, or looked up in the same transaction)."""
    user = queries.user_by_id(db, user_id)
    if user is None:
        raise LookupError(f"user id {user_id} vanished inside a transaction")
    return user


def _domain_name(name: str) -> str:
    try:
        return check_hostname(name)
    except ValueError as exc:
        raise UserError(f"invalid domain name: {exc}") from None


def _not_local(domain: str) -> UserError:
    shown = to_ulabel(domain)
    return UserError(
        f"domain {shown} is not a local domain: add it with `mailkeep domain add {shown}`"
    )


def _check_quota(quota_bytes: int, quota_messages: int) -> None:
    if quota_bytes < 0 or quota_messages < 0:
        raise UserError("a quota is 0 (unlimited) or more")


def _count(db: sqlite3.Connection, query: str, *args: object) -> int:
    return int(db.execute(query, args).fetchone()[0])


def _plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n} {word if n == 1 else (words or word + 's')}"
