"""The registry of server mechanisms by their SASL names (RFC 4422 3.1)."""

from __future__ import annotations

from collections.abc import Callable

from mailkeep.protocol.sasl.exchange import ServerMechanism
from mailkeep.protocol.sasl.login import LoginServer
from mailkeep.protocol.sasl.plain import PlainServer
from mailkeep.protocol.sasl.scram import ScramSHA256Server

MECHANISMS: dict[str, Callable[[], ServerMechanism]] = {
    "SCRAM-SHA-256": ScramSHA256Server,
    "PLAIN": PlainServer,
    "LOGIN": LoginServer,
}


def new_mechanism(name: str) -> ServerMechanism | None:
    """A fresh exchange for mechanism ``name`` (case-insensitive), or None if unknown."""
    factory = MECHANISMS.get(name.upper())
    return factory() if factory is not None else None
