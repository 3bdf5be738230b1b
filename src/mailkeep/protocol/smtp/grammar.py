"""SMTP command grammar: verbs, paths and ESMTP parameters.

RFC 5321 4.1.1 (commands), 4.1.2 (paths, Mailbox syntax), 4.1.3 (address literals),
4.5.3.1 (size limits); RFC 1870 (SIZE), RFC 6152 (8BITMIME), RFC 3030 (BODY=BINARYMIME),
RFC 6531 (SMTPUTF8), RFC 3461 4 (DSN: RET, ENVID, NOTIFY, ORCPT, xtext), RFC 6533 3
(utf-8-addr-xtext in ORCPT), RFC 4954 5 (AUTH=), RFC 8689 (REQUIRETLS).

Implementation notes:

- Input is one command line without its CRLF. Any control character (NUL, a bare CR or LF,
  TAB, DEL) is refused before anything else: envelope addresses must never carry a line break
  into a header (Return-Path, Received) or a log line.
- Text is decoded once, as UTF-8; non-ASCII is legal only in SMTPUTF8 addresses (the server
  checks that the MAIL command asked for it).
- The path parser (brackets, source route, parameters) is separate from the mailbox check, so
  a fuller mailbox parser can plug in without touching the rest.
- Every refusal is a CommandError carrying the named reply to send.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from mailkeep.mail.address import Address, AddressError, parse_address
from mailkeep.protocol.smtp import replies
from mailkeep.protocol.smtp.errors import CommandError


class Verb(enum.Enum):
    HELO = "HELO"
    EHLO = "EHLO"
    MAIL = "MAIL"
    RCPT = "RCPT"
    DATA = "DATA"
    BDAT = "BDAT"
    RSET = "RSET"
    NOOP = "NOOP"
    QUIT = "QUIT"
    VRFY = "VRFY"
    EXPN = "EXPN"
    HELP = "HELP"
    STARTTLS = "STARTTLS"
    AUTH = "AUTH"


# Verbs of other protocols: a client speaking them is a browser or a cross-protocol attack,
# not a mail client; the connection is closed at once.
FOREIGN_VERBS = frozenset({"GET", "POST", "PUT", "HEAD", "CONNECT", "OPTIONS", "USER", "PASS"})


@dataclass(frozen=True, slots=True)
class Command:
    """A command line: its verb and the text after the verb and its space."""

    verb: Verb
    argument: str


class Body(enum.Enum):
    """BODY= values (RFC 6152, RFC 3030 3)."""

    SEVEN_BIT = "7BIT"
    EIGHT_BIT_MIME = "8BITMIME"
    BINARY_MIME = "BINARYMIME"


class Ret(enum.Enum):
    """RET= values (RFC 3461 4.3)."""

    FULL = "FULL"
    HDRS = "HDRS"


class Notify(enum.Enum):
    """NOTIFY= values (RFC 3461 4.1)."""

    NEVER = "NEVER"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    DELAY = "DELAY"


@dataclass(frozen=True, slots=True)
class MailParameters:
    size: int | None = None
    body: Body = Body.SEVEN_BIT
    smtputf8: bool = False
    ret: Ret | None = None
    envid: str | None = None
    requiretls: bool = False
    auth: str | None = None


@dataclass(frozen=True, slots=True)
class RcptParameters:
    notify: frozenset[Notify] = frozenset()
    orcpt: tuple[str, str] | None = None  # (addr-type, decoded address), RFC 3461 4.2


# RFC 5321 4.5.3.1: domain 255, path 256 octets (mail.address checks the rest).
MAX_DOMAIN = 255
MAX_PATH = 256
MAX_ENVID = 100  # RFC 3461 4.4
MAX_ORCPT = 500  # RFC 3461 4.2
MAX_SIZE_DIGITS = 20  # RFC 1870 6: size-value is 1*20DIGIT

_VERB = re.compile(r"^[A-Za-z]{1,16}\Z")
_KEYWORD = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*\Z")  # esmtp-keyword, RFC 5321 4.1.2
_LABEL = re.compile(
    r"^[A-Za-z0-9\u0080-\U0010ffff]([A-Za-z0-9\-\u0080-\U0010ffff]*"
    r"[A-Za-z0-9\u0080-\U0010ffff])?$"
)
_HELO_NAME = re.compile(r"^(\[[\x21-\x5a\x5e-\x7e]+\]|[A-Za-z0-9_.\-\u0080-\U0010ffff]+)\Z")
_HEX = "0123456789ABCDEF"
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")


def parse_command(line: bytes) -> Command:
    """Split a command line into verb and argument, refusing control characters."""
    verb_bytes, _, rest = line.partition(b" ")
    try:
        verb_text = verb_bytes.decode("ascii")
    except UnicodeDecodeError:
        raise CommandError(replies.UNKNOWN_COMMAND, "non-ASCII verb") from None
    if not _VERB.match(verb_text):
        if any(b < 32 or b == 127 for b in verb_bytes):
            raise CommandError(replies.CONTROL_CHARACTERS, "control character in verb")
        raise CommandError(replies.UNKNOWN_COMMAND, f"bad verb {verb_text[:20]!r}")
    upper = verb_text.upper()
    if upper in FOREIGN_VERBS:
        raise CommandError(replies.NOT_SMTP, f"foreign verb {upper}")
    try:
        verb = Verb(upper)
    except ValueError:
        raise CommandError(replies.UNKNOWN_COMMAND, f"unknown verb {upper}") from None
    if _CONTROL.search(rest):
        raise CommandError(replies.CONTROL_CHARACTERS, f"control character in {upper}")
    try:
        argument = rest.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandError(replies.SYNTAX_ERROR, f"invalid UTF-8 in {upper}") from None
    return Command(verb, argument.strip(" "))


def parse_helo_name(argument: str) -> str:
    """The domain or address literal of HELO/EHLO (RFC 5321 4.1.1.1), lightly checked."""
    if not argument or not _HELO_NAME.match(argument) or len(argument) > MAX_DOMAIN:
        raise CommandError(replies.SYNTAX_ERROR, "bad HELO/EHLO name")
    return argument


def split_path(argument: str, prefix: str) -> tuple[str, list[str]]:
    """Split "FROM:<path> params" (or "TO:") into the path's inside and the parameter words.

    Spaces after the colon are tolerated (common, harmless); angle brackets are required.
    """
    if argument[: len(prefix)].upper() != prefix:
        raise CommandError(replies.SYNTAX_ERROR, f"expected {prefix}")
    rest = argument[len(prefix) :].lstrip(" ")
    if not rest.startswith("<"):
        raise CommandError(replies.BAD_ADDRESS, "path without angle brackets")
    end = _closing_bracket(rest)
    inside, tail = rest[1:end], rest[end + 1 :]
    if tail and not tail.startswith(" "):
        raise CommandError(replies.SYNTAX_ERROR, "text after the path")
    return inside, tail.split()


def _closing_bracket(text: str) -> int:
    """Index of the ">" closing the path, skipping quoted strings and their escapes."""
    if '"' not in text:  # the common case: no quoted local part
        end = text.find(">")
        if end < 0:
            raise CommandError(replies.BAD_ADDRESS, "unterminated path")
        return end
    quoted = False
    i = 1
    while i < len(text):
        char = text[i]
        if quoted and char == "\\":
            i += 2
            continue
        if char == '"':
            quoted = not quoted
        elif char == ">" and not quoted:
            return i
        i += 1
    raise CommandError(replies.BAD_ADDRESS, "unterminated path")


def strip_source_route(path: str) -> str:
    """Drop an RFC 5321 4.1.2 A-d-l ("@relay1,@relay2:") and return the mailbox.

    Source routes are obsolete and ignored (RFC 5321 3.3, C): mail goes to the final mailbox,
    never through the listed relays.
    """
    if not path.startswith("@"):
        return path
    route, sep, mailbox = path.partition(":")
    if not sep:
        raise CommandError(replies.BAD_ADDRESS, "source route without ':'")
    for hop in route.split(","):
        if not hop.startswith("@") or not _is_domain(hop[1:]):
            raise CommandError(replies.BAD_ADDRESS, "bad source route")
    return mailbox


def to_address(mailbox: str) -> Address:
    """The mailbox as an Address (mail.address: RFC 5321 4.1.2, RFC 6531 3.3, sizes)."""
    try:
        return parse_address(mailbox, utf8=True)
    except AddressError as error:
        raise CommandError(replies.BAD_ADDRESS, error.reason) from None


def _is_domain(domain: str) -> bool:
    if not domain or len(domain.encode()) > MAX_DOMAIN:
        return False
    return all(_LABEL.match(label) for label in domain.split("."))


@dataclass(frozen=True, slots=True)
class PathArgument:
    """A MAIL or RCPT argument: the address (None: the null reverse-path), whether it was
    sent in ASCII (else SMTPUTF8 is needed, RFC 6531 3.4), and the parameter words."""

    address: Address | None
    ascii: bool
    words: tuple[str, ...]


def parse_reverse_path(argument: str) -> PathArgument:
    """MAIL's argument (RFC 5321 4.1.1.2)."""
    inside, words = split_path(argument, "FROM:")
    if len(inside.encode()) + 2 > MAX_PATH:
        raise CommandError(replies.BAD_ADDRESS, "path longer than 256 octets")
    if inside == "":
        return PathArgument(None, True, tuple(words))
    mailbox = strip_source_route(inside)
    return PathArgument(to_address(mailbox), mailbox.isascii(), tuple(words))


