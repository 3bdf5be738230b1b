"""Host names (RFC 1123 2.1, RFC 5890 IDNA): checked and stored as A-labels."""

from __future__ import annotations

import re

import idna

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)\Z")


def to_alabel(name: str) -> str:
    """Return ``name`` as lower-case A-labels, or raise ValueError saying why not."""
    name = name.strip().rstrip(".")
    if not name:
        raise ValueError("empty host name")
    try:
        ascii_name = idna.encode(name, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise ValueError(f"{name!r} is not a valid host name ({exc})") from None
    ascii_name = ascii_name.lower()
    if len(ascii_name) > 253:
        raise ValueError(f"{name!r} is longer than 253 characters")
    for label in ascii_name.split("."):
        if not _LABEL.match(label):
            raise ValueError(f"{name!r} has an invalid label {label!r}")
    return ascii_name


def to_ulabel(name: str) -> str:
    """Return a stored A-label name for display (U-labels); unchanged when not decodable."""
    try:
        return idna.decode(name)
    except idna.IDNAError:
        return name


def check_hostname(name: str) -> str:
    """Validator for config: a fully qualified host name, normalised to A-labels."""
    value = to_alabel(name)
    if "." not in value:
        raise ValueError(f"{name!r} is not fully qualified (expected e.g. mail.example.org)")
    return value
