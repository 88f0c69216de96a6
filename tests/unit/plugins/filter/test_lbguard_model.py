"""Unit tests of filter_plugins/lbguard_model.py (pure core and thin filter adapters)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from typing import Any

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_constants import CONSTANTS

from ansible_collections.lbguard.core.plugins.filter import lbguard_model as m
from ansible_collections.lbguard.core.plugins.plugin_utils import lbguard_model_build
from ansible_collections.lbguard.core.plugins.plugin_utils import lbguard_model_frontends
from ansible_collections.lbguard.core.plugins.plugin_utils import lbguard_model_inputs
from ansible_collections.lbguard.core.plugins.plugin_utils import lbguard_model_schema
from ansible_collections.lbguard.core.plugins.plugin_utils import lbguard_model_values
from lbguard_test_tools import REPO_ROOT, module_env

LB = "lb1"
DROP = object()  # marks a key or argument to leave out


# ---------------------------------------------------------------- test helpers


def servers(*weights: int, port: int = 8080) -> list[dict[str, Any]]:
    return [
        {"name": f"web{i}", "address": f"10.0.0.{i}", "port": port, "weight": w} for i, w in enumerate(weights, start=1)
    ]


def svc(**overrides: Any) -> dict[str, Any]:
    service: dict[str, Any] = {"name": "shop", "listen": 80, "servers": servers(1, 1, 1)}
    service.update(overrides)
    return {k: v for k, v in service.items() if v is not DROP}



def groups_for(env: str | None, extra: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {"all": [LB], "ungrouped": [], "loadbalancers": [LB]}
    if env:
        groups[env] = [LB]
    for name, members in (extra or {}).items():
        groups[name] = list(members)
        groups["all"] += [h for h in members if h not in groups["all"]]
    return groups


def build(
    services: Any = DROP,
    *,
    env: str | None = "staging",
    groups: dict[str, list[str]] | None = None,
    backends: dict[str, dict[str, Any]] | None = None,
    **lb_vars: Any,
) -> tuple[dict | None, list[str]]:
    host_vars = dict(lb_vars)
    if services is not DROP:
        host_vars["lb_services"] = services
    return lbguard_model_build.build_model(LB, host_vars, groups if groups is not None else groups_for(env), backends or {})


def problems(*args: Any, **kwargs: Any) -> list[str]:
    return build(*args, **kwargs)[1]


def model(*args: Any, **kwargs: Any) -> dict[str, Any]:
    result, found = build(*args, **kwargs)
    assert found == [], found
    assert result is not None
    return result


def one(found: list[str], *fragments: str) -> str:
    """Exactly one problem contains every fragment; return it."""
    hits = [p for p in found if all(f in p for f in fragments)]
    assert len(hits) == 1, f"expected one problem with {fragments}, got {found}"
    return hits[0]


def none_with(found: list[str], fragment: str) -> None:
    assert not [p for p in found if fragment in p], found


# ------------------------------------------------------------------- engine, env


def test_valid_minimal_model_defaults() -> None:
    result = model([svc()])
    assert result["host"] == LB
    assert result["engine"] == "haproxy"
    assert result["environment"] == "staging"
    service = result["services"][0]
    assert service["mode"] == "http"
    assert service["balance"] == "roundrobin"
    assert service["health_check"] == {
        "enabled": True,
        "path": "/health",
        "expect_status": 200,
        "interval": "2s",
        "interval_ms": 2000,
        "rise": 2,
        "fall": 3,
    }
    assert service["policy"] == {"min_active_servers": 1, "max_server_share": 1.0, "allow_first": False}
    assert [s["backup"] for s in service["servers"]] == [False] * 3
    assert [s["disabled"] for s in service["servers"]] == [False] * 3


def test_unknown_engine_suggests() -> None:
    found = problems([svc()], lb_engine="nginxx")
    assert (
        one(found, "lb_engine")
        == "lb_engine 'nginxx' is not a known engine; did you mean 'nginx'? (known: haproxy, nginx)"
    )


@pytest.mark.parametrize("engine", ["haproxy", "nginx"])
def test_known_engines(engine: str) -> None:
    assert model([svc()], lb_engine=engine)["engine"] == engine


def test_engine_not_a_string() -> None:
    one(problems([svc()], lb_engine=None), "lb_engine None is not a known engine")


def test_environment_none() -> None:
    one(problems([svc()], env=None), "lb1 is in neither group staging nor group production")


def test_environment_both() -> None:
    groups = groups_for("staging", {"production": [LB]})
    one(problems([svc()], groups=groups), "lb1 is in both groups staging and production")


def test_lb_environment_that_agrees_with_the_groups_is_accepted() -> None:
    assert model([svc()], env="staging", lb_environment="staging")["environment"] == "staging"


def test_lb_environment_never_overrides_the_groups() -> None:
    # The incident's way in: a production LB judged by the staging policy.
    groups = groups_for("production")
    one(
        problems([svc(servers=servers(1, 0, 0))], groups=groups, lb_environment="staging"),
        "lb_environment is 'staging' but lb1 is in group production, so deploy.yml deploys it with production",
    )


def test_lb_environment_does_not_make_up_for_a_missing_group() -> None:
    one(problems([svc()], env=None, lb_environment="staging"), "lb1 is in neither group staging nor group production")


def test_lb_outside_the_loadbalancers_group_is_refused() -> None:
    groups = groups_for("staging")
    groups["loadbalancers"] = []
    one(problems([svc()], groups=groups), "lb1 is not in group loadbalancers: deploy.yml never deploys it")


def test_environment_override_invalid() -> None:
    one(problems([svc()], lb_environment="prod"), "lb_environment 'prod' is not valid")


# ------------------------------------------------------------------- lb_services


def test_lb_services_missing() -> None:
    one(problems(), "lb_services is not defined")


@pytest.mark.parametrize("value", [{"name": "shop"}, "shop", None, 3])
def test_lb_services_not_a_list(value: Any) -> None:
    one(problems(value), "lb_services must be a list of services")


def test_lb_services_empty() -> None:
    one(problems([]), "lb_services is empty")


def test_service_not_a_mapping() -> None:
    one(problems([svc(), "web"]), "lb_services[1] must be a mapping")


# ------------------------------------------------------------------------ names


@pytest.mark.parametrize("name", ["shop\nx", "sh op", "sh'op", 'sh"op', "", "s" * 64, "1shop", "shop.x", "shop\n"])
def test_invalid_service_name_shown_with_repr(name: str) -> None:
    found = problems([svc(name=name)])
    message = one(found, "service name")
    assert repr(name) in message
    assert "\n" not in message


def test_newline_in_service_name_is_visible() -> None:
    message = one(problems([svc(name="shop\nx")]), "service name")
    assert "'shop\\nx'" in message


@pytest.mark.parametrize("name", ["shop", "s" * 63, "a-b_C9"])
def test_valid_service_name(name: str) -> None:
    assert model([svc(name=name)])["services"][0]["name"] == name


@pytest.mark.parametrize("name", ["lbguard_status", "LBguard-x"])
def test_service_names_of_lbguard_itself_are_reserved(name: str) -> None:
    one(problems([svc(name=name)]), f"service {name}: service name {name!r} is reserved")


def test_service_name_missing() -> None:
    one(problems([svc(name=DROP)]), "lb_services[0]: name is missing")


@pytest.mark.parametrize("name", ["web\n2", "web 2", "web'2", 'web"2', "", "w" * 64, "-web", "web/2"])
def test_invalid_server_name_shown_with_repr(name: str) -> None:
    entries = servers(1, 1, 1)
    entries[1]["name"] = name
    message = one(problems([svc(servers=entries)]), "server name")
    assert f"server name {name!r} is invalid" in message
    assert message.startswith("service shop: servers[1]:")
    assert "\n" not in message


@pytest.mark.parametrize("name", ["web1", "web-1.example_x", "1web", "w" * 63])
def test_valid_server_name(name: str) -> None:
    entries = servers(1, 1, 1)
    entries[0]["name"] = name
    assert model([svc(servers=entries)])["services"][0]["servers"][0]["name"] == name


def test_server_name_missing() -> None:
    entries = servers(1, 1)
    del entries[0]["name"]
    one(problems([svc(servers=entries)]), "servers[0]: name is missing")


def test_duplicate_service_names() -> None:
    found = problems([svc(), svc(listen=81)])
    assert (
        one(found, "duplicate service name")
        == "service shop: duplicate service name (lb_services[0] and lb_services[1])"
    )


def test_duplicate_listen_ports() -> None:
    found = problems([svc(), svc(name="api")])
    assert one(found, "listen port") == "service api: listen port 80 is already used by service shop"


def test_distinct_names_and_ports_pass() -> None:
    assert len(model([svc(), svc(name="api", listen=81)])["services"]) == 2


def test_duplicate_server_names() -> None:
    entries = servers(1, 1, 1)
    entries[2]["name"] = "web1"
    one(problems([svc(servers=entries)]), "duplicate server name 'web1' (servers[0] and servers[2])")


def test_duplicate_address_port() -> None:
    entries = servers(1, 1, 1)
    entries[2]["address"] = "10.0.0.1"
    one(problems([svc(servers=entries)]), "servers web1 and web3 both point to 10.0.0.1:8080")


def test_duplicate_address_port_after_canonicalisation() -> None:
    entries = servers(1, 1, 1)
    entries[0]["address"], entries[1]["address"] = "2001:db8:0::1", "2001:DB8::1"
    one(problems([svc(servers=entries)]), "both point to [2001:db8::1]:8080")
    entries[0]["address"], entries[1]["address"] = "Web.Example", "web.example."
    one(problems([svc(servers=entries)]), "both point to web.example:8080")


def test_same_address_other_port_passes() -> None:
    entries = servers(1, 1, 1)
    entries[2]["address"], entries[2]["port"] = "10.0.0.1", 8081
    model([svc(servers=entries)])


# ---------------------------------------------------------------- unknown keys


def test_unknown_server_key_suggests() -> None:
    entries = servers(1, 1, 1)
    entries[0]["wieght"] = 2
    assert (
        one(problems([svc(servers=entries)]), "wieght")
        == "service shop: server web1: unknown key 'wieght'; did you mean 'weight'?"
    )


def test_unknown_service_key_suggests() -> None:
    one(problems([svc(balanse="leastconn")]), "service shop: unknown key 'balanse'; did you mean 'balance'?")


def test_unknown_key_without_close_match_lists_valid_keys() -> None:
    one(problems([svc(colour="red")]), "unknown key 'colour' (valid keys: name, mode")


def test_unknown_health_check_and_policy_keys() -> None:
    found = problems([svc(health_check={"intervall": "2s"}, policy={"max_share": 0.5})])
    one(found, "service shop: health_check: unknown key 'intervall'; did you mean 'interval'?")
    one(found, "service shop: policy: unknown key 'max_share'; did you mean 'max_server_share'?")
    one(
        problems([svc()], lb_policy={"allow_frist": True}),
        "lb_policy: unknown key 'allow_frist'; did you mean 'allow_first'?",
    )


# ------------------------------------------------------------------ mode, listen


@pytest.mark.parametrize("mode", ["https", "HTTP", "", None, 1])
def test_invalid_mode(mode: Any) -> None:
    one(problems([svc(mode=mode)]), "mode", "is not valid; use 'http' or 'tcp'")


@pytest.mark.parametrize("mode", ["http", "tcp"])
def test_valid_mode(mode: str) -> None:
    assert model([svc(mode=mode)])["services"][0]["mode"] == mode


@pytest.mark.parametrize("listen", [0, 65536, -1, "80", True, 80.0, None])
def test_invalid_listen(listen: Any) -> None:
    one(problems([svc(listen=listen)]), "service shop: listen")


def test_listen_string_says_remove_quotes() -> None:
    one(problems([svc(listen="80")]), "listen '80' is a string, not an integer: write 80 without quotes")


def test_listen_missing() -> None:
    one(problems([svc(listen=DROP)]), "service shop: listen is missing")


@pytest.mark.parametrize("listen", [1, 65535])
def test_valid_listen(listen: int) -> None:
    assert model([svc(listen=listen)])["services"][0]["listen"] == listen


# --------------------------------------------------------------------- balance


def test_balance_typo_exact_message() -> None:
    found = problems([svc(balance="roundrobbin")])
    assert found == [
        "service shop: balance 'roundrobbin' is not a known algorithm; did you mean 'roundrobin'? "
        "(known: roundrobin, static-rr, leastconn, first, source, uri, random)"
    ]


def test_balance_unknown_without_suggestion() -> None:
    message = one(problems([svc(balance="hdr(host)")]), "balance")
    assert "did you mean" not in message
    assert "is not a known algorithm (known: roundrobin" in message


def test_balance_case_insensitive_suggestion() -> None:
    one(problems([svc(balance="LeastConn")]), "did you mean 'leastconn'?")


@pytest.mark.parametrize("balance", ["roundrobin", "static-rr", "leastconn", "source", "uri", "random"])
@pytest.mark.parametrize("engine", ["haproxy", "nginx"])
def test_known_balance(balance: str, engine: str) -> None:
    assert model([svc(balance=balance)], lb_engine=engine)["services"][0]["balance"] == balance


def test_nginx_lacks_first() -> None:
    found = problems([svc(balance="first", policy={"allow_first": True})], lb_engine="nginx")
    one(found, "service shop: balance 'first' is not available with nginx")


def test_first_refused_without_allow_first() -> None:
    message = one(problems([svc(balance="first")]), "allow_first")
    assert message.startswith("service shop: balance 'first' sends all traffic to the first available server")
    assert "concentrates load" in message


def test_first_allowed_with_allow_first_and_full_share() -> None:
    result = model([svc(balance="first", policy={"allow_first": True})])  # staging: max_server_share 1.0
    shares = [s["expected_share"] for s in result["services"][0]["servers"]]
    assert shares == [1.0, 0.0, 0.0]
    assert result["services"][0]["haproxy_balance"] == "first"


def test_first_allowed_still_needs_max_server_share_one() -> None:
    found = problems([svc(balance="first", policy={"allow_first": True})], env="production")
    message = one(found, "would receive 100% of traffic")
    assert message.startswith(
        "service shop: server web1 would receive 100% of traffic (web1=1, web2=1, web3=1); "
        "policy max_server_share is 50%"
    )
    assert "allow_first also needs max_server_share: 1.0" in message
    none_with(found, "sends all traffic to the first available server")
    model([svc(balance="first", policy={"allow_first": True, "max_server_share": 1.0})], env="production")


def test_first_share_goes_to_first_active_server() -> None:
    entries = servers(0, 1, 1)
    entries[1]["backup"] = True
    result = model([svc(balance="first", servers=entries, policy={"allow_first": True})])
    assert [s["expected_share"] for s in result["services"][0]["servers"]] == [0.0, 0.0, 1.0]


def test_uri_needs_http_mode() -> None:
    one(problems([svc(balance="uri", mode="tcp")]), "balance 'uri' needs mode http")
    model([svc(balance="uri", mode="http")])


# -------------------------------------------------------- servers / backend_group


def test_servers_and_backend_group_both() -> None:
    groups = groups_for("staging", {"webservers": ["web1"], "staging": [LB, "web1"]})
    found = problems([svc(backend_group="webservers", backend_port=80)], groups=groups)
    one(found, "set either servers or backend_group (with backend_port), not both")


def test_no_servers_at_all() -> None:
    one(
        problems([svc(servers=DROP)]),
        "service shop: no servers: set servers (a list) or backend_group and backend_port",
    )


def test_backend_port_without_group() -> None:
    one(problems([svc(backend_port=80)]), "backend_port only applies to backend_group")


def test_empty_servers_list() -> None:
    one(problems([svc(servers=[])]), "service shop: servers is empty")


@pytest.mark.parametrize("value", ["web1", {"name": "web1"}, None])
def test_servers_not_a_list(value: Any) -> None:
    one(problems([svc(servers=value)]), "service shop: servers must be a list")


def test_server_not_a_mapping() -> None:
    one(problems([svc(servers=servers(1, 1) + ["10.0.0.9:80"])]), "servers[2] must be a mapping")


def backend_setup(env: str = "production") -> tuple[dict[str, list[str]], dict[str, dict[str, Any]]]:
    groups = {
        "all": [LB, "web1", "web2", "web3", "stg-web1"],
        "ungrouped": [],
        "loadbalancers": [LB],
        "webservers": ["web3", "stg-web1", "web1", "web2"],
        "production": [LB, "web1", "web2", "web3"],
        "staging": ["stg-web1"],
    }
    if env == "staging":
        groups["production"] = ["web1", "web2", "web3"]
        groups["staging"] = [LB, "stg-web1"]
    backends = {
        "web1": {"lb_address": "web1.prod.example", "ansible_host": "192.0.2.1"},
        "web2": {"ansible_host": "192.0.2.2", "lb_weight": 2},
        "web3": {"lb_backup": True},
        "stg-web1": {"lb_address": "web1.staging.example"},
    }
    return groups, backends


def test_backend_group_resolution_limited_to_environment() -> None:
    groups, backends = backend_setup()
    result = model(
        [svc(servers=DROP, backend_group="webservers", backend_port=8080)],
        groups=groups,
        backends=backends,
        lb_policy={"max_server_share": 0.7},
    )
    got = result["services"][0]["servers"]
    # inventory order of the group, staging member left out
    assert [s["name"] for s in got] == ["web3", "web1", "web2"]
    assert [s["address"] for s in got] == ["web3", "web1.prod.example", "192.0.2.2"]
    assert [s["port"] for s in got] == [8080, 8080, 8080]
    assert [s["weight"] for s in got] == [1, 1, 2]
    assert [s["backup"] for s in got] == [True, False, False]
    assert [s["disabled"] for s in got] == [False, False, False]
    assert [round(s["expected_share"], 4) for s in got] == [0.0, 0.3333, 0.6667]
    # web2 gets 67%, above the built-in production 50%: lb_policy relaxes it
    assert result["services"][0]["policy"]["max_server_share"] == 0.7


def test_backend_group_staging_side() -> None:
    groups, backends = backend_setup("staging")
    result = model([svc(servers=DROP, backend_group="webservers", backend_port=80)], groups=groups, backends=backends)
    assert [(s["name"], s["address"]) for s in result["services"][0]["servers"]] == [
        ("stg-web1", "web1.staging.example")
    ]


def test_backend_group_no_hosts_in_environment_exact_message() -> None:
    groups, backends = backend_setup()
    groups["webservers"] = ["stg-web1"]
    found = problems(
        [svc(servers=DROP, backend_group="webservers", backend_port=8080)],
        groups=groups,
        backends=backends,
        env="production",
    )
    assert found == ["service shop: backend_group 'webservers' has no hosts in environment production"]


def test_backend_group_empty_group() -> None:
    groups = groups_for("production", {"cacheservers": []})
    found = problems([svc(servers=DROP, backend_group="cacheservers", backend_port=6379)], groups=groups)
    assert found == ["service shop: backend_group 'cacheservers' has no hosts in environment production"]


def test_backend_group_unknown_suggests() -> None:
    groups, backends = backend_setup()
    found = problems(
        [svc(servers=DROP, backend_group="webservrs", backend_port=8080)], groups=groups, backends=backends
    )
    assert found == [
        "service shop: backend_group 'webservrs' is not a group of the inventory; did you mean " "'webservers'?"
    ]


def test_backend_group_without_port() -> None:
    groups, backends = backend_setup()
    found = problems([svc(servers=DROP, backend_group="webservers")], groups=groups, backends=backends)
    one(found, "backend_port is missing")


def test_backend_port_invalid_reported_once() -> None:
    groups, backends = backend_setup()
    found = problems(
        [svc(servers=DROP, backend_group="webservers", backend_port="8080")], groups=groups, backends=backends
    )
    one(found, "backend_port '8080' is a string")
    none_with(found, "server web1: port")


def test_backend_host_var_problems_name_the_variable() -> None:
    groups, backends = backend_setup()
    backends["web1"]["lb_weight"] = "heavy"
    backends["web2"]["lb_disabled"] = "no"
    found = problems(
        [svc(servers=DROP, backend_group="webservers", backend_port=8080)], groups=groups, backends=backends
    )
    one(found, "server web1: weight (from host var lb_weight of web1) 'heavy' is a string, not an integer")
    one(found, "server web2: disabled (from host var lb_disabled of web2) 'no' is a string, not a boolean")


def test_backend_address_fallback_to_hostname_validated() -> None:
    groups = groups_for("production", {"webservers": ["bad_host!", "web2"]})
    groups["production"] += ["bad_host!", "web2"]
    found = problems([svc(servers=DROP, backend_group="webservers", backend_port=80)], groups=groups)
    one(found, "servers[0]: address (from inventory hostname bad_host!) 'bad_host!' is not a valid host name")


# ------------------------------------------------------------- address and port


@pytest.mark.parametrize(
    "address, canonical",
    [
        ("10.0.0.1", "10.0.0.1"),
        ("2001:db8::1", "2001:db8::1"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("web1.staging.example", "web1.staging.example"),
        ("Web1.Example.", "web1.example"),
        ("3com.example", "3com.example"),
        ("::ffff:10.0.0.1", "10.0.0.1"),
        ("0xcafe.example", "0xcafe.example"),
    ],
)
def test_valid_addresses(address: str, canonical: str) -> None:
    entries = servers(1)
    entries[0]["address"] = address
    assert model([svc(servers=entries)])["services"][0]["servers"][0]["address"] == canonical


@pytest.mark.parametrize(
    "address, reason",
    [
        ("10.0.0.256", "is not a valid IPv4 address"),
        ("10.0.0", "is not a valid IPv4 address"),
        ("010.0.0.1", "is not a valid IPv4 address"),
        ("2001:db8::zz", "is not a valid IPv6 address"),
        ("[2001:db8::1]", "without brackets"),
        ("web1:8080", "looks like host:port"),
        ("-web.example", "is not a valid host name"),
        ("web_1.example", "is not a valid host name"),
        ("web..example", "is not a valid host name"),
        ("web 1", "without spaces"),
        ("", "without spaces"),
        ("a" * 64 + ".example", "is not a valid host name"),
        (("a" * 60 + ".") * 5 + "example", "longer than 253"),
        ("1.2.3.4.5", "is not a valid IPv4 address"),
        ("web.123", "last label is numeric"),
        (None, "not an IP address or host name"),
        (10, "not an IP address or host name"),
        # Not a server: the LB itself, any address, a group of hosts.
        ("127.0.0.1", "is a loopback address"),
        ("127.8.9.10", "is a loopback address"),
        ("::1", "is a loopback address"),
        ("::ffff:127.0.0.1", "is a loopback address"),
        ("localhost", "is a loopback name"),
        ("Web.LOCALHOST.", "is a loopback name"),
        ("0.0.0.0", "is the unspecified address"),
        ("::", "is the unspecified address"),
        ("224.0.0.1", "is a multicast address"),
        ("ff02::1", "is a multicast address"),
        ("255.255.255.255", "is the broadcast address"),
        ("fe80::1%eth0", "has an IPv6 zone id"),
        ("fe80::1%25eth0#x", "has an IPv6 zone id"),
        # Numbers libc reads as an address, spelled as a host name.
        ("0x0a000001", "is a numeric address libc reads as 10.0.0.1"),
        ("0X7F000001", "is a numeric address libc reads as 127.0.0.1"),
    ],
)
def test_invalid_addresses(address: Any, reason: str) -> None:
    entries = servers(1)
    entries[0]["address"] = address
    message = one(problems([svc(servers=entries)]), "server web1: address")
    assert reason in message
    assert repr(address) in message


def test_address_missing() -> None:
    entries = servers(1)
    del entries[0]["address"]
    one(problems([svc(servers=entries)]), "server web1: address is missing")


@pytest.mark.parametrize("port", [0, 65536, "80", None, True, 80.5])
def test_invalid_server_port(port: Any) -> None:
    entries = servers(1)
    entries[0]["port"] = port
    one(problems([svc(servers=entries)]), "server web1: port")


def test_server_port_missing() -> None:
    entries = servers(1)
    del entries[0]["port"]
    one(problems([svc(servers=entries)]), "server web1: port is missing")


# --------------------------------------------------------------------- weights


@pytest.mark.parametrize(
    "weight, text",
    [
        (True, "weight True is a boolean, not an integer"),
        (1.5, "weight 1.5 is a float, not an integer"),
        ("heavy", "weight 'heavy' is a string, not an integer"),
        ("10", "weight '10' is a string, not an integer: write 10 without quotes"),
        (None, "weight is empty (null), not an integer"),
    ],
)
def test_weight_must_be_integer(weight: Any, text: str) -> None:
    entries = servers(1, 1, 1)
    entries[0]["weight"] = weight
    found = problems([svc(servers=entries)])
    one(found, f"service shop: server web1: {text}")
    assert len(found) == 1  # no distribution noise on top of the type problem


@pytest.mark.parametrize("weight", [257, 1000, -1])
def test_haproxy_weight_range(weight: int) -> None:
    entries = servers(1, 1, 1)
    entries[0]["weight"] = weight
    one(
        problems([svc(servers=entries)]),
        f"weight {weight} is out of range; expected an integer from 0 to 256 (haproxy)",
    )


@pytest.mark.parametrize("weight", [0, 1, 256])
def test_haproxy_weight_bounds_pass(weight: int) -> None:
    entries = servers(1, 1, 1)
    entries[0]["weight"] = weight
    model([svc(servers=entries)])


def test_nginx_rejects_weight_zero() -> None:
    entries = servers(0, 1, 1)
    message = one(problems([svc(servers=entries)], lb_engine="nginx"), "weight 0")
    assert "rejected by nginx" in message and "disabled: true" in message


def test_nginx_weight_range() -> None:
    entries = servers(257, 1, 1)
    one(problems([svc(servers=entries)], lb_engine="nginx"), "expected an integer from 1 to 256 (nginx)")
    model([svc(servers=servers(256, 1, 1))], lb_engine="nginx")


@pytest.mark.parametrize("flag", ["backup", "disabled"])
@pytest.mark.parametrize("value", ["yes", "true", 1, None])
def test_flags_must_be_booleans(flag: str, value: Any) -> None:
    entries = servers(1, 1, 1)
    entries[0][flag] = value
    one(problems([svc(servers=entries)]), f"server web1: {flag} {value!r} is", "not a boolean")


def test_total_active_weight_zero() -> None:
    message = one(problems([svc(servers=servers(0, 0, 0))]), "add up to 0")
    assert message.startswith("service shop: the weights of the active servers add up to 0 (web1=0, web2=0, web3=0)")


def test_no_active_server() -> None:
    entries = servers(1, 1)
    entries[0]["disabled"] = True
    entries[1]["backup"] = True
    one(problems([svc(servers=entries)]), "service shop: no active server")


def test_backup_and_disabled_are_out_of_the_pool() -> None:
    entries = servers(1, 1, 1, 5, 5)
    entries[3]["backup"] = True
    entries[4]["disabled"] = True
    got = model([svc(servers=entries)])["services"][0]["servers"]
    assert [round(s["expected_share"], 6) for s in got] == [0.333333, 0.333333, 0.333333, 0.0, 0.0]


# ---------------------------------------------------------------- policy rules


def test_min_active_servers() -> None:
    found = problems([svc(servers=servers(1, 0), policy={"max_server_share": 1.0})], env="production")
    assert found == [
        "service shop: only 1 active server (web1); policy min_active_servers is 2 "
        "(active: not disabled, not backup, weight > 0)"
    ]
    model([svc(servers=servers(1, 1))], env="production")


def test_incident_exact_message() -> None:
    found = problems([svc(servers=servers(100, 0, 0))], env="production")
    assert (
        "service shop: server web1 would receive 100% of traffic (web1=100, web2=0, web3=0); "
        "policy max_server_share is 50%" in found
    )
    assert len(found) == 2  # and the min_active_servers rule


def test_max_server_share_boundary() -> None:
    model([svc(servers=servers(1, 1))], env="production")  # 50% each == limit
    model([svc(servers=servers(2, 1, 1))], env="production")  # 50%, 25%, 25%
    found = problems([svc(servers=servers(3, 1, 1))], env="production")
    assert found == [
        "service shop: server web1 would receive 60% of traffic (web1=3, web2=1, web3=1); "
        "policy max_server_share is 50%"
    ]


def test_share_with_decimal_percent() -> None:
    found = problems([svc(servers=servers(1, 1, 1), policy={"max_server_share": 0.3})])
    assert found[0].startswith("service shop: server web1 would receive 33.3% of traffic")
    assert len(found) == 3


@pytest.mark.parametrize(
    "raw, text",
    [
        ({"min_active_servers": 0}, "min_active_servers 0 is out of range; expected an integer >= 1"),
        ({"min_active_servers": "2"}, "min_active_servers '2' is a string"),
        ({"min_active_servers": True}, "min_active_servers True is a boolean"),
        ({"max_server_share": 0}, "max_server_share 0 must be a number greater than 0 and at most 1"),
        ({"max_server_share": 1.5}, "max_server_share 1.5 must be a number greater than 0 and at most 1"),
        (
            {"max_server_share": 50},
            "max_server_share 50 must be a number greater than 0 and at most 1 (a fraction: 0.5 means 50%); "
            "did you mean 0.5?",
        ),
        ({"max_server_share": "0.5"}, "max_server_share '0.5' must be a number"),
        ({"max_server_share": True}, "max_server_share True must be a number"),
        ({"allow_first": "true"}, "allow_first 'true' is a string, not a boolean"),
    ],
)
def test_policy_values(raw: dict[str, Any], text: str) -> None:
    one(problems([svc(policy=raw)]), f"service shop: policy.{text}")
    one(problems([svc()], lb_policy=raw), f"lb_policy: {text}")


@pytest.mark.parametrize("raw", [[1], "strict", None])
def test_policy_not_a_mapping(raw: Any) -> None:
    one(problems([svc()], lb_policy=raw), "lb_policy must be a mapping")
    one(problems([svc(policy=raw)]), "service shop: policy must be a mapping")


def test_policy_valid_values() -> None:
    policy = {"min_active_servers": 3, "max_server_share": 1, "allow_first": True}
    got = model([svc(policy=policy)])["services"][0]["policy"]
    assert got == {"min_active_servers": 3, "max_server_share": 1.0, "allow_first": True}
    assert isinstance(got["max_server_share"], float)


def test_policy_precedence_builtin_lb_policy_service() -> None:
    services = [
        svc(name="a", listen=80, servers=servers(1, 1, 1, 1)),
        svc(name="b", listen=81, servers=servers(1, 1, 1, 1), policy={"min_active_servers": 4}),
    ]
    # built-in production
    got = model(services, env="production")["services"]
    assert got[0]["policy"] == {"min_active_servers": 2, "max_server_share": 0.5, "allow_first": False}
    # lb_policy overrides the built-in, service policy overrides lb_policy
    got = model(services, env="production", lb_policy={"min_active_servers": 3, "max_server_share": 0.4})["services"]
    assert got[0]["policy"] == {"min_active_servers": 3, "max_server_share": 0.4, "allow_first": False}
    assert got[1]["policy"] == {"min_active_servers": 4, "max_server_share": 0.4, "allow_first": False}
    # built-in staging
    assert model(services)["services"][0]["policy"] == {
        "min_active_servers": 1,
        "max_server_share": 1.0,
        "allow_first": False,
    }


def test_lb_policy_applies_to_rules() -> None:
    found = problems([svc(servers=servers(1, 1))], lb_policy={"max_server_share": 0.4})
    assert len([p for p in found if "policy max_server_share is 40%" in p]) == 2
    found = problems(
        [svc(servers=servers(1, 1), policy={"max_server_share": 0.5})], lb_policy={"max_server_share": 0.4}
    )
    assert found == []


# ---------------------------------------------------------------- health_check


@pytest.mark.parametrize(
    "raw, text",
    [
        ({"enabled": "yes"}, "health_check.enabled 'yes' is a string, not a boolean"),
        ({"path": "health"}, "health_check.path 'health' is not valid"),
        ({"path": "/he alth"}, "health_check.path '/he alth' is not valid"),
        ({"path": '/x"y'}, "health_check.path"),
        ({"path": "/x'y"}, "health_check.path"),
        ({"path": "/x\ny"}, "health_check.path '/x\\ny' contains a character that is not printable ASCII (U+000A at position 2)"),
        ({"path": "/health\u200b"}, "health_check.path '/health\\u200b' contains a character that is not printable ASCII (U+200B at position 7)"),
        ({"path": "/h\u0435alth"}, "health_check.path '/hеalth' contains a character that is not printable ASCII (U+0435 at position 2)"),  # Cyrillic e
        ({"interval": "1ms"}, "health_check.interval '1ms' is out of range; expected from 100ms to 60m"),
        ({"interval": "61m"}, "health_check.interval '61m' is out of range"),
        ({"interval": 86400}, "health_check.interval 86400 is out of range"),
        ({"path": ""}, "health_check.path '' is not valid"),
        ({"path": 5}, "health_check.path 5 is not valid"),
        ({"expect_status": 99}, "health_check.expect_status 99 is out of range; expected an integer from 100 to 599"),
        ({"expect_status": 600}, "health_check.expect_status 600 is out of range"),
        ({"expect_status": "200"}, "health_check.expect_status '200' is a string"),
        ({"interval": "2h"}, "health_check.interval '2h' is not a positive duration"),
        ({"interval": "0s"}, "health_check.interval '0s' is not a positive duration"),
        ({"interval": 0}, "health_check.interval 0 is not a positive duration"),
        ({"interval": "2 s"}, "health_check.interval '2 s' is not a positive duration"),
        ({"interval": 1.5}, "health_check.interval 1.5 is not a positive duration"),
        ({"rise": 0}, "health_check.rise 0 is out of range; expected an integer from 1 to 100"),
        ({"fall": 101}, "health_check.fall 101 is out of range"),
        ({"fall": "3"}, "health_check.fall '3' is a string"),
    ],
)
def test_invalid_health_check(raw: dict[str, Any], text: str) -> None:
    one(problems([svc(health_check=raw)]), f"service shop: {text}")


@pytest.mark.parametrize("raw", ["on", None, [1]])
def test_health_check_not_a_mapping(raw: Any) -> None:
    one(problems([svc(health_check=raw)]), "service shop: health_check must be a mapping")


@pytest.mark.parametrize(
    "interval, text, millis",
    [
        ("2s", "2s", 2000),
        ("500ms", "500ms", 500),
        ("1m", "1m", 60000),
        (5, "5s", 5000),
    ],
)
def test_health_check_interval(interval: Any, text: str, millis: int) -> None:
    health = model([svc(health_check={"interval": interval})])["services"][0]["health_check"]
    assert (health["interval"], health["interval_ms"]) == (text, millis)


def test_health_check_valid_full() -> None:
    raw = {"enabled": False, "path": "/status?full=1", "expect_status": 204, "interval": "10s", "rise": 1, "fall": 100}
    health = model([svc(health_check=raw)])["services"][0]["health_check"]
    assert health == {
        "enabled": False,
        "path": "/status?full=1",
        "expect_status": 204,
        "interval": "10s",
        "interval_ms": 10000,
        "rise": 1,
        "fall": 100,
    }


# ----------------------------------------------------------------------- nginx


@pytest.mark.parametrize(
    "balance, directive", [("source", "ip_hash"), ("uri", "hash $request_uri consistent"), ("random", "random")]
)
def test_nginx_backup_not_allowed_with_hash_methods(balance: str, directive: str) -> None:
    entries = servers(1, 1, 1)
    entries[2]["backup"] = True
    message = one(problems([svc(balance=balance, servers=entries)], lb_engine="nginx"), "backup")
    assert message == (
        f"service shop: nginx cannot combine backup servers with balance '{balance}' ({directive}); "
        "backup: web3; remove backup or use roundrobin, static-rr or leastconn"
    )
    model([svc(balance=balance, servers=entries)])  # haproxy allows it


@pytest.mark.parametrize("balance", ["roundrobin", "static-rr", "leastconn"])
def test_nginx_backup_allowed(balance: str) -> None:
    entries = servers(1, 1, 1)
    entries[2]["backup"] = True
    model([svc(balance=balance, servers=entries)], lb_engine="nginx")


@pytest.mark.parametrize(
    "balance, haproxy, nginx",
    [
        ("roundrobin", "roundrobin", ""),
        ("static-rr", "static-rr", ""),
        ("leastconn", "leastconn", "least_conn"),
        ("source", "source", "ip_hash"),
        ("uri", "uri", "hash $request_uri consistent"),
        ("random", "random", "random"),
    ],
)
def test_engine_mappings(balance: str, haproxy: str, nginx: str) -> None:
    for engine in ("haproxy", "nginx"):
        service = model([svc(balance=balance)], lb_engine=engine)["services"][0]
        assert (service["balance"], service["haproxy_balance"], service["nginx_method"]) == (balance, haproxy, nginx)


def test_first_mapping_on_haproxy() -> None:
    service = model([svc(balance="first", policy={"allow_first": True})])["services"][0]
    assert (service["haproxy_balance"], service["nginx_method"]) == ("first", "")


# ------------------------------------------------------------- output contract


def test_output_contract_keys() -> None:
    result = model([svc()])
    assert set(result) == {"host", "engine", "environment", "services", "frontends", "global_directives", "stats",
                           "digest", "warnings"}
    assert result["frontends"] == []
    service = result["services"][0]
    assert set(service) == {
        "name",
        "mode",
        "listen",
        "balance",
        "haproxy_balance",
        "nginx_method",
        "health_check",
        "policy",
        "servers",
    }
    assert set(service["health_check"]) == {
        "enabled",
        "path",
        "expect_status",
        "interval",
        "interval_ms",
        "rise",
        "fall",
    }
    assert set(service["policy"]) == {"min_active_servers", "max_server_share", "allow_first"}
    for server in service["servers"]:
        assert set(server) == {"name", "address", "port", "weight", "backup", "disabled", "expected_share"}
    json.dumps(result)  # plain JSON-able data only


def test_invalid_model_returns_no_output() -> None:
    result, found = build([svc(servers=servers(0, 0))])
    assert result is None and found


# --------------------------------------------------------------------- digest


def test_digest_stable_and_canonical() -> None:
    services = [svc(), svc(name="api", listen=81, balance="leastconn")]
    first = model(services)
    second = model(copy.deepcopy(services))
    assert first["digest"] == second["digest"]
    assert len(first["digest"]) == 64 and int(first["digest"], 16) >= 0
    assert first["digest"] == lbguard_model_build.model_digest(first["engine"], first["services"])
    # key order of the input does not matter
    reordered = [dict(reversed(list(s.items()))) for s in services]
    assert model(reordered)["digest"] == first["digest"]


def test_digest_changes_with_the_model() -> None:
    base = model([svc()])["digest"]
    assert model([svc(servers=servers(1, 1, 2))])["digest"] != base
    assert model([svc()], lb_engine="nginx")["digest"] != base
    assert model([svc(health_check={"interval": "3s"})])["digest"] != base


def test_digest_stable_across_processes() -> None:
    code = (
        "from ansible_collections.lbguard.core.plugins.filter import lbguard_model as m; "
        "print(m.normalize_model('lb1', {'lb_services': [{'name': 'shop', 'listen': 80, 'servers': ["
        "{'name': 'web1', 'address': '10.0.0.1', 'port': 8080}, {'name': 'web2', 'address': '10.0.0.2', "
        "'port': 8080}]}]}, {'staging': ['lb1'], 'loadbalancers': ['lb1']}, {})['digest'])"
    )
    digests = set()
    for seed in ("1", "2", "3"):
        env = dict(module_env(), PYTHONHASHSEED=seed)
        out = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        digests.add(out)
    assert len(digests) == 1
    services = [svc(servers=servers(1, 1))]
    assert model(services)["digest"] in digests


# ------------------------------------------------------------ several at once


def test_every_problem_reported_at_once() -> None:
    entries = servers(1000, 1, 1)
    entries[1]["name"] = "web\n2"
    entries[1]["weight"] = "heavy"
    entries[2]["wieght"] = 2
    groups = groups_for("production", {"cacheservers": []})
    found = problems(
        [
            svc(balance="roundrobbin", servers=entries),
            svc(name="cache", listen=6379, mode="tcp", servers=DROP, backend_group="cacheservers", backend_port=6379),
            svc(name="cache", listen=6379),
        ],
        groups=groups,
        lb_engine="haproxy",
    )
    one(found, "balance 'roundrobbin' is not a known algorithm; did you mean 'roundrobin'?")
    one(found, "server web1: weight 1000 is out of range")
    one(found, "servers[1]: server name 'web\\n2' is invalid")
    one(found, "servers[1]: weight 'heavy' is a string")
    one(found, "server web3: unknown key 'wieght'; did you mean 'weight'?")
    one(found, "backend_group 'cacheservers' has no hosts in environment production")
    one(found, "duplicate service name")
    one(found, "listen port 6379 is already used by service cache")
    assert len(found) == 8


def test_model_error_lists_every_problem_prefixed_with_host() -> None:
    host_vars = {"lb_services": [svc(balance="roundrobbin", servers=servers(0, 0))]}
    with pytest.raises(AnsibleFilterError) as caught:
        lbguard_model_build.normalize_model(LB, host_vars, groups_for("staging"), {})
    error = caught.value
    assert isinstance(error, lbguard_model_values.ModelError)
    lines = str(error.message).splitlines()
    assert lines[0] == "lbguard: the load-balancer model of lb1 has 2 problems:"
    assert lines[1:] == [f"lb1: {p}" for p in error.problems]
    assert len(error.problems) == 2


# ------------------------------------------------------------------ summaries


def test_share_summary() -> None:
    service = model([svc()])["services"][0]
    assert m.lbguard_share_summary(service) == "web1=33%, web2=33%, web3=33%"
    entries = servers(3, 1, 1)
    entries[2]["backup"] = True
    service = model([svc(servers=entries)])["services"][0]
    assert lbguard_model_build.share_summary(service) == "web1=75%, web2=25%, web3=0%"


@pytest.mark.parametrize("value", [None, "shop", {"servers": "x"}, {"servers": [{"name": "web1"}]}])
def test_share_summary_rejects_non_normalised_input(value: Any) -> None:
    with pytest.raises(AnsibleFilterError, match="lbguard_share_summary"):
        m.lbguard_share_summary(value)


# ------------------------------------------------------ rendering / adapters


def test_unrenderable_values_become_problems() -> None:
    entries = servers(1, 1)
    entries[0]["address"] = lbguard_model_values.Unrenderable("'nothere' is undefined")
    found = problems([svc(servers=entries)])
    assert found == ["service shop: server web1: address cannot be rendered: 'nothere' is undefined"]
    one(problems(lbguard_model_values.Unrenderable("boom")), "lb_services cannot be rendered: boom")


class _ExplodingMapping(dict):
    """Stands in for a lazy Ansible container whose item fails to render."""

    def __getitem__(self, key: Any) -> Any:
        value = dict.__getitem__(self, key)
        if value == "{{ hostvars['web1'].ansible_host }}":
            raise RuntimeError("'hostvars' is undefined")
        return value


class _OmitType:
    """Same class name as ansible-core 2.19's omit placeholder."""


