"""lb_frontends and lb_pools: validation, probe targets, secrets, and what the engines accept (#14)."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from lbguard_certs import CertificateAuthority, crafted, key_pem, rsa_key, signed_with_weak_hash
from test_engine_acceptance import engine_refusals

from ansible_collections.lbguard.core.plugins.plugin_utils import lbguard_model_build
from ansible_collections.lbguard.core.plugins.plugin_utils import lbguard_model_inputs

from ansible_collections.lbguard.core.plugins.plugin_utils import lbguard_edge as edge
from ansible_collections.lbguard.core.plugins.plugin_utils import lbguard_tls

LB = "lb1"
CA = CertificateAuthority()
SHOP = CA.issue("shop.example.com", "www.shop.example.com")
API = CA.issue("api.example.com")
STATS = {"address": "127.0.0.1", "port": 8404, "user": "ops", "password": "correct horse battery"}


def pool(name: str, first: int, count: int = 3, **extra: Any) -> dict[str, Any]:
    servers = [{"name": f"{name}{i}", "address": f"10.0.{first}.{i}", "port": 8080} for i in range(1, count + 1)]
    return {"name": name, "servers": servers, **extra}


def frontend(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "edge",
        "binds": [{"port": 80}, {"port": 443, "tls": True}],
        "tls": {"certificates": [{"name": "shop", "certificate": SHOP[0], "key": SHOP[1]},
                                 {"name": "api", "certificate": API[0], "key": API[1]}]},
        "redirect_to_https": True,
        "hsts": {"max_age": 31536000},
        "routes": [
            {"hosts": ["api.example.com"], "pool": "api"},
            {"hosts": ["shop.example.com", "www.shop.example.com"], "path_prefix": "/static/", "pool": "static"},
        ],
        "default_pool": "shop",
    }
    data.update(overrides)
    return data


def lb_vars(frontends: list[Any] | None = None, pools: list[Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"lb_frontends": frontends if frontends is not None else [frontend()],
            "lb_pools": pools if pools is not None else [pool("shop", 1), pool("api", 2), pool("static", 3)],
            **extra}


def build(host_vars: dict[str, Any], env: str = "staging") -> tuple[dict | None, list[str]]:
    groups = {"all": [LB], "loadbalancers": [LB], env: [LB]}
    return lbguard_model_build.build_model(LB, host_vars, groups, {})


def problems(host_vars: dict[str, Any], env: str = "staging") -> list[str]:
    return build(host_vars, env)[1]


def one(found: list[str], *fragments: str) -> str:
    hits = [p for p in found if all(f in p for f in fragments)]
    assert len(hits) == 1, f"expected one problem with {fragments}, got {found}"
    return hits[0]


def valid() -> dict[str, Any]:
    model, found = build(lb_vars())
    assert found == [] and model is not None, found
    return model


# ------------------------------------------------------------------ the valid model


def test_a_routed_frontend_normalises_to_frontends_and_pools() -> None:
    model = valid()
    (front,) = model["frontends"]
    assert [b for b in front["binds"]] == [{"address": "", "port": 80, "tls": False},
                                          {"address": "", "port": 443, "tls": True}]
    assert front["pools"] == ["api", "static", "shop"] and front["https_port"] == 443
    assert [c["names"] for c in front["tls"]["certificates"]] == [["shop.example.com", "www.shop.example.com"],
                                                                  ["api.example.com"]]
    assert [s["name"] for s in model["services"]] == ["shop", "api", "static"]
    assert all(s["mode"] == "http" for s in model["services"])


def test_every_pool_has_a_probe_that_reaches_it_through_its_route() -> None:
    model = valid()
    probes = {s["name"]: s["probe"] for s in model["services"]}
    fingerprints = [c["fingerprint"] for c in model["frontends"][0]["tls"]["certificates"]]
    assert probes["api"] == {"port": 443, "address": "", "tls": True, "host": "api.example.com", "path": "/",
                             "certificate": fingerprints[1]}
    assert probes["static"]["host"] == "shop.example.com" and probes["static"]["path"] == "/static/"
    assert probes["shop"] == {"port": 443, "address": "", "tls": True, "host": "", "path": "/",
                              "certificate": fingerprints[0]}
    routes = model["frontends"][0]["routes"]
    for name, probe in probes.items():
        index = edge.first_route(routes, probe["host"], probe["path"])
        assert (routes[index]["pool"] if index is not None else "shop") == name


def test_the_model_keeps_no_secret_and_the_digest_follows_the_certificate() -> None:
    model = valid()
    text = json.dumps(model)
    assert "PRIVATE KEY" not in text and "BEGIN CERTIFICATE" not in text
    renewed = CA.issue("shop.example.com", "www.shop.example.com")
    changed = lb_vars(frontends=[frontend(tls={"certificates": [
        {"name": "shop", "certificate": renewed[0], "key": renewed[1]},
        {"name": "api", "certificate": API[0], "key": API[1]}]})])
    other, found = build(changed)
    assert found == [] and other is not None
    assert other["digest"] != model["digest"]
    assert other["frontends"][0]["tls"]["certificates"][0]["file"] != model["frontends"][0]["tls"]["certificates"][0]["file"]


def test_a_model_of_lb_services_keeps_its_digest() -> None:
    services = [{"name": "shop", "listen": 80, "servers": pool("shop", 1)["servers"]}]
    model, found = build({"lb_services": services})
    assert found == [] and model is not None and model["frontends"] == []
    assert model["digest"] == lbguard_model_build.model_digest("haproxy", model["services"])


def test_tls_files_give_the_pem_text_to_install() -> None:
    model = valid()
    files = lbguard_model_inputs.lbguard_tls_files(model, {LB: lb_vars()})
    assert [f["file"] for f in files] == [c["file"] for c in model["frontends"][0]["tls"]["certificates"]]
    assert files[0]["certificate"].strip() == SHOP[0].strip() and files[0]["key"].strip() == SHOP[1].strip()


def test_tls_files_refuse_a_certificate_changed_since_validation() -> None:
    model = valid()
    renewed = CA.issue("shop.example.com", "www.shop.example.com")
    changed = lb_vars(frontends=[frontend(tls={"certificates": [
        {"name": "shop", "certificate": renewed[0], "key": renewed[1]},
        {"name": "api", "certificate": API[0], "key": API[1]}]})])
    with pytest.raises(lbguard_model_build.AnsibleFilterError, match="certificate shop is no longer the one the model validated"):
        lbguard_model_inputs.lbguard_tls_files(model, {LB: changed})


def test_certificate_files_are_read_relative_to_the_inventory(tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "api.crt").write_text(API[0])
    (tmp_path / "certs" / "api.key").write_text(API[1])
    host_vars = lb_vars(frontends=[frontend(
        routes=[{"hosts": ["api.example.com"], "pool": "api"}],
        tls={"certificates": [{"name": "api", "certificate_file": "certs/api.crt", "key_file": "certs/api.key"}]})],
        pools=[pool("shop", 1), pool("api", 2)], inventory_dir=str(tmp_path))
    model, found = build(host_vars)
    assert found == [] and model is not None
    assert lbguard_model_inputs.lbguard_tls_files(model, {LB: host_vars})[0]["key"].strip() == API[1].strip()


# ------------------------------------------------------------------- refusals


def test_a_route_to_an_unknown_pool_is_refused_with_a_hint() -> None:
    routes = [{"hosts": ["api.example.com"], "pool": "apii"}]
    found = problems(lb_vars(frontends=[frontend(routes=routes)], pools=[pool("shop", 1), pool("api", 2)]))
    one(found, "frontend edge: routes[0]", "pool 'apii' is not defined in lb_pools", "did you mean 'api'?")


@pytest.mark.parametrize(
    ("routes", "shadowed", "by"),
    [
        ([{"path_prefix": "/api/", "pool": "api"}, {"path_prefix": "/api/v2/", "pool": "static"}], 1, "routes[0]"),
        ([{"hosts": ["*.example.com"], "pool": "api"}, {"hosts": ["api.example.com"], "pool": "static"}], 1,
         "routes[0]"),
        ([{"hosts": ["*.example.com"], "pool": "api"}, {"hosts": ["*.shop.example.com"], "pool": "static"}], 1,
         "routes[0]"),
        ([{"hosts": ["a.example.com"], "pool": "api"}, {"hosts": ["b.example.com"], "path_prefix": "/x", "pool": "api"},
          {"hosts": ["a.example.com", "b.example.com"], "path_prefix": "/x/", "pool": "static"}], 2,
         "routes[0], routes[1]"),
    ],
)
def test_a_route_no_request_can_reach_is_refused(routes: list[dict[str, Any]], shadowed: int, by: str) -> None:
    found = problems(lb_vars(frontends=[frontend(routes=routes, tls=None, binds=[{"port": 80}], redirect_to_https=False)
                                        | {"tls": None}], pools=[pool("shop", 1), pool("api", 2), pool("static", 3)]))
    found = [p for p in found if "tls" not in p]
    one(found, f"routes[{shadowed}]", f"is shadowed by {by}")


def test_routes_that_only_overlap_are_allowed() -> None:
    routes = [{"hosts": ["a.example.com"], "pool": "api"},
              {"hosts": ["a.example.com", "b.example.com"], "pool": "static"},
              {"path_prefix": "/api/", "pool": "api"}]
    fr = {k: v for k, v in frontend(routes=routes, binds=[{"port": 80}]).items()
          if k not in ("tls", "hsts", "redirect_to_https")}
    model, found = build(lb_vars(frontends=[fr]))
    assert found == [] and model is not None
    assert {s["name"]: s["probe"]["host"] for s in model["services"]}["static"] == "b.example.com"


def test_an_unused_pool_and_a_catch_all_route_are_refused() -> None:
    routes = [{"pool": "api"}]
    found = problems(lb_vars(frontends=[frontend(routes=routes)],
                             pools=[pool("shop", 1), pool("api", 2), pool("static", 3), pool("spare", 4)]))
    one(found, "frontend edge: routes[0]", "matches every request")
    one(found, "pool spare: no frontend routes to it")


def test_the_share_policy_applies_per_pool() -> None:
    pools = [pool("shop", 1), pool("api", 2, count=1), pool("static", 3)]
    found = problems(lb_vars(pools=pools), env="production")
    one(found, "pool api:", "only 1 active server", "min_active_servers is 2")
    weighted = [pool("shop", 1), pool("api", 2), pool("static", 3)]
    weighted[1]["servers"][0]["weight"] = 10
    one(problems(lb_vars(pools=weighted), env="production"), "pool api: server api1 would receive", "50%")


@pytest.mark.parametrize(
    ("certificate", "fragment"),
    [
        (CA.issue("shop.example.com", "www.shop.example.com", days=10, start_days=-20), "the certificate expired on"),
        (CA.issue("shop.example.com", "www.shop.example.com", days=10, start_days=5), "is not valid before"),
        ((SHOP[0], API[1]), "the private key does not match the certificate"),
        ((SHOP[0], "not a key"), "the private key is not a PEM private key"),
        (("garbage", SHOP[1]), "the certificate is not a PEM X.509 certificate"),
    ],
)
def test_a_certificate_that_cannot_be_served_is_refused(certificate: tuple[str, str], fragment: str) -> None:
    certificates = [{"name": "shop", "certificate": certificate[0], "key": certificate[1]},
                    {"name": "api", "certificate": API[0], "key": API[1]}]
    found = problems(lb_vars(frontends=[frontend(tls={"certificates": certificates})]))
    message = one(found, "frontend edge: certificate shop:", fragment)
    secret_lines = [line for text in certificate for line in text.splitlines() if line and "-----" not in line]
    assert not [line for line in secret_lines if line in message]


def test_an_encrypted_key_is_refused_without_showing_it() -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    encrypted = key_pem(load_pem_private_key(SHOP[1].encode(), None), password=b"secret")  # type: ignore[arg-type]
    certificates = [{"name": "shop", "certificate": SHOP[0], "key": encrypted},
                    {"name": "api", "certificate": API[0], "key": API[1]}]
    message = one(problems(lb_vars(frontends=[frontend(tls={"certificates": certificates})])),
                  "certificate shop", "the private key is encrypted")
    assert "ENCRYPTED" not in message


def test_a_host_no_certificate_covers_is_refused() -> None:
    routes = [{"hosts": ["api.example.com"], "pool": "api"},
              {"hosts": ["admin.example.com", "x.api.example.com"], "pool": "static"}]
    found = problems(lb_vars(frontends=[frontend(routes=routes)]))
    one(found, "routes[1] host admin.example.com is not covered by any certificate", "api: api.example.com")
    one(found, "routes[1] host x.api.example.com is not covered")


def test_a_route_problem_names_the_route_where_it_is_written_after_an_invalid_route() -> None:
    # routes[0] is refused (unknown pool), so the uncovered host is in the second route as written.
    routes = [{"hosts": ["api.example.com"], "pool": "nosuchpool"},
              {"hosts": ["admin.example.com"], "pool": "static"}]
    found = problems(lb_vars(frontends=[frontend(routes=routes)]))
    one(found, "frontend edge: routes[0]", "pool 'nosuchpool' is not defined")
    one(found, "frontend edge: routes[1] host admin.example.com is not covered by any certificate")
    assert not [p for p in found if "routes[0] host admin.example.com" in p], found


@pytest.mark.parametrize(
    ("names", "host", "covered"),
    [
        (("*.example.com",), "shop.example.com", True),
        (("*.example.com",), "a.shop.example.com", False),
        (("*.example.com",), "example.com", False),
        (("*.example.com",), "*.example.com", True),
        (("shop.example.com",), "*.example.com", False),
    ],
)
def test_certificate_coverage_follows_rfc_6125(names: tuple[str, ...], host: str, covered: bool) -> None:
    assert lbguard_tls.covers(names, host) is covered


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"redirect_to_https": True, "binds": [{"port": 443, "tls": True}]}, "redirect_to_https needs"),
        ({"tls": None, "binds": [{"port": 80}], "redirect_to_https": False}, "hsts needs a tls bind"),
        ({"binds": [{"port": 80}, {"port": 443, "tls": True}], "tls": {"certificates": []}},
         "tls.certificates must be a non-empty list"),
        ({"binds": [{"port": 8405}, {"port": 443, "tls": True}]}, "port 8405 is lbguard's status listener"),
        ({"binds": [{"port": 80, "address": "10.0.0.300"}, {"port": 443, "tls": True}]},
         "address '10.0.0.300' must be one IP address"),
        ({"binds": []}, "binds must be a non-empty list"),
        ({"tls": {"certificates": [{"name": "shop", "certificate": SHOP[0], "key": SHOP[1]}], "min_version": "TLSv1.1"}},
         "tls.min_version 'TLSv1.1' is not offered"),
        ({"tls": {"certificates": [{"name": "shop", "certificate": SHOP[0], "key": SHOP[1]}], "alpn": ["spdy"]}},
         "tls.alpn"),
        ({"routes": [{"hosts": ["Shop.example.com"], "pool": "api"}]}, "must be a lower-case host name"),
        ({"routes": [{"hosts": ["10.0.0.1"], "pool": "api"}]}, "routes match host names"),
        ({"routes": [{"path_prefix": "/a b", "pool": "api"}]}, "path_prefix '/a b' must start with '/'"),
        ({"default_pool": "shpo"}, "default_pool 'shpo' is not defined in lb_pools; did you mean 'shop'?"),
        ({"mode": "tcp", "redirect_to_https": False}, "routes applies only to mode http"),
        ({"name": "lbguard_edge"}, "belong to lbguard's own status listener"),
        ({"route": []}, "unknown key 'route'; did you mean 'routes'?"),
    ],
)
def test_frontend_mistakes_are_refused_by_name(overrides: dict[str, Any], fragment: str) -> None:
    data = frontend(**overrides)
    data = {k: v for k, v in data.items() if v is not None}
    found = problems(lb_vars(frontends=[data]))
    assert any(fragment in p for p in found), found
    assert all(p.startswith(("frontend ", "lb_frontends", "pool ")) for p in found), found


def test_a_pool_name_used_twice_is_refused() -> None:
    one(problems(lb_vars(pools=[pool("shop", 1), pool("api", 2), pool("static", 3), pool("api", 4)])),
        "pool api: duplicate pool name (lb_pools[1] and lb_pools[3])")


def test_a_frontend_port_taken_by_a_service_is_refused() -> None:
    services = [{"name": "legacy", "listen": 443, "servers": pool("legacy", 9)["servers"]}]
    one(problems(lb_vars(lb_services=services)), "frontend edge: port 443 is already used by service legacy")


def test_two_frontends_may_share_a_port_on_different_addresses_only() -> None:
    second = {"name": "internal", "binds": [{"port": 80, "address": "10.9.9.9"}], "default_pool": "shop"}
    one(problems(lb_vars(frontends=[frontend(), second])), "frontend internal: port 80 on 10.9.9.9 is already used")
    first = frontend(binds=[{"port": 80, "address": "10.9.9.8"}, {"port": 443, "tls": True, "address": "10.9.9.8"}])
    model, found = build(lb_vars(frontends=[first, second]))
    assert found == [] and model is not None


def test_nginx_refuses_a_tcp_frontend() -> None:
    tcp = {"name": "db", "mode": "tcp", "binds": [{"port": 5432}], "default_pool": "db"}
    found = problems(lb_vars(frontends=[frontend(), tcp], pools=[pool("shop", 1), pool("api", 2), pool("static", 3),
                                                                 pool("db", 4)], lb_engine="nginx"))
    one(found, "frontend db: mode tcp is not available with nginx")


def test_a_pool_used_by_http_and_tcp_frontends_is_refused() -> None:
    tcp = {"name": "raw", "mode": "tcp", "binds": [{"port": 9000}], "default_pool": "shop"}
    one(problems(lb_vars(frontends=[frontend(), tcp])), "pool shop: both http and tcp frontends send to it")


# ------------------------------------------------------------------- the engines


def test_the_engines_accept_what_validation_accepts_with_tls(tmp_path: Path) -> None:
    """Both engines check the rendered TLS frontends with the real certificate files in place."""
    models = []
    for engine in ("haproxy", "nginx"):
        extras = {"haproxy": ("tune.bufsize 32768", "http-request set-header X-Edge 1", "retries 5"),
                  "nginx": ("client_max_body_size 2m", "client_body_timeout 30s", "keepalive 16")}[engine]
        base = lb_vars(lb_engine=engine, lb_global_directives=[extras[0]], lb_stats=STATS)
        base["lb_frontends"][0]["extra_directives"] = [extras[1]]
        base["lb_pools"][0]["extra_directives"] = [extras[2]]
        second = {"name": "plain", "binds": [{"port": 8080}],
                  "routes": [{"hosts": ["*.shop.example.com"], "path_prefix": "/api/", "pool": "api"}],
                  "default_pool": "shop"}
        base["lb_frontends"].append(second)
        base["lb_services"] = [{"name": "legacy", "listen": 9090, "servers": pool("legacy", 9)["servers"]}]
        model, found = build(base)
        assert found == [] and model is not None, found
        # The template's one input besides the model (engine_refusals passes it on).
        models.append({**model, "stats_password_hash": lbguard_model_inputs.lbguard_stats_password_hash(model, {LB: base})})
        files = lbguard_model_inputs.lbguard_tls_files(model, {LB: base})
        tls_dir = tmp_path / "tls" / engine
        tls_dir.mkdir(parents=True, exist_ok=True)
        for item in files:
            if engine == "haproxy":
                (tls_dir / f"{item['file']}.pem").write_text(item["certificate"] + item["key"])
            else:
                (tls_dir / f"{item['file']}.crt").write_text(item["certificate"])
                (tls_dir / f"{item['file']}.key").write_text(item["key"])
    broken = copy.deepcopy(models[0])
    broken["frontends"][0]["tls"]["certificates"][0]["file"] = "missing"
    refused = engine_refusals(models + [broken], tmp_path, tls_dirs={
        "/etc/haproxy/lbguard-tls": tmp_path / "tls" / "haproxy", "/etc/nginx/lbguard-tls": tmp_path / "tls" / "nginx"})
    assert list(refused) == [2], refused


def test_the_keys_and_signatures_validation_refuses_are_those_the_engines_refuse(tmp_path: Path) -> None:
    """OpenSSL's security level on Debian, as the TLS checks state it: each weak pair stops both engines."""
    weak = {"rsa1024": crafted(CA, "shop.example.com", key=rsa_key(1024)),
            "ec192": crafted(CA, "shop.example.com", key=ec.generate_private_key(ec.SECP192R1())),
            "sha1": signed_with_weak_hash(CertificateAuthority(key=rsa_key(2048)), "sha1")}  # type: ignore[arg-type]
    for kind, pair in weak.items():
        assert lbguard_tls.inspect_pair(*pair)[1], f"validation accepts {kind}"
    models, expected = [], []
    for engine in ("haproxy", "nginx"):
        model, found = build(lb_vars(lb_engine=engine))
        assert found == [] and model is not None, found
        tls_dir = tmp_path / "tls" / engine
        tls_dir.mkdir(parents=True)
        files = {f["file"]: (f["certificate"], f["key"])
                 for f in lbguard_model_inputs.lbguard_tls_files(model, {LB: lb_vars()})}
        models.append(model)
        # A copy per weak pair, its first certificate's file holding that pair: the engine must refuse it.
        for kind, pair in weak.items():
            weak_model = copy.deepcopy(model)
            weak_model["frontends"][0]["tls"]["certificates"][0]["file"] = f"weak-{kind}"
            files[f"weak-{kind}"] = pair
            expected.append(len(models))
            models.append(weak_model)
        for name, (certificate, key) in files.items():
            if engine == "haproxy":
                (tls_dir / f"{name}.pem").write_text(certificate + key)
            else:
                (tls_dir / f"{name}.crt").write_text(certificate)
                (tls_dir / f"{name}.key").write_text(key)
    refused = engine_refusals(models, tmp_path, tls_dirs={
        "/etc/haproxy/lbguard-tls": tmp_path / "tls" / "haproxy", "/etc/nginx/lbguard-tls": tmp_path / "tls" / "nginx"})
    assert sorted(refused) == expected, refused


