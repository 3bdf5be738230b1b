"""The certificate manager: load, reload on change, keep the old one when the new is broken."""

from __future__ import annotations

import datetime
import logging
import ssl
from pathlib import Path

import pytest
from cryptography import x509

from mailkeep.certs.contexts import TLSProfile
from mailkeep.certs.manager import CertificateFiles, CertificateManager
from mailkeep.certs.selfsigned import make_certificate
from mailkeep.errors import UserError
from tests.certs.pairs import install_pair

NOW = datetime.datetime.now(datetime.UTC)


def _served_serial(front: ssl.SSLContext) -> int:
    """Handshake in memory against ``front``; the serial of the certificate the client got."""
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.check_hostname = False
    client.verify_mode = ssl.CERT_NONE
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    c = client.wrap_bio(c_in, c_out, server_side=False, server_hostname="mail.example.test")
    s = front.wrap_bio(s_in, s_out, server_side=True)
    for _ in range(6):
        for side, out, peer_in in ((c, c_out, s_in), (s, s_out, c_in)):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
            peer_in.write(out.read())
    der = c.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


@pytest.fixture
def files(tmp_path: Path) -> CertificateFiles:
    return CertificateFiles(tmp_path / "cert.pem", tmp_path / "key.pem")


def test_load_gives_one_context_per_profile(files: CertificateFiles) -> None:
    serial = install_pair(files.cert, files.key)
    manager = CertificateManager(files)
    assert manager.load().serial == serial
    client, mx = manager.context(TLSProfile.CLIENT), manager.context(TLSProfile.MX)
    assert client is not mx
    assert client.minimum_version is ssl.TLSVersion.TLSv1_2
    assert _served_serial(client) == serial


def test_load_problems_are_user_errors(files: CertificateFiles) -> None:
    with pytest.raises(UserError, match="does not exist"):
        CertificateManager(files).load()


def test_reload_swaps_in_new_contexts_and_old_fronts_follow(files: CertificateFiles) -> None:
    install_pair(files.cert, files.key)
    manager = CertificateManager(files)
    manager.load()
    front = manager.context(TLSProfile.CLIENT)  # what an implicit-TLS socket keeps
    assert not manager.changed()
    new_serial = install_pair(files.cert, files.key)
    assert manager.changed()
    assert manager.reload("test")
    assert not manager.changed()
    assert manager.context(TLSProfile.CLIENT) is not front
    assert _served_serial(manager.context(TLSProfile.CLIENT)) == new_serial
    # The SNI callback moves a handshake on the stale front context to the current one.
    assert _served_serial(front) == new_serial


def test_a_broken_new_file_keeps_the_old_certificate(
    files: CertificateFiles, caplog: pytest.LogCaptureFixture
) -> None:
    serial = install_pair(files.cert, files.key)
    manager = CertificateManager(files)
    manager.load()
    files.cert.write_text("half written")
    with caplog.at_level(logging.ERROR):
        assert not manager.reload("files changed")
    assert "keeping the old one" in caplog.text
    assert manager.info is not None and manager.info.serial == serial
    assert _served_serial(manager.context(TLSProfile.MX)) == serial
    assert not manager.changed()  # not retried on every poll until the files change again
    files.key.write_bytes(make_certificate("x.example.test", NOW)[1])  # mismatched key
    assert not manager.reload("SIGHUP")
    new_serial = install_pair(files.cert, files.key)
    assert manager.reload("SIGHUP")
    assert _served_serial(manager.context(TLSProfile.MX)) == new_serial


def test_expired_certificate_is_loaded_with_a_warning(
    files: CertificateFiles, caplog: pytest.LogCaptureFixture
) -> None:
    cert_pem, key_pem = make_certificate("mail.example.test", NOW - datetime.timedelta(days=4000))
    files.cert.write_bytes(cert_pem)
    files.key.write_bytes(key_pem)
    with caplog.at_level(logging.WARNING):
        info = CertificateManager(files).load()
    assert info.warnings and "expired" in caplog.text
