"""The error tree shared by every layer.

MailkeepError
├── UserError            a person's mistake (bad config, unknown user, duplicate...): one line,
│                        shown as is by the CLI with a non-zero exit, never a traceback
│   └── ConfigError      the config file is missing, unreadable or invalid
├── RemoteProtocolError  the peer broke the protocol; carries the reply to send (DESIGN 3.4)
├── LocalProtocolError   our own bug in driving a protocol core
└── Rejection            policy says no: a public reply and a private reason for the log
"""

from __future__ import annotations

from typing import Generic, TypeVar

R = TypeVar("R")


class MailkeepError(Exception):
    """Base of every error mailkeep raises on purpose."""


class UserError(MailkeepError):
    """A mistake the person running a command can fix; the message says what and how."""


class ConfigError(UserError):
    """The configuration file is missing, unreadable or invalid."""


class RemoteProtocolError(MailkeepError, Generic[R]):
    """The peer broke the protocol. ``reply`` is what to answer; the session goes on."""

    def __init__(self, reply: R, detail: str = "") -> None:
        super().__init__(detail or repr(reply))
        self.reply = reply


class LocalProtocolError(MailkeepError):
    """We drove a protocol core wrongly: a bug in mailkeep."""


class Rejection(MailkeepError, Generic[R]):
    """Policy refuses: ``reply`` is the generic public answer, ``reason`` goes to the log."""

    def __init__(self, reply: R, reason: str) -> None:
        super().__init__(reason)
        self.reply = reply
        self.reason = reason