def parse_forward_path(argument: str, local_domain: str) -> PathArgument:
    """RCPT's argument (RFC 5321 4.1.1.3); a bare "Postmaster" means ``local_domain``'s."""
    inside, words = split_path(argument, "TO:")
    if len(inside.encode()) + 2 > MAX_PATH:
        raise CommandError(replies.BAD_ADDRESS, "path longer than 256 octets")
    if inside.lower() == "postmaster":
        return PathArgument(Address("postmaster", local_domain), True, tuple(words))
    mailbox = strip_source_route(inside)
    return PathArgument(to_address(mailbox), mailbox.isascii(), tuple(words))


def parse_parameters(words: tuple[str, ...] | list[str]) -> dict[str, str | None]:
    """esmtp-param words (RFC 5321 4.1.2) as KEYWORD (upper case) -> value or None."""
    params: dict[str, str | None] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not _KEYWORD.match(key) or (sep and not value) or "=" in value:
            raise CommandError(replies.SYNTAX_ERROR, f"bad parameter {word[:40]!r}")
        key = key.upper()
        given = value if sep else None
        if key in params:
            # A repeat with the same value is harmless (Python's smtplib sends SMTPUTF8 twice
            # when asked for it explicitly); conflicting values are an error.
            previous = params[key]
            if (previous or "").upper() != (given or "").upper() or (previous is None) != (
                given is None
            ):
                raise CommandError(replies.SYNTAX_ERROR, f"conflicting parameter {key}")
        params[key] = given
    return params


