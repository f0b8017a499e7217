"""A local certificate authority for the dev stack and the tests (ADR 0176).

``bijmantra up`` keeps one CA under its state folder and issues each service a certificate
named after it (plus ``localhost`` and the loopback addresses, where the dev stack's
services meet). Files are made once and reused; a certificate close to expiry, or no longer
signed by the CA on disk, is issued again. Built on ``cryptography`` (the library every
Python TLS stack already depends on), not on an ``openssl`` binary the machine may lack.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_LIFETIME = dt.timedelta(days=3650)
LEAF_LIFETIME = dt.timedelta(days=397)
RENEW_BEFORE = dt.timedelta(days=30)
LOOPBACK_NAMES = ("localhost",)
LOOPBACK_ADDRESSES = ("127.0.0.1", "::1")


@dataclass(frozen=True)
class CertificateFiles:
    """What a service is configured with: ``TLS_CA_FILE``, ``TLS_CERT_FILE``, ``TLS_KEY_FILE``."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def environment(self) -> dict[str, str]:
        return {
            "TLS_CA_FILE": str(self.ca_file),
            "TLS_CERT_FILE": str(self.cert_file),
            "TLS_KEY_FILE": str(self.key_file),
        }


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    """Written whole (a crash leaves the old file or none); keys readable by the owner only."""
    partial = path.with_suffix(path.suffix + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    partial.replace(path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class LocalCertificateAuthority:
    """A CA kept in ``directory`` (``ca.pem``, ``ca-key.pem``) and the leaves it signed."""

    def __init__(self, directory: Path, name: str = "Bijmantra local CA") -> None:
        self.directory = directory
        self._name = name
        self.ca_file = directory / "ca.pem"
        self._ca_key_file = directory / "ca-key.pem"

    def _load_or_create(self) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        if self.ca_file.exists() and self._ca_key_file.exists():
            cert = x509.load_pem_x509_certificate(self.ca_file.read_bytes())
            key = serialization.load_pem_private_key(self._ca_key_file.read_bytes(), None)
            if isinstance(key, ec.EllipticCurvePrivateKey) and cert.not_valid_after_utc > (
                _now() + RENEW_BEFORE
            ):
                return cert, key
        self.directory.mkdir(parents=True, exist_ok=True)
        key = _new_key()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self._name)])
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + CA_LIFETIME)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .sign(key, hashes.SHA256())
        )
        _write(self._ca_key_file, _key_pem(key), private=True)
        _write(self.ca_file, cert.public_bytes(serialization.Encoding.PEM))
        return cert, key

    def issue(self, service: str, *, extra_names: tuple[str, ...] = ()) -> CertificateFiles:
        """``service``'s certificate and key, reused while valid and signed by this CA."""
        ca_cert, ca_key = self._load_or_create()
        files = CertificateFiles(
            self.ca_file, self.directory / f"{service}.pem", self.directory / f"{service}-key.pem"
        )
        if self._still_good(files, ca_cert):
            return files
        key = _new_key()
        now = _now()
        names: list[x509.GeneralName] = [
            x509.DNSName(n) for n in (service, *extra_names, *LOOPBACK_NAMES)
        ]
        names += [x509.IPAddress(ipaddress.ip_address(a)) for a in LOOPBACK_ADDRESSES]
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, service)]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(min(now + LEAF_LIFETIME, ca_cert.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        _write(files.key_file, _key_pem(key), private=True)
        _write(files.cert_file, cert.public_bytes(serialization.Encoding.PEM))
        return files

    @staticmethod
    def _still_good(files: CertificateFiles, ca_cert: x509.Certificate) -> bool:
        if not (files.cert_file.exists() and files.key_file.exists()):
            return False
        cert = x509.load_pem_x509_certificate(files.cert_file.read_bytes())
        try:
            cert.verify_directly_issued_by(ca_cert)
        except (ValueError, TypeError, InvalidSignature):
            return False
        return cert.not_valid_after_utc > _now() + RENEW_BEFORE
