"""FETCH data items (RFC 9051 6.4.5, RFC 3501 6.4.5) and their parser.

Extensions: RFC 3516 BINARY[...]/BINARY.PEEK/BINARY.SIZE, RFC 7162 MODSEQ, RFC 8514
SAVEDATE, RFC 8970 PREVIEW, RFC 8474 EMAILID/THREADID. The macros ALL, FAST and FULL are
expanded (RFC 9051 6.4.5). RFC822, RFC822.HEADER and RFC822.TEXT become body fetches that
remember their old name for the response (RFC 3501 6.4.5: RFC822.HEADER does not set
\\Seen, the other two do).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from mailkeep.protocol.imap.encoder import encode_astring
from mailkeep.protocol.imap.errors import CommandSyntaxError
from mailkeep.protocol.imap.lexer import MAX_NUMBER, Reader, text_of


class FetchAttr(enum.Enum):
    """Items without arguments; the value is the response's item name."""

    ENVELOPE = "ENVELOPE"
    FLAGS = "FLAGS"
    INTERNALDATE = "INTERNALDATE"
    RFC822_SIZE = "RFC822.SIZE"
    BODY = "BODY"  # the body structure without extension data
    BODYSTRUCTURE = "BODYSTRUCTURE"
    UID = "UID"
    MODSEQ = "MODSEQ"  # RFC 7162 3.1.4
    SAVEDATE = "SAVEDATE"  # RFC 8514 4.3
    EMAILID = "EMAILID"  # RFC 8474 5.1
    THREADID = "THREADID"


class SectionText(enum.Enum):
    HEADER = "HEADER"
    HEADER_FIELDS = "HEADER.FIELDS"
    HEADER_FIELDS_NOT = "HEADER.FIELDS.NOT"
    TEXT = "TEXT"
    MIME = "MIME"


@dataclass(frozen=True, slots=True)
class Section:
    """A section spec: part numbers (empty: the whole message) and an optional text part.
    ``fields`` are the header names of HEADER.FIELDS(.NOT), as the client wrote them."""

    part: tuple[int, ...] = ()
    text: SectionText | None = None
    fields: tuple[str, ...] = ()

    def to_imap(self) -> bytes:
        """The section spec as it appears inside the brackets of the response."""
        spec = ".".join(str(n) for n in self.part).encode("ascii")
        if self.text is not None:
            spec += (b"." if spec else b"") + self.text.value.encode("ascii")
            if self.fields:
                spec += b" (" + b" ".join(encode_astring(f) for f in self.fields) + b")"
        return spec


@dataclass(frozen=True, slots=True)
class FetchBody:
    """BODY[section]<partial>, BODY.PEEK, BINARY[part] and BINARY.PEEK, RFC822(.HEADER/.TEXT).

    ``partial`` is (origin, length). ``sets_seen`` says whether fetching it sets \\Seen
    (RFC 9051 6.4.5) in a read-write mailbox.
    """

    section: Section = Section()
    peek: bool = False
    partial: tuple[int, int] | None = None
    binary: bool = False
    legacy: str | None = None  # "RFC822", "RFC822.HEADER" or "RFC822.TEXT"

    @property
    def sets_seen(self) -> bool:
        return not self.peek

    def response_name(self) -> bytes:
        """The item name in the FETCH response, e.g. ``BODY[1.HEADER.FIELDS (To)]<0>``."""
        if self.legacy is not None:
            return self.legacy.encode("ascii")
        name = b"BINARY[" if self.binary else b"BODY["
        name += self.section.to_imap() + b"]"
        if self.partial is not None:
            name += b"<%d>" % self.partial[0]  # RFC 9051 7.5.2: only the origin
        return name


@dataclass(frozen=True, slots=True)
class FetchBinarySize:
    part: tuple[int, ...] = ()

    def response_name(self) -> bytes:
        return b"BINARY.SIZE[" + ".".join(str(n) for n in self.part).encode("ascii") + b"]"


@dataclass(frozen=True, slots=True)
class FetchPreview:
    lazy: bool = False  # RFC 8970 3.1: PREVIEW (LAZY)


FetchItem = FetchAttr | FetchBody | FetchBinarySize | FetchPreview

MACROS: dict[str, tuple[FetchItem, ...]] = {
    "ALL": (FetchAttr.FLAGS, FetchAttr.INTERNALDATE, FetchAttr.RFC822_SIZE, FetchAttr.ENVELOPE),
    "FAST": (FetchAttr.FLAGS, FetchAttr.INTERNALDATE, FetchAttr.RFC822_SIZE),
    "FULL": (
        FetchAttr.FLAGS,
        FetchAttr.INTERNALDATE,
        FetchAttr.RFC822_SIZE,
        FetchAttr.ENVELOPE,
        FetchAttr.BODY,
    ),
}
_SIMPLE: dict[str, FetchItem] = {a.value: a for a in FetchAttr}
# name before "[" → (binary, peek)
_BODY_FORMS = {
    "BODY": (False, False),
    "BODY.PEEK": (False, True),
    "BINARY": (True, False),
    "BINARY.PEEK": (True, True),
}
# A fetch item's name, and whether a section ("[") follows.
_ITEM_NAME = re.compile(rb"([A-Za-z0-9.]+)(\[?)")
_LEGACY = {
    "RFC822": FetchBody(legacy="RFC822"),
    "RFC822.HEADER": FetchBody(Section(text=SectionText.HEADER), peek=True, legacy="RFC822.HEADER"),
    "RFC822.TEXT": FetchBody(Section(text=SectionText.TEXT), legacy="RFC822.TEXT"),
}
_PART = re.compile(rb"[1-9][0-9]{0,8}(?:\.[1-9][0-9]{0,8})*")
_PARTIAL = re.compile(rb"<([0-9]{1,10})\.([0-9]{1,10})>")
# RFC 5322 3.6.8: field-name = 1*ftext, printable US-ASCII except ":"
_FIELD_NAME = re.compile(r"[!-9;-~]+", re.ASCII)
_PLAIN_HEADER_LIST = re.compile(
    rb"\(([!#$&'+,\-./0-9;<=>?@A-Z^_`a-z|}~]+(?: [!#$&'+,\-./0-9;<=>?@A-Z^_`a-z|}~]+)*)\)"
)
# Bounds a HEADER.FIELDS list; no client asks for more, and it caps the work per message.
MAX_HEADER_FIELDS = 1000


