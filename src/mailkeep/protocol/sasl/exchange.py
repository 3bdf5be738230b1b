"""The steps of a SASL exchange (RFC 4422 3.4) as values, and the mechanism interface.

A server mechanism is driven by three calls: ``start(initial)`` with the client's initial
response (None when it sent none), ``respond(data)`` with each later response, and
``answer(verdict)`` once the application has checked the credentials a ``NeedCheck`` asked
about. Each returns the next ``Step``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    """Is ``password`` right for ``authcid``, and may it act as ``authzid`` ("" = itself)?"""

    authzid: str
    authcid: str
    password: str

    def __repr__(self) -> str:  # never let a password reach a log line
        return f"PasswordCheck(authzid={self.authzid!r}, authcid={self.authcid!r})"


@dataclass(frozen=True, slots=True)
class ScramLookup:
    """Give the stored SCRAM keys of ``authcid`` (RFC 5802 3), or None if unknown.

    The application also decides whether ``authcid`` may act as ``authzid`` ("" = itself)
    and answers None when not.
    """

    authzid: str
    authcid: str


@dataclass(frozen=True, slots=True)
class ScramCredentials:
    """What a server stores for SCRAM (RFC 5802 3): never the password itself."""

    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes

    def __repr__(self) -> str:
        return f"ScramCredentials(iterations={self.iterations})"


@dataclass(frozen=True, slots=True)
class Challenge:
    """Send ``data`` to the client and feed its answer to ``respond``."""

    data: bytes


@dataclass(frozen=True, slots=True)
class NeedCheck:
    """Check ``request`` and pass the verdict to ``answer``."""

    request: PasswordCheck | ScramLookup


@dataclass(frozen=True, slots=True)
class Success:
    """Authenticated. ``final`` is additional data for the client (SCRAM's server proof)."""

    authzid: str
    authcid: str
    final: bytes | None = None


@dataclass(frozen=True, slots=True)
class Failure:
    """The exchange failed; ``reason`` is for the log, ``authcid`` when known."""

    reason: str
    authcid: str = ""


Step = Challenge | NeedCheck | Success | Failure


class ServerMechanism(Protocol):
    """One server-side exchange of one mechanism; not reusable."""

    name: str

    def start(self, initial: bytes | None) -> Step: ...

    def respond(self, data: bytes) -> Step: ...

    def answer(self, verdict: bool | ScramCredentials | None) -> Step: ...
