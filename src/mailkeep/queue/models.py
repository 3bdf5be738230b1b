"""What the outbound spool holds: one queued message and its recipients, as JSON.

RFC 3461 (DSN: RET, ENVID, NOTIFY, ORCPT kept for the delivery status notification),
RFC 8689 (REQUIRETLS kept so the worker refuses to relay without verified TLS),
RFC 6152 / RFC 3030 / RFC 6531 (BODY and SMTPUTF8 kept so the worker asks the next hop for
the same). The on-disk format is described in docs/decisions/0008-spool.md; ``version``
changes when a field changes meaning.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field, replace
from typing import Any

from mailkeep.protocol.smtp.grammar import Body, Notify, Ret

FORMAT_VERSION = 1


class SpoolFormatError(ValueError):
    """An envelope file that is not a valid spool envelope (its text says what is wrong)."""


class RecipientStatus(enum.Enum):
    """Where one recipient of a queued message stands."""

    PENDING = "pending"  # not yet delivered: the worker tries (again) at next_attempt
    DELIVERED = "delivered"  # the next hop (or the local store) accepted it
    FAILED = "failed"  # permanently refused: a DSN is due if NOTIFY asks for one


@dataclass(frozen=True, slots=True)
class QueuedRecipient:
    """One envelope recipient and its delivery state."""

    address: str  # canonical text (Address.text): A-label domain
    notify: frozenset[Notify] = frozenset()  # RFC 3461 4.1; empty = not given (default rules)
    orcpt: tuple[str, str] | None = None  # RFC 3461 4.2: (addr-type, decoded address)
    status: RecipientStatus = RecipientStatus.PENDING
    attempts: int = 0
    next_attempt: float = 0.0  # Unix time
    last_error: str | None = None  # the last reply or reason, for the DSN and the log
    # Set when the recipient is a local user whose mailbox refused the copy at the end of
    # DATA (temporarily or over quota) while others took it: the worker retries the store.
    local_user_id: int | None = None
    # With local_user_id: the mailbox the copy was meant for (Junk for a DMARC quarantine);
    # None means INBOX.
    local_mailbox: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "address": self.address,
            "notify": sorted(n.value for n in self.notify),
            "orcpt": list(self.orcpt) if self.orcpt else None,
            "status": self.status.value,
            "attempts": self.attempts,
            "next_attempt": self.next_attempt,
            "last_error": self.last_error,
            "local_user_id": self.local_user_id,
        }
        if self.local_mailbox is not None:
            data["local_mailbox"] = self.local_mailbox
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> QueuedRecipient:
        orcpt = data.get("orcpt")
        return cls(
            address=str(data["address"]),
            notify=frozenset(Notify(n) for n in data.get("notify", ())),
            orcpt=(str(orcpt[0]), str(orcpt[1])) if orcpt else None,
            status=RecipientStatus(data.get("status", "pending")),
            attempts=int(data.get("attempts", 0)),
            next_attempt=float(data.get("next_attempt", 0.0)),
            last_error=data.get("last_error"),
            local_user_id=data.get("local_user_id"),
            local_mailbox=data.get("local_mailbox"),
        )


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """The envelope of one spooled message (its bytes live in a file beside it)."""

    id: str
    mail_from: str | None  # None is the null reverse-path <> (bounces: never bounced)
    recipients: tuple[QueuedRecipient, ...]
    created: float  # Unix time the message was accepted
    size: int  # octets of the message file
    ret: Ret | None = None  # RFC 3461 4.3
    envid: str | None = None  # RFC 3461 4.4, decoded
    requiretls: bool = False  # RFC 8689 4
    body: Body = Body.SEVEN_BIT
    smtputf8: bool = False
    # Who handed it to us, for the log and abuse handling.
    received_from: str = ""  # client IP
    authenticated_as: str | None = None  # the submission user's address
    extra: dict[str, str] = field(default_factory=dict)  # room for the worker's notes

    @property
    def pending(self) -> tuple[QueuedRecipient, ...]:
        return tuple(r for r in self.recipients if r.status is RecipientStatus.PENDING)

    def with_recipients(self, recipients: tuple[QueuedRecipient, ...]) -> QueuedMessage:
        return replace(self, recipients=recipients)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": FORMAT_VERSION,
            "id": self.id,
            "mail_from": self.mail_from,
            "recipients": [r.to_json() for r in self.recipients],
            "created": self.created,
            "size": self.size,
            "ret": self.ret.value if self.ret else None,
            "envid": self.envid,
            "requiretls": self.requiretls,
            "body": self.body.value,
            "smtputf8": self.smtputf8,
            "received_from": self.received_from,
            "authenticated_as": self.authenticated_as,
            "extra": dict(self.extra),
        }

    def encode(self) -> bytes:
        return json.dumps(self.to_json(), ensure_ascii=False, sort_keys=True).encode("utf-8")

    @classmethod
    def decode(cls, data: bytes) -> QueuedMessage:
        """Parse an envelope file; SpoolFormatError when it is not one."""
        try:
            obj = json.loads(data)
            if not isinstance(obj, dict):
                raise SpoolFormatError("envelope is not a JSON object")
            if obj.get("version") != FORMAT_VERSION:
                raise SpoolFormatError(f"unknown envelope version {obj.get('version')!r}")
            ret = obj.get("ret")
            return cls(
                id=str(obj["id"]),
                mail_from=obj.get("mail_from"),
                recipients=tuple(QueuedRecipient.from_json(r) for r in obj["recipients"]),
                created=float(obj["created"]),
                size=int(obj["size"]),
                ret=Ret(ret) if ret else None,
                envid=obj.get("envid"),
                requiretls=bool(obj.get("requiretls", False)),
                body=Body(obj.get("body", Body.SEVEN_BIT.value)),
                smtputf8=bool(obj.get("smtputf8", False)),
                received_from=str(obj.get("received_from", "")),
                authenticated_as=obj.get("authenticated_as"),
                extra={str(k): str(v) for k, v in obj.get("extra", {}).items()},
            )
        except SpoolFormatError:
            raise
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            raise SpoolFormatError(f"bad envelope: {exc}") from None