def test_a_certificate_name_of_the_longest_dns_length_is_served_by_nginx(tmp_path: Path) -> None:
    """Validation takes DNS names of up to 253 characters; nginx's server_name hash must hold them too."""
    longest = ".".join(["a" * 61] * 4)[:240] + ".example.com"
    pair = crafted(CA, longest, common_name="long.example.com")
    certificates = [{"name": "long", "certificate": pair[0], "key": pair[1]},
                    {"name": "shop", "certificate": SHOP[0], "key": SHOP[1]}]
    base = lb_vars(lb_engine="nginx", frontends=[frontend(tls={"certificates": certificates}, routes=[],
                                                          redirect_to_https=False, binds=[{"port": 443, "tls": True}])],
                   pools=[pool("shop", 1)])
    model, found = build(base)
    assert found == [] and model is not None and len(longest) == 252, found
    tls_dir = tmp_path / "tls"
    tls_dir.mkdir()
    for item in lbguard_model_inputs.lbguard_tls_files(model, {LB: base}):
        (tls_dir / f"{item['file']}.crt").write_text(item["certificate"])
        (tls_dir / f"{item['file']}.key").write_text(item["key"])
    assert engine_refusals([model], tmp_path, tls_dirs={"/etc/nginx/lbguard-tls": tls_dir}) == {}


