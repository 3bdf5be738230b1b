"""accounts.verified with the real directory: remembered logins skip argon2id, and a
password change, a disabled user or an expired entry makes the next login verify again."""

from __future__ import annotations

from pathlib import Path

import argon2

from mailkeep.accounts.directory import DATABASE_NAME, Directory
from mailkeep.accounts.passwords import PasswordHasher
from mailkeep.accounts.verified import VerifiedLogins

CHEAP_PARAMETERS = argon2.Parameters(
    type=argon2.Type.ID,
    version=19,
    salt_len=16,
    hash_len=32,
    time_cost=1,
    memory_cost=64,
    parallelism=1,
)


class CountingHasher(PasswordHasher):
    """The real argon2id hasher, counting how many verifications it did."""

    def __init__(self) -> None:
        super().__init__(CHEAP_PARAMETERS)
        self.verifications = 0

    def verify(self, encoded: str, password: str) -> bool:
        self.verifications += 1
        return super().verify(encoded, password)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(
    tmp_path: Path, *, ttl: float = 300.0, entries: int = 100
) -> tuple[Directory, CountingHasher, Clock, VerifiedLogins]:
    clock = Clock()
    hasher = CountingHasher()
    verified = VerifiedLogins(ttl=ttl, max_entries=entries, clock=clock)
    directory = Directory(tmp_path / DATABASE_NAME, hasher=hasher, verified=verified)
    directory.add_domain("example.test")
    directory.add_user("alice@example.test", "s3cret")
    directory.add_user("bob@example.test", "hunter2")
    return directory, hasher, clock, verified


def test_second_login_skips_the_verification(tmp_path: Path) -> None:
    directory, hasher, _, verified = make(tmp_path)
    first = directory.authenticate("alice@example.test", "s3cret")
    second = directory.authenticate("Alice@EXAMPLE.test", "s3cret")
    assert first is not None and second == first
    assert hasher.verifications == 1
    assert len(verified) == 1


def test_wrong_passwords_are_never_remembered(tmp_path: Path) -> None:
    directory, hasher, _, verified = make(tmp_path)
    assert directory.authenticate("alice@example.test", "s3cret") is not None
    for _ in range(3):
        assert directory.authenticate("alice@example.test", "s3cret ") is None
    assert hasher.verifications == 4
    assert len(verified) == 1
    # another user's password does not open this account either
    assert directory.authenticate("bob@example.test", "s3cret") is None


def test_password_changed_by_another_process(tmp_path: Path) -> None:
    directory, hasher, _, _ = make(tmp_path)
    assert directory.authenticate("alice@example.test", "s3cret") is not None
    other = Directory(tmp_path / DATABASE_NAME, hasher=PasswordHasher(CHEAP_PARAMETERS))
    other.set_password("alice@example.test", "n3w")  # as `mailkeep user passwd` would
    other.close()
    assert directory.authenticate("alice@example.test", "s3cret") is None
    assert directory.authenticate("alice@example.test", "n3w") is not None
    assert hasher.verifications == 3


def test_disabled_by_another_process(tmp_path: Path) -> None:
    directory, _, _, _ = make(tmp_path)
    assert directory.authenticate("alice@example.test", "s3cret") is not None
    other = Directory(tmp_path / DATABASE_NAME, hasher=PasswordHasher(CHEAP_PARAMETERS))
    other.set_disabled("alice@example.test", True)
    assert directory.authenticate("alice@example.test", "s3cret") is None
    other.set_disabled("alice@example.test", False)
    other.close()
    assert directory.authenticate("alice@example.test", "s3cret") is not None


def test_changes_in_this_process_forget_the_user(tmp_path: Path) -> None:
    directory, _, _, verified = make(tmp_path)
    assert directory.authenticate("alice@example.test", "s3cret") is not None
    assert directory.authenticate("bob@example.test", "hunter2") is not None
    assert len(verified) == 2
    directory.set_disabled("alice@example.test", True)
    assert len(verified) == 1
    directory.delete_user("bob@example.test")
    assert len(verified) == 0


def test_entries_expire(tmp_path: Path) -> None:
    directory, hasher, clock, _ = make(tmp_path, ttl=60)
    assert directory.authenticate("alice@example.test", "s3cret") is not None
    clock.now += 59
    assert directory.authenticate("alice@example.test", "s3cret") is not None
    assert hasher.verifications == 1
    clock.now += 2  # 61 s after the verification: use does not extend an entry
    assert directory.authenticate("alice@example.test", "s3cret") is not None
    assert hasher.verifications == 2


def test_bounded_oldest_forgotten_first(tmp_path: Path) -> None:
    directory, hasher, _, verified = make(tmp_path, entries=1)
    assert directory.authenticate("alice@example.test", "s3cret") is not None
    assert directory.authenticate("bob@example.test", "hunter2") is not None
    assert len(verified) == 1
    assert directory.authenticate("bob@example.test", "hunter2") is not None
    assert hasher.verifications == 2
    assert directory.authenticate("alice@example.test", "s3cret") is not None
    assert hasher.verifications == 3


def test_zero_seconds_turns_it_off(tmp_path: Path) -> None:
    directory, hasher, _, verified = make(tmp_path, ttl=0)
    for _ in range(2):
        assert directory.authenticate("alice@example.test", "s3cret") is not None
    assert hasher.verifications == 2
    assert len(verified) == 0


def test_entries_are_keyed_hashes_under_a_per_process_secret() -> None:
    a = VerifiedLogins(ttl=60, max_entries=10, clock=lambda: 0.0)
    b = VerifiedLogins(ttl=60, max_entries=10, clock=lambda: 0.0)
    a.remember(1, "$argon2id$stored", "s3cret")
    assert a.check(1, "$argon2id$stored", "s3cret")
    assert not b.check(1, "$argon2id$stored", "s3cret")
    assert not a.check(2, "$argon2id$stored", "s3cret")
    assert not a.check(1, "$argon2id$other", "s3cret")
    assert "s3cret" not in repr(vars(a))  # nothing of the password itself is kept