def test_to_plain_handles_render_errors_and_omit() -> None:
    raw = _ExplodingMapping(name="web1", address="{{ hostvars['web1'].ansible_host }}", port=80, weight=_OmitType())
    plain = lbguard_model_values.to_plain(raw)
    assert type(plain) is dict
    assert set(plain) == {"name", "address", "port"}  # omitted weight dropped
    assert isinstance(plain["address"], lbguard_model_values.Unrenderable)
    assert "ansible-core 2.19+" in plain["address"].reason
    assert lbguard_model_values.to_plain([1, _OmitType(), "a", (2, 3)]) == [1, "a", [2, 3]]


class _TaggedStr(str):
    pass


class _TaggedInt(int):
    pass


def test_to_plain_strips_subclasses() -> None:
    plain = lbguard_model_values.to_plain({"a": _TaggedStr("x"), "b": [_TaggedInt(3)], "c": True, "d": 0.5, "e": None})
    assert plain == {"a": "x", "b": [3], "c": True, "d": 0.5, "e": None}
    assert type(plain["a"]) is str and type(plain["b"][0]) is int


def fake_inventory() -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    hostvars = {
        "lb1": {
            "ansible_host": "192.0.2.10",
            "lb_services": [{"name": "shop", "listen": 80, "backend_group": "webservers", "backend_port": 8080}],
            "unrelated": object(),
        },
        "web1": {"lb_address": "web1.example"},
        "web2": {"ansible_host": "192.0.2.12", "lb_weight": _TaggedInt(2)},
    }
    groups = {
        "all": ["lb1", "web1", "web2"],
        "ungrouped": [],
        "webservers": ["web1", "web2"],
        "staging": ["lb1", "web1", "web2"],
        "loadbalancers": ["lb1"],
    }
    return hostvars, groups


