"""Compact bytes for a MessageInfo, so the store can cache a parse in SQLite.

The format is UTF-8 JSON of positional arrays (no field names), first element the format
version. Raw header bytes travel as Latin-1 strings (one character per octet, so any bytes
round-trip). ``decode_info`` raises ValueError for anything it did not write; a store that
meets an old version re-parses the message.
"""

from __future__ import annotations

import json
from datetime import datetime

from mailkeep.mail.envelope import Envelope, EnvelopeAddress
from mailkeep.mail.mime import EmbeddedMessage, MessageInfo, Part
from mailkeep.mail.params import Params
from mailkeep.mail.sortfields import SearchFields

FORMAT_VERSION = 1


def _b(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


def _ub(value: object) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value.encode("latin-1")


def _addresses(value: tuple[EnvelopeAddress, ...] | None) -> list[object] | None:
    if value is None:
        return None
    return [[_b(a.name), _b(a.adl), _b(a.mailbox), _b(a.host)] for a in value]


def _envelope(env: Envelope) -> list[object]:
    return [
        _b(env.date),
        _b(env.subject),
        _addresses(env.from_),
        _addresses(env.sender),
        _addresses(env.reply_to),
        _addresses(env.to),
        _addresses(env.cc),
        _addresses(env.bcc),
        _b(env.in_reply_to),
        _b(env.message_id),
    ]


def _params(params: Params) -> list[object]:
    return [[[_b(n), _b(v)] for n, v in params.raw], [list(p) for p in params.decoded]]


def _part(part: Part) -> list[object]:
    message: list[object] | None = None
    if part.message is not None:
        message = [_envelope(part.message.envelope), _part(part.message.body)]
    return [
        part.header_start,
        part.body_start,
        part.body_end,
        part.lines,
        part.type,
        part.subtype,
        _params(part.params),
        _b(part.content_id),
        _b(part.description),
        part.encoding,
        _b(part.md5),
        part.disposition,
        _params(part.disposition_params),
        None if part.language is None else [_b(t) for t in part.language],
        _b(part.location),
        [_part(child) for child in part.children],
        message,
    ]


def _search(fields: SearchFields) -> list[object]:
    return [
        fields.subject,
        fields.base_subject,
        [list(a) for a in fields.from_],
        [list(a) for a in fields.to],
        [list(a) for a in fields.cc],
        [list(a) for a in fields.bcc],
        None if fields.sent is None else fields.sent.isoformat(),
        fields.message_id,
        fields.in_reply_to,
        list(fields.references),
        fields.sort_from,
        fields.sort_to,
        fields.sort_cc,
        fields.display_from,
        fields.display_to,
    ]


def encode_info(info: MessageInfo) -> bytes:
    """``info`` as compact UTF-8 JSON."""
    document = [
        FORMAT_VERSION,
        info.size,
        info.header_size,
        info.lines,
        _envelope(info.envelope),
        _part(info.body),
        _search(info.search),
    ]
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8", errors="surrogatepass")


# -- decoding: every accessor checks its type, so foreign data fails as ValueError ----------


def _list(value: object) -> list[object]:
    if not isinstance(value, list):
        raise ValueError("expected a list")
    return value


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError("expected an integer")
    return value


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value


def _opt_str(value: object) -> str | None:
    return None if value is None else _str(value)


def _un_addresses(value: object) -> tuple[EnvelopeAddress, ...] | None:
    if value is None:
        return None
    result = []
    for item in _list(value):
        name, adl, mailbox, host = _list(item)
        result.append(EnvelopeAddress(_ub(name), _ub(adl), _ub(mailbox), _ub(host)))
    return tuple(result)


def _un_envelope(value: object) -> Envelope:
    date, subject, from_, sender, reply_to, to, cc, bcc, irt, mid = _list(value)
    return Envelope(
        _ub(date),
        _ub(subject),
        _un_addresses(from_),
        _un_addresses(sender),
        _un_addresses(reply_to),
        _un_addresses(to),
        _un_addresses(cc),
        _un_addresses(bcc),
        _ub(irt),
        _ub(mid),
    )


def _un_params(value: object) -> Params:
    raw, decoded = _list(value)
    raw_pairs = []
    for item in _list(raw):
        name, text = _list(item)
        raw_pairs.append((_ub(name) or b"", _ub(text) or b""))
    decoded_pairs = []
    for item in _list(decoded):
        name, text = _list(item)
        decoded_pairs.append((_str(name), _str(text)))
    return Params(tuple(raw_pairs), tuple(decoded_pairs))


def _un_part(value: object) -> Part:
    (hs, bs, be, lines, ctype, subtype, params, cid, desc, enc, md5, disp, dparams, lang, loc,
     children, message) = _list(value)  # fmt: skip
    embedded: EmbeddedMessage | None = None
    if message is not None:
        envelope, body = _list(message)
        embedded = EmbeddedMessage(_un_envelope(envelope), _un_part(body))
    return Part(
        header_start=_int(hs),
        body_start=_int(bs),
        body_end=_int(be),
        lines=_int(lines),
        type=_str(ctype),
        subtype=_str(subtype),
        params=_un_params(params),
        content_id=_ub(cid),
        description=_ub(desc),
        encoding=_str(enc),
        md5=_ub(md5),
        disposition=_opt_str(disp),
        disposition_params=_un_params(dparams),
        language=None if lang is None else tuple(_ub(t) or b"" for t in _list(lang)),
        location=_ub(loc),
        children=tuple(_un_part(child) for child in _list(children)),
        message=embedded,
    )


def _pairs(value: object) -> tuple[tuple[str, str], ...]:
    result = []
    for item in _list(value):
        name, address = _list(item)
        result.append((_str(name), _str(address)))
    return tuple(result)


def _un_search(value: object) -> SearchFields:
    (subject, base, from_, to, cc, bcc, sent, mid, irt, refs, sort_from, sort_to, sort_cc,
     display_from, display_to) = _list(value)  # fmt: skip
    return SearchFields(
        subject=_str(subject),
        base_subject=_str(base),
        from_=_pairs(from_),
        to=_pairs(to),
        cc=_pairs(cc),
        bcc=_pairs(bcc),
        sent=None if sent is None else datetime.fromisoformat(_str(sent)),
        message_id=_opt_str(mid),
        in_reply_to=_opt_str(irt),
        references=tuple(_str(r) for r in _list(refs)),
        sort_from=_str(sort_from),
        sort_to=_str(sort_to),
        sort_cc=_str(sort_cc),
        display_from=_str(display_from),
        display_to=_str(display_to),
    )


def decode_info(data: bytes) -> MessageInfo:
    """The MessageInfo ``encode_info`` wrote; ValueError for anything else."""
    try:
        document = json.loads(data.decode("utf-8", errors="surrogatepass"))
        version, size, header_size, lines, envelope, body, search = _list(document)
        if version != FORMAT_VERSION:
            raise ValueError(f"message info format {version!r}, expected {FORMAT_VERSION}")
        return MessageInfo(
            size=_int(size),
            header_size=_int(header_size),
            lines=_int(lines),
            envelope=_un_envelope(envelope),
            body=_un_part(body),
            search=_un_search(search),
        )
    except (TypeError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"not a message info: {exc}") from None