# ------------------------------------------------------------------ verification


def test_each_tls_probe_expects_the_certificate_the_engines_choose_by_sni() -> None:
    wildcard = CA.issue("*.example.com")
    certificates = [{"name": "shop", "certificate": SHOP[0], "key": SHOP[1]},
                    {"name": "any", "certificate": wildcard[0], "key": wildcard[1]}]
    routes = [{"hosts": ["api.example.com"], "pool": "api"},
              {"hosts": ["shop.example.com"], "path_prefix": "/static/", "pool": "static"}]
    model, found = build(lb_vars(frontends=[frontend(tls={"certificates": certificates}, routes=routes)]))
    assert found == [] and model is not None
    by_name = {c["name"]: c["fingerprint"] for c in model["frontends"][0]["tls"]["certificates"]}
    probes = {s["name"]: s["probe"] for s in model["services"]}
    # An exact name wins over a wildcard; a wildcard covers one label; no SNI gets the first certificate.
    assert probes["static"]["certificate"] == by_name["shop"]
    assert probes["api"]["certificate"] == by_name["any"]
    assert probes["shop"]["certificate"] == by_name["shop"]


def test_two_certificates_with_one_name_are_refused() -> None:
    both = CA.issue("api.example.com", "shop.example.com")
    certificates = [{"name": "shop", "certificate": SHOP[0], "key": SHOP[1]},
                    {"name": "both", "certificate": both[0], "key": both[1]}]
    one(problems(lb_vars(frontends=[frontend(tls={"certificates": certificates})])),
        "certificate both: name shop.example.com is also in certificate shop")


