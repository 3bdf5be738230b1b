"""POP3 session states and the commands each allows (RFC 1939 3, RFC 2449, 2595, 5034)."""

from __future__ import annotations

import enum


class State(enum.Enum):
    AUTHORIZATION = "authorization"
    #: a login is being checked by the application, or a SASL exchange is under way
    AUTHENTICATING = "authenticating"
    TRANSACTION = "transaction"
    #: QUIT received in TRANSACTION: the application removes the deleted messages
    UPDATE = "update"
    CLOSED = "closed"


ALLOWED: dict[State, frozenset[str]] = {
    State.AUTHORIZATION: frozenset(
        {"USER", "PASS", "APOP", "AUTH", "STLS", "CAPA", "QUIT", "NOOP"}
    ),
    State.AUTHENTICATING: frozenset(),
    State.TRANSACTION: frozenset(
        {"STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "QUIT", "TOP", "UIDL", "CAPA"}
    ),
    State.UPDATE: frozenset(),
    State.CLOSED: frozenset(),
}

KNOWN_COMMANDS: frozenset[str] = frozenset().union(*ALLOWED.values())
