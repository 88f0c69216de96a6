"""Test certificates made in the test: the lab's test CA (scripts/lab_certs.py), for unit tests."""

from __future__ import annotations

import sys

from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "scripts"))

from lab_certs import CertificateAuthority, cert_pem, key_pem  # noqa: E402  (needs the path above)

__all__ = ["CertificateAuthority", "cert_pem", "key_pem"]
