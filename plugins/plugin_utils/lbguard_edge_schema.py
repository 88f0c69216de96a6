"""The constants of ``lb_frontends`` and ``lb_stats``: TLS versions, ALPN, name and path
patterns. (The escape hatch's allowlist is lbguard_directives.) Their keys are declared in lbguard_edge_spec."""

from __future__ import annotations

import re
from typing import Any


STATS_USER_RE = re.compile(r"[A-Za-z0-9._-]{1,32}")
STATS_PASSWORD_MIN = 12

TLS_VERSIONS: tuple[str, ...] = ("TLSv1.2", "TLSv1.3")
ALPN_PROTOCOLS: tuple[str, ...] = ("h2", "http/1.1")
#: Two years, the longest max-age browsers' preload lists ask for.
HSTS_MAX_AGE = 63_072_000
NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,62}")
CERTIFICATE_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
HOST_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
#: Certificates, as OpenSSL's security level 2 (Debian's default) loads them: the smallest keys, in bits,
MIN_KEY_BITS: dict[str, int] = {"RSA": 2048, "EC": 224}
#: and the signature hashes it refuses (under 112 bits of security).
WEAK_SIGNATURE_HASHES: frozenset[str] = frozenset({"md5", "sha1"})
#: A DNS name as a certificate may hold it: labels of letters, digits and '-', a leading '*.' allowed.
DNS_NAME_RE = re.compile(r"(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
DNS_NAME_MAX = 253
#: Route path prefixes: the characters both engines match literally, no escaping needed.
ROUTE_PATH_RE = re.compile(r"/[A-Za-z0-9._~%/-]*")
#: The probe's stand-in for a wildcard host: ``*.shop.example.com`` -> ``lbguard-probe.shop.example.com``.
WILDCARD_PROBE_LABEL = "lbguard-probe"