def _probe_result(model: dict[str, Any], **per_pool: dict[str, Any]) -> dict[str, Any]:
    """A probe result in which each pool's route reached that pool with the model's certificate."""
    traffic = {}
    for service in model["services"]:
        counts = {s["name"]: 20 for s in service["servers"]}
        traffic[service["name"]] = {"mode": "http", "requests": 60, "counts": counts, "status_5xx": 0,
                                    "other_errors": 0, "connection_errors": 0, "missing_header": 0,
                                    "pools": {service["name"]: 60},
                                    "certificates": {service["probe"]["certificate"]: 60}}
        traffic[service["name"]].update(per_pool.get(service["name"], {}))
    expected = "https://api.example.com/lbguard/redirect-check"
    routes = {}
    for front in model["frontends"]:
        targets = [(f"routes[{i}]", r["pool"], r["probe"]) for i, r in enumerate(front["routes"])]
        targets.append(("default", front["default_pool"], front["default_probe"]))
        routes[front["name"]] = [{"route": label, "pool": pool_name, "host": probe["host"], "path": probe["path"],
                                  "pools": {pool_name: 3}, "certificates": {probe["certificate"]: 3}, "errors": 0}
                                 for label, pool_name, probe in targets]
    return {"running_model": model["digest"], "runtime": {}, "traffic": traffic, "counters": {},
            "redirects": {"edge": {"status": 301, "location": expected, "expected": expected}}, "routes": routes}


