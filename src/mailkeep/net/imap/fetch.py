"""FETCH and UID FETCH (RFC 9051 6.4.5, 6.4.9; RFC 3516 BINARY; RFC 3501 6.4.5 for the
RFC822 forms; RFC 8514 SAVEDATE; RFC 8970 PREVIEW; RFC 7162 3.1.4 MODSEQ and
CHANGEDSINCE, 3.2.6 VANISHED).

Implementation notes:
- Metadata comes from the store's cache in batches of ``BATCH`` UIDs (FLAGS, sizes, dates,
  ENVELOPE and the body structure with part offsets); message octets are read only for
  body sections, and only the section's range.
- A section up to ``IN_MEMORY`` octets is read and sent as a literal; a larger one is sent
  as a ``Stream``: the literal header, then ``CHUNK``-sized reads written as they come, so
  a big message is never held whole. If the message disappears mid-stream, the literal is
  padded to its announced size (the syntax must stay valid).
- Body octets of small messages (``PREFETCH_ONE`` each) are read whole, a group of about
  ``PREFETCH_BYTES`` at a time in one store call, and sections are cut from them; one
  store round trip per message cost more than the reading itself on a busy machine.
- A non-PEEK body fetch in a read-write mailbox sets \\Seen first (one store call per
  batch) and the FETCH response then carries FLAGS (RFC 9051 6.4.5).
- Messages the session still maps but the store no longer has (expunged elsewhere, not
  yet reported) are skipped (RFC 2180 4.1.3 allows omitting them).
- CHANGEDSINCE first asks the store which UIDs changed (its MODSEQ index), so a resync of
  a big mailbox reads the few changed messages only; it adds MODSEQ to the items. Once the
  session is CONDSTORE-aware, every response with FLAGS carries MODSEQ (RFC 7162 3.1).
"""

from __future__ import annotations

import binascii
from collections.abc import Sequence

from mailkeep.mail.mime import MessageInfo, Part, find_part
from mailkeep.net.imap import condstore
from mailkeep.net.imap.session import Session
from mailkeep.protocol.imap import commands as c
from mailkeep.protocol.imap import responses as r
from mailkeep.protocol.imap import untagged
from mailkeep.protocol.imap.fetch import (
    FetchAttr,
    FetchBinarySize,
    FetchBody,
    FetchItem,
    FetchPreview,
    Section,
    SectionText,
)
from mailkeep.protocol.imap.responses import Code, StatusResponse
from mailkeep.protocol.imap.structure import body_value, envelope_value
from mailkeep.protocol.imap.values import Atom, Literal, Raw, Stream, Value
from mailkeep.store.errors import MailboxNotFound, MessageNotFound
from mailkeep.store.models import Flag, FlagOp, MessageMeta, UidSet

BATCH = 500  # UIDs per metadata read
IN_MEMORY = 256 * 1024  # larger sections are streamed
CHUNK = 64 * 1024  # octets per read while streaming
PREFETCH_ONE = 64 * 1024  # messages up to this size are read whole, in groups
PREFETCH_BYTES = 1024 * 1024  # octets per group read (bounds memory per session)
NO_UNKNOWN_CTE = r.no("unknown content-transfer-encoding", Code("UNKNOWN-CTE"))  # RFC 3516


class UnknownEncoding(Exception):
    """BINARY of a part whose transfer encoding cannot be undone."""


def _needs(items: Sequence[FetchItem]) -> tuple[bool, bool, bool]:
    """(with_info, with_fields, with_envelope) for the store's metadata read. PREVIEW comes
    with either of the first two; the sort fields are the smaller read."""
    info = False
    fields = False
    envelope = False
    for item in items:
        if item is FetchAttr.ENVELOPE:
            envelope = True
        elif item in (FetchAttr.BODY, FetchAttr.BODYSTRUCTURE):
            info = True
        elif isinstance(item, FetchBinarySize):
            info = True
        elif isinstance(item, FetchBody) and (item.section != Section() or item.binary):
            info = True
        elif isinstance(item, FetchPreview):
            fields = True
    return info, fields and not info, envelope