def test_filter_adapters_with_plain_mappings() -> None:
    hostvars, groups = fake_inventory()
    assert m.lbguard_model_problems("lb1", hostvars, groups) == []
    result = m.lbguard_validated_model("lb1", hostvars, groups)
    assert [(s["name"], s["address"], s["weight"]) for s in result["services"][0]["servers"]] == [
        ("web1", "web1.example", 1),
        ("web2", "192.0.2.12", 2),
    ]
    assert m.lbguard_share_summary(result["services"][0]) == "web1=33%, web2=67%"


def test_filter_adapters_report_problems() -> None:
    hostvars, groups = fake_inventory()
    hostvars["web1"]["lb_weight"] = "heavy"
    found = m.lbguard_model_problems("lb1", hostvars, groups)
    assert found == [
        "service shop: server web1: weight (from host var lb_weight of web1) 'heavy' is a string, "
        "not an integer; expected an integer from 0 to 256 (haproxy)"
    ]
    with pytest.raises(AnsibleFilterError, match="lb1: service shop: server web1: weight"):
        m.lbguard_validated_model("lb1", hostvars, groups)


def test_filter_unknown_host() -> None:
    hostvars, groups = fake_inventory()
    assert m.lbguard_model_problems("lb9", hostvars, groups) == ["lb9 is not a host of the inventory"]
    with pytest.raises(AnsibleFilterError, match="lb9 is not a host of the inventory"):
        m.lbguard_validated_model("lb9", hostvars, groups)