def test_verification_passes_when_every_route_reaches_its_pool() -> None:
    from ansible_collections.lbguard.core.plugins.plugin_utils import lbguard_verify_report
    model = valid()
    assert lbguard_verify_report.verify_problems(model, _probe_result(model), {"label": "lb1", "check_runtime": False}) == []


def test_verification_fails_a_route_that_reaches_another_pool_or_certificate() -> None:
    from ansible_collections.lbguard.core.plugins.plugin_utils import lbguard_verify_report
    model = valid()
    result = _probe_result(model, api={"pools": {"shop": 60}, "certificates": {"0" * 64: 60}})
    found = lbguard_verify_report.verify_problems(model, result, {"label": "lb1", "check_runtime": False})
    one(found, "pool api, measured through its route (https port 443, api.example.com, path /): 60 of 60 answers "
               "came from elsewhere (pool shop 60); the model sends them to pool api")
    one(found, "pool api, measured through its route", "presented certificate 000000000000 (60)")


def test_verification_fails_a_redirect_that_does_not_redirect() -> None:
    from ansible_collections.lbguard.core.plugins.plugin_utils import lbguard_verify_report
    model = valid()
    result = _probe_result(model)
    result["redirects"]["edge"].update(status=200, location=None)
    found = lbguard_verify_report.verify_problems(model, result, {"label": "lb1", "check_runtime": False})
    one(found, "frontend edge: plain HTTP is not redirected to HTTPS: status 200")
    del result["redirects"]["edge"]
    one(lbguard_verify_report.verify_problems(model, result, {"label": "lb1", "check_runtime": False}),
        "frontend edge: the probe did not check its redirect")


