"""DKIM signing keys on disk and the DNS records that publish them.

RFC 6376 3.6.1 (key record tags), RFC 8463 4.2 (Ed25519 key records: the raw 32-byte
public key), RFC 8301 3.2 (RSA keys of at least 2048 bits for signers).

Layout under ``data_dir/dkim/<domain>/`` (domain as lower-case A-labels):
``<selector>.key`` (PKCS#8 PEM private key, mode 0600), ``<selector>.pub`` (PEM public
key, 0644) and ``active`` (the selectors that sign, one a line). ``generate`` never
overwrites: an existing selector is reported as unchanged. The first keys of a domain
become active at once; later ones only with ``activate`` (rotation: publish the new
selectors' records, wait for their TTL, activate, and remove the old records later).
"""

from __future__ import annotations

import base64
import datetime
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from mailkeep.durable import write_new_file
from mailkeep.mail.hostname import to_alabel
from mailkeep.mailauth.dkim import KeyAlgorithm, SigningKey

RSA_BITS = 2048  # RFC 8301 3.2: signers MUST use at least 1024 and SHOULD use 2048
_SELECTOR = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*\Z")


@dataclass(frozen=True, slots=True)
class DKIMKey:
    """One selector's key pair on disk."""

    domain: str
    selector: str
    algorithm: KeyAlgorithm
    key_path: Path
    public_key: bytes  # RSA: DER SubjectPublicKeyInfo; Ed25519: the raw 32 octets

    @property
    def record_name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"

    def txt_record(self) -> str:
        """The TXT record's text (RFC 6376 3.6.1)."""
        p = base64.b64encode(self.public_key).decode("ascii")
        return f"v=DKIM1; k={self.algorithm.value}; p={p}"

    def signing_key(self) -> SigningKey:
        """The private key in the form dkimpy signs with."""
        private = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        if isinstance(private, ed25519.Ed25519PrivateKey):
            seed = private.private_bytes(
                serialization.Encoding.Raw,
                serialization.PrivateFormat.Raw,
                serialization.NoEncryption(),
            )
            data = base64.b64encode(seed)
        elif isinstance(private, rsa.RSAPrivateKey):
            data = private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,  # PKCS#1, what dkimpy reads
                serialization.NoEncryption(),
            )
        else:
            raise ValueError(f"{self.key_path}: not an Ed25519 or RSA key")
        return SigningKey(self.domain, self.selector, self.algorithm, data)


@dataclass(frozen=True, slots=True)
class Generated:
    key: DKIMKey
    created: bool  # False: the selector existed and nothing was changed


def default_selector(today: datetime.date | None = None) -> str:
    """A dated base name, so that a later rotation gets new selectors: mk202611."""
    today = today or datetime.datetime.now(datetime.UTC).date()
    return f"mk{today:%Y%m}"


def check_selector(selector: str) -> str:
    """A selector is a sub-domain (RFC 6376 3.1); lower-cased. Raises ValueError."""
    value = selector.strip().lower()
    if not _SELECTOR.match(value):
        raise ValueError(f"{selector!r} is not a valid selector (letters, digits, '-', '.')")
    return value


class KeyStore:
    """DKIM keys under ``data_dir/dkim``."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "dkim"

    def _dir(self, domain: str) -> Path:
        return self.root / to_alabel(domain)

    def generate(
        self,
        domain: str,
        selector: str | None = None,
        algorithms: Sequence[KeyAlgorithm] = (KeyAlgorithm.ED25519, KeyAlgorithm.RSA),
    ) -> list[Generated]:
        """Make a key per algorithm, selectors ``<selector>-ed25519`` and ``<selector>-rsa``."""
        domain = to_alabel(domain)
        base = check_selector(selector or default_selector())
        directory = self._dir(domain)
        directory.mkdir(parents=True, exist_ok=True, mode=0o755)
        out = []
        for algorithm in algorithms:
            name = f"{base}-{algorithm.value}"
            existing = self._load(domain, name)
            if existing is not None:
                out.append(Generated(existing, created=False))
                continue
            _finish_or_write_pair(directory, name, algorithm)
            key = self._load(domain, name)
            assert key is not None
            out.append(Generated(key, created=True))
        if not self.active_selectors(domain):
            self.activate(domain, [g.key.selector for g in out])
        return out

    def keys(self, domain: str | None = None) -> list[DKIMKey]:
        """Every key, of one domain or of all, sorted by domain and selector."""
        if domain is not None:
            domains = [to_alabel(domain)]
        elif self.root.is_dir():
            domains = sorted(p.name for p in self.root.iterdir() if p.is_dir())
        else:
            domains = []
        out = []
        for name in domains:
            directory = self.root / name
            if not directory.is_dir():
                continue
            for path in sorted(directory.glob("*.key")):
                key = self._load(name, path.stem)
                if key is not None:
                    out.append(key)
        return out

    def active_selectors(self, domain: str) -> list[str]:
        path = self._dir(domain) / "active"
        if not path.exists():
            return []
        return [line.strip() for line in path.read_text().splitlines() if line.strip()]

    def activate(self, domain: str, selectors: Iterable[str]) -> None:
        """Sign with exactly these selectors from now on (each must have a key)."""
        domain = to_alabel(domain)
        names = [check_selector(s) for s in selectors]
        for name in names:
            if self._load(domain, name) is None:
                raise ValueError(f"no key for selector {name!r} of {domain}")
        path = self._dir(domain) / "active"
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(f"{n}\n" for n in names))
        os.replace(tmp, path)

    def signing_keys(self, domain: str) -> list[SigningKey]:
        """The active keys of ``domain`` ready to sign with; [] when it has none."""
        try:
            domain = to_alabel(domain)
        except ValueError:
            return []
        out = []
        for name in self.active_selectors(domain):
            key = self._load(domain, name)
            if key is not None:
                out.append(key.signing_key())
        return out

    def _load(self, domain: str, selector: str) -> DKIMKey | None:
        key_path = self.root / domain / f"{selector}.key"
        pub_path = key_path.with_suffix(".pub")
        if not key_path.exists() or not pub_path.exists():
            return None
        public = serialization.load_pem_public_key(pub_path.read_bytes())
        if isinstance(public, ed25519.Ed25519PublicKey):
            raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            return DKIMKey(domain, selector, KeyAlgorithm.ED25519, key_path, raw)
        if isinstance(public, rsa.RSAPublicKey):
            der = public.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            return DKIMKey(domain, selector, KeyAlgorithm.RSA, key_path, der)
        return None


def _finish_or_write_pair(directory: Path, selector: str, algorithm: KeyAlgorithm) -> None:
    """Write a new pair; after a crash between the two files, finish the pair instead."""
    key_path, pub_path = directory / f"{selector}.key", directory / f"{selector}.pub"
    if pub_path.exists():  # a public key without its private key is useless
        pub_path.unlink()
    private: ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
    if key_path.exists():
        loaded = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(loaded, ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey):
            raise ValueError(f"{key_path}: not an Ed25519 or RSA key")
        private = loaded
    else:
        if algorithm is KeyAlgorithm.ED25519:
            private = ed25519.Ed25519PrivateKey.generate()
        else:
            private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write_new(key_path, pem, 0o600)
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write_new(pub_path, public, 0o644)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode`` from the start (no window with wider permissions)."""
    write_new_file(path, data, mode)
    os.chmod(path, mode)  # the umask may have narrowed it
