"""accounts.passwords: argon2id hashes, SASLprep, rehash, the dummy verification."""

from __future__ import annotations

import argon2
import pytest

from mailkeep.accounts.passwords import (
    PARAMETERS,
    PasswordError,
    PasswordHasher,
    prepare_password,
)

# Real argon2id with the smallest cost, so the tests run in milliseconds.
CHEAP = argon2.Parameters(
    type=argon2.Type.ID,
    version=19,
    salt_len=16,
    hash_len=32,
    time_cost=1,
    memory_cost=64,
    parallelism=1,
)


def test_default_hash_is_argon2id_with_the_documented_parameters() -> None:
    encoded = PasswordHasher().hash("correct horse")
    assert encoded.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert PARAMETERS.type is argon2.Type.ID


def test_hash_and_verify() -> None:
    hasher = PasswordHasher(CHEAP)
    encoded = hasher.hash("s3cret")
    assert encoded.startswith("$argon2id$v=19$m=64,t=1,p=1$")
    assert hasher.verify(encoded, "s3cret")
    assert not hasher.verify(encoded, "s3cret ")
    assert not hasher.verify(encoded, "S3cret")
    assert hasher.hash("s3cret") != encoded  # salted
    assert not hasher.verify("not a hash", "s3cret")
    assert not hasher.verify(encoded, "")  # empty never matches, never raises


def test_needs_rehash_when_parameters_change() -> None:
    old = PasswordHasher(CHEAP)
    encoded = old.hash("pw")
    assert not old.needs_rehash(encoded)
    new = PasswordHasher()
    assert new.needs_rehash(encoded)
    assert new.verify(encoded, "pw")  # old hashes keep working
    assert new.needs_rehash("garbage")


def test_saslprep() -> None:
    # RFC 4013 3 examples: SOFT HYPHEN maps to nothing; NFKC; prohibited and bidi errors.
    assert prepare_password("I\u00adX") == "IX"
    assert prepare_password("user") == "user"
    assert prepare_password("\u00aa") == "a"
    assert prepare_password("\u2168") == "IX"
    assert prepare_password("a\u00a0b") == "a b"  # non-ASCII space becomes SPACE
    for bad in ("\u0007", "a\x00b", "\u0627\u0031"):
        with pytest.raises(PasswordError):
            prepare_password(bad)
    with pytest.raises(PasswordError, match="empty"):
        prepare_password("\u00ad")
    hasher = PasswordHasher(CHEAP)
    # Precomposed and decomposed forms are the same password.
    assert hasher.verify(hasher.hash("caf\u00e9"), "cafe\u0301")
    assert not hasher.verify(hasher.hash("pw"), "p\x00w")


def test_hash_refuses_unusable_passwords() -> None:
    hasher = PasswordHasher(CHEAP)
    with pytest.raises(PasswordError, match="empty"):
        hasher.hash("")
    with pytest.raises(PasswordError, match=r"U\+0000"):
        hasher.hash("a\x00")


def test_dummy_verify_costs_like_a_real_one() -> None:
    # argon2's cost is set by its parameters alone (memory, iterations, lanes, lengths):
    # a dummy hash made with the same parameters as real ones costs what they cost to
    # verify. Comparing parameters, not stopwatch times, keeps this exact on a busy machine.
    hasher = PasswordHasher()
    encoded = hasher.hash("pw")
    hasher.verify_dummy()  # the first call makes the dummy hash
    dummy = hasher._dummy_hash()
    assert argon2.extract_parameters(dummy) == argon2.extract_parameters(encoded)
    assert not hasher.needs_rehash(dummy)
    assert dummy != encoded
