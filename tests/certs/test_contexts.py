"""The context builder: protocol versions, options and suites of each profile."""

from __future__ import annotations

import datetime
import ssl
import warnings
from pathlib import Path

import pytest

from mailkeep.certs.contexts import STRONG_TLS12_CIPHERS, TLSProfile, build_context
from mailkeep.certs.selfsigned import ensure_self_signed

NOW = datetime.datetime.now(datetime.UTC)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    made = ensure_self_signed(tmp_path_factory.mktemp("tls"), "mail.example.test", NOW)
    return made.cert, made.key


def _tls12_names(context: ssl.SSLContext) -> list[str]:
    return [c["name"] for c in context.get_ciphers() if c["protocol"] != "TLSv1.3"]


def test_client_profile_is_tls12_and_up_with_aead_ecdhe(pair: tuple[Path, Path]) -> None:
    context = build_context(TLSProfile.CLIENT, *pair)
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    assert _tls12_names(context) == STRONG_TLS12_CIPHERS.split(":")
    for name in _tls12_names(context):
        assert name.startswith("ECDHE-") and ("GCM" in name or "CHACHA20" in name)


@pytest.mark.parametrize("profile", list(TLSProfile))
def test_both_profiles_choose_suites_and_refuse_compression_and_renegotiation(
    pair: tuple[Path, Path], profile: TLSProfile
) -> None:
    context = build_context(profile, *pair)
    for option in (
        ssl.OP_NO_COMPRESSION,
        ssl.OP_NO_RENEGOTIATION,
        ssl.OP_CIPHER_SERVER_PREFERENCE,
    ):
        assert context.options & option
    assert not context.options & ssl.OP_NO_TICKET  # TLS 1.3 session tickets stay on
    assert context.verify_mode is ssl.CERT_NONE


def test_mx_profile_offers_the_strong_suites_first_then_older_ones(
    pair: tuple[Path, Path],
) -> None:
    context = build_context(TLSProfile.MX, *pair)
    names = _tls12_names(context)
    strong = STRONG_TLS12_CIPHERS.split(":")
    assert names[: len(strong)] == strong
    assert "ECDHE-ECDSA-AES128-SHA" in names  # what TLS 1.0 peers with an EC key need
    for weak in ("RC4", "DES-CBC3", "NULL", "ADH", "AECDH", "EXP"):
        assert not any(weak in name for name in names), weak
    # OpenSSL 3 allows TLS 1.0/1.1 only at security level 0.
    assert context.security_level == 0
    assert context.minimum_version.value == 0x0301  # TLS 1.0


def _handshake(
    server: ssl.SSLContext, version: ssl.TLSVersion, ciphers: str | None = None
) -> tuple[str | None, str | None]:
    """Handshake in memory with a client pinned to ``version``; (version, suite)."""
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    client.set_ciphers(ciphers or "DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # naming TLS 1.0/1.1 on purpose
        client.minimum_version = client.maximum_version = version
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    c = client.wrap_bio(c_in, c_out, server_side=False)
    s = server.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(10):
        for side, out, peer_in in ((c, c_out, s_in), (s, s_out, c_in)):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
            peer_in.write(out.read())
    cipher = s.cipher()
    return s.version(), cipher[0] if cipher else None


def test_client_profile_refuses_tls11_in_memory(pair: tuple[Path, Path]) -> None:
    context = build_context(TLSProfile.CLIENT, *pair)
    with pytest.raises(ssl.SSLError):
        _handshake(context, ssl.TLSVersion.TLSv1_1)
    assert _handshake(context, ssl.TLSVersion.TLSv1_2)[0] == "TLSv1.2"
    assert _handshake(context, ssl.TLSVersion.TLSv1_3)[0] == "TLSv1.3"


def test_mx_profile_accepts_tls10_and_prefers_the_strong_suites(pair: tuple[Path, Path]) -> None:
    context = build_context(TLSProfile.MX, *pair)
    version, suite = _handshake(context, ssl.TLSVersion.TLSv1)
    assert version == "TLSv1"
    assert suite in ("ECDHE-ECDSA-AES256-SHA", "ECDHE-ECDSA-AES128-SHA")
    # A client listing weak suites first still gets the server's first choice.
    client_order = (
        "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256"
    )
    assert _handshake(context, ssl.TLSVersion.TLSv1_2, client_order) == (
        "TLSv1.2",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
    )
