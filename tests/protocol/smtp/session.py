"""A test driver for the SMTP server core: bytes in, the server's bytes out, with a policy
that accepts every sender, recipient and message unless a test says otherwise."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from mailkeep.protocol.sasl import PasswordCheck, ScramCredentials, ScramLookup
from mailkeep.protocol.sasl.scram import derive_credentials
from mailkeep.protocol.smtp import replies
from mailkeep.protocol.smtp.events import (
    NEED_DATA,
    AuthCheck,
    ConnectionClosed,
    Event,
    Greeting,
    MailFrom,
    MessageChunk,
    MessageComplete,
    MessageRejected,
    RcptTo,
    StartTLSRequested,
)
from mailkeep.protocol.smtp.replies import Reply
from mailkeep.protocol.smtp.server import (
    Listener,
    ServerConfig,
    ServerLimits,
    SMTPServerConnection,
    State,
)

HOST = "mx.example.org"
USERS = {"alice@example.org": "correct horse"}
SCRAM = {u: derive_credentials(p, b"salt-" + u.encode(), 4096) for u, p in USERS.items()}


def config(
    listener: Listener = Listener.MX,
    *,
    tls_available: bool = True,
    tls_active: bool = False,
    **limits: int,
) -> ServerConfig:
    return ServerConfig(
        HOST,
        listener,
        tls_available=tls_available,
        tls_active=tls_active,
        auth_mechanisms=("SCRAM-SHA-256", "PLAIN", "LOGIN"),
        limits=ServerLimits(**limits),
    )


@dataclass
class Session:
    """One server connection with a scripted application around it."""

    conn: SMTPServerConnection
    mail_reply: Callable[[MailFrom], Reply] = lambda _: replies.MAIL_OK
    rcpt_reply: Callable[[RcptTo], Reply] = lambda _: replies.RCPT_OK
    events: list[Event] = field(default_factory=list)
    messages: list[bytes] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    spool: bytearray = field(default_factory=bytearray)
    auto_tls: bool = True

    @classmethod
    def start(cls, cfg: ServerConfig | None = None, *, greet: bool = True) -> Session:
        session = cls(SMTPServerConnection(cfg or config()))
        if greet:
            session.pump()
        return session

    def feed(self, data: bytes) -> bytes:
        """Give the server ``data`` and return everything it writes until it needs more."""
        self.conn.receive_data(data)
        return self.pump()

    def say(self, text: str) -> str:
        """Send lines (joined by CRLF, CRLF added) and return the reply text."""
        return self.feed(text.encode("utf-8") + b"\r\n").decode("utf-8")

    def pump(self) -> bytes:
        out = bytearray()
        while True:
            event = self.conn.next_event()
            if event is NEED_DATA:
                return bytes(out)
            self.events.append(event)
            if isinstance(event, ConnectionClosed):
                return bytes(out)
            out += self._answer(event)

    def _answer(self, event: Event) -> bytes:
        conn = self.conn
        if isinstance(event, Greeting):
            return conn.send(replies.greeting(HOST))
        if isinstance(event, MailFrom):
            self.spool.clear()
            return conn.send(self.mail_reply(event))
        if isinstance(event, RcptTo):
            return conn.send(self.rcpt_reply(event))
        if isinstance(event, MessageChunk):
            self.spool += event.data
            return b""
        if isinstance(event, MessageComplete):
            self.messages.append(bytes(self.spool))
            self.spool.clear()
            return conn.send(replies.MESSAGE_ACCEPTED)
        if isinstance(event, MessageRejected):
            self.rejected.append(event.reason)
            self.spool.clear()
            return conn.send(event.reply)
        if isinstance(event, AuthCheck):
            conn.answer_auth_check(check(event.request))
            return b""
        if isinstance(event, StartTLSRequested):
            data = conn.send(event.reply)
            if self.auto_tls:
                conn.tls_started()
            return data
        reply = getattr(event, "reply", None)
        if isinstance(reply, Reply):
            return conn.send(reply)
        return b""

    @property
    def state(self) -> State:
        return self.conn.state


def check(request: PasswordCheck | ScramLookup) -> bool | ScramCredentials | None:
    if isinstance(request, PasswordCheck):
        return USERS.get(request.authcid) == request.password and request.authzid in (
            "",
            request.authcid,
        )
    return SCRAM.get(request.authcid)


def codes(output: str | bytes) -> list[str]:
    """The code of each reply in ``output`` (its last line), in order."""
    text = output.decode() if isinstance(output, bytes) else output
    return [line[:3] for line in text.splitlines() if line[3:4] in (" ", "")]
