"""SMTP errors (DESIGN 3.4): the peer's fault carries the reply to send; our bugs do not.

MailkeepError
├── RemoteProtocolError[Reply]
│   └── CommandError      a command the core refuses (syntax, sequence, parameter): the reply
│                         is sent, the session goes on (unless the reply is 421)
└── LocalProtocolError    the application drove the core wrongly (e.g. sent a 334 to a RCPT)
"""

from __future__ import annotations

from mailkeep.errors import LocalProtocolError, RemoteProtocolError
from mailkeep.protocol.smtp.replies import Reply

__all__ = ["CommandError", "LocalProtocolError"]


class CommandError(RemoteProtocolError[Reply]):
    """The peer's command is refused with ``reply``; ``detail`` is for the log."""
