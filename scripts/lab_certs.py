#!/usr/bin/env python
"""Make the lab's TLS material: a test CA and the certificates of the lab's edge frontend.

Usage: lab_certs.py FOLDER. Writes ca.crt, and NAME.crt + NAME.key for every
certificate in LAB_CERTIFICATES, keys readable by the owner only. Idempotent: a
certificate is made again only when it is missing, was not issued by the CA in
FOLDER, lacks a name, or expires within RENEW_DAYS. Prints one line per file it
wrote ("created ..."), nothing when all is in place. Never for production use.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID, NameOID

#: Certificate name -> DNS names, as inventories/lab/group_vars/loadbalancers.yml uses them.
LAB_CERTIFICATES: dict[str, tuple[str, ...]] = {
    "edge-shop": ("shop.lab.test", "www.shop.lab.test"),
    "edge-api": ("api.lab.test",),
}
VALID_DAYS = 90
RENEW_DAYS = 30


def key_pem(key: ec.EllipticCurvePrivateKey, password: bytes | None = None) -> str:
    """PEM (PKCS#8) of a private key, encrypted with ``password`` when given."""
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption).decode()


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


class CertificateAuthority:
    """A test certificate authority that issues leaf certificates for DNS names."""

    def __init__(self, key: ec.EllipticCurvePrivateKey | None = None, cert: x509.Certificate | None = None) -> None:
        now = datetime.now(timezone.utc)
        self.key = key or ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lbguard lab CA")])
        self.cert = cert or (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    @property
    def pem(self) -> str:
        return cert_pem(self.cert)

    def issue(self, *names: str, days: int = VALID_DAYS, start_days: int = -1) -> tuple[str, str]:
        """(certificate PEM, key PEM) for ``names``, valid from now + ``start_days`` for ``days`` days."""
        now = datetime.now(timezone.utc)
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now + timedelta(days=start_days))
            .not_valid_after(now + timedelta(days=start_days + days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return cert_pem(cert), key_pem(key)


def _write(path: Path, text: str, mode: int) -> None:
    path.write_text(text)
    path.chmod(mode)
    print(f"created {path.name}")


def _current(path: Path, ca: CertificateAuthority, names: tuple[str, ...]) -> bool:
    if not path.exists() or not path.with_suffix(".key").exists():
        return False
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    san = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    fresh = cert.not_valid_after_utc - datetime.now(timezone.utc) > timedelta(days=RENEW_DAYS)
    return cert.issuer == ca.cert.subject and set(san.get_values_for_type(x509.DNSName)) == set(names) and fresh


def main(folder: Path) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    ca_cert, ca_key = folder / "ca.crt", folder / "ca.key"
    if ca_cert.exists() and ca_key.exists():
        key = serialization.load_pem_private_key(ca_key.read_bytes(), password=None)
        ca = CertificateAuthority(key, x509.load_pem_x509_certificate(ca_cert.read_bytes()))  # type: ignore[arg-type]
    else:
        ca = CertificateAuthority()
        _write(ca_key, key_pem(ca.key), 0o600)
        _write(ca_cert, ca.pem, 0o644)
    for name, names in LAB_CERTIFICATES.items():
        if not _current(folder / f"{name}.crt", ca, names):
            certificate, key_text = ca.issue(*names)
            _write(folder / f"{name}.key", key_text, 0o600)
            _write(folder / f"{name}.crt", certificate, 0o644)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__.split("\n\n")[1])
    sys.exit(main(Path(sys.argv[1])))
