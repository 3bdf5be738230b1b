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
import stringprep
import threading
import unicodedata
from typing import Final

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

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
    """RFC 4013 SASLprep for a stored string: map, NFKC, refuse prohibited characters.

    Raises PasswordError saying why. Verification prepares the offered password the same way,
    so "é" typed precomposed or decomposed, or a no-break space, still matches.
    """
    # RFC 4013 2.1: non-ASCII spaces become SPACE; "commonly mapped to nothing" disappear.
    mapped = "".join(
        " " if stringprep.in_table_c12(ch) else ch
        for ch in password
        if not stringprep.in_table_b1(ch)
    )
    prepared = unicodedata.normalize("NFKC", mapped)  # RFC 4013 2.2
    if not prepared:
        raise PasswordError("the password is empty")
    for ch in prepared:
        if _prohibited(ch):  # RFC 4013 2.3 and 2.5 (unassigned code points, stored strings)
            raise PasswordError(f"the password contains a prohibited character U+{ord(ch):04X}")
    # RFC 3454 6 (via RFC 4013 2.4): right-to-left text must not mix with left-to-right text
    # and must start and end with a right-to-left character.
    if any(stringprep.in_table_d1(ch) for ch in prepared):
        if any(stringprep.in_table_d2(ch) for ch in prepared) or not (
            stringprep.in_table_d1(prepared[0]) and stringprep.in_table_d1(prepared[-1])
        ):
            raise PasswordError("the password mixes right-to-left and left-to-right text")
    return prepared


def _prohibited(ch: str) -> bool:
    return (
        stringprep.in_table_c12(ch)
        or stringprep.in_table_c21_c22(ch)
        or stringprep.in_table_c3(ch)
        or stringprep.in_table_c4(ch)
        or stringprep.in_table_c5(ch)
        or stringprep.in_table_c6(ch)
        or stringprep.in_table_c7(ch)
        or stringprep.in_table_c8(ch)
        or stringprep.in_table_c9(ch)
        or stringprep.in_table_a1(ch)
    )


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