# ------------------------------------------------------------------ escape hatch


@pytest.mark.parametrize(
    ("engine", "directive", "fragments"),
    [
        ("haproxy", "balance first", ("balance is refused in", "the model owns balance")),
        ("haproxy", "server extra 10.0.0.9:80", ("server is refused in", "the model owns balance, servers")),
        ("haproxy", "use_backend api if TRUE", ("use_backend is refused in", "outside the model's routes")),
        ("haproxy", "http-request set-var(txn.w) str(weight)", ("http-request set-var(txn.w) is refused in",)),
        ("haproxy", "option httplog\nbalance first", ("contains U+000A",)),
        ("nginx", "least_conn", ("least_conn is refused in", "the model owns balance")),
        ("nginx", "client_max_body_size 1m; include /tmp/x", ("contains '{', '}' or ';'",)),
        ("nginx", "location /admin { return 403", ("contains '{', '}' or ';'",)),
    ],
)
def test_the_escape_hatch_never_sets_what_the_model_owns(engine: str, directive: str, fragments: tuple[str, ...]) -> None:
    data = frontend(extra_directives=[directive])
    found = problems(lb_vars(frontends=[data], lb_engine=engine))
    one(found, "frontend edge: extra_directives[0]", *fragments)
    pools = [pool("shop", 1, extra_directives=[directive]), pool("api", 2), pool("static", 3)]
    one(problems(lb_vars(pools=pools, lb_engine=engine)), "pool shop: extra_directives[0]", *fragments)
    one(problems(lb_vars(lb_global_directives=[directive], lb_engine=engine)), "lb_global_directives[0]", *fragments)


