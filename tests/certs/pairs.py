"""Writing certificate and key files the way a renewal does, for the tests."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

from cryptography import x509

from mailkeep.certs.selfsigned import make_certificate


def install_pair(cert: Path, key: Path, hostname: str = "mail.example.test") -> int:
    """Write a fresh certificate and key, each renamed over the old file; the new serial."""
    cert_pem, key_pem = make_certificate(hostname, datetime.datetime.now(datetime.UTC))
    for path, data in ((key, key_pem), (cert, cert_pem)):
        tmp = path.with_name(path.name + ".new")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    return x509.load_pem_x509_certificate(cert_pem).serial_number
