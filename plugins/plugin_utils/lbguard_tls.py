"""Certificates of TLS frontends, checked on the controller before any host is touched.

The checks are those the engines and browsers apply, so a pair that passes here
loads on the host (docs/model.md, "TLS certificates"):

- PEM structure: the certificate field holds CERTIFICATE blocks only (the leaf,
  then its chain), the key field one private key; a key pasted into the
  certificate field is refused without quoting it.
- OpenSSL's default security level on Debian (2): RSA and DSA keys of at least
  2048 bits, elliptic curves of at least 224 bits, no MD5 or SHA-1 signature
  (a self-signed certificate's own signature is not checked, as in OpenSSL).
- Names: every DNS subjectAltName and the subject's common name is a DNS name
  (letters, digits, ``-``, dots, a leading ``*.``): they are written into the
  engines' configs (nginx ``server_name``, comments), so a crafted certificate
  cannot add a directive.

Controller-side only: it needs the ``cryptography`` package, which ansible-core
itself depends on. Nothing here returns or prints key material: problems
describe what is wrong, never the value.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtensionOID, NameOID

from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_edge_schema import (
    DNS_NAME_MAX,
    DNS_NAME_RE,
    MIN_KEY_BITS,
    WEAK_SIGNATURE_HASHES,
)

_PEM_BLOCK_RE = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.DOTALL)
_KEY_BLOCKS = ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "DSA PRIVATE KEY", "ENCRYPTED PRIVATE KEY")


@dataclass(frozen=True)
class CertificateInfo:
    """What the model keeps of a certificate: public facts only."""

    fingerprint: str  # sha256 of the leaf certificate's DER, hex
    names: tuple[str, ...]  # DNS subjectAltNames, lower case, as written (wildcards kept)
    not_before: datetime
    not_after: datetime
    self_signed: bool = False  # the leaf's issuer is its own subject


def _public_der(key: object) -> bytes:
    return key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _blocks(text: str) -> tuple[list[str], bool]:
    """The PEM block types in ``text``, in order, and whether anything but blank space lies outside them."""
    kinds = [match.group(1) for match in _PEM_BLOCK_RE.finditer(text)]
    return kinds, bool(_PEM_BLOCK_RE.sub("", text).strip())


def pem_problems(certificate_pem: str, key_pem: str) -> list[str]:
    """What is in the wrong field: the certificate field holds CERTIFICATE blocks only, the key field one key.

    Never quotes either field: a misplaced private key is a secret.
    """
    problems = []
    kinds, outside = _blocks(certificate_pem)
    if any(kind in _KEY_BLOCKS for kind in kinds):
        problems.append("the certificate field holds a private key (not shown): move it to key or key_file, kept in "
                        "Ansible Vault, and keep only the certificate and its chain here")
    elif any(kind != "CERTIFICATE" for kind in kinds):
        others = ", ".join(sorted({kind[:40] for kind in kinds if kind != "CERTIFICATE"}))
        problems.append(f"the certificate field holds a {others} block: only CERTIFICATE blocks belong there (the "
                        "certificate, then its chain)")
    if kinds and outside:
        problems.append("the certificate field has text outside its PEM blocks: keep only the BEGIN/END blocks")
    kinds, outside = _blocks(key_pem)
    if "CERTIFICATE" in kinds:
        problems.append("the key field holds a certificate: put the certificate and its chain in certificate (or "
                        "certificate_file) and only the private key here")
    elif len(kinds) > 1:
        problems.append(f"the key field holds {len(kinds)} PEM blocks: it takes exactly one private key")
    if kinds and outside:
        problems.append("the key field has text outside its PEM block (not shown): keep only the private key's "
                        "BEGIN/END block")
    return problems


def _key_problem(key: object, what: str) -> str | None:
    """A key OpenSSL's default security level refuses (too few bits for its kind), or one browsers do not use."""
    if isinstance(key, rsa.RSAPublicKey):
        kind, bits = "RSA", key.key_size
    elif isinstance(key, ec.EllipticCurvePublicKey):
        kind, bits = "EC", key.curve.key_size
    elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        return None
    else:
        return f"{what} has a {type(key).__name__} key: browsers accept RSA and ECDSA keys; reissue it with one"
    if bits >= MIN_KEY_BITS[kind]:
        return None
    return (f"{what} has a {bits}-bit {kind} key: OpenSSL's default security level refuses {kind} keys under "
            f"{MIN_KEY_BITS[kind]} bits, so the engine would not load it; reissue it with RSA 2048 or ECDSA P-256")


def _signature_problem(certificate: x509.Certificate, what: str) -> str | None:
    """A signature hash OpenSSL's default security level refuses (a self-signed one is never checked)."""
    if certificate.issuer == certificate.subject:
        return None
    try:
        algorithm = certificate.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return f"{what} is signed with an algorithm OpenSSL does not know: reissue it with SHA-256"
    if algorithm is None or algorithm.name not in WEAK_SIGNATURE_HASHES:
        return None
    return (f"{what} is signed with {algorithm.name.upper().replace('SHA', 'SHA-')}: OpenSSL's default security "
            "level refuses it, so the engine would not load the chain; reissue it with SHA-256")


def dns_name_problem(name: str, field: str) -> str | None:
    """A certificate name that is not a DNS name: it is written into the engines' configs, so it must be one."""
    if len(name) <= DNS_NAME_MAX and DNS_NAME_RE.fullmatch(name.lower()):
        return None
    return (f"the certificate's {field} {ascii(name[:80])} is not a DNS name (labels of letters, digits and '-', a "
            "leading '*.' allowed, at most 253 characters): the engines' configs list these names, so the "
            "certificate is refused; reissue it")


def _chain_problems(chain: list[x509.Certificate]) -> list[str]:
    problems = []
    for index, certificate in enumerate(chain):
        what = "the certificate" if index == 0 else f"chain certificate {index + 1}"
        problems += [p for p in (_key_problem(certificate.public_key(), what),
                                 _signature_problem(certificate, what)) if p]
    return problems


def inspect_pair(
    certificate_pem: str, key_pem: str, now: datetime | None = None
) -> tuple[CertificateInfo | None, list[str]]:
    """Check a certificate (leaf first, then its chain) and its private key.

    Returns ``(info, [])`` when the pair can be served, else ``(info or None, problems)``.
    Problems: blocks in the wrong field, not PEM, key encrypted or unreadable, key not matching,
    keys and signatures OpenSSL refuses, a name that is not a DNS name, not valid yet, expired,
    no DNS name in subjectAltName.
    """
    now = now or datetime.now(timezone.utc)
    problems = pem_problems(certificate_pem, key_pem)
    if problems:
        return None, problems
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
    problems += _chain_problems(chain)
    try:
        san = leaf.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
        written = san.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        written = []
    common_names = [str(a.value) for a in leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    problems += [p for p in ([dns_name_problem(n, "subjectAltName") for n in written]
                             + [dns_name_problem(n, "common name") for n in common_names]) if p]
    names = tuple(name.lower() for name in written)
    if not names:
        problems.append("the certificate has no DNS name in subjectAltName: clients ignore the common name")
    info = CertificateInfo(
        fingerprint=hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER)).hexdigest(),
        names=names,
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        self_signed=leaf.issuer == leaf.subject,
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
