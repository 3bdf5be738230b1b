"""Mailbox names: validation and hierarchy (RFC 9051 5.1, RFC 3501 5.1).

Names are UTF-8 strings with "/" as the one hierarchy separator, chosen once for every user
(what most clients expect; "." would forbid dots in folder names). Names never become file
names (messages live under ids), so the checks here are about sane names, not path safety;
they still refuse what could confuse a client or a log: empty levels ("a//b", "/a", "a/"),
"." and ".." levels, control characters (C0, DEL, C1), the line and paragraph separators
U+2028 and U+2029 (RFC 6855 3 forbids them in names), unpaired surrogates, the IMAP
wildcards "*" and "%", and names over the configured length or depth.
INBOX is case-insensitive (RFC 9051 5.1): any spelling means the one INBOX.
"""

from __future__ import annotations

from mailkeep.store.errors import InvalidKeyword, InvalidMailboxName
from mailkeep.store.models import HIERARCHY_SEPARATOR, INBOX

# Defaults for the limits (models.StoreLimits, from the config, overrides them).
DEFAULT_MAX_NAME_BYTES = 512  # Dovecot's default too; long enough for deep folder trees
DEFAULT_MAX_DEPTH = 32  # no client nests deeper; bounds LIST work and RENAME fan-out


def normalize_mailbox_name(
    name: str,
    *,
    max_bytes: int = DEFAULT_MAX_NAME_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> str:
    """Return the canonical form of ``name`` (INBOX upper-cased) or raise InvalidMailboxName."""
    if not name:
        raise InvalidMailboxName("mailbox name is empty")
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidMailboxName("mailbox name is not valid UTF-8") from None
    if size > max_bytes:
        raise InvalidMailboxName(f"mailbox name is longer than {max_bytes} bytes")
    for ch in name:
        code = ord(ch)
        if code < 0x20 or 0x7F <= code < 0xA0 or code in (0x2028, 0x2029):
            raise InvalidMailboxName("mailbox name contains a control character")
        if ch in "*%":
            raise InvalidMailboxName(f"mailbox name contains the wildcard {ch!r}")
    levels = name.split(HIERARCHY_SEPARATOR)
    if len(levels) > max_depth:
        raise InvalidMailboxName(f"mailbox name is deeper than {max_depth} levels")
    for level in levels:
        if not level:
            raise InvalidMailboxName("mailbox name has an empty level")
        if level in (".", ".."):
            raise InvalidMailboxName(f"mailbox name has a {level!r} level")
        if level != level.strip():
            raise InvalidMailboxName("a mailbox name level starts or ends with a space")
    if levels[0].upper() == INBOX:
        levels[0] = INBOX
    return HIERARCHY_SEPARATOR.join(levels)


def parent_names(name: str) -> list[str]:
    """The superior names of ``name``, outermost first ("a/b/c" → ["a", "a/b"])."""
    levels = name.split(HIERARCHY_SEPARATOR)
    return [HIERARCHY_SEPARATOR.join(levels[:i]) for i in range(1, len(levels))]


def is_inside(name: str, ancestor: str) -> bool:
    """True when ``name`` is strictly below ``ancestor`` in the hierarchy."""
    return name.startswith(ancestor + HIERARCHY_SEPARATOR)


_ATOM_SPECIALS = frozenset('(){ %*"\\]')
MAX_KEYWORD_CHARS = 100  # longer keywords are abuse; Dovecot uses a similar bound


def check_keyword(keyword: str) -> str:
    """Return ``keyword`` if it is a valid IMAP keyword (RFC 9051 9 flag-keyword = atom)."""
    if not keyword or len(keyword) > MAX_KEYWORD_CHARS or keyword.startswith("\\"):
        raise InvalidKeyword(f"invalid keyword {keyword[:40]!r}")
    for ch in keyword:
        if not 0x20 < ord(ch) < 0x7F or ch in _ATOM_SPECIALS:
            raise InvalidKeyword(f"invalid keyword {keyword[:40]!r}")
    return keyword
