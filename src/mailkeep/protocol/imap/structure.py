"""ENVELOPE, BODY and BODYSTRUCTURE as IMAP values (RFC 3501 7.4.2, RFC 9051 7.5.2), from
the MIME parser's types (``mailkeep.mail.mime``).

Strings stay the raw header octets (the encoder quotes them or, for 8-bit octets outside
UTF-8 sessions, sends literals). Types, subtypes and transfer encodings are upper-cased as
in the RFCs' examples; parameter names and values are reported as written. BODY is
BODYSTRUCTURE without extension data. A multipart's children follow each other without
spaces (``body-type-mpart = 1*body SP media-subtype``).
"""

from __future__ import annotations

from mailkeep.mail.envelope import Envelope, EnvelopeAddress
from mailkeep.mail.mime import Part
from mailkeep.mail.params import Params
from mailkeep.protocol.imap.values import Joined, Value


def _addresses(addresses: tuple[EnvelopeAddress, ...] | None) -> Value:
    if not addresses:
        return None
    return [[a.name, a.adl, a.mailbox, a.host] for a in addresses]


def envelope_value(envelope: Envelope) -> list[Value]:
    """The ENVELOPE list: date, subject, from, sender, reply-to, to, cc, bcc, in-reply-to,
    message-id (RFC 9051 7.5.2)."""
    return [
        envelope.date,
        envelope.subject,
        _addresses(envelope.from_),
        _addresses(envelope.sender),
        _addresses(envelope.reply_to),
        _addresses(envelope.to),
        _addresses(envelope.cc),
        _addresses(envelope.bcc),
        envelope.in_reply_to,
        envelope.message_id,
    ]


def _params(params: Params) -> Value:
    """body-fld-param: ("name" "value" ...) or NIL."""
    if not params.raw:
        return None
    out: list[Value] = []
    for name, value in params.raw:
        out += [name, value]
    return out


def _disposition(part: Part) -> Value:
    if part.disposition is None:
        return None
    return [part.disposition.encode("utf-8"), _params(part.disposition_params)]


def _language(part: Part) -> Value:
    if not part.language:
        return None
    if len(part.language) == 1:
        return part.language[0]
    return list(part.language)


def body_value(part: Part, extensible: bool = True) -> list[Value]:
    """BODYSTRUCTURE (``extensible``) or BODY of ``part`` (RFC 9051 7.5.2 "body")."""
    if part.is_multipart and part.children:
        out: list[Value] = [
            Joined(tuple(body_value(child, extensible) for child in part.children)),
            part.subtype.upper(),
        ]
        if extensible:
            out += [_params(part.params), _disposition(part), _language(part), part.location]
        return out
    out = [
        part.type.upper(),
        part.subtype.upper(),
        _params(part.params),
        part.content_id,
        part.description,
        part.encoding.upper(),
        part.size,
    ]
    if part.message is not None:
        out += [
            envelope_value(part.message.envelope),
            body_value(part.message.body, extensible),
            part.lines,
        ]
    elif part.type == "text":
        out.append(part.lines)
    if extensible:
        out += [part.md5, _disposition(part), _language(part), part.location]
    return out
