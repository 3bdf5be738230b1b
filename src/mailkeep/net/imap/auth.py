"""LOGIN and AUTHENTICATE (RFC 9051 6.2.2, 6.2.3; RFC 4959 SASL-IR; RFC 4616 PLAIN;
RFC 5802 and RFC 7677 SCRAM-SHA-256).

Credentials are accepted only over TLS: on the plaintext port before STARTTLS the answer is
NO [PRIVACYREQUIRED] (RFC 9051 6.2.3 LOGINDISABLED), unless the client's address is in
imap.plaintext_login_networks (empty by default). Failures are counted by the shared
login throttle (per IP and per login name) and answered after its delay; a locked-out IP or
name is refused without looking at the password. Passwords never reach a log line.
"""

from __future__ import annotations

import logging

from mailkeep import log as logctx
from mailkeep.accounts.login import (
    ScramLogin,
    attempt_login,
    sasl_mechanism,
)
from mailkeep.accounts.models import User
from mailkeep.net.imap.capability import capabilities, mechanisms
from mailkeep.net.imap.session import Session
from mailkeep.protocol.imap import commands as c
from mailkeep.protocol.imap import responses as r
from mailkeep.protocol.imap.responses import Code, Continuation, StatusResponse
from mailkeep.protocol.imap.values import Atom
from mailkeep.protocol.sasl import (
    Challenge,
    Failure,
    NeedCheck,
    PasswordCheck,
    ScramLookup,
    Step,
    Success,
)

log = logging.getLogger(__name__)

NO_MECHANISM = r.no("unsupported authentication mechanism", Code("CANNOT"))
BAD_UNAUTHENTICATE_OFF = r.bad("UNAUTHENTICATE is disabled on this server")
NO_TOO_MANY_SESSIONS = r.no("too many sessions for this user", Code("LIMIT"))  # RFC 5530


async def login(session: Session, command: c.Login) -> StatusResponse:
    if not session.may_send_credentials:
        return r.NO_LOGIN_DISABLED
    return await _check(session, "", command.username, command.password)


async def authenticate(
    session: Session, tag: str, command: c.Authenticate
) -> StatusResponse | None:
    """Start AUTHENTICATE; None when a challenge was sent (the exchange goes on in
    ``sasl_response``)."""
    if not session.may_send_credentials:
        return r.NO_LOGIN_DISABLED
    name = command.mechanism.upper()
    offered = mechanisms(session)
    mechanism = sasl_mechanism(session.services.directory, name) if name in offered else None
    if mechanism is None:
        return NO_MECHANISM
    session.sasl = (tag, mechanism)
    return await _step(session, mechanism.start(command.initial_response))


async def sasl_response(session: Session, data: bytes) -> StatusResponse | None:
    assert session.sasl is not None
    verified, session.sasl_verified = session.sasl_verified, None
    if verified is not None:  # the answer to SCRAM's server-final message
        session.sasl = None
        return start_session(session, verified) if not data else r.NO_AUTH_FAILED
    return await _step(session, session.sasl[1].respond(data))


async def _step(session: Session, step: Step) -> StatusResponse | None:
    while isinstance(step, NeedCheck) and isinstance(step.request, ScramLookup):
        assert session.sasl is not None
        session.scram = ScramLogin(
            session.services.directory,
            session.services.throttle,
            protocol="imap",
            ip=session.conn.peer.host,
        )
        step = session.sasl[1].answer(await session.scram.lookup(step.request))
    if isinstance(step, Challenge):
        await session.send(Continuation(data=step.data))
        return None
    scram, session.scram = session.scram, None
    if scram is not None and isinstance(step, (Success, Failure)):
        attempt = await scram.finish(step)
        if attempt.user is None:
            session.sasl = None
            return r.NO_AUTH_FAILED
        if isinstance(step, Success) and step.final is not None:
            session.sasl_verified = attempt.user
            await session.send(Continuation(data=step.final))
            return None
        session.sasl = None
        return start_session(session, attempt.user)
    session.sasl = None
    if isinstance(step, NeedCheck) and isinstance(step.request, PasswordCheck):
        request = step.request
        return await _check(session, request.authzid, request.authcid, request.password)
    if isinstance(step, Failure):
        log.info("imap authentication failed", extra={"reason": step.reason})
    return r.NO_AUTH_FAILED


async def _check(session: Session, authzid: str, login_name: str, password: str) -> StatusResponse:
    services = session.services
    attempt = await attempt_login(
        services.directory,
        services.throttle,
        protocol="imap",
        ip=session.conn.peer.host,
        login=login_name,
        password=password,
        authzid=authzid,
    )
    if attempt.user is None:
        return r.NO_AUTH_FAILED
    return start_session(session, attempt.user)


def start_session(session: Session, user: User) -> StatusResponse:
    services = session.services
    if services.per_user[user.id] >= services.settings.max_connections_per_user:
        log.info("imap login refused: too many sessions", extra={"user": str(user.address)})
        return NO_TOO_MANY_SESSIONS
    services.per_user[user.id] += 1
    session.user = user
    session.subscription = services.store.changes.subscribe(user.id)
    logctx.account.set(str(user.address))
    log.info("imap login")
    caps = tuple(Atom(cap) for cap in capabilities(session))
    return r.ok("logged in", Code("CAPABILITY", caps))


async def unauthenticate(session: Session, command: c.Unauthenticate) -> StatusResponse:
    """UNAUTHENTICATE (RFC 8437): back to the not-authenticated state on this connection,
    with nothing of the previous login kept but TLS (RFC 8437 3, 4.1: the selected
    mailbox, ENABLEd extensions, the saved search result and every other session field)."""
    if not session.services.settings.unauthenticate:
        return BAD_UNAUTHENTICATE_OFF  # RFC 8437 8: it can be switched off
    end_session(session)
    session.reset()
    log.info("imap unauthenticate")
    logctx.account.set(None)
    return r.ok("UNAUTHENTICATE completed")


def end_session(session: Session) -> None:
    """Release what login took (at UNAUTHENTICATE and when the connection ends; a second
    call does nothing)."""
    if session.subscription is not None:
        session.subscription.close()
        session.subscription = None
    user = session.user
    session.user = None
    if user is not None:
        per_user = session.services.per_user
        per_user[user.id] -= 1
        if per_user[user.id] <= 0:
            del per_user[user.id]