def test_extra_directives_are_listed_for_the_reviewer() -> None:
    from ansible_collections.lbguard.core.plugins.filter import lbguard_plan as plan
    model, found = build(lb_vars(frontends=[frontend(extra_directives=["http-request set-header X-Edge 1"])],
                                 pools=[pool("shop", 1, extra_directives=["retries 5"]), pool("api", 2),
                                        pool("static", 3)],
                                 lb_global_directives=["tune.bufsize 32768"]))
    assert found == [] and model is not None
    assert plan.extra_directives(model) == [
        {"section": "global", "directive": "tune.bufsize 32768"},
        {"section": "frontend edge", "directive": "http-request set-header X-Edge 1"},
        {"section": "pool shop", "directive": "retries 5"},
    ]


# ------------------------------------------------------------------ stats page


def test_sha512_crypt_matches_the_specification_and_glibc() -> None:
    from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_secrets import sha512_crypt
    # The test vector of the SHA-crypt specification (Drepper), 5000 rounds.
    assert sha512_crypt("Hello world!", "saltstring") == (
        "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1")
    host = subprocess.run(["openssl", "passwd", "-6", "-salt", "abcdefgh", "pass word!"], capture_output=True,
                          text=True, check=True).stdout.strip()
    assert sha512_crypt("pass word!", "abcdefgh") == host


def test_the_stats_page_keeps_the_password_out_of_the_model() -> None:
    model, found = build(lb_vars(lb_stats=STATS))
    assert found == [] and model is not None
    assert model["stats"]["address"] == "127.0.0.1" and model["stats"]["user"] == "ops"
    password_hash = lbguard_model_inputs.lbguard_stats_password_hash(model, {LB: lb_vars(lb_stats=STATS)})
    assert password_hash.startswith("$6$")
    text = json.dumps(model)
    assert STATS["password"] not in text and password_hash not in text
    assert lbguard_model_inputs.lbguard_stats_password_hash(model, {LB: lb_vars(lb_stats=STATS)}) == password_hash  # idempotent
    other, _ = build(lb_vars(lb_stats=dict(STATS, password="another long password")))
    assert other is not None and other["digest"] != model["digest"]
    with pytest.raises(lbguard_model_build.AnsibleFilterError, match="lb_stats changed since the model was validated"):
        lbguard_model_inputs.lbguard_stats_password_hash(model, {LB: lb_vars(lb_stats=dict(STATS, password="another long password"))})


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"address": "0.0.0.0"}, "address '0.0.0.0' must be one IP address"),
        ({"password": "short"}, "password must be at least 12 printable ASCII characters"),
        ({"user": "ops:admin"}, "user 'ops:admin' must be 1-32 letters"),
        ({"port": 443}, "lb_stats: port 443 on 127.0.0.1 is already used by frontend edge"),
        ({"port": 8405}, "lb_stats: port 8405 is lbguard's status listener"),
        ({"passwd": "x" * 20}, "unknown key 'passwd'; did you mean 'password'?"),
    ],
)
def test_stats_page_mistakes_are_refused_without_showing_the_password(change: dict[str, Any], fragment: str) -> None:
    found = problems(lb_vars(lb_stats={**STATS, **change}))
    message = one(found, fragment)
    assert STATS["password"] not in message and "short" not in message.replace("'short'", "")


