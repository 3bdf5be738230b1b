"""IMAP session states, the commands each allows, and the transitions a completed command
makes (RFC 9051 3 and its figure, RFC 3501 3).

The core applies ``TRANSITIONS`` itself when the application sends a command's tagged
response: LOGIN/AUTHENTICATE OK → AUTHENTICATED, SELECT/EXAMINE OK → SELECTED and NO →
AUTHENTICATED (RFC 9051 6.3.2: a failed SELECT leaves no mailbox selected), CLOSE/UNSELECT
OK → AUTHENTICATED, UNAUTHENTICATE OK → NOT_AUTHENTICATED (RFC 8437), LOGOUT → LOGOUT.
"""

from __future__ import annotations

import enum

from mailkeep.protocol.imap.responses import Status


class State(enum.Enum):
    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


ANY_STATE = frozenset({"CAPABILITY", "NOOP", "LOGOUT", "ID"})  # RFC 9051 6.1, RFC 2971
NOT_AUTHENTICATED = frozenset({"STARTTLS", "AUTHENTICATE", "LOGIN"})
AUTHENTICATED = frozenset(
    {
        "ENABLE",
        "SELECT",
        "EXAMINE",
        "CREATE",
        "DELETE",
        "RENAME",
        "SUBSCRIBE",
        "UNSUBSCRIBE",
        "LIST",
        "LSUB",
        "NAMESPACE",
        "STATUS",
        "APPEND",
        "IDLE",
        "UNAUTHENTICATE",  # RFC 8437
        "COMPRESS",  # RFC 4978 3: after authentication
        "GETQUOTA",
        "GETQUOTAROOT",
        "SETQUOTA",
        "GETMETADATA",  # RFC 5464 4.2, 4.3
        "SETMETADATA",
    }
)
SELECTED_ONLY = frozenset(
    {
        "CHECK",
        "CLOSE",
        "UNSELECT",
        "EXPUNGE",
        "SEARCH",
        "FETCH",
        "STORE",
        "COPY",
        "MOVE",
        "SORT",
        "THREAD",
        "UID EXPUNGE",
        "UID SEARCH",
        "UID FETCH",
        "UID STORE",
        "UID COPY",
        "UID MOVE",
        "UID SORT",
        "UID THREAD",
    }
)

ALLOWED: dict[State, frozenset[str]] = {
    State.NOT_AUTHENTICATED: ANY_STATE | NOT_AUTHENTICATED,
    State.AUTHENTICATED: ANY_STATE | AUTHENTICATED,
    State.SELECTED: ANY_STATE | AUTHENTICATED | SELECTED_ONLY,
    State.LOGOUT: frozenset(),
}

KNOWN_COMMANDS: frozenset[str] = frozenset().union(*ALLOWED.values())

# (command name, status of its tagged response) → the state afterwards
TRANSITIONS: dict[tuple[str, Status], State] = {
    ("LOGIN", Status.OK): State.AUTHENTICATED,
    ("AUTHENTICATE", Status.OK): State.AUTHENTICATED,
    ("SELECT", Status.OK): State.SELECTED,
    ("EXAMINE", Status.OK): State.SELECTED,
    ("SELECT", Status.NO): State.AUTHENTICATED,
    ("EXAMINE", Status.NO): State.AUTHENTICATED,
    ("CLOSE", Status.OK): State.AUTHENTICATED,
    ("UNSELECT", Status.OK): State.AUTHENTICATED,
    ("UNAUTHENTICATE", Status.OK): State.NOT_AUTHENTICATED,
    ("LOGOUT", Status.OK): State.LOGOUT,
}


def next_state(state: State, command: str, status: Status) -> State:
    """The state after ``command`` completed with ``status`` in ``state``."""
    return TRANSITIONS.get((command, status), state)
