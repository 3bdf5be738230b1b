"""The self-signed certificate: made once with the right names, reused, private key 0600."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from mailkeep.certs.selfsigned import ensure_self_signed

NOW = datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC)


def test_made_with_hostname_localhost_and_loopback_names(tmp_path: Path) -> None:
    made = ensure_self_signed(tmp_path / "tls", "mail.example.test", NOW)
    assert made.created
    cert = x509.load_pem_x509_certificate(made.cert.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["mail.example.test", "localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    assert made.key.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "tls").stat().st_mode & 0o777 == 0o700
    assert sorted(p.name for p in (tmp_path / "tls").iterdir()) == [
        "selfsigned.crt",
        "selfsigned.key",
    ]


def test_reused_while_it_fits(tmp_path: Path) -> None:
    first = ensure_self_signed(tmp_path, "mail.example.test", NOW)
    serial = first.cert.read_bytes()
    again = ensure_self_signed(tmp_path, "mail.example.test", NOW + datetime.timedelta(days=30))
    assert not again.created
    assert again.cert.read_bytes() == serial


def test_made_again_for_another_hostname_or_when_expired_or_broken(tmp_path: Path) -> None:
    first = ensure_self_signed(tmp_path, "mail.example.test", NOW).cert.read_bytes()
    renamed = ensure_self_signed(tmp_path, "mx.example.test", NOW)
    assert renamed.created and renamed.cert.read_bytes() != first
    later = NOW + datetime.timedelta(days=4000)
    assert ensure_self_signed(tmp_path, "mx.example.test", later).created
    renamed.key.write_text("garbage")
    assert ensure_self_signed(tmp_path, "mx.example.test", later).created