@pytest.mark.parametrize("args", [(None, {}, {}), ("lb1", [], {}), ("lb1", {}, "groups")])
def test_filter_argument_errors(args: tuple[Any, Any, Any]) -> None:
    with pytest.raises(AnsibleFilterError):
        m.lbguard_model_problems(*args)


def test_backend_vars_are_read_once_per_host() -> None:
    reads: list[str] = []

    class CountingHostvars(dict):
        def __getitem__(self, key: str) -> Any:
            reads.append(key)
            return dict.__getitem__(self, key)

    hostvars, groups = fake_inventory()
    service = hostvars["lb1"]["lb_services"][0]
    hostvars["lb1"]["lb_services"] = [service, dict(service, name="shop2", listen=81)]
    counting = CountingHostvars(hostvars)
    assert m.lbguard_model_problems("lb1", counting, groups) == []
    assert sorted(reads) == ["lb1", "web1", "web2"]


def test_filter_module_exports() -> None:
    assert set(m.FilterModule().filters()) == {
        "lbguard_change_id",
        "lbguard_model_problems",
        "lbguard_model_findings",
        "lbguard_validated_model",
        "lbguard_share_summary",
        "lbguard_environment",
        "lbguard_inventory_groups",
        "lbguard_tls_files",
        "lbguard_stats_password_hash",
    }