def decode_xtext(value: str) -> str:
    """Decode RFC 3461 4 xtext ("+HH" escapes); anything malformed is a 501."""
    out = bytearray()
    i = 0
    while i < len(value):
        char = value[i]
        if char == "+":
            pair = value[i + 1 : i + 3]
            if len(pair) != 2 or any(c not in _HEX for c in pair):
                raise CommandError(replies.BAD_PARAMETER, "bad xtext escape")
            out.append(int(pair, 16))
            i += 3
            continue
        if not 33 <= ord(char) <= 126 or char == "=":
            raise CommandError(replies.BAD_PARAMETER, "bad xtext character")
        out.append(ord(char))
        i += 1
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandError(replies.BAD_PARAMETER, "xtext is not UTF-8") from None


def encode_xtext(text: str) -> str:
    """RFC 3461 4 xtext for ENVID/ORCPT/AUTH= values sent by the client core: bytes outside
    "!".."~", and "+" and "=", become "+HH" (of the UTF-8 encoding)."""
    return "".join(
        chr(byte) if 33 <= byte <= 126 and byte not in (43, 61) else f"+{byte:02X}"
        for byte in text.encode("utf-8")
    )


_UNICODE_ESCAPE = re.compile(r"\\x\{([0-9A-Fa-f]{1,6})\}")


