"""Listeners in canonical form (#27): one address in two spellings is one listener; IPv4 and IPv6 every-address
binds are two sockets; a server that is one of the load balancer's listeners is a loop; pool names that are
nginx map keywords are keys like any other."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.lbguard.core.plugins.plugin_utils import lbguard_listeners as ls
from ansible_collections.lbguard.core.plugins.plugin_utils import lbguard_model_build

LB = "lb1"


def pool(name: str, first: int, port: int = 8080) -> dict[str, Any]:
    return {"name": name, "servers": [{"name": f"{name}{i}", "address": f"10.0.{first}.{i}", "port": port}
                                      for i in (1, 2, 3)]}


def frontend(name: str, *binds: dict[str, Any], default_pool: str = "shop") -> dict[str, Any]:
    return {"name": name, "binds": list(binds), "default_pool": default_pool}


def problems(frontends: list[dict[str, Any]], pools: list[dict[str, Any]] | None = None, **extra: Any) -> list[str]:
    host_vars = {"lb_frontends": frontends, "lb_pools": pools if pools is not None else [pool("shop", 1)], **extra}
    groups = {"all": [LB], "loadbalancers": [LB], "staging": [LB]}
    return lbguard_model_build.build_model(LB, host_vars, groups, {})[1]


def one(found: list[str], *fragments: str) -> str:
    hits = [p for p in found if all(f in p for f in fragments)]
    assert len(hits) == 1, f"expected one problem with {fragments}, got {found}"
    return hits[0]


@pytest.mark.parametrize(("written", "canonical"), [
    ("", ""), (None, ""), ("0.0.0.0", ""), ("::ffff:0.0.0.0", ""),
    ("::", "::"), ("0:0::0", "::"), ("0000:0000:0000:0000:0000:0000:0000:0000", "::"),
    ("::ffff:10.0.0.1", "10.0.0.1"), ("::FFFF:a00:1", "10.0.0.1"), ("10.0.0.1", "10.0.0.1"),
    ("2001:DB8:0::1", "2001:db8::1"), ("224.0.0.1", None), ("ff02::1", None), ("10.0.0.300", None),
    ("shop.example.com", None), (8080, None),
])
def test_a_bind_address_has_one_canonical_spelling(written: Any, canonical: str | None) -> None:
    assert ls.bind_address(written) == canonical


@pytest.mark.parametrize(("one_bind", "other_bind", "same"), [
    (("", 443), ("::", 443), False),  # dual stack: two sockets
    (("", 443), ("10.0.0.1", 443), True),  # every IPv4 address includes 10.0.0.1
    (("::", 443), ("2001:db8::1", 443), True),
    (("::", 443), ("10.0.0.1", 443), False),  # [::] is v6only: IPv4 addresses are not in it
    (("10.0.0.1", 443), ("10.0.0.2", 443), False),
    (("10.0.0.1", 443), ("10.0.0.1", 443), True),
    (("", 443), ("", 80), False),
])
def test_two_listeners_overlap_on_one_port_of_one_family_only(
        one_bind: tuple[str, int], other_bind: tuple[str, int], same: bool) -> None:
    first, second = ls.listener(*one_bind, "a"), ls.listener(*other_bind, "b")
    assert ls.overlap(first, second) is same and ls.overlap(second, first) is same


@pytest.mark.parametrize(("text", "address", "families"), [
    ("127.0.0.1:8405", "127.0.0.1", {4}), ("[::1]:8405", "::1", {6}), (":8405", "", {4}), ("*:8405", "", {4}),
    ("0.0.0.0:8405", "", {4}), ("[::]:8405", "::", {4, 6}), ("[::ffff:127.0.0.1]:8405", "127.0.0.1", {4}),
])
def test_the_status_bind_is_read_as_the_engines_read_it(text: str, address: str, families: set[int]) -> None:
    found = ls.status_listener(text, "status")
    assert found is not None and (found.address, found.port, set(found.families)) == (address, 8405, families)
    assert ls.status_listener("localhost:x", "status") is None
    nginx = ls.status_listener("[::]:8405", "status", "nginx")  # nginx's [::] is ipv6only
    assert nginx is not None and set(nginx.families) == {6}


def test_a_dual_stack_frontend_is_accepted() -> None:
    assert problems([frontend("edge", {"port": 80}, {"port": 80, "address": "::"})]) == []
    assert problems([frontend("edge", {"port": 80, "address": "0.0.0.0"}, {"port": 80, "address": "::"})]) == []


@pytest.mark.parametrize(("binds", "fragment"), [
    ([{"port": 80, "address": "10.0.0.5"}, {"port": 80, "address": "::ffff:10.0.0.5"}],
     "frontend edge: port 80 on 10.0.0.5 is already used by frontend edge"),
    ([{"port": 80}, {"port": 80, "address": "0.0.0.0"}], "frontend edge: port 80 is already used by frontend edge"),
    ([{"port": 80, "address": "::"}, {"port": 80, "address": "0::0"}],
     "frontend edge: port 80 on [::] is already used by frontend edge"),
    ([{"port": 80, "address": "::"}, {"port": 80, "address": "2001:db8::5"}],
     "port 80 on [2001:db8::5] is already used by frontend edge ([::]:80 is every IPv6 address, 2001:db8::5 among"),
    ([{"port": 80}, {"port": 80, "address": "10.0.0.5"}], "port 80 on 10.0.0.5 is already used by frontend edge (*:80"),
])
def test_one_socket_in_two_spellings_is_refused(binds: list[dict[str, Any]], fragment: str) -> None:
    one(problems([frontend("edge", *binds)]), fragment)


def test_every_ipv6_address_is_not_taken_by_a_service_on_every_ipv4_address() -> None:
    service = {"name": "legacy", "listen": 443, "servers": pool("legacy", 9)["servers"]}
    assert problems([frontend("edge", {"port": 443, "address": "::"})], lb_services=[service]) == []
    one(problems([frontend("edge", {"port": 443, "address": "10.0.0.5"})], lb_services=[service]),
        "frontend edge: port 443 on 10.0.0.5 is already used by service legacy (*:443")


def test_the_stats_page_and_the_status_listener_are_compared_by_family() -> None:
    stats = {"address": "::1", "port": 8404, "user": "ops", "password": "correct horse battery"}
    assert problems([frontend("edge", {"port": 8404})], lb_stats=stats) == []
    one(problems([frontend("edge", {"port": 8404, "address": "::"})], lb_stats=stats),
        "lb_stats: port 8404 on ::1 is already used by frontend edge ([::]:8404)")
    assert problems([frontend("edge", {"port": 8405, "address": "::"})]) == []  # the default is 127.0.0.1:8405
    one(problems([frontend("edge", {"port": 8405})]), "frontend edge: port 8405 is lbguard's status listener")
    one(problems([frontend("edge", {"port": 8405, "address": "::"})], haproxy_status_bind="[::1]:8405"),
        "frontend edge: port 8405 is lbguard's status listener (haproxy_status_bind [::1]:8405)")
    one(problems([frontend("edge", {"port": 8405, "address": "::"})], haproxy_status_bind="[::]:8405"),
        "lbguard's status listener (haproxy_status_bind [::]:8405)")


@pytest.mark.parametrize("address", ["0.0.0.0", "::", "::ffff:0.0.0.0"])
def test_the_stats_page_never_listens_on_every_address(address: str) -> None:
    stats = {"address": address, "port": 8404, "user": "ops", "password": "correct horse battery"}
    one(problems([frontend("edge", {"port": 80})], lb_stats=stats), f"lb_stats: address {address!r} must be one")


def test_a_pool_server_that_is_a_listener_of_the_load_balancer_is_refused() -> None:
    looped = pool("shop", 1, port=80)
    looped["servers"][0]["address"] = "10.0.0.5"
    found = problems([frontend("edge", {"port": 80, "address": "10.0.0.5"})], [looped])
    one(found, "pool shop: server shop1 (10.0.0.5:80) is frontend edge's listener (10.0.0.5:80) on this load "
               "balancer: requests would loop back into it")
    looped["servers"][0]["port"] = 8080  # another port of that address: a local application, not a listener
    assert problems([frontend("edge", {"port": 80, "address": "10.0.0.5"})], [looped]) == []


def test_a_server_at_a_listener_address_on_an_every_address_port_is_a_loop() -> None:
    looped = pool("shop", 1, port=443)
    looped["servers"][1]["address"] = "::ffff:10.0.0.5"
    binds = [{"port": 80, "address": "10.0.0.5"}, {"port": 443}]
    one(problems([frontend("edge", *binds)], [looped]),
        "pool shop: server shop2 (10.0.0.5:443) is frontend edge's listener (*:443)")
    stats = {"address": "10.0.0.7", "port": 8404, "user": "ops", "password": "correct horse battery"}
    looped = pool("shop", 1, port=8404)
    looped["servers"][2]["address"] = "10.0.0.7"
    one(problems([frontend("edge", {"port": 80})], [looped], lb_stats=stats),
        "pool shop: server shop3 (10.0.0.7:8404) is lb_stats's listener (10.0.0.7:8404)")


def test_a_pool_server_at_the_load_balancers_own_address_is_named_as_a_pool() -> None:
    looped = pool("shop", 1)
    looped["servers"][0]["address"] = "192.0.2.10"
    one(problems([frontend("edge", {"port": 80})], [looped], ansible_host="192.0.2.10"),
        "pool shop: server shop1 points to this load balancer itself (192.0.2.10, its host var ansible_host)")


@pytest.mark.parametrize("engine", ["haproxy", "nginx"])
def test_nginx_map_keywords_and_engine_names_are_ordinary_pool_and_frontend_names(engine: str) -> None:
    names = ["default", "hostnames", "include", "volatile"]
    pools = [pool(name, i) for i, name in enumerate(names, start=1)]
    routes = [{"hosts": [f"{name}.example.com"], "pool": name} for name in names[1:]]
    frontends = [{"name": name, "binds": [{"port": 8000 + i}], "routes": routes if i == 0 else [],
                  "default_pool": "default"} for i, name in enumerate(names)]
    assert problems(frontends, pools, lb_engine=engine) == []


@pytest.mark.parametrize(("engine", "refused"), [("haproxy", True), ("nginx", False)])
def test_a_status_listener_on_every_ipv6_address_is_read_per_engine(engine: str, refused: bool) -> None:
    found = problems([frontend("edge", {"port": 8405})], lb_engine=engine, **{f"{engine}_status_bind": "[::]:8405"})
    assert [p for p in found if "port 8405 is lbguard's status listener" in p] == (
        [f"frontend edge: port 8405 is lbguard's status listener ({engine}_status_bind [::]:8405), which verification "
         "reads; choose another port"] if refused else []), found