def test_groups_are_converted_only_when_needed() -> None:
    reads: list[str] = []

    class CountingGroups(dict):
        def __getitem__(self, key: str) -> Any:
            reads.append(key)
            return dict.__getitem__(self, key)

    hostvars, groups = fake_inventory()
    groups.update({f"other{i}": ["web1"] for i in range(50)})
    assert m.lbguard_model_problems("lb1", hostvars, CountingGroups(groups)) == []
    assert sorted(set(reads)) == ["loadbalancers", "staging", "webservers"]  # no production group here


def test_change_id_covers_every_lb_and_survives_an_invalid_model() -> None:
    groups = {"all": [LB, "lb2"], "loadbalancers": [LB, "lb2"], "staging": [LB, "lb2"]}
    good = {LB: {"lb_services": [svc()]}, "lb2": {"lb_services": [svc()]}}
    first = lbguard_model_inputs.lbguard_change_id([LB, "lb2"], good, groups)
    assert first == lbguard_model_inputs.lbguard_change_id([LB, "lb2"], good, groups)
    changed = {LB: {"lb_services": [svc()]}, "lb2": {"lb_services": [svc(balance="leastconn")]}}
    assert lbguard_model_inputs.lbguard_change_id([LB, "lb2"], changed, groups) != first
    invalid = {LB: {"lb_services": [svc()]}, "lb2": {"lb_services": [svc(balance="nope")]}}
    assert len(lbguard_model_inputs.lbguard_change_id([LB, "lb2"], invalid, groups)) == 64


