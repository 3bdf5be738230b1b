"""The interface the queue worker sends through (implemented by net.smtp_client).

The worker hands a transport a batch of messages for one destination domain; the transport
finds the next hop, negotiates TLS per policy, reuses one connection for the batch where it
can, and reports one ``RecipientResult`` per recipient it was given. It never raises for a
delivery problem: a refused host, a broken peer or a policy that forbids sending are
results (temporary or permanent) with the reason in ``detail``.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from mailkeep.queue.models import QueuedMessage, QueuedRecipient


class Outcome(enum.Enum):
    DELIVERED = "delivered"  # the next hop said 2xx to the message for this recipient
    DEFERRED = "deferred"  # try again later (4xx, network, TLS policy not met yet)
    FAILED = "failed"  # permanent (5xx, null MX, an extension the peer lacks)


@dataclass(frozen=True, slots=True)
class RecipientResult:
    address: str
    outcome: Outcome
    detail: str  # the peer's reply or our reason, for the log, the queue and the DSN
    status: str  # RFC 3463 enhanced status code ("2.0.0", "4.4.1", "5.1.1", ...)
    remote_mta: str | None = None  # host name of the peer that answered, for the DSN
    smtp_reply: bool = False  # ``detail`` is the peer's SMTP reply (DSN Diagnostic-Code)


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One message of a batch and the recipients of it to try now (all in one domain)."""

    envelope: QueuedMessage
    recipients: tuple[QueuedRecipient, ...]
    content: bytes


# Called once per message of a batch as soon as its results are known (the worker makes
# them durable before the transport goes on, so a crash re-sends at most one message).
ResultSink = Callable[[OutboundMessage, list[RecipientResult]], Awaitable[None]]


class Transport(Protocol):
    """Sends batches for one destination domain; see the module docstring."""

    async def deliver(
        self, domain: str, batch: Sequence[OutboundMessage], report: ResultSink
    ) -> None:
        """Call ``report`` exactly once for every message of ``batch``, with one result per
        recipient in the order of the message's recipients."""
        ...


class RecordingTransport:
    """A ``Transport`` for tests of the worker: records batches and answers by a rule.

    ``rule(domain, address)`` gives the outcome for a recipient (default: delivered).
    """

    def __init__(self, rule: Callable[[str, str], Outcome] | None = None) -> None:
        self.batches: list[tuple[str, list[OutboundMessage]]] = []
        self._rule = rule

    async def deliver(
        self, domain: str, batch: Sequence[OutboundMessage], report: ResultSink
    ) -> None:
        self.batches.append((domain, list(batch)))
        for item in batch:
            row = []
            for rcpt in item.recipients:
                outcome = self._outcome(domain, rcpt.address)
                status = {"delivered": "2.0.0", "deferred": "4.0.0", "failed": "5.0.0"}
                row.append(
                    RecipientResult(
                        rcpt.address, outcome, f"test {outcome.value}", status[outcome.value]
                    )
                )
            await report(item, row)

    def _outcome(self, domain: str, address: str) -> Outcome:
        return Outcome.DELIVERED if self._rule is None else self._rule(domain, address)
