"""Reading a certificate and key: every problem is one line naming the file and the fix."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mailkeep.certs.pair import check_pair
from mailkeep.certs.selfsigned import make_certificate
from mailkeep.errors import UserError

NOW = datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC)


def _write(tmp_path: Path, when: datetime.datetime = NOW) -> tuple[Path, Path]:
    cert_pem, key_pem = make_certificate("mail.example.test", when)
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_bytes(cert_pem)
    key.write_bytes(key_pem)
    return cert, key


def _one_line_error(cert: Path, key: Path) -> str:
    with pytest.raises(UserError) as info:
        check_pair(cert, key, NOW)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_good_pair_is_described(tmp_path: Path) -> None:
    info = check_pair(*_write(tmp_path), NOW)
    assert info.subject == "CN=mail.example.test"
    assert info.dns_names == ("mail.example.test", "localhost")
    assert info.warnings == ()


def test_missing_files(tmp_path: Path) -> None:
    cert, key = _write(tmp_path)
    assert "does not exist" in _one_line_error(tmp_path / "nope.pem", key)
    assert "tls.key" in _one_line_error(cert, tmp_path / "nope.pem")


def test_unreadable_file(tmp_path: Path) -> None:
    cert, _ = _write(tmp_path)
    assert "cannot be read" in _one_line_error(cert, tmp_path)  # a directory


def test_pem_garbage(tmp_path: Path) -> None:
    cert, key = _write(tmp_path)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n")
    assert "no PEM certificate" in _one_line_error(garbage, key)
    assert "no PEM private key" in _one_line_error(cert, garbage)
    empty = tmp_path / "empty.pem"
    empty.write_bytes(b"")
    assert "no PEM certificate" in _one_line_error(empty, key)


def test_key_of_another_certificate(tmp_path: Path) -> None:
    cert, _ = _write(tmp_path)
    other = tmp_path / "other.pem"
    other.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    assert "does not belong" in _one_line_error(cert, other)


def test_encrypted_key(tmp_path: Path) -> None:
    cert, key = _write(tmp_path)
    private = serialization.load_pem_private_key(key.read_bytes(), None)
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    assert "encrypted" in _one_line_error(cert, key)


def test_expired_and_future_certificates_only_warn(tmp_path: Path) -> None:
    expired = check_pair(*_write(tmp_path, NOW - datetime.timedelta(days=4000)), NOW)
    assert len(expired.warnings) == 1 and "expired on" in expired.warnings[0]
    future = check_pair(*_write(tmp_path, NOW + datetime.timedelta(days=2)), NOW)
    assert len(future.warnings) == 1 and "not valid before" in future.warnings[0]