async def fetch(session: Session, command: c.Fetch) -> StatusResponse:
    selected = session.require_selected()
    if command.vanished and not session.qresync:
        return condstore.BAD_VANISHED_NOT_ENABLED  # RFC 7162 3.2.6
    pairs = session.resolve(command.sequence, command.uid)
    items = command.items
    since = command.changedsince
    if since is not None or FetchAttr.MODSEQ in items:
        await condstore.enable(session)  # RFC 7162 3.1
    if since is not None:
        if command.vanished:  # RFC 7162 3.2.6: VANISHED (EARLIER) before any FETCH
            gone = await condstore.vanished_earlier(session, since, command.sequence)
            if gone:
                await session.send(untagged.vanished(gone.to_imap(), earlier=True))
        changed = await condstore.changed_uids(session, since)
        pairs = [(n, uid) for n, uid in pairs if uid in changed]
        if FetchAttr.MODSEQ not in items:
            items = (*items, FetchAttr.MODSEQ)  # RFC 7162 3.1.4.1
    elif session.condstore and FetchAttr.FLAGS in items and FetchAttr.MODSEQ not in items:
        items = (*items, FetchAttr.MODSEQ)
    sets_seen = not selected.read_only and any(
        isinstance(i, FetchBody) and i.sets_seen for i in items
    )
    with_info, with_fields, with_envelope = _needs(items)
    reads_body = any(isinstance(i, FetchBody | FetchBinarySize) for i in items)
    store, user_id = session.services.store, session.user_id
    for start in range(0, len(pairs), BATCH):
        batch = pairs[start : start + BATCH]
        numbers = {uid: n for n, uid in batch}
        try:
            metas = await store.fetch(
                user_id,
                selected.mailbox_id,
                UidSet.of(numbers),
                with_info=with_info,
                with_fields=with_fields,
                with_envelope=with_envelope,
            )
        except MailboxNotFound:
            return r.NO_NONEXISTENT
        seen_now: set[int] = set()
        if sets_seen:
            metas, seen_now = await _set_seen(session, metas)
        wholes: dict[int, bytes] = {}
        for i, meta in enumerate(metas):
            if reads_body and meta.uid not in wholes and meta.size <= PREFETCH_ONE:
                wholes = await _prefetch(session, metas, i)
            whole = wholes.pop(meta.uid, None)
            try:
                values = await _items(session, meta, items, meta.uid in seen_now, whole)
            except UnknownEncoding:
                return NO_UNKNOWN_CTE
            response = untagged.fetch(numbers[meta.uid], values)
            await session.send_chunks(response, lambda s: _write_stream(session, s))
    return r.ok("FETCH completed")


async def _prefetch(session: Session, metas: list[MessageMeta], first: int) -> dict[int, bytes]:
    """Whole messages from ``metas[first]`` on: the small ones, about PREFETCH_BYTES."""
    uids: list[int] = []
    total = 0
    for meta in metas[first:]:
        if meta.size > PREFETCH_ONE:
            continue
        if uids and total + meta.size > PREFETCH_BYTES:
            break
        uids.append(meta.uid)
        total += meta.size
    selected = session.require_selected()
    try:
        return await session.services.store.read_messages(
            session.user_id, selected.mailbox_id, uids
        )
    except MailboxNotFound:
        return {}


async def _set_seen(
    session: Session, metas: list[MessageMeta]
) -> tuple[list[MessageMeta], set[int]]:
    unseen = [m.uid for m in metas if not m.flags & Flag.SEEN]
    if not unseen:
        return metas, set()
    selected = session.require_selected()
    result = await session.services.store.store_flags(
        session.user_id, selected.mailbox_id, UidSet.of(unseen), FlagOp.ADD, Flag.SEEN
    )
    changed = {}
    for change in result.changed:
        session.own_changes.add((change.uid, change.modseq))
        changed[change.uid] = change
    out = []
    for meta in metas:
        ch = changed.get(meta.uid)
        out.append(meta if ch is None else meta._replace(flags=ch.flags, modseq=ch.modseq))
    return out, set(changed)