def test_a_shadowed_route_names_the_routes_as_written() -> None:
    """An invalid route in between does not shift the indexes the message names."""
    routes = [{"path_prefix": "/api/", "pool": "api"}, {"path_prefix": "/x/", "pool": "nope"},
              {"path_prefix": "/api/v2/", "pool": "static"}]
    found = problems(lb_vars(frontends=[frontend(routes=routes)]))
    one(found, "routes[1]: pool 'nope' is not defined")
    one(found, "routes[2] (pool static) is shadowed by routes[0]")


@pytest.mark.parametrize("value", [{"pool": "shop"}, ["shop"], 7, None])
def test_odd_values_in_frontends_are_problems_not_crashes(value: Any) -> None:
    for overrides in ({"default_pool": value}, {"routes": [{"pool": value, "hosts": ["api.example.com"]}]},
                      {"routes": value}, {"binds": value}, {"tls": value}, {"hsts": value}, {"name": value}):
        found = problems(lb_vars(frontends=[frontend(**overrides)]))
        assert found, overrides
    assert problems(lb_vars(frontends=value if value is not None else "x"))
    assert problems(lb_vars(pools=[value]))


def test_verification_checks_every_route_not_only_each_pools_first() -> None:
    """routes[1] also sends to pool api; only its own check can see it reach another pool."""
    from ansible_collections.lbguard.core.plugins.plugin_utils import lbguard_verify_report
    routes = [{"hosts": ["api.example.com"], "pool": "api"},
              {"hosts": ["shop.example.com"], "path_prefix": "/api/", "pool": "api"},
              {"hosts": ["www.shop.example.com"], "path_prefix": "/static/", "pool": "static"}]
    model, found = build(lb_vars(frontends=[frontend(routes=routes)]))
    assert found == [] and model is not None
    assert model["frontends"][0]["routes"][1]["probe"] == {
        "host": "shop.example.com", "path": "/api/",
        "certificate": model["frontends"][0]["tls"]["certificates"][0]["fingerprint"]}
    result = _probe_result(model)
    assert lbguard_verify_report.verify_problems(model, result, {"label": "lb1", "check_runtime": False}) == []
    result["routes"]["edge"][1]["pools"] = {"storefront": 3}
    result["routes"]["edge"][3]["pools"] = {}
    result["routes"]["edge"][3]["errors"] = 3
    found = lbguard_verify_report.verify_problems(model, result, {"label": "lb1", "check_runtime": False})
    one(found, "frontend edge routes[1] (host shop.example.com, path /api/): 3 of 3 answers came from elsewhere "
               "(pool storefront 3); the model sends them to pool api")
    one(found, "frontend edge default (host none, path /): no answer (3 failed requests)")
    del result["routes"]["edge"]
    one(lbguard_verify_report.verify_problems(model, result, {"label": "lb1", "check_runtime": False}),
        "frontend edge: the probe did not check its routes")


def test_a_tcp_frontend_and_its_pool_refuse_http_only_directives() -> None:
    # One at a time: a pool's mode comes from the valid frontends that send to it.
    tcp = {"name": "db", "mode": "tcp", "binds": [{"port": 5432}], "default_pool": "db",
           "extra_directives": ["timeout client 1h"]}
    pools = [pool("shop", 1), pool("api", 2), pool("static", 3), pool("db", 4, extra_directives=["timeout server 1h"])]
    assert problems(lb_vars(frontends=[frontend(), tcp], pools=pools, lb_engine="haproxy")) == []
    pools[3]["extra_directives"].append("http-request set-header X-A 1")
    found = problems(lb_vars(frontends=[frontend(), tcp], pools=pools, lb_engine="haproxy"))
    assert found == ["pool db: extra_directives[1] 'http-request set-header X-A 1': http-request set-header acts on "
                     "HTTP only, and this is a tcp pool: HAProxy would ignore it"]
    pools[3]["extra_directives"].pop()
    tcp["extra_directives"].append("option forwardfor")
    found = problems(lb_vars(frontends=[frontend(), tcp], pools=pools, lb_engine="haproxy"))
    one(found, "frontend db: extra_directives[1] 'option forwardfor': option forwardfor acts on HTTP only, and "
               "this is a tcp frontend: HAProxy would ignore it")
