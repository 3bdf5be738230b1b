"""SCRAM-SHA-256 keys in the accounts: made with each password, added at the next password
login for users from before SCRAM (migration 2), and the SCRAM login's throttle rules."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import sqlite3
from pathlib import Path

import pytest

from mailkeep.accounts.database import MIGRATIONS
from mailkeep.accounts.directory import DATABASE_NAME, Directory
from mailkeep.accounts.login import ScramLogin, sasl_mechanism
from mailkeep.accounts.throttle import LoginThrottle, ThrottleSettings
from mailkeep.protocol.sasl import Challenge, Failure, NeedCheck, ScramLookup, Success
from mailkeep.protocol.sasl.saslprep import saslprep
from mailkeep.protocol.sasl.scram import derive_credentials
from tests.accounts.test_directory import CHEAP


def make(path: Path | None, iterations: int = 4096) -> Directory:
    directory = Directory(path, hasher=CHEAP, scram_iterations=iterations)
    if not directory.list_domains():
        directory.add_domain("example.test")
    return directory


def test_a_new_password_comes_with_keys_that_match_it() -> None:
    directory = make(None)
    directory.add_user("ann@example.test", "pencil")
    found = directory.scram_credentials("ann@example.test")
    assert found is not None
    user_id, keys = found
    assert user_id == directory.get_user("ann@example.test").id
    assert keys.iterations == 4096 and len(keys.salt) == 16
    assert keys == derive_credentials("pencil", keys.salt, 4096)
    directory.set_password("ann@example.test", "crayon")
    _, changed = directory.scram_credentials("ann@example.test") or (0, keys)
    assert changed == derive_credentials("crayon", changed.salt, 4096)
    assert changed.salt != keys.salt
    assert directory.scram_ready()
    directory.set_disabled("ann@example.test", True)
    assert directory.scram_credentials("ann@example.test") is None
    assert directory.scram_credentials("nobody@example.test") is None
    assert directory.scram_credentials("not an address") is None


def test_users_from_before_scram_get_keys_at_their_next_password_login(tmp_path: Path) -> None:
    path = tmp_path / DATABASE_NAME
    # A database made by the previous version: migration 1 only, one user without keys.
    with make(path) as directory:
        directory.add_user("old@example.test", "pencil")
        directory.add_user("new@example.test", "pencil")
    db = sqlite3.connect(path)
    with db:
        db.execute(
            "UPDATE users SET scram_salt = NULL, scram_iterations = NULL,"
            " scram_stored_key = NULL, scram_server_key = NULL WHERE local = 'old'"
        )
    db.close()
    with make(path) as directory:
        assert not directory.scram_ready()  # SCRAM is not offered: "old" could not use it
        assert directory.scram_credentials("old@example.test") is None
        assert directory.authenticate("old@example.test", "wrong") is None
        assert directory.scram_credentials("old@example.test") is None
        assert directory.authenticate("old@example.test", "pencil") is not None
        found = directory.scram_credentials("old@example.test")
        assert found is not None and found[1] == derive_credentials("pencil", found[1].salt, 4096)
        assert directory.scram_ready()
    # A change of iterations is applied at the next login too.
    with make(path, iterations=5000) as directory:
        assert directory.authenticate("new@example.test", "pencil") is not None
        found = directory.scram_credentials("new@example.test")
        assert found is not None and found[1].iterations == 5000


def test_migration_from_version_1(tmp_path: Path) -> None:
    path = tmp_path / DATABASE_NAME
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for statement in MIGRATIONS[0]:
        db.execute(statement)
    db.execute("INSERT INTO schema_version VALUES (1)")
    db.execute("INSERT INTO domains (name, created) VALUES ('example.test', 0)")
    db.execute(
        "INSERT INTO users (domain_id, local, local_key, password_hash, created)"
        " VALUES (1, 'old', 'old', ?, 0)",
        (CHEAP.hash("pencil"),),
    )
    db.close()
    with make(path) as directory:
        assert not directory.scram_ready()
        assert len(directory.scram_fake_salt_key) == 32
        assert directory.authenticate("old@example.test", "pencil") is not None
        assert directory.scram_credentials("old@example.test") is not None


def run_scram(
    directory: Directory, throttle: LoginThrottle, user: str, password: str
) -> tuple[Success | Failure, bool]:
    """One SCRAM exchange through ScramLogin with a client computed here (RFC 5802 3)."""

    async def run() -> tuple[Success | Failure, bool]:
        mechanism = sasl_mechanism(directory, "SCRAM-SHA-256")
        assert mechanism is not None
        login = ScramLogin(directory, throttle, protocol="test", ip="192.0.2.1")
        first_bare = f"n={user},r=clientnonce"
        step = mechanism.start(f"n,,{first_bare}".encode())
        assert isinstance(step, NeedCheck) and isinstance(step.request, ScramLookup)
        step = mechanism.answer(await login.lookup(step.request))
        assert isinstance(step, Challenge)
        server_first = step.data.decode()
        attrs = dict(part.split("=", 1) for part in server_first.split(","))
        salted = hashlib.pbkdf2_hmac(
            "sha256", saslprep(password).encode(), base64.b64decode(attrs["s"]), int(attrs["i"])
        )
        client_key = hmac.digest(salted, b"Client Key", "sha256")
        without_proof = f"c=biws,r={attrs['r']}"
        auth_message = f"{first_bare},{server_first},{without_proof}".encode()
        signature = hmac.digest(hashlib.sha256(client_key).digest(), auth_message, "sha256")
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        final = f"{without_proof},p={base64.b64encode(proof).decode()}"
        outcome = mechanism.respond(final.encode())
        assert isinstance(outcome, (Success, Failure))
        attempt = await login.finish(outcome)
        return outcome, attempt.user is not None

    return asyncio.run(run())


def test_scram_login_counts_failures_and_locks_out() -> None:
    directory = make(None)
    directory.add_user("ann@example.test", "pencil")
    settings = ThrottleSettings(failure_delay_seconds=0, lockout_after_failures=3)
    throttle = LoginThrottle(settings, lambda: 0.0)
    outcome, ok = run_scram(directory, throttle, "ann@example.test", "pencil")
    assert isinstance(outcome, Success) and ok
    for _ in range(3):
        outcome, ok = run_scram(directory, throttle, "ann@example.test", "wrong")
        assert isinstance(outcome, Failure) and not ok
    # Locked out: even the right password gets nowhere (fake keys at the lookup).
    outcome, ok = run_scram(directory, throttle, "ann@example.test", "pencil")
    assert not ok
    # Unknown users fail at the proof, with the same iterations as real ones.
    outcome, ok = run_scram(directory, throttle, "nobody@example.test", "pencil")
    assert isinstance(outcome, Failure) and not ok


@pytest.mark.parametrize("iterations", [4096, 5000])
def test_unknown_users_get_the_real_iteration_count(iterations: int) -> None:
    directory = make(None, iterations)
    mechanism = sasl_mechanism(directory, "SCRAM-SHA-256")
    assert mechanism is not None
    mechanism.start(b"n,,n=nobody@example.test,r=abc")
    step = mechanism.answer(None)
    assert isinstance(step, Challenge) and step.data.endswith(b",i=%d" % iterations)
