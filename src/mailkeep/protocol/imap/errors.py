"""The IMAP core's errors (DESIGN 3.4).

``CommandSyntaxError`` is raised inside the parser without a tag; ``parse_command`` turns it
into ``ParseError`` carrying the tag (when one could be read) and the response to send. Both
are RemoteProtocolErrors: the client's fault, the session goes on.
"""

from __future__ import annotations

from mailkeep.errors import RemoteProtocolError
from mailkeep.protocol.imap import responses as r
from mailkeep.protocol.imap.responses import StatusResponse


class CommandSyntaxError(RemoteProtocolError[StatusResponse]):
    """The command is malformed; ``reason`` says how, for a person (and the BAD text)."""

    def __init__(self, reason: str, response: StatusResponse = r.BAD_SYNTAX) -> None:
        super().__init__(
            response.with_text(reason) if response is r.BAD_SYNTAX else response, reason
        )
        self.reason = reason


class ParseError(RemoteProtocolError[StatusResponse]):
    """A malformed command. ``tag`` is None when not even a tag could be read (answer
    untagged). ``reply`` is the response to send, already tagged."""

    def __init__(self, tag: str | None, reason: str, response: StatusResponse) -> None:
        super().__init__(response.tagged(tag), reason)
        self.tag = tag
        self.reason = reason