async def _items(
    session: Session,
    meta: MessageMeta,
    wanted: Sequence[FetchItem],
    seen_now: bool,
    whole: bytes | None = None,
) -> list[Value]:
    """The FETCH data items of one message; ``whole`` is the message when already read."""
    out: list[Value] = []
    info: MessageInfo | None = None
    flags_sent = False
    for item in wanted:
        if isinstance(item, FetchAttr):
            if item is FetchAttr.FLAGS:
                flags_sent = True
            if item in (FetchAttr.BODY, FetchAttr.BODYSTRUCTURE) and info is None:
                info = _info(meta)
            out += [Atom(item.value), _attribute(session, meta, item, info)]
        elif isinstance(item, FetchBody):
            if info is None and (item.section != Section() or item.binary):
                info = _info(meta)
            out += [Raw(item.response_name()), await _body(session, meta, item, info, whole)]
        elif isinstance(item, FetchBinarySize):
            info = info or _info(meta)
            size = len(await _binary_part(session, meta, info, item.part, whole))
            out += [Raw(item.response_name()), size]
        elif isinstance(item, FetchPreview):
            # RFC 8970 3.2: the preview is cached at delivery, so LAZY gets it too; no
            # text gives "" (never NIL, which only LAZY may get)
            out += [Atom("PREVIEW"), meta.preview]
    if seen_now and not flags_sent:
        out += [Atom("FLAGS"), session.flag_names(meta.uid, meta.flags, meta.keywords)]
        if session.condstore and FetchAttr.MODSEQ not in wanted:
            out += [Atom("MODSEQ"), [meta.modseq]]
    return out


def _info(meta: MessageMeta) -> MessageInfo:
    assert meta.info is not None, "the store fills info when asked"
    return MessageInfo.from_bytes(meta.info)


def _attribute(
    session: Session, meta: MessageMeta, item: FetchAttr, info: MessageInfo | None
) -> Value:
    if item is FetchAttr.FLAGS:
        return session.flag_names(meta.uid, meta.flags, meta.keywords)
    if item is FetchAttr.UID:
        return meta.uid
    if item is FetchAttr.RFC822_SIZE:
        return meta.size
    if item is FetchAttr.INTERNALDATE:
        return untagged.internal_date(meta.internal_date)
    if item is FetchAttr.ENVELOPE:
        envelope = meta.envelope if meta.envelope is not None else _info(meta).envelope
        return envelope_value(envelope)
    if item is FetchAttr.BODY or item is FetchAttr.BODYSTRUCTURE:
        assert info is not None
        return body_value(info.body, extensible=item is FetchAttr.BODYSTRUCTURE)
    if item is FetchAttr.MODSEQ:
        return [meta.modseq]
    if item is FetchAttr.SAVEDATE:
        return untagged.internal_date(meta.save_date)
    return None  # EMAILID/THREADID (RFC 8474) are not kept: NIL


def section_range(info: MessageInfo | None, size: int, section: Section) -> tuple[int, int]:
    """The octet range a section names (RFC 9051 6.4.5); (0, 0) when there is no such
    part."""
    if info is None or (not section.part and section.text is None):
        return 0, size
    part = find_part(info, section.part)
    if part is None:
        return 0, 0
    text = section.text
    if text is None:
        return part.body_start, part.body_end
    if text is SectionText.MIME:
        return part.header_start, part.body_start
    target: Part | None = part
    if section.part:  # HEADER/TEXT of a part: of the message/rfc822 it holds
        target = part.message.body if part.message is not None else None
    if target is None:
        return 0, 0
    if text is SectionText.TEXT:
        return target.body_start, target.body_end
    return target.header_start, target.body_start


