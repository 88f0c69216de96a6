"""Test certificates made in the test: the lab's test CA (scripts/lab_certs.py), for unit tests."""

from __future__ import annotations

from lab_certs import CertificateAuthority, cert_pem, key_pem

__all__ = ["CertificateAuthority", "cert_pem", "key_pem"]
