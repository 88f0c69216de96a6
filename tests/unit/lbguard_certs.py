"""Test certificates made in the test: a CA and leaf certificates signed by it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

NOW = datetime.now(timezone.utc)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey, password: bytes | None = None) -> str:
    encryption = (serialization.BestAvailableEncryption(password) if password
                  else serialization.NoEncryption())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption).decode()


def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


class CertificateAuthority:
    """A certificate authority that issues leaf certificates for DNS names."""

    def __init__(self) -> None:
        self.key = _key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lbguard test CA")])
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=3650))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))

    @property
    def pem(self) -> str:
        return cert_pem(self.cert)

    def issue(self, *names: str, days: int = 90, start_days: int = -1) -> tuple[str, str]:
        """(certificate PEM, key PEM) for ``names``, valid from now + start_days for ``days`` days."""
        key = _key()
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
                .issuer_name(self.cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(NOW + timedelta(days=start_days))
                .not_valid_after(NOW + timedelta(days=start_days + days))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
                .sign(self.key, hashes.SHA256()))
        return cert_pem(cert), key_pem(key)
