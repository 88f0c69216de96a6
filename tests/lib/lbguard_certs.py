"""Test certificates made in the test: the lab's test CA (scripts/lab_certs.py), and certificates
crafted the way a careless or hostile issuer would make them, for the TLS checks' tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import NameOID
from lab_certs import CertificateAuthority, cert_pem, key_pem

__all__ = ["CertificateAuthority", "cert_pem", "crafted", "key_pem", "rsa_key", "signed_with_weak_hash"]

#: DER of the algorithm identifier sha256WithRSAEncryption; the weak ones differ in the last byte only.
SHA256_WITH_RSA = bytes.fromhex("06092a864886f70d01010b")
WEAK_RSA_OID_BYTE = {"sha1": 0x05, "md5": 0x04}


def rsa_key(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def crafted(
    ca: CertificateAuthority,
    *names: str,
    key: Any = None,
    common_name: str | None = None,
    self_signed: bool = False,
    days: int = 90,
) -> tuple[str, str]:
    """(certificate PEM, key PEM) for ``names``, issued by ``ca`` unless ``self_signed``, with any key."""
    now = datetime.now(timezone.utc)
    key = key or ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name or names[0])])
    builder = (
        x509.CertificateBuilder().subject_name(subject)
        .issuer_name(subject if self_signed else ca.cert.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=days))
        # Unvalidated: a crafted certificate's names (control characters, look-alikes) are what is under test.
        .add_extension(x509.SubjectAlternativeName([x509.DNSName._init_without_validation(n) for n in names]),
                       critical=False)
    )
    signer = key if self_signed else ca.key
    algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return cert_pem(builder.sign(signer, algorithm)), key_pem(key)


def signed_with_weak_hash(rsa_ca: CertificateAuthority, hash_name: str) -> tuple[str, str]:
    """A leaf that ``rsa_ca`` (an RSA CA) signed with SHA-1 or MD5, which ``cryptography`` no longer signs with.

    Issued with SHA-256, then both algorithm identifiers are switched to the weak one (same length) and
    the to-be-signed part is signed again, so every DER length stays as it was.
    """
    certificate, key = rsa_ca.issue("shop.example.com")
    der = x509.load_pem_x509_certificate(certificate.encode()).public_bytes(serialization.Encoding.DER)
    if der.count(SHA256_WITH_RSA) != 2:
        raise ValueError("signed_with_weak_hash needs a CA with an RSA key")
    der = der.replace(SHA256_WITH_RSA, SHA256_WITH_RSA[:-1] + bytes([WEAK_RSA_OID_BYTE[hash_name]]))
    tbs = x509.load_der_x509_certificate(der).tbs_certificate_bytes
    algorithm = hashes.SHA1() if hash_name == "sha1" else hashes.MD5()
    signature = rsa_ca.key.sign(tbs, padding.PKCS1v15(), algorithm)  # type: ignore[call-arg,arg-type]
    return cert_pem(x509.load_der_x509_certificate(der[: -len(signature)] + signature)), key
