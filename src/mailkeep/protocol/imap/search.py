"""Search keys as a tree (RFC 9051 6.4.4, RFC 3501 6.4.4) and their parser.

Extensions: RFC 7162 3.1.5 MODSEQ, RFC 5032 OLDER/YOUNGER, RFC 8514 SAVEDBEFORE/SAVEDON/
SAVEDSINCE/SAVEDATESUPPORTED, RFC 5182 "$". A list of keys is their AND; ``NEW`` becomes
``AND(RECENT, UNSEEN)``, ``OLD`` ``NOT RECENT``. String values are decoded with the
command's CHARSET (UTF-8 or US-ASCII; anything else is refused by the parser with
[BADCHARSET], RFC 9051 6.4.4).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date

from mailkeep.protocol.imap.errors import CommandSyntaxError
from mailkeep.protocol.imap.lexer import MAX_NUMBER64, Reader, text_of
from mailkeep.protocol.imap.sequence import SequenceSet, parse_sequence_set

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
# Nesting beyond this is an attack on the parser's stack, not a search (no client needs it).
MAX_DEPTH = 64


class DateField(enum.Enum):
    INTERNAL = "internal"  # BEFORE ON SINCE: the internal date
    SENT = "sent"  # SENTBEFORE...: the Date: header
    SAVED = "saved"  # SAVEDBEFORE...: the save date (RFC 8514)


class DateOp(enum.Enum):
    BEFORE = "before"
    ON = "on"
    SINCE = "since"


class TextWhere(enum.Enum):
    BODY = "body"
    TEXT = "text"  # header and body


@dataclass(frozen=True, slots=True)
class All:
    pass


@dataclass(frozen=True, slots=True)
class FlagKey:
    """A system flag (``\\Seen``, ``\\Recent``...) or a keyword is set (or not)."""

    flag: str
    present: bool = True


@dataclass(frozen=True, slots=True)
class HeaderKey:
    """HEADER field value, and BCC/CC/FROM/SUBJECT/TO (``field`` lower-cased)."""

    field: str
    value: str


@dataclass(frozen=True, slots=True)
class TextKey:
    where: TextWhere
    value: str


@dataclass(frozen=True, slots=True)
class DateKey:
    field: DateField
    op: DateOp
    day: date


@dataclass(frozen=True, slots=True)
class SizeKey:
    """LARGER n (``larger``) or SMALLER n."""

    larger: bool
    size: int


@dataclass(frozen=True, slots=True)
class AgeKey:
    """OLDER n (``older``) or YOUNGER n, in seconds (RFC 5032)."""

    older: bool
    seconds: int


@dataclass(frozen=True, slots=True)
class SequenceKey:
    """A sequence set of message numbers, or UID set (``uid``)."""

    sequence: SequenceSet
    uid: bool = False


@dataclass(frozen=True, slots=True)
class ModSeqKey:
    """MODSEQ [entry-name entry-type] n (RFC 7162 3.1.5)."""

    modseq: int
    entry: str | None = None
    entry_type: str | None = None


@dataclass(frozen=True, slots=True)
class SaveDateSupported:
    pass


@dataclass(frozen=True, slots=True)
class Not:
    key: SearchKey


@dataclass(frozen=True, slots=True)
class Or:
    left: SearchKey
    right: SearchKey


@dataclass(frozen=True, slots=True)
class And:
    keys: tuple[SearchKey, ...]


SearchKey = (
    All
    | FlagKey
    | HeaderKey
    | TextKey
    | DateKey
    | SizeKey
    | AgeKey
    | SequenceKey
    | ModSeqKey
    | SaveDateSupported
    | Not
    | Or
    | And
)


def uses_modseq(key: SearchKey) -> bool:
    """Whether ``key`` has a MODSEQ criterion anywhere: such a search enables CONDSTORE and
    its answer carries the highest MODSEQ of the results (RFC 7162 3.1, 3.1.5)."""
    if isinstance(key, ModSeqKey):
        return True
    if isinstance(key, Not):
        return uses_modseq(key.key)
    if isinstance(key, Or):
        return uses_modseq(key.left) or uses_modseq(key.right)
    if isinstance(key, And):
        return any(uses_modseq(k) for k in key.keys)
    return False


_FLAG_KEYS = {
    "ANSWERED": ("\\Answered", True),
    "DELETED": ("\\Deleted", True),
    "DRAFT": ("\\Draft", True),
    "FLAGGED": ("\\Flagged", True),
    "SEEN": ("\\Seen", True),
    "RECENT": ("\\Recent", True),
    "OLD": ("\\Recent", False),
    "UNANSWERED": ("\\Answered", False),
    "UNDELETED": ("\\Deleted", False),
    "UNDRAFT": ("\\Draft", False),
    "UNFLAGGED": ("\\Flagged", False),
    "UNSEEN": ("\\Seen", False),
}
_HEADER_KEYS = {"BCC": "bcc", "CC": "cc", "FROM": "from", "SUBJECT": "subject", "TO": "to"}
_DATE_KEYS = {
    f"{prefix}{op.name}": (fld, op)
    for prefix, fld in (
        ("", DateField.INTERNAL),
        ("SENT", DateField.SENT),
        ("SAVED", DateField.SAVED),
    )
    for op in DateOp
}
SUPPORTED_CHARSETS = ("UTF-8", "US-ASCII")
_DATE = re.compile(rb'("?)([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4})("?)')


def parse_date(reader: Reader) -> date:
    """date = date-text / DQUOTE date-text DQUOTE; date-text = d[d]-Mon-yyyy."""
    m = reader.match(_DATE)
    if m is None or (m.group(1) != m.group(5)):
        raise CommandSyntaxError("expected a date like 1-Feb-1994")
    try:
        month = MONTHS.index(m.group(3).decode("ascii").upper()) + 1
        return date(int(m.group(4)), month, int(m.group(2)))
    except ValueError:
        raise CommandSyntaxError("not a valid date") from None


class _SearchParser:
    def __init__(self, reader: Reader, charset: str) -> None:
        self.reader = reader
        self.charset = charset

    def string(self, what: str) -> str:
        data = self.reader.astring(what)
        if self.charset == "US-ASCII" and not data.isascii():
            raise CommandSyntaxError(f"{what} is not US-ASCII")
        return text_of(data, what)

    def keys(self, depth: int, closing: bytes | None) -> SearchKey:
        """search-key *(SP search-key), up to ``closing`` or the end."""
        keys = [self.key(depth)]
        while True:
            if closing is not None and self.reader.peek() == closing:
                break
            if self.reader.at_end() or (closing is None and self.reader.peek() == b")"):
                break
            self.reader.sp()
            keys.append(self.key(depth))
        return keys[0] if len(keys) == 1 else And(tuple(keys))

    def key(self, depth: int) -> SearchKey:
        if depth > MAX_DEPTH:
            raise CommandSyntaxError("search keys nested too deeply")
        r = self.reader
        if r.try_char(b"("):
            inner = self.keys(depth + 1, b")")
            r.char(b")")
            return inner
        first = r.peek()
        if first == b"$" or first == b"*" or first.isdigit():
            return SequenceKey(self.sequence())
        name = r.keyword("a search key")
        if name in _FLAG_KEYS:
            flag, present = _FLAG_KEYS[name]
            return FlagKey(flag, present)
        if name == "ALL":
            return All()
        if name == "NEW":
            return And((FlagKey("\\Recent"), FlagKey("\\Seen", False)))
        if name in ("KEYWORD", "UNKEYWORD"):
            r.sp()
            return FlagKey(r.atom("a keyword"), name == "KEYWORD")
        if name in _HEADER_KEYS:
            r.sp()
            return HeaderKey(_HEADER_KEYS[name], self.string("a search string"))
        if name == "HEADER":
            r.sp()
            field_name = text_of(r.astring("a header field name"), "header field name")
            r.sp()
            return HeaderKey(field_name.lower(), self.string("a search string"))
        if name in ("BODY", "TEXT"):
            r.sp()
            return TextKey(TextWhere[name], self.string("a search string"))
        if name in _DATE_KEYS:
            r.sp()
            fld, op = _DATE_KEYS[name]
            return DateKey(fld, op, parse_date(r))
        if name in ("LARGER", "SMALLER"):
            r.sp()
            return SizeKey(name == "LARGER", r.number("a size", MAX_NUMBER64))
        if name in ("OLDER", "YOUNGER"):
            r.sp()
            return AgeKey(name == "OLDER", r.nz_number("an interval in seconds"))
        if name == "UID":
            r.sp()
            return SequenceKey(self.sequence(), uid=True)
        if name == "NOT":
            r.sp()
            return Not(self.key(depth + 1))
        if name == "OR":
            r.sp()
            left = self.key(depth + 1)
            r.sp()
            return Or(left, self.key(depth + 1))
        if name == "MODSEQ":
            return self.modseq()
        if name == "SAVEDATESUPPORTED":
            return SaveDateSupported()
        raise CommandSyntaxError(f"unknown search key {name}")

    def sequence(self) -> SequenceSet:
        text = self.reader.token_until_space("a sequence set")
        try:
            return parse_sequence_set(text)
        except ValueError as exc:
            raise CommandSyntaxError(f"bad sequence set: {exc}") from None

    def modseq(self) -> ModSeqKey:
        r = self.reader
        r.sp()
        if r.peek() == b'"':
            entry = text_of(r.quoted(), "entry name")
            r.sp()
            entry_type = r.keyword("an entry type (PRIV, SHARED or ALL)")
            if entry_type not in ("PRIV", "SHARED", "ALL"):
                raise CommandSyntaxError("entry type must be PRIV, SHARED or ALL")
            r.sp()
            return ModSeqKey(r.number("a mod-sequence", MAX_NUMBER64), entry, entry_type)
        return ModSeqKey(r.number("a mod-sequence", MAX_NUMBER64))


def parse_search_keys(
    reader: Reader, charset: str = "US-ASCII", closing: bytes | None = None
) -> SearchKey:
    """One or more search keys (their AND) from ``reader``, which stops before ``closing``
    (or the end of the command)."""
    return _SearchParser(reader, charset).keys(0, closing)
