"""Argument readers shared by the command parsers (RFC 9051 9): mailbox names in the
session's encoding, flags, sequence sets, date-time, SASL responses."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime, timedelta, timezone

from mailkeep.protocol.imap import mutf7
from mailkeep.protocol.imap.errors import CommandSyntaxError
from mailkeep.protocol.imap.lexer import Reader, text_of
from mailkeep.protocol.imap.search import MONTHS
from mailkeep.protocol.imap.sequence import SequenceSet, parse_sequence_set

_DATE_TIME = re.compile(
    rb'"([ 0-9][0-9])-([A-Za-z]{3})-([0-9]{4}) '
    rb'([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})"'
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Arguments:
    """Argument readers shared by the command parsers."""

    __slots__ = ("r", "utf8")

    def __init__(self, reader: Reader, utf8: bool) -> None:
        self.r = reader
        self.utf8 = utf8

    def mailbox(self, what: str = "a mailbox name") -> str:
        return decode_mailbox(self.r.astring(what), self.utf8)

    def pattern(self) -> str:
        return decode_mailbox(self.r.list_mailbox(), self.utf8, pattern=True)

    def text(self, what: str) -> str:
        return text_of(self.r.astring(what), what)

    def sequence(self) -> SequenceSet:
        text = self.r.token_until_space("a sequence set")
        try:
            return parse_sequence_set(text)
        except ValueError as exc:
            raise CommandSyntaxError(f"bad sequence set: {exc}") from None

    def flag(self) -> str:
        r = self.r
        if r.try_char(b"\\"):
            return "\\" + r.atom("a flag name")
        return r.atom("a flag")

    def flag_list(self) -> tuple[str, ...]:
        r = self.r
        r.char(b"(")
        flags: list[str] = []
        while not r.try_char(b")"):
            if flags:
                r.sp()
            flags.append(self.flag())
        return tuple(flags)

    def atom_list(self, what: str) -> tuple[str, ...]:
        """ "(" [atom *(SP atom)] ")", upper-cased."""
        r = self.r
        r.char(b"(")
        items: list[str] = []
        while not r.try_char(b")"):
            if items:
                r.sp()
            items.append(r.keyword(what))
        return tuple(items)


def decode_mailbox(raw: bytes, utf8: bool, pattern: bool = False) -> str:
    """A mailbox name (or LIST pattern) as text: UTF-8 when ``utf8``, else modified UTF-7
    (RFC 3501 5.1.3); INBOX in any case is "INBOX" (RFC 9051 5.1)."""
    what = "mailbox pattern" if pattern else "mailbox name"
    if utf8:
        name = text_of(raw, what)
    else:
        try:
            name = mutf7.decode(raw)
        except mutf7.MUTF7Error as exc:
            raise CommandSyntaxError(f"{what} is not modified UTF-7: {exc}") from None
    if _CONTROL.search(name):
        raise CommandSyntaxError(f"control character in {what}")
    if name.upper() == "INBOX":
        return "INBOX"
    return name


def parse_date_time(reader: Reader) -> datetime:
    """date-time (RFC 9051 9): "dd-Mon-yyyy hh:mm:ss +zzzz" as an aware datetime."""
    m = reader.match(_DATE_TIME)
    if m is None:
        raise CommandSyntaxError('expected a date-time like "17-Jul-1996 02:44:25 -0700"')
    day, month, year, hh, mm, ss, sign, zh, zm = (g.decode("ascii") for g in m.groups())
    try:
        offset = timedelta(hours=int(zh), minutes=int(zm))
        if offset >= timedelta(hours=24) or int(zm) > 59:
            raise ValueError
        zone = timezone(-offset if sign == "-" else offset)
        return datetime(
            int(year),
            MONTHS.index(month.upper()) + 1,
            int(day.strip()),
            int(hh),
            int(mm),
            int(ss),
            tzinfo=zone,
        )
    except ValueError:
        raise CommandSyntaxError("not a valid date-time") from None


def decode_sasl(data: bytes) -> bytes:
    """A base64 SASL response ("=" is empty, RFC 4959 3); CommandSyntaxError when invalid."""
    if data == b"=":
        return b""
    try:
        return base64.b64decode(data, validate=True)
    except binascii.Error:
        raise CommandSyntaxError("SASL response is not base64") from None
