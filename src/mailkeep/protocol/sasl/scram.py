"""SCRAM-SHA-256 (RFC 5802, RFC 7677), server side, without channel binding.

The exchange: client-first (gs2 header, n=user, r=client nonce) → the application looks up
the user's stored keys → server-first (r=nonce, s=salt, i=iterations) → client-final
(c=gs2 header, r=nonce, p=proof) → the proof is checked here against StoredKey → server-final
(v=server signature). The password never reaches the server.

Passwords are SASLprepared when keys are derived (RFC 5802 2.2); user names arrive prepared
by the client and are used as sent. Not done: the -PLUS channel-binding variant (a "p="
flag is refused).

Unknown users get a challenge like known ones, and fail only at the proof. With
``fake_salt_key`` their salt is derived from the name, so it is the same on every attempt
and does not tell a prober the user is unknown; without it the salt is random per attempt.
``fake_iterations`` should be the count real users' keys have.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Callable

from mailkeep.errors import LocalProtocolError
from mailkeep.protocol.sasl.exchange import (
    Challenge,
    Failure,
    NeedCheck,
    ScramCredentials,
    ScramLookup,
    Step,
    Success,
)
from mailkeep.protocol.sasl.saslprep import saslprep

MIN_ITERATIONS = 4096  # RFC 7677 4
FAKE_SALT_SIZE = 16


def derive_credentials(password: str, salt: bytes, iterations: int) -> ScramCredentials:
    """StoredKey and ServerKey for ``password`` (RFC 5802 3), to be kept by the accounts.

    The password is SASLprepared first, as clients do (RFC 5802 2.2); ValueError when it
    cannot be (prohibited characters).
    """
    prepared = saslprep(password).encode("utf-8")
    salted = hashlib.pbkdf2_hmac("sha256", prepared, salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    return ScramCredentials(
        salt=salt,
        iterations=iterations,
        stored_key=hashlib.sha256(client_key).digest(),
        server_key=hmac.digest(salted, b"Server Key", "sha256"),
    )


def _default_nonce() -> str:
    return secrets.token_urlsafe(24)  # printable, never ","


def _decode_saslname(value: str) -> str | None:
    """saslname (RFC 5802 5.1): "=2C" is ",", "=3D" is "=", any other "=" is an error."""
    out = []
    i = 0
    while i < len(value):
        if value[i] == "=":
            escape = value[i : i + 3]
            if escape == "=2C":
                out.append(",")
            elif escape == "=3D":
                out.append("=")
            else:
                return None
            i += 3
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def _attributes(message: str) -> list[tuple[str, str]]:
    """ "k=v,k=v" into pairs; a part without "=" becomes ("", part)."""
    pairs = []
    for part in message.split(","):
        key, sep, value = part.partition("=")
        pairs.append((key, value) if sep and len(key) == 1 else ("", part))
    return pairs


class ScramSHA256Server:
    """The server side of one SCRAM-SHA-256 exchange."""

    name = "SCRAM-SHA-256"

    def __init__(
        self,
        nonce: Callable[[], str] = _default_nonce,
        *,
        fake_salt_key: bytes | None = None,
        fake_iterations: int = MIN_ITERATIONS,
    ) -> None:
        self._make_nonce = nonce
        self._fake_salt_key = fake_salt_key
        self._fake_iterations = fake_iterations
        self._stage = "start"
        self._gs2_header = ""
        self._client_first_bare = ""
        self._server_first = ""
        self._nonce = ""
        self._authzid = ""
        self._authcid = ""
        self._credentials: ScramCredentials | None = None

    def start(self, initial: bytes | None) -> Step:
        if self._stage != "start":
            raise LocalProtocolError("SCRAM exchange already started")
        if initial is None:
            self._stage = "client-first"
            return Challenge(b"")
        return self._client_first(initial)

    def respond(self, data: bytes) -> Step:
        if self._stage == "client-first":
            return self._client_first(data)
        if self._stage == "client-final":
            return self._client_final(data)
        raise LocalProtocolError(f"SCRAM response unexpected at stage {self._stage}")

    def _fail(self, reason: str) -> Failure:
        self._stage = "done"
        return Failure(reason, self._authcid)

    def _client_first(self, data: bytes) -> Step:
        try:
            message = data.decode("utf-8")
        except UnicodeDecodeError:
            return self._fail("client-first-message is not UTF-8")
        flag, sep1, rest = message.partition(",")
        authz, sep2, bare = rest.partition(",")
        if not (sep1 and sep2):
            return self._fail("client-first-message has no gs2 header")
        if flag.startswith("p="):
            return self._fail("channel binding requested but not offered")
        if flag not in ("n", "y"):
            return self._fail("bad gs2 channel-binding flag")
        if authz:
            if not authz.startswith("a="):
                return self._fail("bad gs2 authzid")
            decoded = _decode_saslname(authz[2:])
            if decoded is None or not decoded:
                return self._fail("bad authzid saslname")
            self._authzid = decoded
        attrs = _attributes(bare)
        if len(attrs) < 2 or attrs[0][0] != "n" or attrs[1][0] != "r" or not attrs[1][1]:
            return self._fail("client-first-message-bare is not n=...,r=...")
        user = _decode_saslname(attrs[0][1])
        if not user:
            return self._fail("bad username saslname")
        if any(key == "m" for key, _ in attrs):
            return self._fail("mandatory extension not supported")
        self._authcid = user
        self._gs2_header = f"{flag},{authz},"
        self._client_first_bare = bare
        self._nonce = attrs[1][1] + self._make_nonce()
        self._stage = "lookup"
        return NeedCheck(ScramLookup(self._authzid, self._authcid))

    def answer(self, verdict: bool | ScramCredentials | None) -> Step:
        if self._stage != "lookup" or isinstance(verdict, bool):
            raise LocalProtocolError("SCRAM expects ScramCredentials or None after its lookup")
        if verdict is None:
            # Unknown user: carry on with keys nobody can match, so the answer comes only
            # after the proof, like for a wrong password (RFC 5802 5.1, "i" attribute note).
            if self._fake_salt_key is not None:
                name = self._authcid.encode("utf-8")
                salt = hmac.digest(self._fake_salt_key, name, "sha256")[:FAKE_SALT_SIZE]
            else:
                salt = secrets.token_bytes(FAKE_SALT_SIZE)
            verdict = ScramCredentials(salt, self._fake_iterations, secrets.token_bytes(32), b"")
        self._credentials = verdict
        salt_b64 = base64.b64encode(verdict.salt).decode("ascii")
        self._server_first = f"r={self._nonce},s={salt_b64},i={verdict.iterations}"
        self._stage = "client-final"
        return Challenge(self._server_first.encode("ascii"))

    def _client_final(self, data: bytes) -> Step:
        try:
            message = data.decode("ascii")
        except UnicodeDecodeError:
            return self._fail("client-final-message is not ASCII")
        without_proof, sep, proof_attr = message.rpartition(",")
        attrs = _attributes(without_proof)
        if not sep or not proof_attr.startswith("p=") or len(attrs) < 2:
            return self._fail("client-final-message has no proof")
        if attrs[0][0] != "c" or attrs[1][0] != "r":
            return self._fail("client-final-message is not c=...,r=...,p=...")
        try:
            binding = base64.b64decode(attrs[0][1], validate=True)
            proof = base64.b64decode(proof_attr[2:], validate=True)
        except (binascii.Error, ValueError):
            return self._fail("bad base64 in client-final-message")
        if binding != self._gs2_header.encode("utf-8"):
            return self._fail("channel binding does not match the gs2 header")
        if attrs[1][1] != self._nonce:
            return self._fail("nonce mismatch")
        credentials = self._credentials
        assert credentials is not None
        auth_message = ",".join((self._client_first_bare, self._server_first, without_proof))
        signature = hmac.digest(credentials.stored_key, auth_message.encode("utf-8"), "sha256")
        if len(proof) != len(signature):
            return self._fail("proof has the wrong length")
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        stored = hashlib.sha256(client_key).digest()
        if not credentials.server_key or not hmac.compare_digest(stored, credentials.stored_key):
            return self._fail("wrong password or unknown user")
        verifier = hmac.digest(credentials.server_key, auth_message.encode("utf-8"), "sha256")
        self._stage = "done"
        final = b"v=" + base64.b64encode(verifier)
        return Success(self._authzid, self._authcid, final)
