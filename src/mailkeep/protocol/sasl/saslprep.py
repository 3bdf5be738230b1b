"""SASLprep (RFC 4013), the stringprep profile (RFC 3454) for user names and passwords.

SCRAM clients prepare the password this way before hashing it (RFC 5802 2.2, "Normalize"),
so the server must derive its stored keys from the same prepared string; the accounts
prepare passwords with it before hashing them with argon2id (RFC 4616 asks it of PLAIN).
"""

from __future__ import annotations

import stringprep
import unicodedata

_PROHIBITED = (
    stringprep.in_table_c12,  # non-ASCII space characters
    stringprep.in_table_c21_c22,  # control characters
    stringprep.in_table_c3,  # private use
    stringprep.in_table_c4,  # non-character code points
    stringprep.in_table_c5,  # surrogate codes
    stringprep.in_table_c6,  # inappropriate for plain text
    stringprep.in_table_c7,  # inappropriate for canonical representation
    stringprep.in_table_c8,  # change display properties or deprecated
    stringprep.in_table_c9,  # tagging characters
)


def saslprep(text: str, *, allow_unassigned: bool = False) -> str:
    """The prepared form of ``text``; ValueError when it holds prohibited characters, its
    text a predicate ("contains a prohibited character U+0000") to follow a subject.

    ``allow_unassigned`` is for queries (RFC 3454 7); stored strings refuse unassigned code
    points.
    """
    if text.isascii() and text.isprintable():
        return text  # the common case: printable ASCII is unchanged by every step
    # RFC 4013 2.1: non-ASCII spaces become SPACE, "commonly mapped to nothing" are removed.
    mapped = "".join(
        " " if stringprep.in_table_c12(c) else c for c in text if not stringprep.in_table_b1(c)
    )
    prepared = unicodedata.normalize("NFKC", mapped)  # RFC 4013 2.2
    for char in prepared:
        if any(table(char) for table in _PROHIBITED):  # RFC 4013 2.3
            raise ValueError(f"contains a prohibited character U+{ord(char):04X}")
        if not allow_unassigned and stringprep.in_table_a1(char):  # RFC 4013 2.5
            raise ValueError(f"contains an unassigned code point U+{ord(char):04X}")
    # RFC 3454 6: strings with right-to-left characters must not mix in left-to-right ones,
    # and must start and end with a right-to-left character.
    if any(stringprep.in_table_d1(c) for c in prepared):
        if any(stringprep.in_table_d2(c) for c in prepared):
            raise ValueError("mixes right-to-left and left-to-right text")
        if not (stringprep.in_table_d1(prepared[0]) and stringprep.in_table_d1(prepared[-1])):
            raise ValueError("has right-to-left text that does not start and end right-to-left")
    return prepared