def backend_service() -> dict[str, Any]:
    return svc(servers=DROP, backend_group="webservers", backend_port=8080)


def test_a_backend_in_both_environments_is_refused() -> None:
    groups, backends = backend_setup()
    groups["staging"].append("web1")
    one(
        problems([backend_service()], groups=groups, backends=backends, lb_policy={"max_server_share": 0.7}),
        "service shop: backend host web1 of group 'webservers' is in both groups staging and production",
    )


def test_a_backend_in_no_environment_does_not_drop_out_silently() -> None:
    groups, backends = backend_setup()
    groups["production"].remove("web3")
    one(
        problems([backend_service()], groups=groups, backends=backends, lb_policy={"max_server_share": 0.7}),
        "service shop: backend host web3 of group 'webservers' is in neither group staging nor group production",
    )


def test_a_load_balancer_in_its_own_backend_group_is_refused() -> None:
    groups, backends = backend_setup()
    groups["webservers"].append(LB)
    one(
        problems([backend_service()], groups=groups, backends=backends, lb_policy={"max_server_share": 0.7}),
        "service shop: backend host lb1 of group 'webservers' is a load balancer (group loadbalancers)",
    )


RENAMED = {"loadbalancers": "edge", "staging": "preprod", "production": "live"}


def renamed(groups: dict[str, list[str]]) -> dict[str, list[str]]:
    return {RENAMED.get(name, name): members for name, members in groups.items()}