def filter_header(header: bytes, names: Sequence[str], keep: bool) -> bytes:
    """The fields of ``header`` named (``keep``) or not named in ``names``, then the blank
    line (RFC 9051 6.4.5 HEADER.FIELDS and HEADER.FIELDS.NOT)."""
    wanted = {n.lower().encode("ascii") for n in names}
    out = bytearray()
    include = False
    for line in header.splitlines(keepends=True):
        if line in (b"\r\n", b"\n"):
            break
        if line[:1] not in (b" ", b"\t"):
            name = line.split(b":", 1)[0].strip().lower()
            include = (name in wanted) == keep
        if include:
            out += line
    out += b"\r\n"
    return bytes(out)


async def _read(
    session: Session, uid: int, start: int, length: int, whole: bytes | None = None
) -> bytes:
    if length <= 0:
        return b""
    if whole is not None:
        return whole[start : start + length]
    selected = session.require_selected()
    try:
        return await session.services.store.read_message(
            session.user_id, selected.mailbox_id, uid, start, length
        )
    except MessageNotFound:
        return b""


async def _body(
    session: Session,
    meta: MessageMeta,
    item: FetchBody,
    info: MessageInfo | None,
    whole: bytes | None = None,
) -> Value:
    section = item.section
    if item.binary:
        data = await _binary_part(session, meta, info, section.part, whole)
        if item.partial is not None:
            origin, length = item.partial
            data = data[origin : origin + length]
        return Literal(data, binary=b"\x00" in data)
    start, end = section_range(info, meta.size, section)
    if section.text in (SectionText.HEADER_FIELDS, SectionText.HEADER_FIELDS_NOT):
        header = await _read(session, meta.uid, start, end - start, whole)
        keep = section.text is SectionText.HEADER_FIELDS
        data = filter_header(header, section.fields, keep)
        if item.partial is not None:
            origin, length = item.partial
            data = data[origin : origin + length]
        return Literal(data)
    if item.partial is not None:
        origin, length = item.partial
        start = min(start + origin, end)
        end = min(start + length, end)
    size = end - start
    if size <= IN_MEMORY:
        return Literal(await _read(session, meta.uid, start, size, whole))
    return Stream(size, (meta.uid, start))


async def _binary_part(
    session: Session,
    meta: MessageMeta,
    info: MessageInfo | None,
    part_number: tuple[int, ...],
    whole: bytes | None = None,
) -> bytes:
    """The decoded content of a part (RFC 3516 4.2), the whole message for ()."""
    if not part_number or info is None:
        return await _read(session, meta.uid, 0, meta.size, whole)
    part = find_part(info, part_number)
    if part is None:
        return b""
    raw = await _read(session, meta.uid, part.body_start, part.body_end - part.body_start, whole)
    if part.is_multipart or part.message is not None:
        return raw
    encoding = part.encoding
    try:
        if encoding == "base64":
            return binascii.a2b_base64(raw)
        if encoding == "quoted-printable":
            return binascii.a2b_qp(raw)
    except (binascii.Error, ValueError):
        raise UnknownEncoding(encoding) from None
    if encoding in ("7bit", "8bit", "binary"):
        return raw
    raise UnknownEncoding(encoding)


async def _write_stream(session: Session, stream: Stream) -> None:
    source = stream.source
    assert isinstance(source, tuple)
    uid, offset = source
    remaining = stream.size
    while remaining > 0:
        chunk = await _read(session, uid, offset, min(CHUNK, remaining))
        if not chunk:  # gone mid-stream: keep the literal's promised length
            chunk = b" " * min(CHUNK, remaining)
        offset += len(chunk)
        remaining -= len(chunk)
        await session.write_raw(chunk)


__all__ = ["fetch", "filter_header", "section_range"]
