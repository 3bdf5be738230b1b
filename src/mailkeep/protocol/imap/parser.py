"""The IMAP command parser: one framed command to a TaggedCommand (RFC 9051 9 grammar).

``parse_command`` never raises anything but ParseError, which carries the tag (when one
could be read), a reason for a person and the response to send (BAD, or NO [BADCHARSET]).
The argument grammars of the extensions listed in ``commands`` are parsed here; what a
command means is the handlers' business.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone

from mailkeep.protocol.imap import commands as c
from mailkeep.protocol.imap import mutf7
from mailkeep.protocol.imap import responses as r
from mailkeep.protocol.imap.errors import CommandSyntaxError, ParseError
from mailkeep.protocol.imap.fetch import FetchAttr, FetchItem, parse_fetch_items
from mailkeep.protocol.imap.lexer import MAX_NUMBER64, Reader, text_of
from mailkeep.protocol.imap.search import (
    MONTHS,
    SUPPORTED_CHARSETS,
    SearchKey,
    parse_search_keys,
)
from mailkeep.protocol.imap.sequence import SequenceSet, parse_sequence_set

_TAG = re.compile(rb"[!#$&',\-./0-9:;<=>?@A-Z\[\]^_`a-z|}~]+")
_DATE_TIME = re.compile(
    rb'"([ 0-9][0-9])-([A-Za-z]{3})-([0-9]{4}) '
    rb'([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})"'
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

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

# Commands and where "UID" may precede them.
UID_COMMANDS = frozenset({"COPY", "MOVE", "FETCH", "SEARCH", "STORE", "EXPUNGE", "SORT", "THREAD"})


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
            if sub not in UID_COMMANDS:
                raise CommandSyntaxError(f"UID {sub} is not a command")
            command = _UID_PARSERS[sub](_Args(reader, utf8), True)
            name = f"UID {sub}"
        elif name in _PARSERS:
            command = _PARSERS[name](_Args(reader, utf8))
        elif name in _UID_PARSERS:
            command = _UID_PARSERS[name](_Args(reader, utf8), False)
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


class _Args:
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


# -- any state ------------------------------------------------------------------------------


def _no_args(cls: Callable[[], c.Command]) -> Callable[[_Args], c.Command]:
    return lambda a: cls()


def _id(a: _Args) -> c.Id:
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


def _authenticate(a: _Args) -> c.Authenticate:
    r = a.r
    r.sp()
    mechanism = r.keyword("a SASL mechanism")
    if not r.try_sp():
        return c.Authenticate(mechanism)
    # RFC 4959 3: initial-response = base64 / "=" (an empty response)
    raw = r.token_until_space("an initial response")
    return c.Authenticate(mechanism, decode_sasl(raw.encode("ascii")))


def decode_sasl(data: bytes) -> bytes:
    """A base64 SASL response ("=" is empty, RFC 4959 3); CommandSyntaxError when invalid."""
    if data == b"=":
        return b""
    try:
        return base64.b64decode(data, validate=True)
    except binascii.Error:
        raise CommandSyntaxError("SASL response is not base64") from None


def _login(a: _Args) -> c.Login:
    a.r.sp()
    user = a.text("a user name")
    a.r.sp()
    return c.Login(user, a.text("a password"))


# -- authenticated ------------------------------------------------------------------------


def _enable(a: _Args) -> c.Enable:
    a.r.sp()
    caps = [a.r.keyword("a capability")]
    while a.r.try_sp():
        caps.append(a.r.keyword("a capability"))
    return c.Enable(tuple(caps))


def _select(read_only: bool) -> Callable[[_Args], c.Select]:
    def parse(a: _Args) -> c.Select:
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


def _qresync(a: _Args) -> c.QresyncParams:
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
    for s in (known, seqs, uids):
        if s is not None and s.saved:
            raise CommandSyntaxError('"$" is not allowed in QRESYNC parameters')
    return c.QresyncParams(uidvalidity, modseq, known, seqs, uids)


def _create(a: _Args) -> c.Create:
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


def _one_mailbox(cls: Callable[[str], c.Command]) -> Callable[[_Args], c.Command]:
    def parse(a: _Args) -> c.Command:
        a.r.sp()
        return cls(a.mailbox())

    return parse


def _rename(a: _Args) -> c.Rename:
    a.r.sp()
    old = a.mailbox()
    a.r.sp()
    return c.Rename(old, a.mailbox())


def _list(a: _Args) -> c.List:
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


def _lsub(a: _Args) -> c.Lsub:
    a.r.sp()
    reference = a.mailbox("a reference name")
    a.r.sp()
    return c.Lsub(reference, a.pattern())


def _status_items(a: _Args) -> tuple[str, ...]:
    items = a.atom_list("a status item")
    if not items:
        raise CommandSyntaxError("no status items")
    unknown = set(items) - STATUS_ITEMS
    if unknown:
        raise CommandSyntaxError(f"unknown status item {sorted(unknown)[0]}")
    return items


def _status(a: _Args) -> c.Status:
    a.r.sp()
    mailbox = a.mailbox()
    a.r.sp()
    return c.Status(mailbox, _status_items(a))


def _append(a: _Args) -> c.Append:
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
        data, binary = r.literal(allow_binary=True)
        messages.append(c.AppendMessage(flags, date, data, binary))
    if not messages:
        raise CommandSyntaxError("APPEND needs a message literal")
    return c.Append(mailbox, tuple(messages))


def _compress(a: _Args) -> c.Compress:
    a.r.sp()
    return c.Compress(a.r.keyword("a compression mechanism"))


def _getquota(a: _Args) -> c.GetQuota:
    a.r.sp()
    return c.GetQuota(a.text("a quota root"))


def _setquota(a: _Args) -> c.SetQuota:
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


# -- selected -----------------------------------------------------------------------------


def _search_return(a: _Args) -> tuple[c.SearchReturn, ...] | None:
    r = a.r
    if not r.try_keyword(b"RETURN"):
        return None
    r.sp()
    options = []
    for name in a.atom_list("a return option"):
        try:
            option = c.SearchReturn[name]
        except KeyError:
            raise CommandSyntaxError(f"unknown SEARCH return option {name}") from None
        if option is c.SearchReturn.PARTIAL:
            raise CommandSyntaxError("PARTIAL is not supported")
        options.append(option)
    r.sp()
    return tuple(options)


def _charset(name: str) -> str:
    upper = name.upper()
    if upper not in SUPPORTED_CHARSETS:
        raise CommandSyntaxError(f"unsupported charset {name}", r.NO_BADCHARSET)
    return upper


def _search(a: _Args, uid: bool) -> c.Search:
    rd = a.r
    rd.sp()
    returns = _search_return(a)
    charset: str | None = None
    if rd.try_keyword(b"CHARSET"):
        rd.sp()
        charset = _charset(a.text("a charset name"))
        rd.sp()
    key = parse_search_keys(rd, charset or "US-ASCII")
    return c.Search(uid, key, charset, returns)


def _fetch(a: _Args, uid: bool) -> c.Fetch:
    r = a.r
    r.sp()
    sequence = a.sequence()
    r.sp()
    items: tuple[FetchItem, ...] = parse_fetch_items(r)
    if uid and FetchAttr.UID not in items:
        items = (FetchAttr.UID, *items)  # RFC 9051 6.4.9
    changedsince: int | None = None
    vanished = False
    if r.try_sp():
        r.char(b"(")
        first = True
        while not r.try_char(b")"):
            if not first:
                r.sp()
            first = False
            modifier = r.keyword("a fetch modifier")
            if modifier == "CHANGEDSINCE":
                r.sp()
                changedsince = r.number("a mod-sequence", MAX_NUMBER64)
            elif modifier == "VANISHED":
                vanished = True
            else:
                raise CommandSyntaxError(f"unknown fetch modifier {modifier}")
        # RFC 7162 3.2.6: VANISHED only in UID FETCH and only with CHANGEDSINCE
        if vanished and (not uid or changedsince is None):
            raise CommandSyntaxError("VANISHED needs UID FETCH and CHANGEDSINCE")
    return c.Fetch(uid, sequence, items, changedsince, vanished)


def _store(a: _Args, uid: bool) -> c.Store:
    r = a.r
    r.sp()
    sequence = a.sequence()
    r.sp()
    unchangedsince: int | None = None
    if r.try_char(b"("):
        if not r.try_keyword(b"UNCHANGEDSINCE"):
            raise CommandSyntaxError("the only STORE modifier is UNCHANGEDSINCE")
        r.sp()
        unchangedsince = r.number("a mod-sequence", MAX_NUMBER64)
        r.char(b")")
        r.sp()
    mode = c.StoreMode.REPLACE
    if r.try_char(b"+"):
        mode = c.StoreMode.ADD
    elif r.try_char(b"-"):
        mode = c.StoreMode.REMOVE
    if r.try_keyword(b"FLAGS.SILENT"):
        silent = True
    elif r.try_keyword(b"FLAGS"):
        silent = False
    else:
        raise CommandSyntaxError("expected FLAGS, +FLAGS or -FLAGS (optionally .SILENT)")
    r.sp()
    if r.peek() == b"(":
        flags = a.flag_list()
    else:
        items = [a.flag()]
        while r.try_sp():
            items.append(a.flag())
        flags = tuple(items)
    return c.Store(uid, sequence, mode, flags, silent, unchangedsince)


def _copy_move(cls: type[c.Copy] | type[c.Move]) -> Callable[[_Args, bool], c.Command]:
    def parse(a: _Args, uid: bool) -> c.Command:
        a.r.sp()
        sequence = a.sequence()
        a.r.sp()
        return cls(uid, sequence, a.mailbox())

    return parse


def _expunge(a: _Args, uid: bool) -> c.Expunge:
    if not uid:
        return c.Expunge()
    a.r.sp()
    return c.Expunge(a.sequence())


def _sort(a: _Args, uid: bool) -> c.Sort:
    r = a.r
    r.sp()
    returns = _search_return(a)
    r.char(b"(")
    criteria: list[c.SortCriterion] = []
    while not r.try_char(b")"):
        if criteria:
            r.sp()
        reverse = r.try_keyword(b"REVERSE")
        if reverse:
            r.sp()
        name = r.keyword("a sort key")
        try:
            criteria.append(c.SortCriterion(c.SortKey[name], reverse))
        except KeyError:
            raise CommandSyntaxError(f"unknown sort key {name}") from None
    if not criteria:
        raise CommandSyntaxError("no sort criteria")
    r.sp()
    charset = _charset(a.text("a charset name"))
    r.sp()
    return c.Sort(uid, tuple(criteria), charset, parse_search_keys(r, charset), returns)


def _thread(a: _Args, uid: bool) -> c.Thread:
    r = a.r
    r.sp()
    algorithm = r.keyword("a thread algorithm")
    r.sp()
    charset = _charset(a.text("a charset name"))
    r.sp()
    key: SearchKey = parse_search_keys(r, charset)
    return c.Thread(uid, algorithm, charset, key)


_PARSERS: dict[str, Callable[[_Args], c.Command]] = {
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
    "CHECK": _no_args(c.Check),
    "CLOSE": _no_args(c.Close),
    "UNSELECT": _no_args(c.Unselect),
}
_UID_PARSERS: dict[str, Callable[[_Args, bool], c.Command]] = {
    "EXPUNGE": _expunge,
    "SEARCH": _search,
    "FETCH": _fetch,
    "STORE": _store,
    "COPY": _copy_move(c.Copy),
    "MOVE": _copy_move(c.Move),
    "SORT": _sort,
    "THREAD": _thread,
}
COMMAND_NAMES = frozenset(_PARSERS) | frozenset(_UID_PARSERS) | {f"UID {n}" for n in UID_COMMANDS}