def test_group_names_map_the_inventory_s_own_groups() -> None:
    groups, backends = backend_setup()
    host_vars = {"lb_services": [backend_service()], "lb_policy": {"max_server_share": 0.7}}
    result, found = lbguard_model_build.build_model(LB, host_vars, renamed(groups), backends, RENAMED)
    assert found == [] and result is not None
    assert result["environment"] == "production"
    assert [s["name"] for s in result["services"][0]["servers"]] == ["web3", "web1", "web2"]
    # The same inventory read with lbguard's default names has no environment for lb1.
    assert lbguard_model_build.build_model(LB, host_vars, renamed(groups), backends)[0] is None


def test_messages_name_the_mapped_groups() -> None:
    groups = renamed(groups_for(None))
    found = lbguard_model_build.build_model(LB, {"lb_services": [svc()]}, groups, {}, RENAMED)[1]
    one(found, "lb1 is in neither group preprod nor group live")


@pytest.mark.parametrize(
    ("names", "fragment"),
    [
        ({"prodution": "live"}, "'prodution' is not a group role; did you mean 'production'?"),
        ({"staging": "pre prod"}, "lbguard_group_names.staging: 'pre prod' is not a group name"),
        ({"staging": "envs", "production": "envs"}, "staging and production are both group 'envs'"),
        (["edge"], "lbguard_group_names must map group roles to group names, got a list"),
    ],
)
def test_group_names_are_checked(names: Any, fragment: str) -> None:
    found = lbguard_model_build.build_model(LB, {"lb_services": [svc()]}, groups_for("staging"), {}, names)[1]
    assert any(fragment in problem for problem in found), found


