"""SMTP AUTH (RFC 4954) through the server core, with PLAIN, LOGIN and SCRAM-SHA-256."""

from __future__ import annotations

import base64
import hashlib
import hmac

from mailkeep.protocol.smtp.events import AuthCheck, AuthCompleted, AuthFailed
from mailkeep.protocol.smtp.server import Listener, State
from tests.protocol.smtp.session import SCRAM, Session, codes, config


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def submission() -> Session:
    session = Session.start(config(Listener.SUBMISSIONS, tls_active=True))
    session.say("EHLO c.example")
    return session


def test_plain_initial_response_then_mail() -> None:
    session = submission()
    out = session.say("AUTH PLAIN " + b64(b"\x00alice@example.org\x00correct horse"))
    assert out == "235 2.7.0 Authentication successful\r\n"
    assert session.conn.authcid == "alice@example.org"
    assert any(isinstance(e, AuthCheck) for e in session.events)
    assert session.say("MAIL FROM:<alice@example.org> AUTH=alice+40example.org").startswith("250")
    assert session.say("RCPT TO:<x@y.example>").startswith("250")
    assert session.say("AUTH PLAIN").startswith("503 5.5.1")


def test_login_survives_a_new_ehlo_but_not_starttls() -> None:
    session = submission()
    session.say("AUTH PLAIN " + b64(b"\x00alice@example.org\x00correct horse"))
    assert session.say("EHLO c.example").startswith("250-")
    assert session.conn.authenticated
    assert session.say("MAIL FROM:<alice@example.org>").startswith("250")
    assert session.say("EHLO again.example").startswith("250-")
    assert session.conn.transaction is None  # EHLO resets the transaction
    tls = Session.start(config(Listener.SUBMISSION))
    tls.say("EHLO c.example\r\nSTARTTLS")
    assert not tls.conn.authenticated and tls.conn.helo_name is None


def test_plain_with_empty_challenge() -> None:
    session = submission()
    assert session.say("AUTH PLAIN") == "334 \r\n"
    assert session.state is State.AUTH
    assert codes(session.say(b64(b"\x00alice@example.org\x00correct horse"))) == ["235"]


def test_wrong_password_is_535_and_counts_as_error() -> None:
    session = submission()
    out = session.say("AUTH PLAIN " + b64(b"\x00alice@example.org\x00wrong"))
    assert out == "535 5.7.8 Authentication credentials invalid\r\n"
    failed = session.events[-1]
    assert isinstance(failed, AuthFailed) and failed.authcid == "alice@example.org"
    assert session.conn.errors == 1 and not session.conn.authenticated
    assert session.say("MAIL FROM:<alice@example.org>").startswith("530 5.7.0")


def test_login_exchange() -> None:
    session = submission()
    assert session.say("AUTH LOGIN") == "334 VXNlcm5hbWU6\r\n"
    assert session.say(b64(b"alice@example.org")) == "334 UGFzc3dvcmQ6\r\n"
    assert codes(session.say(b64(b"correct horse"))) == ["235"]


def test_cancel_bad_base64_unknown_mechanism_and_long_lines() -> None:
    session = submission()
    session.say("AUTH LOGIN")
    assert session.say("*") == "501 5.0.0 Authentication cancelled\r\n"
    session.say("AUTH LOGIN")
    assert session.say("%%%").startswith("501 5.5.2")
    assert session.say("AUTH CRAM-MD5").startswith("504 5.5.4")
    assert session.say("AUTH PLAIN !!!").startswith("501 5.5.2")
    session.say("AUTH LOGIN")
    assert session.say("A" * 13000).startswith("500 5.5.6")
    assert session.state is State.READY


def test_scram_sha_256_through_smtp() -> None:
    session = submission()
    user = "alice@example.org"
    client_nonce = "fyko+d2lbbFgONRv9qkxdawL"
    first_bare = f"n={user},r={client_nonce}"
    out = session.say("AUTH SCRAM-SHA-256 " + b64(("n,," + first_bare).encode()))
    assert out.startswith("334 ")
    server_first = base64.b64decode(out[4:].strip()).decode()
    attrs = dict(part.split("=", 1) for part in server_first.split(","))
    assert attrs["r"].startswith(client_nonce)
    creds = SCRAM[user]
    salted = hashlib.pbkdf2_hmac("sha256", b"correct horse", base64.b64decode(attrs["s"]), 4096)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    without_proof = f"c=biws,r={attrs['r']}"
    auth_message = f"{first_bare},{server_first},{without_proof}".encode()
    signature = hmac.digest(creds.stored_key, auth_message, "sha256")
    proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
    out = session.say(b64(f"{without_proof},p={b64(proof)}".encode()))
    expected = hmac.digest(creds.server_key, auth_message, "sha256")
    assert out == f"334 {b64(b'v=' + b64(expected).encode())}\r\n"
    assert session.say("") == "235 2.7.0 Authentication successful\r\n"
    done = session.events[-1]
    assert isinstance(done, AuthCompleted) and done.authcid == user


def test_application_can_refuse_a_verified_login() -> None:
    session = submission()
    conn = session.conn
    conn.receive_data(
        b"AUTH PLAIN " + b64(b"\x00alice@example.org\x00correct horse").encode() + b"\r\n"
    )
    check = conn.next_event()
    assert isinstance(check, AuthCheck)
    conn.answer_auth_check(True)
    completed = conn.next_event()
    assert isinstance(completed, AuthCompleted)
    from mailkeep.protocol.smtp.replies import Reply

    assert conn.send(Reply(454, "4.7.0", "Locked out, try later")).startswith(b"454 4.7.0")
    assert not conn.authenticated


def test_mx_never_offers_auth_even_over_tls() -> None:
    session = Session.start(config(Listener.MX, tls_active=True))
    session.say("EHLO c.example")
    assert session.say("AUTH PLAIN").startswith("502 5.5.1")
