"""Certificates of TLS frontends, checked on the controller before any host is touched.

Controller-side only: it needs the ``cryptography`` package, which ansible-core
itself depends on. Nothing here returns or prints key material: problems
describe what is wrong, never the value.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtensionOID


@dataclass(frozen=True)
class CertificateInfo:
    """What the model keeps of a certificate: public facts only."""

    fingerprint: str  # sha256 of the leaf certificate's DER, hex
    names: tuple[str, ...]  # DNS subjectAltNames, lower case, as written (wildcards kept)
    not_before: datetime
    not_after: datetime


def _public_der(key: object) -> bytes:
    return key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def inspect_pair(
    certificate_pem: str, key_pem: str, now: datetime | None = None
) -> tuple[CertificateInfo | None, list[str]]:
    """Check a certificate (leaf first, then its chain) and its private key.

    Returns ``(info, [])`` when the pair can be served, else ``(info or None, problems)``.
    Problems: not PEM, key encrypted or unreadable, key not matching, not valid yet, expired,
    no DNS name in subjectAltName.
    """
    now = now or datetime.now(timezone.utc)
    problems: list[str] = []
    try:
        chain = x509.load_pem_x509_certificates(certificate_pem.encode())
    except ValueError:
        return None, ["the certificate is not a PEM X.509 certificate (-----BEGIN CERTIFICATE-----)"]
    leaf = chain[0]
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except TypeError:
        key = None
        problems.append("the private key is encrypted: the engines read unencrypted keys only; keep it in Ansible "
                        "Vault instead of a passphrase")
    except (ValueError, UnsupportedAlgorithm):
        key = None
        problems.append("the private key is not a PEM private key (-----BEGIN PRIVATE KEY-----)")
    if key is not None and _public_der(key.public_key()) != _public_der(leaf.public_key()):
        problems.append("the private key does not match the certificate (their public keys differ)")
    try:
        san = leaf.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
        names = tuple(name.lower() for name in san.get_values_for_type(x509.DNSName))
    except x509.ExtensionNotFound:
        names = ()
    if not names:
        problems.append("the certificate has no DNS name in subjectAltName: clients ignore the common name")
    info = CertificateInfo(
        fingerprint=hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER)).hexdigest(),
        names=names,
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
    )
    if info.not_after <= now:
        problems.append(f"the certificate expired on {info.not_after:%Y-%m-%d %H:%M} UTC")
    elif info.not_before > now:
        problems.append(f"the certificate is not valid before {info.not_before:%Y-%m-%d %H:%M} UTC")
    return info, problems


def covers(names: tuple[str, ...] | list[str], host: str) -> bool:
    """Whether a certificate with these DNS names is valid for ``host`` (RFC 6125).

    A wildcard name covers one label only; a wildcard host (``*.shop.example.com``,
    every subdomain) is covered only by that same wildcard name.
    """
    host = host.lower()
    if host in names:
        return True
    if host.startswith("*."):
        return False
    _, dot, parent = host.partition(".")
    return bool(dot) and f"*.{parent}" in names
