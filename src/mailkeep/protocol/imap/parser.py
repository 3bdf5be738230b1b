"""The IMAP command parser: one framed command to a TaggedCommand (RFC 9051 9 grammar).

``parse_command`` never raises anything but ParseError, which carries the tag (when one
could be read), a reason for a person and the response to send (BAD, or NO [BADCHARSET]).
Commands of any state and the authenticated state are parsed here, selected-state ones in
``message_commands``, shared argument readers live in ``arguments``; what a command means
is the handlers' business.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from mailkeep.protocol.imap import commands as c
from mailkeep.protocol.imap import responses as r
from mailkeep.protocol.imap.arguments import Arguments, decode_sasl, parse_date_time
from mailkeep.protocol.imap.errors import CommandSyntaxError, ParseError
from mailkeep.protocol.imap.lexer import MAX_NUMBER64, Reader, text_of
from mailkeep.protocol.imap.message_commands import UID_PARSERS
from mailkeep.protocol.imap.sequence import SequenceSet

_TAG = re.compile(rb"[!#$&',\-./0-9:;<=>?@A-Z\[\]^_`a-z|}~]+")

STATUS_ITEMS = frozenset(
    {
        "MESSAGES",
        "UIDNEXT",
        "UIDVALIDITY",
        "UNSEEN",
        "DELETED",  # RFC 9051 6.3.11
        "SIZE",  # RFC 8438
        "RECENT",  # IMAP4rev1 only
        "HIGHESTMODSEQ",  # RFC 7162 3.1.6
        "APPENDLIMIT",  # RFC 7889 3.2
        "DELETED-STORAGE",  # RFC 9208 4.2
        "MAILBOXID",  # RFC 8474 4.2
    }
)
LIST_SELECTION = frozenset({"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"})
LIST_RETURN = frozenset({"SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "STATUS"})
# RFC 2971 3.3: at most 30 field-value pairs.
MAX_ID_PAIRS = 30


def read_tag(line: bytes) -> tuple[str | None, str | None]:
    """The tag and the command name (``"UID FETCH"`` for UID commands) at the start of a
    command line, as far as they can be read; used by the framing before a command is
    complete (to refuse a literal early) and to tag errors."""
    m = _TAG.match(line)
    if m is None or line[m.end() : m.end() + 1] not in (b" ", b""):
        return None, None
    tag = m.group(0).decode("ascii")
    rest = line[m.end() + 1 :]
    name_match = re.match(rb"[A-Za-z]+", rest)
    if name_match is None:
        return tag, None
    name = name_match.group(0).decode("ascii").upper()
    if name == "UID":
        sub = re.match(rb" ([A-Za-z]+)", rest[name_match.end() :])
        if sub is not None:
            return tag, "UID " + sub.group(1).decode("ascii").upper()
    return tag, name


def parse_command(
    lines: Sequence[bytes], literals: Sequence[bytes] = (), *, utf8: bool = False
) -> c.TaggedCommand:
    """Parse one command. ``utf8``: mailbox names are UTF-8 (IMAP4rev2 or UTF8=ACCEPT
    enabled) instead of modified UTF-7."""
    tag: str | None = None
    try:
        reader = Reader(lines, literals)
        m = reader.match(_TAG)
        if m is None:
            raise CommandSyntaxError("a command starts with a tag")
        tag = m.group(0).decode("ascii")
        if reader.at_end():
            raise CommandSyntaxError("missing command name")
        reader.sp()
        name = reader.keyword("a command name")
        if name == "UID":
            reader.sp()
            sub = reader.keyword("a command name after UID")
            if sub not in UID_PARSERS:
                raise CommandSyntaxError(f"UID {sub} is not a command")
            command = UID_PARSERS[sub](Arguments(reader, utf8), True)
            name = f"UID {sub}"
        elif name in _PARSERS:
            command = _PARSERS[name](Arguments(reader, utf8))
        elif name in UID_PARSERS:
            command = UID_PARSERS[name](Arguments(reader, utf8), False)
        else:
            raise CommandSyntaxError(f"unknown command {name}", r.BAD_UNKNOWN_COMMAND)
        reader.end()
    except CommandSyntaxError as exc:
        raise ParseError(tag, exc.reason, exc.reply) from None
    except (ValueError, IndexError, RecursionError) as exc:  # a gap in the checks above
        raise ParseError(
            tag,
            f"malformed command ({type(exc).__name__})",
            r.BAD_SYNTAX.with_text("malformed command"),
        ) from None
    return c.TaggedCommand(tag, name, command)


# -- any state ------------------------------------------------------------------------------


def _no_args(cls: Callable[[], c.Command]) -> Callable[[Arguments], c.Command]:
    return lambda a: cls()


def _id(a: Arguments) -> c.Id:
    r = a.r
    r.sp()
    if r.try_keyword(b"NIL"):
        return c.Id(None)
    r.char(b"(")
    pairs: list[tuple[str, str | None]] = []
    while not r.try_char(b")"):
        if pairs:
            r.sp()
        key = text_of(r.string("an ID field name"), "ID field name")
        r.sp()
        value = r.nstring("an ID value")
        pairs.append((key, None if value is None else text_of(value, "ID value")))
        if len(pairs) > MAX_ID_PAIRS:
            raise CommandSyntaxError("too many ID fields (RFC 2971 3.3: at most 30)")
    return c.Id(tuple(pairs))


# -- not authenticated ------------------------------------------------------------------


def _authenticate(a: Arguments) -> c.Authenticate:
    r = a.r
    r.sp()
    mechanism = r.keyword("a SASL mechanism")
    if not r.try_sp():
        return c.Authenticate(mechanism)
    # RFC 4959 3: initial-response = base64 / "=" (an empty response)
    raw = r.token_until_space("an initial response")
    return c.Authenticate(mechanism, decode_sasl(raw.encode("ascii")))


def _login(a: Arguments) -> c.Login:
    a.r.sp()
    user = a.text("a user name")
    a.r.sp()
    return c.Login(user, a.text("a password"))


# -- authenticated ------------------------------------------------------------------------


def _enable(a: Arguments) -> c.Enable:
    a.r.sp()
    caps = [a.r.keyword("a capability")]
    while a.r.try_sp():
        caps.append(a.r.keyword("a capability"))
    return c.Enable(tuple(caps))


def _select(read_only: bool) -> Callable[[Arguments], c.Select]:
    def parse(a: Arguments) -> c.Select:
        r = a.r
        r.sp()
        mailbox = a.mailbox()
        condstore = False
        qresync: c.QresyncParams | None = None
        if r.try_sp():
            r.char(b"(")
            first = True
            while not r.try_char(b")"):
                if not first:
                    r.sp()
                first = False
                param = r.keyword("a select parameter")
                if param == "CONDSTORE":
                    condstore = True
                elif param == "QRESYNC":
                    r.sp()
                    qresync = _qresync(a)
                else:
                    raise CommandSyntaxError(f"unknown select parameter {param}")
        return c.Select(mailbox, read_only, condstore, qresync)

    return parse


def _qresync(a: Arguments) -> c.QresyncParams:
    """ "(" uidvalidity SP mod-sequence-value [SP known-uids] [SP seq-match-data] ")"."""
    r = a.r
    r.char(b"(")
    uidvalidity = r.nz_number("a UIDVALIDITY")
    r.sp()
    modseq = r.nz_number("a mod-sequence", MAX_NUMBER64)
    known: SequenceSet | None = None
    seqs: SequenceSet | None = None
    uids: SequenceSet | None = None
    if r.try_sp():
        if r.peek() != b"(":
            known = a.sequence()
            r.try_sp()
        if r.try_char(b"("):
            seqs = a.sequence()
            r.sp()
            uids = a.sequence()
            r.char(b")")
    r.char(b")")
    counts = []
    for s in (known, seqs, uids):
        if s is None:
            continue
        if s.saved:
            raise CommandSyntaxError('"$" is not allowed in QRESYNC parameters')
        if any(lo is None or hi is None for lo, hi in s.ranges):  # RFC 7162 7
            raise CommandSyntaxError('"*" is not allowed in QRESYNC parameters')
        counts.append(sum(abs(hi - lo) + 1 for lo, hi in s.ranges if lo and hi))
    # RFC 7162 3.2.5.2: the sequence numbers and the UIDs correspond one to one
    if seqs is not None and counts[-1] != counts[-2]:
        raise CommandSyntaxError("QRESYNC sequence numbers and UIDs differ in number")
    return c.QresyncParams(uidvalidity, modseq, known, seqs, uids)


def _create(a: Arguments) -> c.Create:
    r = a.r
    r.sp()
    mailbox = a.mailbox()
    uses: tuple[str, ...] = ()
    if r.try_sp():
        r.char(b"(")
        if not r.try_keyword(b"USE"):
            raise CommandSyntaxError("the only CREATE parameter is USE (RFC 6154 3)")
        r.sp()
        uses = a.flag_list()
        r.char(b")")
    return c.Create(mailbox, uses)


def _one_mailbox(cls: Callable[[str], c.Command]) -> Callable[[Arguments], c.Command]:
    def parse(a: Arguments) -> c.Command:
        a.r.sp()
        return cls(a.mailbox())

    return parse


def _rename(a: Arguments) -> c.Rename:
    a.r.sp()
    old = a.mailbox()
    a.r.sp()
    return c.Rename(old, a.mailbox())


def _list(a: Arguments) -> c.List:
    r = a.r
    r.sp()
    extended = False
    selection: tuple[str, ...] = ()
    if r.peek() == b"(":
        extended = True
        selection = a.atom_list("a selection option")
        unknown = set(selection) - LIST_SELECTION
        if unknown:
            raise CommandSyntaxError(f"unknown LIST selection option {sorted(unknown)[0]}")
        if "RECURSIVEMATCH" in selection and len(selection) == 1:
            raise CommandSyntaxError("RECURSIVEMATCH needs another selection option")
        r.sp()
    reference = a.mailbox("a reference name")
    r.sp()
    patterns: list[str] = []
    if r.try_char(b"("):
        extended = True
        while not r.try_char(b")"):
            if patterns:
                r.sp()
            patterns.append(a.pattern())
        if not patterns:
            raise CommandSyntaxError("an empty pattern list")
    else:
        patterns.append(a.pattern())
    returns: list[str] = []
    status_items: tuple[str, ...] = ()
    if r.try_sp():
        if not r.try_keyword(b"RETURN"):
            raise CommandSyntaxError("expected RETURN after the patterns")
        extended = True
        r.sp()
        r.char(b"(")
        while not r.try_char(b")"):
            if returns:
                r.sp()
            option = r.keyword("a return option")
            if option not in LIST_RETURN:
                raise CommandSyntaxError(f"unknown LIST return option {option}")
            if option == "STATUS":
                r.sp()
                status_items = _status_items(a)
            returns.append(option)
    return c.List(reference, tuple(patterns), selection, tuple(returns), status_items, extended)


def _lsub(a: Arguments) -> c.Lsub:
    a.r.sp()
    reference = a.mailbox("a reference name")
    a.r.sp()
    return c.Lsub(reference, a.pattern())


def _status_items(a: Arguments) -> tuple[str, ...]:
    items = a.atom_list("a status item")
    if not items:
        raise CommandSyntaxError("no status items")
    unknown = set(items) - STATUS_ITEMS
    if unknown:
        raise CommandSyntaxError(f"unknown status item {sorted(unknown)[0]}")
    return items


def _status(a: Arguments) -> c.Status:
    a.r.sp()
    mailbox = a.mailbox()
    a.r.sp()
    return c.Status(mailbox, _status_items(a))


def _append(a: Arguments) -> c.Append:
    r = a.r
    r.sp()
    mailbox = a.mailbox()
    messages: list[c.AppendMessage] = []
    while r.try_sp():
        flags: tuple[str, ...] = ()
        date = None
        if r.peek() == b"(":
            flags = a.flag_list()
            r.sp()
        if r.peek() == b'"':
            date = parse_date_time(r)
            r.sp()
        utf8 = r.try_keyword(b"UTF8")
        if utf8:  # RFC 6855 4: utf8-literal = "UTF8" SP "(" literal8 ")"
            r.sp()
            r.char(b"(")
        data, binary = r.literal(allow_binary=True)
        if utf8:
            r.char(b")")
        messages.append(c.AppendMessage(flags, date, data, binary, utf8))
    if not messages:
        raise CommandSyntaxError("APPEND needs a message literal")
    return c.Append(mailbox, tuple(messages))


def _compress(a: Arguments) -> c.Compress:
    a.r.sp()
    return c.Compress(a.r.keyword("a compression mechanism"))


def _getquota(a: Arguments) -> c.GetQuota:
    a.r.sp()
    return c.GetQuota(a.text("a quota root"))


def _setquota(a: Arguments) -> c.SetQuota:
    r = a.r
    r.sp()
    root = a.text("a quota root")
    r.sp()
    r.char(b"(")
    limits: list[tuple[str, int]] = []
    while not r.try_char(b")"):
        if limits:
            r.sp()
        resource = r.keyword("a resource name")
        r.sp()
        limits.append((resource, r.number("a limit", MAX_NUMBER64)))
    return c.SetQuota(root, tuple(limits))


# RFC 5464 3.2: entry names are slash-separated, no "*", "%", non-ASCII or controls, no
# "//" and no trailing "/"; the first component is /private or /shared.
_ENTRY = re.compile(r"/(?:private|shared)(?:/[\x20-\x24\x26-\x29\x2b-\x2e\x30-\x7e]+)*")
MAX_METADATA_ENTRIES = 1000  # entries named in one command; bounds the work per command


def _entry(a: Arguments, *, top_level: bool) -> str:
    """One entry name, lower-cased (RFC 5464 3.2: case-insensitive). ``top_level`` allows
    "/private" and "/shared" alone (as GETMETADATA roots with DEPTH)."""
    name = text_of(a.r.astring("an entry name"), "entry name").lower()
    if not _ENTRY.fullmatch(name) or (not top_level and name.count("/") < 2):
        raise CommandSyntaxError(f"invalid entry name {name[:60]!r} (RFC 5464 3.2)")
    return name


def _getmetadata(a: Arguments) -> c.GetMetadata:
    r = a.r
    r.sp()
    maxsize: int | None = None
    depth: int | None = 0
    if r.try_char(b"("):
        first = True
        while not r.try_char(b")"):
            if not first:
                r.sp()
            first = False
            option = r.keyword("a GETMETADATA option")
            r.sp()
            if option == "MAXSIZE":
                maxsize = r.number("a size")
            elif option == "DEPTH":
                value = r.keyword("0, 1 or infinity")
                if value not in ("0", "1", "INFINITY"):
                    raise CommandSyntaxError("DEPTH is 0, 1 or infinity")
                depth = None if value == "INFINITY" else int(value)
            else:
                raise CommandSyntaxError(f"unknown GETMETADATA option {option}")
        r.sp()
    mailbox = a.mailbox()
    r.sp()
    entries: list[str] = []
    if r.try_char(b"("):
        while not r.try_char(b")"):
            if entries:
                r.sp()
            entries.append(_entry(a, top_level=True))
        if not entries:
            raise CommandSyntaxError("no entry names")
    else:
        entries.append(_entry(a, top_level=True))
    if len(entries) > MAX_METADATA_ENTRIES:
        raise CommandSyntaxError("too many entry names")
    return c.GetMetadata(mailbox, tuple(entries), maxsize, depth)


def _setmetadata(a: Arguments) -> c.SetMetadata:
    r = a.r
    r.sp()
    mailbox = a.mailbox()
    r.sp()
    r.char(b"(")
    values: list[tuple[str, bytes | None]] = []
    while True:
        entry = _entry(a, top_level=False)
        r.sp()
        value: bytes | None
        if r.peek() == b"~":  # RFC 5464 5: value = nstring / literal8
            value, _ = r.literal(allow_binary=True)
        else:
            value = r.nstring("a value")
        values.append((entry, value))
        if len(values) > MAX_METADATA_ENTRIES:
            raise CommandSyntaxError("too many entries")
        if r.try_char(b")"):
            break
        r.sp()
    return c.SetMetadata(mailbox, tuple(values))


_PARSERS: dict[str, Callable[[Arguments], c.Command]] = {
    "CAPABILITY": _no_args(c.Capability),
    "NOOP": _no_args(c.Noop),
    "LOGOUT": _no_args(c.Logout),
    "ID": _id,
    "STARTTLS": _no_args(c.StartTLS),
    "AUTHENTICATE": _authenticate,
    "LOGIN": _login,
    "ENABLE": _enable,
    "SELECT": _select(False),
    "EXAMINE": _select(True),
    "CREATE": _create,
    "DELETE": _one_mailbox(c.Delete),
    "RENAME": _rename,
    "SUBSCRIBE": _one_mailbox(c.Subscribe),
    "UNSUBSCRIBE": _one_mailbox(c.Unsubscribe),
    "LIST": _list,
    "LSUB": _lsub,
    "NAMESPACE": _no_args(c.Namespace),
    "STATUS": _status,
    "APPEND": _append,
    "IDLE": _no_args(c.Idle),
    "UNAUTHENTICATE": _no_args(c.Unauthenticate),
    "COMPRESS": _compress,
    "GETQUOTA": _getquota,
    "GETQUOTAROOT": _one_mailbox(c.GetQuotaRoot),
    "SETQUOTA": _setquota,
    "GETMETADATA": _getmetadata,
    "SETMETADATA": _setmetadata,
    "CHECK": _no_args(c.Check),
    "CLOSE": _no_args(c.Close),
    "UNSELECT": _no_args(c.Unselect),
}
COMMAND_NAMES = frozenset(_PARSERS) | frozenset(UID_PARSERS) | {f"UID {n}" for n in UID_PARSERS}
