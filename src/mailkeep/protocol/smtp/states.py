"""SMTP server states and the commands each allows (RFC 5321 4.1.4, 3.3; RFC 3030 2).

A command outside its state's set is answered with ``misplaced_reply`` and changes nothing
(a BDAT's chunk is still read, so that its bytes are never taken for commands).
"""

from __future__ import annotations

import enum

from mailkeep.protocol.smtp import replies
from mailkeep.protocol.smtp.events import (
    AuthChallenge,
    AuthCompleted,
    BdatChunkComplete,
    DataStarted,
    Ehlo,
    Greeting,
    Help,
    MailFrom,
    MessageComplete,
    Noop,
    Quit,
    RcptTo,
    ReplyNeeded,
    Reset,
    StartTLSRequested,
    Vrfy,
)
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


# The positive codes that may answer each event (a 4xx/5xx may answer any of them).
POSITIVE_REPLIES: dict[type[ReplyNeeded], frozenset[int]] = {
    Greeting: frozenset({220}),
    Ehlo: frozenset({250}),
    StartTLSRequested: frozenset({220}),
    AuthChallenge: frozenset({334}),
    AuthCompleted: frozenset({235}),
    MailFrom: frozenset({250}),
    RcptTo: frozenset({250, 251}),
    DataStarted: frozenset({354}),
    BdatChunkComplete: frozenset({250}),
    MessageComplete: frozenset({250}),
    Reset: frozenset({250}),
    Noop: frozenset({250}),
    Vrfy: frozenset({250, 251, 252}),
    Help: frozenset({211, 214}),
    Quit: frozenset({221}),
}

# Commands that must end a pipelined group (RFC 2920 3.1; STARTTLS RFC 3207 4; AUTH RFC 4954 4).
GROUP_ENDS = frozenset(
    {
        Verb.EHLO,
        Verb.HELO,
        Verb.DATA,
        Verb.VRFY,
        Verb.EXPN,
        Verb.NOOP,
        Verb.QUIT,
        Verb.STARTTLS,
        Verb.AUTH,
    }
)
