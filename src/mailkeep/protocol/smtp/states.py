"""SMTP server states and the commands each allows (RFC 5321 4.1.4, 3.3; RFC 3030 2).

A command outside its state's set is answered with ``misplaced_reply`` and changes nothing
(a BDAT's chunk is still read, so that its bytes are never taken for commands).
"""

from __future__ import annotations

import enum

from mailkeep.protocol.smtp import replies
from mailkeep.protocol.smtp.grammar import Verb
from mailkeep.protocol.smtp.replies import Reply


class State(enum.Enum):
    CONNECTED = "connected"  # the greeting is not sent yet
    GREETED = "greeted"  # greeting sent (or TLS just started); waiting for EHLO/HELO
    READY = "ready"  # EHLO/HELO done, no mail transaction
    MAIL = "mail"  # MAIL accepted, no recipient accepted yet
    RCPT = "rcpt"  # at least one recipient accepted
    CHUNKING = "chunking"  # at least one BDAT chunk accepted, LAST not yet seen
    DATA = "data"  # reading DATA content up to <CRLF>.<CRLF>
    BDAT = "bdat"  # reading the octets of one BDAT chunk
    AUTH = "auth"  # a SASL exchange waits for the client's response
    TLS_HANDSHAKE = "tls-handshake"  # 220 to STARTTLS sent, waiting for tls_started()
    CLOSED = "closed"


V = Verb
_ALWAYS = frozenset({V.NOOP, V.QUIT, V.RSET, V.HELP, V.VRFY, V.EXPN})
_TRANSACTION = _ALWAYS | {V.EHLO, V.HELO, V.RCPT, V.DATA, V.BDAT}

# The states that read commands, and the verbs each allows.
ALLOWED: dict[State, frozenset[Verb]] = {
    State.GREETED: _ALWAYS | {V.EHLO, V.HELO},
    State.READY: _ALWAYS | {V.EHLO, V.HELO, V.MAIL, V.STARTTLS, V.AUTH},
    State.MAIL: _TRANSACTION,
    State.RCPT: _TRANSACTION,
    # RFC 3030 2: after a BDAT chunk only more BDAT (or a reset) belongs to the transaction.
    State.CHUNKING: _ALWAYS | {V.EHLO, V.HELO, V.BDAT},
}

COMMAND_STATES = frozenset(ALLOWED)
IN_TRANSACTION = frozenset({State.MAIL, State.RCPT, State.CHUNKING})

# Refusals more precise than a plain 503 for some (state, verb) pairs.
_MISPLACED: dict[tuple[State, Verb], Reply] = {
    **{(s, v): replies.NESTED_MAIL for s in IN_TRANSACTION for v in (V.MAIL,)},
    **{(s, V.AUTH): replies.AUTH_IN_TRANSACTION for s in IN_TRANSACTION},
    **{(State.READY, v): replies.NEED_MAIL for v in (V.RCPT, V.DATA, V.BDAT)},
    (State.CHUNKING, V.DATA): replies.DATA_AFTER_BDAT,
}


def misplaced_reply(state: State, verb: Verb) -> Reply:
    """The refusal for ``verb`` in ``state`` when the table does not allow it."""
    if state is State.GREETED:
        return replies.NEED_EHLO
    return _MISPLACED.get((state, verb), replies.BAD_SEQUENCE)
