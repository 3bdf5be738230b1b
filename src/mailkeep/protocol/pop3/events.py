"""What the POP3 core asks of the application (and the bytes it wants written)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Write:
    """Bytes to send to the client, in order."""

    data: bytes


@dataclass(frozen=True, slots=True)
class LoginRequested:
    """USER/PASS or AUTH PLAIN finished: check these credentials, then call
    ``login_accepted(maildrop)`` or ``login_rejected(response)``. The password is secret:
    never log it."""

    authzid: str
    username: str
    password: str = ""

    def __repr__(self) -> str:
        return f"LoginRequested(authzid={self.authzid!r}, username={self.username!r})"


@dataclass(frozen=True, slots=True)
class ScramLookupRequested:
    """AUTH SCRAM-SHA-256 named a user: give their stored keys (or None) to ``scram_keys``."""

    authzid: str
    username: str


@dataclass(frozen=True, slots=True)
class ScramFinished:
    """The SCRAM exchange ended (``verified``: the client proved the password; ``reason``
    says why not). Judge it, then call ``login_accepted`` or ``login_rejected``."""

    authzid: str
    username: str
    verified: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class StartTLSRequested:
    """The +OK to STLS has been queued; after writing it, upgrade the connection and call
    ``tls_started()``. Bytes that arrived after the STLS line were discarded."""

    discarded_bytes: int


@dataclass(frozen=True, slots=True)
class RetrieveRequested:
    """RETR or TOP: once the message is known to be readable, write ``status``, then stream
    the message bytes through a ``DotStuffer(top_lines)`` (None = the whole message; else the
    header and that many body lines); if it has gone meanwhile (expunged by an IMAP session),
    write ``responses.MESSAGE_GONE`` instead. Then continue with ``next_event()``."""

    status: bytes
    number: int
    uid: int
    size: int
    top_lines: int | None


@dataclass(frozen=True, slots=True)
class UpdateRequested:
    """QUIT in TRANSACTION: remove these messages (store UIDs), then call
    ``update_finished(ok)``."""

    deleted_uids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The session is over: close the connection after writing what is queued."""


class _NeedData:
    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()

Event = (
    Write
    | LoginRequested
    | ScramLookupRequested
    | ScramFinished
    | StartTLSRequested
    | RetrieveRequested
    | UpdateRequested
    | (ConnectionClosed)
)
