"""Parsers of the selected-state commands (RFC 9051 6.4; RFC 4315 UID EXPUNGE, RFC 6851
MOVE, RFC 4731/5182 SEARCH RETURN, RFC 7162 CHANGEDSINCE/UNCHANGEDSINCE/VANISHED,
RFC 5256/5267 SORT and THREAD). Each takes the arguments after the command name and
whether "UID" preceded it."""

from __future__ import annotations

from collections.abc import Callable

from mailkeep.protocol.imap import commands as c
from mailkeep.protocol.imap import responses as r
from mailkeep.protocol.imap.arguments import Arguments
from mailkeep.protocol.imap.errors import CommandSyntaxError
from mailkeep.protocol.imap.fetch import FetchAttr, FetchItem, parse_fetch_items
from mailkeep.protocol.imap.lexer import MAX_NUMBER64
from mailkeep.protocol.imap.search import SUPPORTED_CHARSETS, SearchKey, parse_search_keys


def _search_return(a: Arguments) -> tuple[c.SearchReturn, ...] | None:
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


def _search(a: Arguments, uid: bool) -> c.Search:
    rd = a.r
    rd.sp()
    returns = _search_return(a)
    charset: str | None = None
    if rd.try_keyword(b"CHARSET"):
        rd.sp()
        charset = _charset(a.text("a charset name"))
        rd.sp()
    # UTF-8 sessions (IMAP4rev2, UTF8=ACCEPT: RFC 6855 3) search UTF-8 text without CHARSET
    key = parse_search_keys(rd, charset or ("UTF-8" if a.utf8 else "US-ASCII"))
    return c.Search(uid, key, charset, returns)


def _fetch(a: Arguments, uid: bool) -> c.Fetch:
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


def _store(a: Arguments, uid: bool) -> c.Store:
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


def _copy_move(cls: type[c.Copy] | type[c.Move]) -> Callable[[Arguments, bool], c.Command]:
    def parse(a: Arguments, uid: bool) -> c.Command:
        a.r.sp()
        sequence = a.sequence()
        a.r.sp()
        return cls(uid, sequence, a.mailbox())

    return parse


def _expunge(a: Arguments, uid: bool) -> c.Expunge:
    if not uid:
        return c.Expunge()
    a.r.sp()
    return c.Expunge(a.sequence())


def _sort(a: Arguments, uid: bool) -> c.Sort:
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


def _thread(a: Arguments, uid: bool) -> c.Thread:
    r = a.r
    r.sp()
    algorithm = r.keyword("a thread algorithm")
    r.sp()
    charset = _charset(a.text("a charset name"))
    r.sp()
    key: SearchKey = parse_search_keys(r, charset)
    return c.Thread(uid, algorithm, charset, key)


# Commands "UID" may precede, and their parsers (also used without "UID").
UID_PARSERS: dict[str, Callable[[Arguments, bool], c.Command]] = {
    "EXPUNGE": _expunge,
    "SEARCH": _search,
    "FETCH": _fetch,
    "STORE": _store,
    "COPY": _copy_move(c.Copy),
    "MOVE": _copy_move(c.Move),
    "SORT": _sort,
    "THREAD": _thread,
}
