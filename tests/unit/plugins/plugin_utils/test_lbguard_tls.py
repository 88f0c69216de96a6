"""TLS material as the engines and browsers see it, checked on the controller (#27 item 4).

Each refused case is one the engines refuse on Debian (OpenSSL security level 2:
tests/integration/test_edge.py loads the same kinds into haproxy -c / nginx -t)
or one that would write a certificate's text into a config. Messages never quote
key material.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from lbguard_certs import CertificateAuthority, cert_pem, crafted, rsa_key, signed_with_weak_hash

from ansible_collections.lbguard.core.plugins.plugin_utils import lbguard_model_build
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_run import concentration_warnings
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_tls import inspect_pair

CA = CertificateAuthority()
SHOP = CA.issue("shop.example.com")
RSA_CA = CertificateAuthority(key=rsa_key(2048))  # type: ignore[arg-type]
NOW = datetime.now(timezone.utc)


def make(*names: str, **options: Any) -> tuple[str, str]:
    return crafted(CA, *names, **options)


def weakly_signed(hash_name: str) -> tuple[str, str]:
    return signed_with_weak_hash(RSA_CA, hash_name)


def ca_with_rsa(bits: int) -> CertificateAuthority:
    return CertificateAuthority(key=rsa_key(bits))  # type: ignore[arg-type]


def only(problems: list[str], fragment: str) -> str:
    hits = [p for p in problems if fragment in p]
    assert len(hits) == 1, f"expected one problem with {fragment!r}, got {problems}"
    return hits[0]


# ------------------------------------------------------------- what OpenSSL level 2 refuses

@pytest.mark.parametrize(
    ("pair", "fragment"),
    [
        (make("shop.example.com", key=rsa_key(1024)), "has a 1024-bit RSA key"),
        (make("shop.example.com", key=ec.generate_private_key(ec.SECP192R1())), "has a 192-bit EC key"),
        (weakly_signed("sha1"), "is signed with SHA-1"),
        (weakly_signed("md5"), "is signed with MD5"),
    ],
)
def test_keys_and_signatures_openssl_refuses_are_refused(pair: tuple[str, str], fragment: str) -> None:
    info, problems = inspect_pair(*pair)
    message = only(problems, fragment)
    assert "the certificate" in message and "reissue" in message
    assert info is not None


def test_a_weak_chain_certificate_is_named_by_its_place_in_the_chain() -> None:
    weak_ca = ca_with_rsa(1024)
    certificate, key = weak_ca.issue("shop.example.com")
    # The chain as served: the leaf, then the intermediate (here the weak CA, signed by the strong one).
    intermediate = (
        x509.CertificateBuilder().subject_name(weak_ca.cert.subject).issuer_name(CA.cert.subject)
        .public_key(weak_ca.key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(CA.key, hashes.SHA256())
    )
    problems = inspect_pair(certificate + cert_pem(intermediate), key)[1]
    only(problems, "chain certificate 2 has a 1024-bit RSA key")


@pytest.mark.parametrize(
    "pair",
    [
        SHOP,
        make("shop.example.com", key=rsa_key(2048)),
        make("shop.example.com", key=ec.generate_private_key(ec.SECP384R1())),
        make("shop.example.com", key=ed25519.Ed25519PrivateKey.generate(), self_signed=True),
        make("*.shop.example.com", "shop.example.com", "xn--bcher-kva.example"),
    ],
)
def test_pairs_the_engines_load_are_accepted(pair: tuple[str, str]) -> None:
    info, problems = inspect_pair(*pair)
    assert problems == [] and info is not None


# ------------------------------------------------------------------ PEM blocks in the wrong field

def test_a_private_key_pasted_into_the_certificate_field_is_refused_without_quoting_it() -> None:
    certificate, key = SHOP
    problems = inspect_pair(certificate + key, key)[1]
    message = only(problems, "the certificate field holds a private key")
    body = [line for line in key.splitlines() if "-----" not in line]
    assert not any(line in message for line in body)
    assert "PRIVATE KEY" not in message.replace("private key", "")


@pytest.mark.parametrize(
    ("certificate", "key", "fragment"),
    [
        (SHOP[0] + "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n", SHOP[1],
         "the certificate field holds a X509 CRL block"),
        (SHOP[0] + "subject=CN = shop.example.com\n", SHOP[1], "the certificate field has text outside its PEM blocks"),
        (SHOP[0], SHOP[1] + SHOP[0], "the key field holds a certificate"),
        (SHOP[0], SHOP[1] + SHOP[1], "the key field holds 2 PEM blocks"),
        (SHOP[0], "note: prod key\n" + SHOP[1], "the key field has text outside its PEM block"),
    ],
)
def test_extra_pem_blocks_and_text_are_refused(certificate: str, key: str, fragment: str) -> None:
    problems = inspect_pair(certificate, key)[1]
    message = only(problems, fragment)
    assert "prod key" not in message


# ------------------------------------------------------------------ names written into configs

@pytest.mark.parametrize(
    ("names", "common_name", "fragment"),
    [
        (("shop.example.com;\n    return 301 https://evil.example",), None, "subjectAltName"),
        (("shop.example.com", "evil.example }"), "shop.example.com", "subjectAltName 'evil.example }'"),
        (("shop.example.com",), "shop.example.com\n    redirect location https://evil.example", "common name"),
        (("shop.example.com",), "Shop Web Server", "common name 'Shop Web Server'"),
        (("sh\u043ep.example.com",), "shop.example.com", "subjectAltName"),  # a Cyrillic look-alike 'o'
        (("a" * 64 + ".example.com",), "shop.example.com", "subjectAltName"),
        (("*.*.example.com",), "shop.example.com", "subjectAltName"),
    ],
)
def test_certificate_names_that_are_not_dns_names_are_refused(
    names: tuple[str, ...], common_name: str | None, fragment: str
) -> None:
    problems = inspect_pair(*make(*names, common_name=common_name))[1]
    message = only(problems, fragment)
    assert "is not a DNS name" in message
    assert "\n" not in message  # shown escaped, never as a line of its own


# ------------------------------------------------------------------ policy: production and staging

def build(env: str, certificate: tuple[str, str], **lb_vars: Any) -> tuple[dict | None, list[str]]:
    pools = [{"name": "shop", "servers": [{"name": f"s{i}", "address": f"10.0.0.{i}", "port": 80} for i in (1, 2)]}]
    frontend = {"name": "edge", "binds": [{"port": 443, "tls": True}], "default_pool": "shop",
                "tls": {"certificates": [{"name": "shop", "certificate": certificate[0], "key": certificate[1]}]}}
    host_vars = {"lb_frontends": [frontend], "lb_pools": pools, **lb_vars}
    return lbguard_model_build.build_model("lb1", host_vars, {"all": ["lb1"], "loadbalancers": ["lb1"], env: ["lb1"]}, {})


SELF_SIGNED = make("shop.example.com", self_signed=True)
EXPIRING = make("shop.example.com", days=5)


def test_production_refuses_a_self_signed_certificate_and_staging_warns() -> None:
    only(build("production", SELF_SIGNED)[1], "frontend edge: certificate shop: the certificate is self-signed")
    model, problems = build("staging", SELF_SIGNED)
    assert problems == [] and model is not None
    assert [w for w in model["warnings"] if "self-signed" in w and "certificate shop" in w]


def test_expiry_within_cert_min_days_is_refused_in_production_and_warned_in_staging() -> None:
    message = only(build("production", EXPIRING)[1], "expires in 5 days, under lbguard_cert_min_days (14)")
    assert message.startswith("frontend edge: certificate shop:")
    model, problems = build("staging", EXPIRING)
    assert problems == [] and model is not None
    warning = only(model["warnings"], "expires in 5 days")
    # The run's report carries it with the concentration warnings.
    assert warning in concentration_warnings(model)
    # lbguard_cert_min_days moves the bound; 0 accepts any certificate still valid.
    assert build("production", EXPIRING, lbguard_cert_min_days=3)[1] == []
    assert build("production", SHOP, lbguard_cert_min_days=100)[1] != []


@pytest.mark.parametrize("value", [-1, 366, "14", True])
def test_cert_min_days_is_an_integer_in_range(value: Any) -> None:
    only(build("production", SHOP, lbguard_cert_min_days=value)[1], "lbguard_cert_min_days: value")


def test_a_certificate_within_policy_makes_no_warning() -> None:
    for env in ("production", "staging"):
        model = build(env, SHOP)[0]
        assert model is not None and model["warnings"] == []