def decode_utf8_addr(value: str) -> str:
    """utf-8-addr-xtext / -unitext (RFC 6533 3): "\\x{HEX}" escapes, else literal text."""

    def replace(match: re.Match[str]) -> str:
        code = int(match.group(1), 16)
        if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            raise CommandError(replies.BAD_PARAMETER, "bad unicode escape")
        return chr(code)

    decoded = _UNICODE_ESCAPE.sub(replace, value)
    if any(ord(c) < 32 or ord(c) == 127 for c in decoded):
        raise CommandError(replies.BAD_PARAMETER, "control character in ORCPT")
    return decoded


def parse_mail_parameters(params: dict[str, str | None], allowed: frozenset[str]) -> MailParameters:
    """Interpret MAIL parameters; ``allowed`` holds the keywords this session advertised."""
    for key in params:
        if key not in allowed:
            raise CommandError(replies.UNKNOWN_PARAMETER, f"parameter {key} not offered")
    size = _valueless_or(params, "SIZE")
    body = _valueless_or(params, "BODY")
    ret = _valueless_or(params, "RET")
    envid = _valueless_or(params, "ENVID")
    auth = _valueless_or(params, "AUTH")
    for flag in ("SMTPUTF8", "REQUIRETLS"):
        if params.get(flag, None) is not None:
            raise CommandError(replies.BAD_PARAMETER, f"{flag} takes no value")
    if size is not None and not (
        size.isascii() and size.isdigit() and len(size) <= MAX_SIZE_DIGITS
    ):
        raise CommandError(replies.BAD_PARAMETER, "bad SIZE")
    try:
        body_value = Body(body.upper()) if body is not None else Body.SEVEN_BIT
        ret_value = Ret(ret.upper()) if ret is not None else None
    except ValueError:
        raise CommandError(replies.BAD_PARAMETER, "bad BODY or RET") from None
    envid_text = decode_xtext(envid) if envid is not None else None
    if envid_text is not None and len(envid_text.encode()) > MAX_ENVID:
        raise CommandError(replies.BAD_PARAMETER, "ENVID longer than 100 octets")
    return MailParameters(
        size=int(size) if size is not None else None,
        body=body_value,
        smtputf8="SMTPUTF8" in params,
        ret=ret_value,
        envid=envid_text,
        requiretls="REQUIRETLS" in params,
        auth=decode_xtext(auth) if auth is not None else None,
    )


def parse_rcpt_parameters(params: dict[str, str | None], allowed: frozenset[str]) -> RcptParameters:
    """Interpret RCPT parameters (RFC 3461 4.1, 4.2)."""
    for key in params:
        if key not in allowed:
            raise CommandError(replies.UNKNOWN_PARAMETER, f"parameter {key} not offered")
    notify_text = _valueless_or(params, "NOTIFY")
    notify: frozenset[Notify] = frozenset()
    if notify_text is not None:
        try:
            items = [Notify(item) for item in notify_text.upper().split(",")]
        except ValueError:
            raise CommandError(replies.BAD_PARAMETER, "bad NOTIFY") from None
        notify = frozenset(items)
        if len(notify) != len(items) or (Notify.NEVER in notify and len(notify) > 1):
            raise CommandError(replies.BAD_PARAMETER, "NOTIFY=NEVER stands alone")
    orcpt_text = _valueless_or(params, "ORCPT")
    orcpt = None
    if orcpt_text is not None:
        if len(orcpt_text) > MAX_ORCPT:
            raise CommandError(replies.BAD_PARAMETER, "ORCPT longer than 500 characters")
        addr_type, sep, raw = orcpt_text.partition(";")
        if not sep or not raw or not re.match(r"^[A-Za-z0-9][A-Za-z0-9-]*$", addr_type):
            raise CommandError(replies.BAD_PARAMETER, "bad ORCPT")
        addr_type = addr_type.lower()
        decoded = decode_utf8_addr(raw) if addr_type == "utf-8" else decode_xtext(raw)
        orcpt = (addr_type, decoded)
    return RcptParameters(notify=notify, orcpt=orcpt)


def _valueless_or(params: dict[str, str | None], key: str) -> str | None:
    """The value of ``key``; a keyword given without its required value is a 501."""
    if key not in params:
        return None
    value = params[key]
    if value is None:
        raise CommandError(replies.BAD_PARAMETER, f"{key} needs a value")
    return value
