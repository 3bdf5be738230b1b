"""Tokens of one IMAP command (RFC 9051 4 and 9: atoms, numbers, strings, literals).

The framing (``connection``) has already split a command into its lines and literals:
line ``i`` ends with a literal marker (``{n}``, ``{n+}`` or ``~{n}``) that introduces
``literals[i]``, and the last line has none. The reader walks them in order, so a literal's
octets are never copied or rescanned.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mailkeep.protocol.imap.errors import CommandSyntaxError

# ATOM-CHAR: any CHAR except atom-specials "(" ")" "{" SP CTL "%" "*" '"' "\" "]"
_ATOM = re.compile(rb"[!#$&'+,\-./0-9:;<=>?@A-Z\[^_`a-z|}~]+")
# ASTRING-CHAR adds resp-specials "]"
_ASTRING = re.compile(rb"[!#$&'+,\-./0-9:;<=>?@A-Z\[\]^_`a-z|}~]+")
# list-char: ATOM-CHAR / list-wildcards / resp-specials
_LIST_CHARS = re.compile(rb"[!#$%&'*+,\-./0-9:;<=>?@A-Z\[\]^_`a-z|}~]+")
_NUMBER = re.compile(rb"[0-9]+")
_QUOTED = re.compile(rb'"((?:[^"\\\r\n\x00]|\\["\\])*)"')
_QUOTED_PAIR = re.compile(rb'\\(["\\])')
LITERAL_MARKER = re.compile(rb"(~?)\{([0-9]{1,20})(\+?)\}\Z")

MAX_NUMBER = 0xFFFFFFFF  # RFC 9051 9: number is 32-bit
MAX_NUMBER64 = 0x7FFFFFFFFFFFFFFF  # RFC 9051 9: number64 (RFC 7162 mod-sequence-value)


class Reader:
    """A cursor over a command's lines and literals. Every method raises
    CommandSyntaxError with a readable reason when the input does not match."""

    __slots__ = ("_index", "_line", "_lines", "_literals", "_pos")

    def __init__(self, lines: Sequence[bytes], literals: Sequence[bytes] = ()) -> None:
        if len(literals) != len(lines) - 1:
            raise ValueError("each line but the last introduces one literal")
        self._lines = lines
        self._literals = literals
        self._index = 0
        self._line = lines[0]
        self._pos = 0

    # -- position -------------------------------------------------------------------------

    def at_end(self) -> bool:
        """True at the end of the whole command."""
        return self._index == len(self._lines) - 1 and self._pos >= len(self._line)

    def peek(self) -> bytes:
        """The next octet of the current line (b"" at a literal or the end)."""
        return self._line[self._pos : self._pos + 1]

    def peek_literal(self) -> bool:
        """True when a literal starts here."""
        return bool(self._index < len(self._literals) and self._at_marker())

    def _at_marker(self) -> bool:
        return LITERAL_MARKER.match(self._line, self._pos) is not None

    def rest_of_line(self) -> bytes:
        return self._line[self._pos :]

    def end(self) -> None:
        """Require the end of the command."""
        if not self.at_end():
            if self.peek() >= b"\x80":
                raise CommandSyntaxError("8-bit text must be in a quoted string or a literal")
            extra = self._line[self._pos : self._pos + 20].decode("ascii", "replace")
            raise CommandSyntaxError(f"unexpected text at the end: {extra!r}")

    def sp(self) -> None:
        if self.peek() != b" ":
            raise CommandSyntaxError("expected a space" + self._where())
        self._pos += 1

    def try_sp(self) -> bool:
        if self.peek() == b" ":
            self._pos += 1
            return True
        return False

    def char(self, char: bytes) -> None:
        if self.peek() != char:
            raise CommandSyntaxError(f"expected {char.decode()!r}" + self._where())
        self._pos += 1

    def try_char(self, char: bytes) -> bool:
        if self.peek() == char:
            self._pos += 1
            return True
        return False

    def try_keyword(self, word: bytes) -> bool:
        """Consume ``word`` (case-insensitively) when it is next and not followed by more
        atom characters."""
        end = self._pos + len(word)
        if self._line[self._pos : end].upper() != word:
            return False
        nxt = self._line[end : end + 1]
        if nxt and _ATOM.match(nxt) and word[-1:] not in (b"[", b"<"):
            return False
        self._pos = end
        return True

    def _where(self) -> str:
        if self.peek() >= b"\x80":
            return ", got 8-bit text (allowed only in a quoted string or a literal)"
        got = self._line[self._pos : self._pos + 12].decode("ascii", "replace")
        return f", got {got!r}" if got else " before the end"

    # -- tokens ---------------------------------------------------------------------------

    def match(self, pattern: re.Pattern[bytes]) -> re.Match[bytes] | None:
        """Match ``pattern`` here in the current line; consume it when it matches."""
        m = pattern.match(self._line, self._pos)
        if m is not None:
            self._pos = m.end()
        return m

    def _match(self, pattern: re.Pattern[bytes]) -> bytes | None:
        m = pattern.match(self._line, self._pos)
        if m is None:
            return None
        self._pos = m.end()
        return m.group(0)

    def atom(self, what: str = "an atom") -> str:
        if self._at_marker():
            raise CommandSyntaxError(f"expected {what}, got a literal")
        token = self._match(_ATOM)
        if token is None:
            raise CommandSyntaxError(f"expected {what}" + self._where())
        return token.decode("ascii")

    def keyword(self, what: str = "a keyword") -> str:
        """An atom, upper-cased."""
        return self.atom(what).upper()

    def number(self, what: str = "a number", maximum: int = MAX_NUMBER) -> int:
        token = self._match(_NUMBER)
        if token is None:
            raise CommandSyntaxError(f"expected {what}" + self._where())
        if len(token) > 20 or int(token) > maximum:
            raise CommandSyntaxError(f"{what} is too large")
        return int(token)

    def nz_number(self, what: str = "a nonzero number", maximum: int = MAX_NUMBER) -> int:
        value = self.number(what, maximum)
        if value == 0:
            raise CommandSyntaxError(f"{what} must not be 0")
        return value

    def literal(self, allow_binary: bool = False) -> tuple[bytes, bool]:
        """A literal's octets and whether it was literal8 (``~{n}``, RFC 3516)."""
        m = LITERAL_MARKER.match(self._line, self._pos)
        if m is None or self._index >= len(self._literals):
            raise CommandSyntaxError("expected a literal" + self._where())
        binary = bool(m.group(1))
        if binary and not allow_binary:
            raise CommandSyntaxError("literal8 (~{n}) is not allowed here")
        data = self._literals[self._index]
        self._index += 1
        self._line = self._lines[self._index]
        self._pos = 0
        if not binary and b"\0" in data:
            raise CommandSyntaxError("NUL in a literal (use literal8 ~{n})")  # RFC 9051 4.3
        return data, binary

    def quoted(self) -> bytes:
        m = _QUOTED.match(self._line, self._pos)
        if m is None:
            raise CommandSyntaxError("unterminated or invalid quoted string")
        self._pos = m.end()
        return _QUOTED_PAIR.sub(rb"\1", m.group(1))

    def string(self, what: str = "a string") -> bytes:
        """A quoted string or a literal."""
        if self.peek() == b'"':
            return self.quoted()
        if self._at_marker():
            return self.literal()[0]
        raise CommandSyntaxError(f"expected {what}" + self._where())

    def astring(self, what: str = "a string") -> bytes:
        if self.peek() == b'"' or self._at_marker():
            return self.string(what)
        token = self._match(_ASTRING)
        if token is None:
            raise CommandSyntaxError(f"expected {what}" + self._where())
        return token

    def nstring(self, what: str = "a string or NIL") -> bytes | None:
        if self.try_keyword(b"NIL"):
            return None
        return self.string(what)

    def list_mailbox(self) -> bytes:
        """list-mailbox: 1*list-char / string (RFC 9051 9)."""
        if self.peek() == b'"' or self._at_marker():
            return self.string("a mailbox pattern")
        token = self._match(_LIST_CHARS)
        if token is None:
            raise CommandSyntaxError("expected a mailbox pattern" + self._where())
        return token

    def token_until_space(self, what: str) -> str:
        """Printable non-space characters up to SP, ")" or the end (sequence sets...)."""
        start = self._pos
        line = self._line
        while (
            self._pos < len(line)
            and 0x21 <= line[self._pos] <= 0x7E
            and line[self._pos] not in b"()"
        ):
            self._pos += 1
        if self._pos == start:
            raise CommandSyntaxError(f"expected {what}" + self._where())
        return line[start : self._pos].decode("ascii")


def text_of(data: bytes, what: str) -> str:
    """Octets as UTF-8 text, or a CommandSyntaxError naming ``what``."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandSyntaxError(f"{what} is not valid UTF-8") from None
