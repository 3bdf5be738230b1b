"""Password hashing: argon2id (RFC 9106) via argon2-cffi, passwords prepared by SASLprep
(RFC 4013, as RFC 4616 asks of PLAIN servers).

Hashes are PHC strings (``$argon2id$v=19$m=...,t=...,p=...$salt$hash``) that carry their own
parameters, so a hash made with older parameters still verifies; ``needs_rehash`` says when
it should be replaced (the directory does that on the next successful login).

Timing: ``verify_dummy`` costs what a real verification costs, so a login for an unknown
user takes as long as one with a wrong password and does not reveal whether the user exists.
"""

from __future__ import annotations

import secrets
import threading
from typing import Final

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from mailkeep.protocol.sasl.exchange import ScramCredentials
from mailkeep.protocol.sasl.saslprep import saslprep
from mailkeep.protocol.sasl.scram import derive_credentials

SCRAM_SALT_SIZE = 16  # bytes; RFC 5802 leaves it open, 128 bits as for argon2id

# The argon2id minimum of the OWASP Password Storage Cheat Sheet: 19 MiB, 2 passes, one lane.
# A mail server verifies a password on every IMAP, POP3 and submission login, so RFC 9106's
# recommended 2 GiB (or 64 MiB x 3 passes x 4 lanes, about 0.3 s of CPU here) costs too much
# per connection; one lane leaves the other cores to other logins. Changing these makes
# stored hashes be rehashed at their owners' next login.
PARAMETERS: Final = argon2.Parameters(
    type=argon2.Type.ID,
    version=19,
    salt_len=16,
    hash_len=32,
    time_cost=2,
    memory_cost=19 * 1024,  # KiB
    parallelism=1,
)


class PasswordError(ValueError):
    """A password that cannot be used (empty, or characters SASLprep prohibits)."""


def prepare_password(password: str) -> str:
    """RFC 4013 SASLprep for a stored string (protocol.sasl.saslprep, the one implementation
    SCRAM uses too): map, NFKC, refuse prohibited characters.

    Raises PasswordError saying why. Verification prepares the offered password the same way,
    so "é" typed precomposed or decomposed, or a no-break space, still matches.
    """
    try:
        prepared = saslprep(password)
    except ValueError as exc:
        raise PasswordError(f"the password {exc}") from None
    if not prepared:
        raise PasswordError("the password is empty")
    return prepared


def scram_keys(password: str, iterations: int) -> ScramCredentials:
    """Fresh SCRAM-SHA-256 keys (RFC 5802 3, RFC 7677) for ``password``, random salt."""
    prepare_password(password)  # the same refusals as for the hash, with its messages
    return derive_credentials(password, secrets.token_bytes(SCRAM_SALT_SIZE), iterations)


class PasswordHasher:
    """Hash and verify passwords with fixed argon2id parameters. Safe to share across threads."""

    def __init__(self, parameters: argon2.Parameters = PARAMETERS) -> None:
        self._hasher = argon2.PasswordHasher.from_parameters(parameters)
        self._dummy: str | None = None
        self._dummy_lock = threading.Lock()

    def hash(self, password: str) -> str:
        """The PHC string for ``password``; raises PasswordError for an unusable password."""
        return self._hasher.hash(prepare_password(password))

    def verify(self, encoded: str, password: str) -> bool:
        """True when ``password`` matches ``encoded``; False for a mismatch or a bad hash."""
        try:
            prepared = prepare_password(password)
        except PasswordError:
            self.verify_dummy()
            return False
        try:
            return self._hasher.verify(encoded, prepared)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, encoded: str) -> bool:
        """True when ``encoded`` was made with other parameters than this hasher's."""
        try:
            return self._hasher.check_needs_rehash(encoded)
        except (InvalidHashError, ValueError):
            return True

    def verify_dummy(self) -> None:
        """Spend the time of one verification, for a login whose user does not exist."""
        try:
            self._hasher.verify(self._dummy_hash(), "not the password")
        except VerificationError:
            pass

    def _dummy_hash(self) -> str:
        with self._dummy_lock:
            if self._dummy is None:
                self._dummy = self._hasher.hash(secrets.token_urlsafe(24))
            return self._dummy