def parse_fetch_items(reader: Reader) -> tuple[FetchItem, ...]:
    """``ALL`` / ``FAST`` / ``FULL`` / fetch-att / "(" fetch-att *(SP fetch-att) ")"."""
    if reader.try_char(b"("):
        items = [parse_fetch_item(reader)]
        while not reader.try_char(b")"):
            reader.sp()
            items.append(parse_fetch_item(reader))
        return tuple(items)
    for macro, expansion in MACROS.items():
        if reader.try_keyword(macro.encode("ascii")):
            return expansion
    return (parse_fetch_item(reader),)


def parse_fetch_item(reader: Reader) -> FetchItem:
    r = reader
    m = r.match(_ITEM_NAME)
    if m is None:
        raise CommandSyntaxError("expected a fetch item")
    name = m.group(1).upper().decode("ascii")
    if m.group(2):  # a section follows
        if name in _BODY_FORMS:
            binary, peek = _BODY_FORMS[name]
            section = _binary_section(r) if binary else _section(r)
            return FetchBody(section, peek, _partial(r), binary)
        if name == "BINARY.SIZE":
            return FetchBinarySize(_binary_section(r).part)
        raise CommandSyntaxError(f"unknown fetch item {name}[")
    if name in _SIMPLE:
        return _SIMPLE[name]
    if name in _LEGACY:
        return _LEGACY[name]
    if name == "PREVIEW":
        return _preview(r)
    if name in MACROS:
        raise CommandSyntaxError(f"{name} is a macro and cannot be in a list")
    raise CommandSyntaxError(f"unknown fetch item {name}")


def _preview(r: Reader) -> FetchPreview:
    if r.peek() == b" " and r.rest_of_line()[1:2] == b"(":
        # RFC 8970 3.1: PREVIEW (LAZY); a following fetch item never starts with "("
        r.sp()
        r.char(b"(")
        modifiers = [r.keyword("a preview modifier")]
        while r.try_sp():
            modifiers.append(r.keyword("a preview modifier"))
        r.char(b")")
        unknown = set(modifiers) - {"LAZY"}
        if unknown:
            raise CommandSyntaxError(f"unknown PREVIEW modifier {sorted(unknown)[0]}")
        return FetchPreview(lazy=True)
    return FetchPreview()


def _part(reader: Reader) -> tuple[int, ...]:
    m = reader.match(_PART)
    if m is None:
        return ()
    return tuple(int(n) for n in m.group(0).split(b"."))


def _binary_section(reader: Reader) -> Section:
    part = _part(reader)
    reader.char(b"]")
    return Section(part)


def _section(reader: Reader) -> Section:
    r = reader
    part = _part(r)
    if r.try_char(b"]"):
        return Section(part)
    if part:
        r.char(b".")
    if r.try_keyword(b"HEADER.FIELDS.NOT"):
        text = SectionText.HEADER_FIELDS_NOT
    elif r.try_keyword(b"HEADER.FIELDS"):
        text = SectionText.HEADER_FIELDS
    elif r.try_keyword(b"HEADER"):
        text = SectionText.HEADER
    elif r.try_keyword(b"TEXT"):
        text = SectionText.TEXT
    elif r.try_keyword(b"MIME"):
        if not part:
            raise CommandSyntaxError("MIME needs a part number (RFC 9051 6.4.5)")
        text = SectionText.MIME
    else:
        raise CommandSyntaxError("expected HEADER, HEADER.FIELDS, TEXT or MIME in the section")
    fields: tuple[str, ...] = ()
    if text in (SectionText.HEADER_FIELDS, SectionText.HEADER_FIELDS_NOT):
        r.sp()
        fields = _header_list(r)
    r.char(b"]")
    return Section(part, text, tuple(fields))


def _header_list(r: Reader) -> tuple[str, ...]:
    """header-list = "(" header-fld-name *(SP header-fld-name) ")" (astrings)."""
    m = r.match(_PLAIN_HEADER_LIST)  # the usual case: bare names, one regex
    if m is not None:
        names = m.group(1).decode("ascii").split(" ")
    else:
        r.char(b"(")
        names = []
        while True:
            names.append(text_of(r.astring("a header field name"), "header field name"))
            if r.try_char(b")"):
                break
            r.sp()
    for name in names:
        if not _FIELD_NAME.fullmatch(name):
            raise CommandSyntaxError(f"{name!r} is not a header field name")
    if len(names) > MAX_HEADER_FIELDS:
        raise CommandSyntaxError("too many header field names")
    return tuple(names)


def _partial(reader: Reader) -> tuple[int, int] | None:
    if reader.peek() != b"<":
        return None
    m = reader.match(_PARTIAL)
    if m is None:
        raise CommandSyntaxError("expected <origin.length> after the section")
    origin, length = int(m.group(1)), int(m.group(2))
    if length == 0 or origin > MAX_NUMBER or length > MAX_NUMBER:
        raise CommandSyntaxError("partial length must be a nonzero 32-bit number")
    return origin, length
