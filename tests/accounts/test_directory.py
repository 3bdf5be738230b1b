"""accounts.directory: domains, users, aliases, catch-alls, and the protocol lookups."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import argon2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailkeep.accounts.database import MIGRATIONS
from mailkeep.accounts.directory import DATABASE_NAME, Directory
from mailkeep.accounts.lookup import AccountLookup
from mailkeep.accounts.models import Outcome, Resolution
from mailkeep.accounts.passwords import PasswordHasher
from mailkeep.errors import UserError
from mailkeep.mail.address import parse_address

CHEAP = PasswordHasher(
    argon2.Parameters(
        type=argon2.Type.ID,
        version=19,
        salt_len=16,
        hash_len=32,
        time_cost=1,
        memory_cost=64,
        parallelism=1,
    )
)


@pytest.fixture
def directory(tmp_path: Path) -> Iterator[Directory]:
    d = Directory(tmp_path / DATABASE_NAME, hasher=CHEAP, clock=lambda: 1_700_000_000.5)
    d.add_domain("example.test")
    yield d
    d.close()


def ids(resolution: Resolution) -> list[int]:
    return [r.user_id for r in resolution.local]


def remote(resolution: Resolution) -> list[str]:
    return [a.text for a in resolution.remote]


# -- the database file ------------------------------------------------------------------


def test_database_file_is_private_wal_with_schema_version(tmp_path: Path) -> None:
    path = tmp_path / DATABASE_NAME
    Directory(path, hasher=CHEAP).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT version FROM schema_version").fetchall() == [(len(MIGRATIONS),)]
    db.close()
    Directory(path, hasher=CHEAP).close()  # reopening migrates nothing and keeps one row
    db = sqlite3.connect(path)
    assert db.execute("SELECT count(*) FROM schema_version").fetchone()[0] == 1
    db.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / DATABASE_NAME
    Directory(path, hasher=CHEAP).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE schema_version SET version = 99")
    db.close()
    with pytest.raises(UserError, match="schema version 99, newer than"):
        Directory(path, hasher=CHEAP)


def test_not_a_database_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / DATABASE_NAME
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(UserError, match="cannot open the accounts database"):
        Directory(path, hasher=CHEAP)


# -- domains ------------------------------------------------------------------------------


def test_domains_idn_stored_as_alabel_shown_as_ulabel(directory: Directory) -> None:
    domain = directory.add_domain("Bücher.Example")
    assert domain.name == "xn--bcher-kva.example"
    assert domain.display == "bücher.example"
    assert domain.created == 1_700_000_000
    assert [d.name for d in directory.list_domains()] == ["example.test", "xn--bcher-kva.example"]
    assert directory.is_local_domain("BÜCHER.example")
    assert directory.is_local_domain("xn--bcher-kva.example")
    assert not directory.is_local_domain("other.example")
    assert not directory.is_local_domain("not a domain")
    with pytest.raises(UserError, match=r"^domain bücher\.example already exists$"):
        directory.add_domain("xn--bcher-kva.example")
    user = directory.add_user("jörg@bücher.example", "pw")
    assert user.address.text == "jörg@xn--bcher-kva.example"
    assert user.address.display() == "jörg@bücher.example"


def test_bad_domain_names(directory: Directory) -> None:
    with pytest.raises(UserError, match="invalid domain name: 'localhost' is not fully qualified"):
        directory.add_domain("localhost")
    with pytest.raises(UserError, match="invalid domain name"):
        directory.add_domain("exa mple.org")


def test_delete_domain_with_users_needs_force(directory: Directory) -> None:
    directory.add_user("bob@example.test", "pw")
    directory.add_alias("info@example.test", ["bob@example.test"])
    with pytest.raises(UserError) as info:
        directory.delete_domain("example.test")
    assert str(info.value) == (
        "domain example.test has 1 user and 1 alias: delete them first, or force (--force) "
        "to delete them with the domain"
    )
    assert len(directory.list_users()) == 1  # nothing changed
    directory.delete_domain("example.test", force=True)
    assert directory.list_domains() == []
    assert directory.list_users() == [] and directory.list_aliases() == []
    with pytest.raises(UserError, match=r"^domain example\.test is not a local domain: add it"):
        directory.delete_domain("example.test")


# -- users ------------------------------------------------------------------------------


def test_add_user_and_errors(directory: Directory) -> None:
    user = directory.add_user("Bob@Example.test", "pw", quota_bytes=10**9, quota_messages=5000)
    assert user.address.text == "Bob@example.test"
    assert (user.quota_bytes, user.quota_messages, user.disabled) == (10**9, 5000, False)
    assert user.created == 1_700_000_000
    with pytest.raises(UserError, match=r"^user bob@example\.test already exists$"):
        directory.add_user("bob@example.test", "pw")
    with pytest.raises(UserError) as info:
        directory.add_user("bob@example.org", "pw")
    assert str(info.value) == (
        "domain example.org is not a local domain: add it with `mailkeep domain add example.org`"
    )
    with pytest.raises(UserError, match=r"^invalid address 'x@@y': "):
        directory.add_user("x@@y", "pw")
    with pytest.raises(UserError, match=r"^the password is empty$"):
        directory.add_user("carol@example.test", "")
    with pytest.raises(UserError, match="quota"):
        directory.add_user("carol@example.test", "pw", quota_bytes=-1)
    assert [u.address.text for u in directory.list_users()] == ["Bob@example.test"]


def test_user_ids_are_stable_and_never_reused(directory: Directory) -> None:
    first = directory.add_user("a@example.test", "pw")
    second = directory.add_user("b@example.test", "pw")
    directory.delete_user("b@example.test")
    third = directory.add_user("b@example.test", "pw")
    assert first.id < second.id < third.id
    assert directory.user_by_id(second.id) is None
    assert directory.user_by_id(third.id) == third
    assert directory.get_user("A@EXAMPLE.TEST").id == first.id


def test_quota_disable_admin_of(directory: Directory) -> None:
    directory.add_domain("other.test")
    directory.add_user("bob@example.test", "pw")
    user = directory.update_user("bob@example.test", quota_bytes=2048)
    assert (user.quota_bytes, user.quota_messages) == (2048, 0)
    user = directory.update_user("bob@example.test", quota_messages=7)
    assert (user.quota_bytes, user.quota_messages) == (2048, 7)
    assert directory.set_disabled("bob@example.test", True).disabled
    assert not directory.set_disabled("bob@example.test", False).disabled
    user = directory.update_user("bob@example.test", admin_of=["other.test", "example.test"])
    assert user.admin_of == ("example.test", "other.test")
    with pytest.raises(UserError, match="not a local domain"):
        directory.update_user("bob@example.test", quota_bytes=1, admin_of=["nowhere.test"])
    unchanged = directory.get_user("bob@example.test")  # all or nothing
    assert unchanged.admin_of == ("example.test", "other.test") and unchanged.quota_bytes == 2048
    assert directory.update_user("bob@example.test", admin_of=[]).admin_of == ()
    with pytest.raises(UserError, match=r"^no such user ghost@example\.test$"):
        directory.set_disabled("ghost@example.test", True)


def test_authenticate(directory: Directory) -> None:
    user = directory.add_user("Bob@example.test", "s3cret")
    assert directory.authenticate("bob@EXAMPLE.test", "s3cret") == user
    assert directory.authenticate("bob@example.test", "wrong") is None
    assert directory.authenticate("ghost@example.test", "s3cret") is None
    assert directory.authenticate("not an address", "s3cret") is None
    assert directory.authenticate("bob+tag@example.test", "s3cret") is None
    directory.set_password("bob@example.test", "n3w")
    assert directory.authenticate("bob@example.test", "s3cret") is None
    assert directory.authenticate("bob@example.test", "n3w") == user
    directory.set_disabled("bob@example.test", True)
    assert directory.authenticate("bob@example.test", "n3w") is None


def test_authenticate_rehashes_old_hashes(tmp_path: Path) -> None:
    path = tmp_path / DATABASE_NAME
    old = Directory(path, hasher=CHEAP)
    old.add_domain("example.test")
    old.add_user("bob@example.test", "pw")
    old.close()

    def stored_hash() -> str:
        with sqlite3.connect(path) as db:
            value = str(db.execute("SELECT password_hash FROM users").fetchone()[0])
        db.close()
        return value

    assert stored_hash().startswith("$argon2id$v=19$m=64,t=1,p=1$")
    new = Directory(path, hasher=PasswordHasher())  # the real parameters
    assert new.authenticate("bob@example.test", "wrong") is None
    assert stored_hash().startswith("$argon2id$v=19$m=64,")  # only a good login rehashes
    assert new.authenticate("bob@example.test", "pw") is not None
    assert stored_hash().startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert new.authenticate("bob@example.test", "pw") is not None
    new.close()


# -- resolve -------------------------------------------------------------------------------


def test_resolve_exact_user_and_case(directory: Directory) -> None:
    bob = directory.add_user("bob@example.test", "pw")
    resolution = directory.resolve(parse_address("BOB@Example.Test"))
    assert resolution.outcome is Outcome.DELIVER and resolution.deliverable
    assert ids(resolution) == [bob.id]
    assert resolution.local[0].address.text == "bob@example.test"
    assert resolution.original.text == "BOB@example.test"  # kept as given
    assert resolution.detail is None
    assert directory.resolve("ghost@example.test").outcome is Outcome.NO_SUCH_USER
    assert directory.resolve("bob@elsewhere.test").outcome is Outcome.NOT_LOCAL_DOMAIN
    assert directory.resolve("bob@[127.0.0.1]").outcome is Outcome.NOT_LOCAL_DOMAIN


def test_resolve_aliases_multi_target_remote_and_nested(directory: Directory) -> None:
    bob = directory.add_user("bob@example.test", "pw")
    carol = directory.add_user("carol@example.test", "pw")
    directory.add_alias("team@example.test", ["bob@example.test", "carol@example.test"])
    directory.add_alias("team@example.test", ["friend@remote.example"])  # adds a target
    directory.add_alias("all@example.test", ["team@example.test", "bob@example.test"])
    resolution = directory.resolve("all@example.test")
    assert resolution.outcome is Outcome.DELIVER
    assert ids(resolution) == [bob.id, carol.id]  # bob once, though reached twice
    assert remote(resolution) == ["friend@remote.example"]
    aliases = {a.source.text: [t.text for t in a.targets] for a in directory.list_aliases()}
    assert aliases == {
        "all@example.test": ["team@example.test", "bob@example.test"],
        "team@example.test": ["bob@example.test", "carol@example.test", "friend@remote.example"],
    }
    directory.delete_alias("team@example.test", ["carol@example.test"])
    assert ids(directory.resolve("team@example.test")) == [bob.id]
    directory.delete_alias("team@example.test")
    assert ids(directory.resolve("all@example.test")) == [bob.id]
    with pytest.raises(UserError, match=r"^no such alias team@example\.test$"):
        directory.delete_alias("team@example.test")
    with pytest.raises(UserError, match=r"does not point to carol@example\.test"):
        directory.delete_alias("all@example.test", ["carol@example.test"])


def test_alias_errors(directory: Directory) -> None:
    directory.add_user("bob@example.test", "pw")
    with pytest.raises(UserError, match="is a user: an alias with the same address"):
        directory.add_alias("Bob@example.test", ["x@remote.example"])
    with pytest.raises(UserError, match=r"^ghost@example\.test does not exist"):
        directory.add_alias("info@example.test", ["ghost@example.test"])
    with pytest.raises(UserError, match="cannot point to itself"):
        directory.add_alias("info@example.test", ["INFO@example.test"])
    with pytest.raises(UserError, match="not a local domain"):
        directory.add_alias("info@nowhere.test", ["bob@example.test"])
    directory.add_alias("info@example.test", ["bob@example.test"])
    with pytest.raises(UserError, match=r"^info@example\.test is an alias: delete the alias"):
        directory.add_user("info@example.test", "pw")
    assert len(directory.list_aliases()) == 1


def test_alias_loops(directory: Directory) -> None:
    bob = directory.add_user("bob@example.test", "pw")
    directory.add_user("tmp@example.test", "pw")
    directory.add_alias("a@example.test", ["tmp@example.test"])
    directory.add_alias("b@example.test", ["a@example.test"])
    directory.delete_user("tmp@example.test")  # a's only target is gone
    assert directory.resolve("b@example.test").outcome is Outcome.NO_SUCH_USER
    # A pure loop cannot be made: its last link would point to an address reaching no one...
    with pytest.raises(UserError, match=r"^b@example\.test does not exist"):
        directory.add_alias("a@example.test", ["b@example.test"])
    assert [t.text for t in directory.list_aliases("example.test")[0].targets] == [
        "tmp@example.test"
    ]
    # ...a loop with a way out delivers to everyone reachable, once.
    directory.add_alias("a@example.test", ["bob@example.test"])
    directory.add_alias("a@example.test", ["b@example.test"])
    for source in ("a@example.test", "b@example.test"):
        resolution = directory.resolve(source)
        assert resolution.outcome is Outcome.DELIVER
        assert ids(resolution) == [bob.id]
    # If the way out goes, what is left is reported as a loop.
    directory.delete_user("bob@example.test")
    assert directory.resolve("a@example.test").outcome is Outcome.LOOP


def test_alias_depth_limit(tmp_path: Path) -> None:
    d = Directory(tmp_path / DATABASE_NAME, hasher=CHEAP, max_alias_depth=3)
    d.add_domain("example.test")
    bob = d.add_user("bob@example.test", "pw")
    d.add_alias("l1@example.test", ["bob@example.test"])
    d.add_alias("l2@example.test", ["l1@example.test"])
    assert ids(d.resolve("l2@example.test")) == [bob.id]  # l2 → l1 → bob: depth 3
    with pytest.raises(UserError, match=r"^alias l3@example\.test would make a routing loop$"):
        d.add_alias("l3@example.test", ["l2@example.test"])
    assert d.list_aliases() == d.list_aliases("example.test")
    assert len(d.list_aliases()) == 2  # nothing of l3 was kept
    d.close()


def test_subaddress_with_users_aliases_and_catchall(directory: Directory) -> None:
    bob = directory.add_user("bob@example.test", "pw")
    carol = directory.add_user("carol@example.test", "pw")
    plus = directory.add_user("a+b@example.test", "pw")
    directory.add_alias("team@example.test", ["carol@example.test"])
    resolution = directory.resolve("Bob+Lists@example.test")
    assert ids(resolution) == [bob.id] and resolution.detail == "Lists"
    assert resolution.original.local == "Bob+Lists"
    resolution = directory.resolve("team+x@example.test")
    assert ids(resolution) == [carol.id] and resolution.detail == "x"
    assert ids(directory.resolve("a+b@example.test")) == [plus.id]  # exact wins
    assert directory.resolve("a+b@example.test").detail is None
    assert directory.resolve("ghost+x@example.test").outcome is Outcome.NO_SUCH_USER
    # The catch-all comes after subaddress stripping.
    directory.set_catchall("example.test", "carol@example.test")
    resolution = directory.resolve("ghost+x@example.test")
    assert ids(resolution) == [carol.id] and resolution.detail is None
    assert ids(directory.resolve("bob+x@example.test")) == [bob.id]


def test_subaddress_separator_is_configurable(tmp_path: Path) -> None:
    d = Directory(tmp_path / DATABASE_NAME, hasher=CHEAP, subaddress_separator="-")
    d.add_domain("example.test")
    bob = d.add_user("bob@example.test", "pw")
    assert ids(d.resolve("bob-x@example.test")) == [bob.id]
    assert d.resolve("bob+x@example.test").outcome is Outcome.NO_SUCH_USER
    d.close()
    off = Directory(tmp_path / DATABASE_NAME, hasher=CHEAP, subaddress_separator="")
    assert off.resolve("bob-x@example.test").outcome is Outcome.NO_SUCH_USER
    off.close()


def test_catchall(directory: Directory) -> None:
    bob = directory.add_user("bob@example.test", "pw")
    directory.add_domain("other.test")
    assert directory.get_domain("example.test").catchall is None
    domain = directory.set_catchall("example.test", "Bob@example.test")
    assert domain.catchall is not None and domain.catchall.text == "Bob@example.test"
    assert ids(directory.resolve("anything@example.test")) == [bob.id]
    assert directory.resolve("anything@other.test").outcome is Outcome.NO_SUCH_USER
    directory.set_catchall("other.test", "someone@remote.example")  # remote: not checked
    assert remote(directory.resolve("x@other.test")) == ["someone@remote.example"]
    directory.set_catchall("example.test", None)
    assert directory.resolve("anything@example.test").outcome is Outcome.NO_SUCH_USER
    with pytest.raises(UserError, match=r"^ghost@example\.test does not exist"):
        directory.set_catchall("example.test", "ghost@example.test")
    assert directory.get_domain("example.test").catchall is None


def test_catchall_to_a_missing_address_of_its_own_domain_is_a_loop(directory: Directory) -> None:
    directory.add_user("postmaster@example.test", "pw")
    directory.set_catchall("example.test", "postmaster@example.test")
    directory.delete_user("postmaster@example.test")
    assert directory.resolve("x@example.test").outcome is Outcome.LOOP


def test_disabled_users_do_not_receive(directory: Directory) -> None:
    bob = directory.add_user("bob@example.test", "pw")
    directory.add_user("carol@example.test", "pw")
    directory.add_alias("team@example.test", ["bob@example.test", "carol@example.test"])
    directory.set_disabled("carol@example.test", True)
    assert directory.resolve("carol@example.test").outcome is Outcome.DISABLED
    assert directory.resolve("carol+x@example.test").outcome is Outcome.DISABLED
    assert ids(directory.resolve("team@example.test")) == [bob.id]
    directory.set_disabled("bob@example.test", True)
    assert directory.resolve("team@example.test").outcome is Outcome.DISABLED
    with pytest.raises(UserError, match="is disabled"):
        directory.add_alias("x@example.test", ["bob@example.test"])


def test_utf8_and_quoted_local_parts(directory: Directory) -> None:
    directory.add_domain("例子.广告")
    user = directory.add_user("用户@例子.广告", "pw")
    assert ids(directory.resolve("用户@xn--fsqu00a.xn--4rr70v")) == [user.id]
    quoted = directory.add_user('"john doe"@example.test', "pw")
    assert ids(directory.resolve('"JOHN DOE"@example.test')) == [quoted.id]
    assert quoted.address.text == '"john doe"@example.test'
    straße = directory.add_user("straße@example.test", "pw")
    assert ids(directory.resolve("STRASSE@example.test")) == [straße.id]


# -- may_send_as -------------------------------------------------------------------------


def test_may_send_as(directory: Directory) -> None:
    directory.add_domain("managed.test")
    bob = directory.add_user("bob@example.test", "pw", admin_of=["managed.test"])
    directory.add_user("carol@example.test", "pw")
    directory.add_alias("team@example.test", ["bob@example.test", "carol@example.test"])
    directory.add_alias("sales@example.test", ["team@example.test"])
    directory.add_alias("carols@example.test", ["carol@example.test"])
    directory.set_catchall("example.test", "bob@example.test")
    allowed = [
        "bob@example.test",
        "BOB@EXAMPLE.TEST",
        "bob+tag@example.test",
        "team@example.test",
        "team+x@example.test",
        "sales@example.test",  # reaches bob through team
        "anyone@managed.test",
    ]
    refused = [
        "carol@example.test",
        "carols@example.test",
        "random@example.test",  # the catch-all does not make bob its every address
        "bob@elsewhere.test",
        "not an address",
    ]
    for address in allowed:
        assert directory.may_send_as(bob, address), address
    for address in refused:
        assert not directory.may_send_as(bob, address), address
    directory.set_disabled("bob@example.test", True)
    assert not directory.may_send_as(bob, "bob@example.test")
    directory.set_disabled("bob@example.test", False)
    referrers = directory.delete_user("bob@example.test")
    assert referrers == ["team@example.test", "catch-all of example.test"]
    assert not directory.may_send_as(bob, "bob@example.test")
    assert directory.delete_user("carol@example.test") == [
        "team@example.test",
        "carols@example.test",
    ]


# -- threads ---------------------------------------------------------------------------


def test_concurrent_use_from_asyncio_threads(directory: Directory) -> None:
    users = [directory.add_user(f"u{i}@example.test", "pw") for i in range(8)]

    async def main() -> list[Resolution]:
        calls = [asyncio.to_thread(directory.resolve, f"u{i % 8}@example.test") for i in range(64)]
        return await asyncio.gather(*calls)

    results = asyncio.run(main())
    assert [ids(r)[0] for r in results] == [users[i % 8].id for i in range(64)]


# -- random alias graphs ---------------------------------------------------------------

NAMES = ["a", "b", "c", "d", "e"]


@given(
    users=st.sets(st.sampled_from(NAMES), max_size=3),
    disabled=st.sets(st.sampled_from(NAMES), max_size=2),
    edges=st.lists(
        st.tuples(st.sampled_from(NAMES), st.sampled_from([*NAMES, "x@remote.example"])),
        max_size=12,
    ),
    catchall=st.one_of(st.none(), st.sampled_from(NAMES)),
    depth=st.integers(min_value=1, max_value=4),
)
@settings(max_examples=100, deadline=None)
def test_any_alias_graph_resolves_without_error(
    users: set[str],
    disabled: set[str],
    edges: list[tuple[str, str]],
    catchall: str | None,
    depth: int,
) -> None:
    def full(name: str) -> str:
        return name if "@" in name else f"{name}@example.test"

    with Directory(None, hasher=CHEAP, max_alias_depth=depth) as d:
        d.add_domain("example.test")
        for name in sorted(users):
            d.add_user(full(name), "pw")
        for source, target in edges:  # refusals are fine: they must change nothing
            try:
                d.add_alias(full(source), [full(target)])
            except UserError:
                pass
        for name in sorted(disabled & users):
            d.set_disabled(full(name), True)
        if catchall is not None:
            try:
                d.set_catchall("example.test", full(catchall))
            except UserError:
                pass
        enabled = {d.get_user(full(n)).id for n in users - disabled}
        for name in NAMES:
            for text in (full(name), f"{name}+tag@example.test"):
                resolution = d.resolve(text)
                local = [r.user_id for r in resolution.local]
                assert len(local) == len(set(local))
                assert set(local) <= enabled
                assert resolution.deliverable == bool(local or resolution.remote)
                if name in users - disabled:
                    assert resolution.outcome is Outcome.DELIVER


def test_directory_is_an_account_lookup() -> None:
    with Directory(None, hasher=CHEAP) as directory:
        lookup: AccountLookup = directory  # the assignment is what mypy checks
        assert lookup.is_local_domain("example.test") is False


def test_a_database_that_refuses_writes_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / DATABASE_NAME
    Directory(path, hasher=CHEAP).close()
    with Directory(path, hasher=CHEAP) as directory:
        # Another program (or a careless admin) made the file read-only for SQLite.
        directory._db.execute("PRAGMA query_only = ON")
        with pytest.raises(UserError, match=r"^the accounts database refused the change \("):
            directory.add_domain("example.test")
        directory._db.execute("PRAGMA query_only = OFF")
        assert directory.list_domains() == []


def test_a_database_locked_by_another_writer_is_busy(tmp_path: Path) -> None:
    path = tmp_path / DATABASE_NAME
    with Directory(path, hasher=CHEAP) as directory:
        other = sqlite3.connect(path, isolation_level=None, timeout=0)
        other.execute("BEGIN IMMEDIATE")  # another process in the middle of a change
        try:
            directory._db.execute("PRAGMA busy_timeout = 50")
            with pytest.raises(UserError, match=r"^the accounts database is busy, try again"):
                directory.add_domain("example.test")
            assert directory.resolve("a@example.test").outcome is Outcome.NOT_LOCAL_DOMAIN
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert directory.add_domain("example.test").name == "example.test"
