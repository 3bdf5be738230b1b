"""Random typed values written out as a client would and parsed back: the parser must
return exactly what was written (search-key trees, fetch items, sequence sets)."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from mailkeep.protocol.imap import commands as c
from mailkeep.protocol.imap import search as s
from mailkeep.protocol.imap.fetch import (
    FetchAttr,
    FetchBinarySize,
    FetchBody,
    FetchItem,
    FetchPreview,
    Section,
    SectionText,
)
from mailkeep.protocol.imap.parser import parse_command
from mailkeep.protocol.imap.search import MONTHS
from mailkeep.protocol.imap.sequence import SequenceSet

from .drive import split_command

FLAG_WORDS = {
    ("\\Answered", True): "ANSWERED",
    ("\\Deleted", True): "DELETED",
    ("\\Draft", True): "DRAFT",
    ("\\Flagged", True): "FLAGGED",
    ("\\Seen", True): "SEEN",
    ("\\Recent", True): "RECENT",
    ("\\Recent", False): "OLD",
    ("\\Answered", False): "UNANSWERED",
    ("\\Deleted", False): "UNDELETED",
    ("\\Draft", False): "UNDRAFT",
    ("\\Flagged", False): "UNFLAGGED",
    ("\\Seen", False): "UNSEEN",
}


def string(value: str) -> bytes:
    """A quoted string, or a literal for what cannot be quoted."""
    data = value.encode("utf-8")
    if data.isascii() and b"\r" not in data and b"\n" not in data and b"\0" not in data:
        return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return b"{%d}\r\n" % len(data) + data


def write_key(key: s.SearchKey) -> bytes:
    if isinstance(key, s.All):
        return b"ALL"
    if isinstance(key, s.FlagKey):
        word = FLAG_WORDS.get((key.flag, key.present))
        if word:
            return word.encode()
        return (b"KEYWORD " if key.present else b"UNKEYWORD ") + key.flag.encode()
    if isinstance(key, s.HeaderKey):
        if key.field in ("bcc", "cc", "from", "subject", "to"):
            return key.field.upper().encode() + b" " + string(key.value)
        return b"HEADER " + key.field.encode() + b" " + string(key.value)
    if isinstance(key, s.TextKey):
        return key.where.name.encode() + b" " + string(key.value)
    if isinstance(key, s.DateKey):
        prefix = {s.DateField.INTERNAL: "", s.DateField.SENT: "SENT", s.DateField.SAVED: "SAVED"}
        day = f"{key.day.day}-{MONTHS[key.day.month - 1].title()}-{key.day.year}"
        return f"{prefix[key.field]}{key.op.name} {day}".encode()
    if isinstance(key, s.SizeKey):
        return b"LARGER %d" % key.size if key.larger else b"SMALLER %d" % key.size
    if isinstance(key, s.AgeKey):
        return b"OLDER %d" % key.seconds if key.older else b"YOUNGER %d" % key.seconds
    if isinstance(key, s.SequenceKey):
        return (b"UID " if key.uid else b"") + key.sequence.to_imap().encode()
    if isinstance(key, s.ModSeqKey):
        if key.entry is None:
            return b"MODSEQ %d" % key.modseq
        entry = key.entry.replace("\\", "\\\\").replace('"', '\\"')
        return f'MODSEQ "{entry}" {key.entry_type} {key.modseq}'.encode()
    if isinstance(key, s.SaveDateSupported):
        return b"SAVEDATESUPPORTED"
    if isinstance(key, s.Not):
        return b"NOT " + write_key(key.key)
    if isinstance(key, s.Or):
        return b"OR " + write_key(key.left) + b" " + write_key(key.right)
    assert isinstance(key, s.And)
    return b"(" + b" ".join(write_key(k) for k in key.keys) + b")"


bounds = st.one_of(st.none(), st.integers(1, 2**32 - 1))
sequence_sets = st.one_of(
    st.just(SequenceSet(saved=True)),
    st.lists(st.tuples(bounds, bounds), min_size=1, max_size=4).map(
        lambda rs: SequenceSet(tuple(rs))
    ),
)
atoms = st.from_regex(r"\A[A-Za-z$][A-Za-z0-9_$.-]{0,8}\Z")
# NUL cannot be sent in a string (RFC 9051 4.3)
texts = st.text(
    st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=12
)
dates = st.dates(date(1900, 1, 1), date(2999, 12, 31))
leaves = st.one_of(
    st.just(s.All()),
    st.sampled_from(list(FLAG_WORDS)).map(lambda fp: s.FlagKey(*fp)),
    st.builds(s.FlagKey, atoms.filter(lambda a: not a.startswith("\\")), st.booleans()),
    st.builds(s.HeaderKey, st.from_regex(r"\A[a-z][a-z0-9-]{0,10}\Z"), texts),
    st.builds(s.TextKey, st.sampled_from(list(s.TextWhere)), texts),
    st.builds(
        s.DateKey, st.sampled_from(list(s.DateField)), st.sampled_from(list(s.DateOp)), dates
    ),
    st.builds(s.SizeKey, st.booleans(), st.integers(0, 2**63 - 1)),
    st.builds(s.AgeKey, st.booleans(), st.integers(1, 2**32 - 1)),
    st.builds(s.SequenceKey, sequence_sets, st.booleans()),
    st.builds(s.ModSeqKey, st.integers(0, 2**63 - 1)),
    st.builds(
        s.ModSeqKey,
        st.integers(0, 2**63 - 1),
        st.from_regex(r'\A/flags/[a-z\\"]{1,8}\Z'),
        st.sampled_from(["PRIV", "SHARED", "ALL"]),
    ),
    st.just(s.SaveDateSupported()),
)
keys = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.builds(s.Not, inner),
        st.builds(s.Or, inner, inner),
        st.lists(inner, min_size=2, max_size=4).map(lambda ks: s.And(tuple(ks))),
    ),
    max_leaves=12,
)


@given(keys)
def test_search_keys_round_trip(key: s.SearchKey) -> None:
    wire = b"t UID SEARCH CHARSET UTF-8 " + write_key(key) + b"\r\n"
    command = parse_command(*split_command(wire)).command
    assert isinstance(command, c.Search)
    assert command.criteria == key


def write_item(item: FetchItem) -> bytes:
    if isinstance(item, FetchAttr):
        return item.value.encode()
    if isinstance(item, FetchPreview):
        return b"PREVIEW (LAZY)" if item.lazy else b"PREVIEW"
    if isinstance(item, FetchBinarySize):
        return item.response_name()
    name = b"BINARY" if item.binary else b"BODY"
    if item.peek:
        name += b".PEEK"
    wire = name + b"[" + item.section.to_imap() + b"]"
    if item.partial is not None:
        wire += b"<%d.%d>" % item.partial
    return wire


parts = st.lists(st.integers(1, 99), max_size=4).map(tuple)
field_names = st.lists(st.from_regex(r"\A[A-Za-z][A-Za-z0-9-]{0,10}\Z"), min_size=1, max_size=4)


@st.composite
def sections(draw: st.DrawFn) -> Section:
    part = draw(parts)
    text = draw(st.one_of(st.none(), st.sampled_from(list(SectionText))))
    if text is SectionText.MIME and not part:
        text = None
    fields: tuple[str, ...] = ()
    if text in (SectionText.HEADER_FIELDS, SectionText.HEADER_FIELDS_NOT):
        fields = tuple(draw(field_names))
    return Section(part, text, fields)


partials = st.one_of(st.none(), st.tuples(st.integers(0, 2**32 - 1), st.integers(1, 2**32 - 1)))
body_items = st.one_of(
    st.builds(FetchBody, sections(), st.booleans(), partials, st.just(False)),
    st.builds(FetchBody, parts.map(Section), st.booleans(), partials, st.just(True)),
)
fetch_items = st.one_of(
    st.sampled_from([a for a in FetchAttr if a is not FetchAttr.UID]),
    st.builds(FetchPreview, st.booleans()),
    st.builds(FetchBinarySize, parts),
    body_items,
)


@given(st.lists(fetch_items, min_size=1, max_size=6), sequence_sets)
def test_fetch_items_round_trip(items: list[FetchItem], sequence: SequenceSet) -> None:
    wire = b"t FETCH " + sequence.to_imap().encode() + b" ("
    wire += b" ".join(write_item(i) for i in items) + b")\r\n"
    command = parse_command(*split_command(wire)).command
    assert command == c.Fetch(False, sequence, tuple(items))
