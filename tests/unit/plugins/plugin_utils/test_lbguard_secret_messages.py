"""Secrets never echoed (#27 item 5): every refused case that carries a secret is searched for it.

The secrets are the stats page's password and a certificate's private key. A message
may name the field; no message may hold the value, any 8-character piece of it, or
a templating error about it (a lookup's error quotes its argument).
"""

from __future__ import annotations

from typing import Any

import pytest
from lbguard_certs import CertificateAuthority

from ansible_collections.lbguard.core.plugins.plugin_utils import lbguard_model_build
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_model_values import InventoryText, Unrenderable

CA = CertificateAuthority()
SHOP = CA.issue("shop.example.com")
OTHER = CA.issue("shop.example.com")
PASSWORD = "Vq7-correct-horse-Zt9"
KEY_BODY = "".join(line for line in SHOP[1].splitlines() if "-----" not in line)


def pieces(secret: str, size: int = 8) -> set[str]:
    return {secret[i:i + size] for i in range(len(secret) - size + 1)}


def build(env: str, stats: dict[str, Any] | None = None, certificate: dict[str, Any] | None = None) -> list[str]:
    pools = [{"name": "shop", "servers": [{"name": f"s{i}", "address": f"10.0.0.{i}", "port": 80} for i in (1, 2)]}]
    tls_item = {"name": "shop", "certificate": SHOP[0], "key": SHOP[1], **(certificate or {})}
    frontend = {"name": "edge", "binds": [{"port": 443, "tls": True}], "default_pool": "shop",
                "tls": {"certificates": [tls_item]}}
    host_vars: dict[str, Any] = {"lb_frontends": [frontend], "lb_pools": pools}
    if stats is not None:
        host_vars["lb_stats"] = {"address": "127.0.0.1", "port": 8404, "user": "ops", **stats}
    groups = {"all": ["lb1"], "loadbalancers": ["lb1"], env: ["lb1"]}
    return lbguard_model_build.build_model("lb1", host_vars, groups, {})[1]


REFUSED_STATS = [
    ("too short", {"password": PASSWORD[:9]}, "password must be at least 12"),
    ("a control character", {"password": PASSWORD + "\n"}, "password must be at least 12"),
    ("not a string", {"password": [PASSWORD]}, "password must be at least 12"),
    ("plain text in production", {"password": InventoryText(PASSWORD)}, "password is plain text in the inventory"),
    ("a failing lookup", {"password": Unrenderable(f"The lookup plugin 'file' failed: no file '{PASSWORD}'")},
     "password cannot be rendered: the templating error is not shown"),
]
REFUSED_KEYS = [
    ("a failing template", {"key": Unrenderable(f"Syntax error in template near '{KEY_BODY[:40]}'")},
     "key cannot be rendered: the templating error is not shown"),
    ("pasted into the certificate", {"certificate": SHOP[0] + SHOP[1]}, "the certificate field holds a private key"),
    ("text around it", {"key": "prod key " + KEY_BODY[:30] + "\n" + SHOP[1]}, "the key field has text outside"),
    ("not PEM", {"key": KEY_BODY}, "the private key is not a PEM private key"),
    ("another certificate's", {"key": OTHER[1]}, "the private key does not match"),
]


@pytest.mark.parametrize(("case", "stats", "fragment"), REFUSED_STATS, ids=[c[0] for c in REFUSED_STATS])
def test_no_message_about_the_stats_password_holds_it(case: str, stats: dict[str, Any], fragment: str) -> None:
    problems = build("production", stats=stats)
    assert [p for p in problems if fragment in p], (case, problems)
    for problem in problems:
        assert not any(piece in problem for piece in pieces(PASSWORD)), problem


@pytest.mark.parametrize(("case", "certificate", "fragment"), REFUSED_KEYS, ids=[c[0] for c in REFUSED_KEYS])
def test_no_message_about_a_private_key_holds_any_of_it(case: str, certificate: dict[str, Any], fragment: str) -> None:
    problems = build("production", certificate=certificate)
    assert [p for p in problems if fragment in p], (case, problems)
    secret = KEY_BODY + "".join(line for line in OTHER[1].splitlines() if "-----" not in line)
    for problem in problems:
        assert not any(piece in problem for piece in pieces(secret)), problem
        assert "prod key" not in problem


def test_plain_text_is_accepted_in_staging_and_a_vaulted_or_looked_up_password_in_production() -> None:
    assert build("staging", stats={"password": InventoryText(PASSWORD)}) == []
    # Not InventoryText: what Vault, a lookup or a template produced (lbguard_model_inputs marks only plain text).
    assert build("production", stats={"password": PASSWORD}) == []
