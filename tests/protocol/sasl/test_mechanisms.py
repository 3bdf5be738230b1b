"""SASL server mechanisms: PLAIN (RFC 4616), LOGIN, SCRAM-SHA-256 (RFC 7677 test vector)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailkeep.errors import LocalProtocolError
from mailkeep.protocol.sasl import (
    Challenge,
    Failure,
    NeedCheck,
    PasswordCheck,
    ScramLookup,
    Success,
    new_mechanism,
)
from mailkeep.protocol.sasl.login import LoginServer
from mailkeep.protocol.sasl.plain import PlainServer
from mailkeep.protocol.sasl.scram import ScramSHA256Server, derive_credentials

# RFC 7677 3: user "user", password "pencil".
CLIENT_FIRST = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
SERVER_NONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
SERVER_FIRST = (
    b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
)
CLIENT_FINAL = (
    b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
)
SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="


def test_scram_sha_256_rfc7677_vector() -> None:
    server = ScramSHA256Server(nonce=lambda: SERVER_NONCE)
    step = server.start(CLIENT_FIRST)
    assert step == NeedCheck(ScramLookup("", "user"))
    step = server.answer(derive_credentials("pencil", SALT, 4096))
    assert step == Challenge(SERVER_FIRST)
    assert server.respond(CLIENT_FINAL) == Success("", "user", SERVER_FINAL)


def test_scram_wrong_password_fails_after_the_proof() -> None:
    server = ScramSHA256Server(nonce=lambda: SERVER_NONCE)
    server.start(CLIENT_FIRST)
    server.answer(derive_credentials("pencil2", SALT, 4096))
    step = server.respond(CLIENT_FINAL)
    assert isinstance(step, Failure) and step.authcid == "user"


def test_scram_unknown_user_gets_a_challenge_then_fails() -> None:
    server = ScramSHA256Server(nonce=lambda: SERVER_NONCE)
    server.start(CLIENT_FIRST)
    step = server.answer(None)
    assert isinstance(step, Challenge) and step.data.startswith(b"r=rOprNGfwEbeRWgbNEkqO%")
    assert isinstance(server.respond(CLIENT_FINAL), Failure)


@pytest.mark.parametrize(
    "first",
    [
        b"p=tls-unique,,n=user,r=abc",  # channel binding not offered
        b"x,,n=user,r=abc",
        b"n,,r=abc,n=user",
        b"n,,n=us=er,r=abc",
        b"n,,n=user,r=abc,m=ext",
        b"n,b=1,n=user,r=abc",
        b"n,,n=,r=abc",
        b"n",
        b"\xff\xfe",
    ],
)
def test_scram_bad_client_first(first: bytes) -> None:
    assert isinstance(ScramSHA256Server().start(first), Failure)


@pytest.mark.parametrize(
    "final",
    [
        CLIENT_FINAL.replace(b"c=biws", b"c=eSws"),  # binding differs from the gs2 header
        CLIENT_FINAL.replace(b"r=rOpr", b"r=xOpr"),  # nonce differs
        CLIENT_FINAL.replace(b"p=dHzb", b"p=!!!!"),
        b"c=biws,r=x",
        b"p=abc",
        b"\xff",
    ],
)
def test_scram_bad_client_final(final: bytes) -> None:
    server = ScramSHA256Server(nonce=lambda: SERVER_NONCE)
    server.start(CLIENT_FIRST)
    server.answer(derive_credentials("pencil", SALT, 4096))
    assert isinstance(server.respond(final), Failure)


def test_scram_authzid_and_escaped_names() -> None:
    server = ScramSHA256Server()
    step = server.start(b"n,a=boss=2Cx,n=a=3Db,r=nonce")
    assert step == NeedCheck(ScramLookup("boss,x", "a=b"))


def test_scram_derivation_matches_rfc5802_definitions() -> None:
    creds = derive_credentials("pencil", SALT, 4096)
    salted = hashlib.pbkdf2_hmac("sha256", b"pencil", SALT, 4096)
    assert creds.server_key == hmac.digest(salted, b"Server Key", "sha256")
    assert "pencil" not in repr(creds) and str(creds.stored_key) not in repr(creds)


def test_plain_with_and_without_initial_response() -> None:
    server = PlainServer()
    assert server.start(None) == Challenge(b"")
    step = server.respond(b"\x00alice\x00secret")
    assert step == NeedCheck(PasswordCheck("", "alice", "secret"))
    assert "secret" not in repr(step)
    assert server.answer(True) == Success("", "alice")
    other = PlainServer()
    other.start(b"boss\x00alice\x00secret")
    assert other.answer(False) == Failure("wrong password or unknown user", "alice")


@pytest.mark.parametrize(
    "message",
    [
        b"alice\x00secret",
        b"\x00\x00secret",
        b"\x00alice\x00",
        b"\x00a\x00b\x00c",
        b"\x00\xff\x00x",
        b"\x00" + b"a" * 256 + b"\x00x",
    ],
)
def test_plain_malformed(message: bytes) -> None:
    assert isinstance(PlainServer().start(message), Failure)


def test_plain_answer_out_of_turn_is_our_bug() -> None:
    with pytest.raises(LocalProtocolError):
        PlainServer().answer(True)


def test_login_two_challenges() -> None:
    server = LoginServer()
    assert server.start(None) == Challenge(b"Username:")
    assert server.respond(b"alice") == Challenge(b"Password:")
    assert server.respond(b"pw") == NeedCheck(PasswordCheck("", "alice", "pw"))
    assert server.answer(True) == Success("", "alice")
    assert LoginServer().start(b"alice") == Challenge(b"Password:")
    assert isinstance(LoginServer().start(b""), Failure)


def test_registry() -> None:
    assert isinstance(new_mechanism("plain"), PlainServer)
    assert new_mechanism("CRAM-MD5") is None


@given(st.lists(st.binary(max_size=80), min_size=1, max_size=4))
def test_mechanisms_never_raise_on_client_input(responses: list[bytes]) -> None:
    for name in ("PLAIN", "LOGIN", "SCRAM-SHA-256"):
        mechanism = new_mechanism(name)
        assert mechanism is not None
        step = mechanism.start(responses[0])
        for data in responses[1:]:
            if isinstance(step, NeedCheck):
                step = mechanism.answer(False if isinstance(step.request, PasswordCheck) else None)
            if not isinstance(step, Challenge):
                break
            step = mechanism.respond(data)