def test_environment_filter_uses_the_same_rule() -> None:
    groups = renamed(groups_for("production"))
    assert lbguard_model_inputs.lbguard_environment(LB, groups, RENAMED) == "production"
    with pytest.raises(AnsibleFilterError, match="lb1 is in neither of the groups staging and production"):
        lbguard_model_inputs.lbguard_environment(LB, groups)
    assert lbguard_model_inputs.lbguard_environment(LB, groups, None, "unknown") == "unknown"


def test_inventory_groups_completes_the_mapping_and_refuses_a_typo() -> None:
    assert m.lbguard_inventory_groups(None) == {"loadbalancers": "loadbalancers", "staging": "staging", "production": "production"}
    assert m.lbguard_inventory_groups({"production": "live"})["production"] == "live"
    through_ansible = m.FilterModule().filters()["lbguard_inventory_groups"]
    with pytest.raises(AnsibleFilterError, match="'stagin' is not a group role; did you mean 'staging'"):
        through_ansible({"stagin": "preprod"})


def test_two_spellings_of_one_endpoint_are_one_server() -> None:
    entries = servers(1, 1)
    entries[0]["address"], entries[1]["address"] = "10.0.0.7", "::ffff:10.0.0.7"
    one(problems([svc(servers=entries)]), "servers web1 and web2 both point to 10.0.0.7:8080")
    entries[0]["address"], entries[1]["address"] = "web7.example", "WEB7.example."
    one(problems([svc(servers=entries)]), "servers web1 and web2 both point to web7.example:8080")


@pytest.mark.parametrize(("identity", "address"), [
    ({}, "lb1"),
    ({"ansible_host": "192.0.2.10"}, "192.0.2.10"),
    ({"lb_address": "lb1.prod.example"}, "LB1.prod.example."),
    ({"ansible_host": "2001:db8::10"}, "::ffff:192.0.2.99"),  # not the LB: accepted
])
def test_a_server_that_is_the_load_balancer_itself_is_refused(identity: dict[str, str], address: str) -> None:
    entries = servers(1, 1)
    entries[0]["address"] = address
    found = problems([svc(servers=entries)], **identity)
    looped = [p for p in found if "points to this load balancer itself" in p]
    if address.startswith("::ffff:"):
        assert looped == [], found
    else:
        assert len(looped) == 1 and "server web1" in looped[0] and "requests would loop back into it" in looped[0], found


def test_a_backup_server_without_weight_is_refused() -> None:
    entries = servers(1, 1, 0)
    entries[2]["backup"] = True
    one(problems([svc(servers=entries)]), "server web3: a backup server with weight 0 never takes over")


def test_http_health_check_keys_on_a_tcp_service_are_refused() -> None:
    found = problems([svc(mode="tcp", health_check={"path": "/health", "expect_status": 204, "interval": "2s"})])
    one(found, "health_check.path applies only to mode http")
    one(found, "health_check.expect_status applies only to mode http")


@pytest.mark.parametrize("engine", ["haproxy", "nginx"])
def test_a_service_on_lbguards_status_port_is_refused(engine: str) -> None:
    one(problems([svc(listen=8405)], lb_engine=engine), f"listen port 8405 is lbguard's status listener ({engine}_status_bind 127.0.0.1:8405)")
    moved = {f"{engine}_status_bind": "127.0.0.1:9405"}
    assert problems([svc(listen=8405)], lb_engine=engine, **moved) == []
    one(problems([svc(listen=9405)], lb_engine=engine, **moved), "listen port 9405 is lbguard's status listener")


def test_the_status_port_default_is_the_engine_roles_default() -> None:
    for engine, var in lbguard_model_schema.STATUS_BIND_VARS.items():
        defaults = yaml.safe_load((REPO_ROOT / "roles" / engine / "defaults" / "main.yml").read_text())
        # The role reads the same constant the model checks against.
        assert defaults[var] == "{{ 'status_bind' | lbguard.core.lbguard_constant }}", engine
    assert lbguard_model_frontends.STATUS_BIND_DEFAULT == CONSTANTS["status_bind"]


def test_nginx_refuses_tcp_services_before_any_host_is_touched() -> None:
    one(problems([svc(mode="tcp", health_check={"interval": "2s"})], lb_engine="nginx"), "mode tcp is not available with nginx")
    assert problems([svc(mode="tcp", health_check={"interval": "2s"})], lb_engine="haproxy") == []


def test_nginx_service_names_that_differ_only_in_case_collide() -> None:
    found = problems([svc(name="Shop"), svc(name="shop", listen=8081)], lb_engine="nginx")
    one(found, "service shop: nginx names upstreams case-insensitively, so it collides with service Shop")
    assert problems([svc(name="Shop"), svc(name="shop", listen=8081)], lb_engine="haproxy") == []
