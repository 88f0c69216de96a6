"""A key added by its declaration alone: server_max_connections (plain, in services and pools)."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.lbguard.core.plugins.plugin_utils import lbguard_model_build, lbguard_model_spec

LB = "lb1"
SERVERS = [{"name": f"web{i}", "address": f"10.0.0.{i}", "port": 8080} for i in (1, 2)]


def build(host_vars: dict[str, Any]) -> tuple[dict | None, list[str]]:
    groups = {"all": [LB], "loadbalancers": [LB], "staging": [LB]}
    return lbguard_model_build.build_model(LB, host_vars, groups, {})


def service(**extra: Any) -> dict[str, Any]:
    return {"name": "shop", "listen": 80, "servers": SERVERS, **extra}


def edge(**extra: Any) -> dict[str, Any]:
    return {
        "lb_frontends": [{"name": "edge", "binds": [{"port": 8080}], "default_pool": "api"}],
        "lb_pools": [{"name": "api", "servers": SERVERS, **extra}],
    }


def test_the_key_is_declared_once_and_pools_inherit_it() -> None:
    declared = lbguard_model_spec.SERVICE["server_max_connections"]
    assert declared["plain"] is True
    assert lbguard_model_spec.POOL["server_max_connections"] is declared


@pytest.mark.parametrize("engine", ["haproxy", "nginx"])
def test_a_service_and_a_pool_carry_it_into_the_validated_model(engine: str) -> None:
    model, problems = build({"lb_engine": engine, "lb_services": [service(server_max_connections=50)],
                             **edge(server_max_connections=7)})
    assert problems == []
    assert model is not None
    by_name = {s["name"]: s for s in model["services"]}
    assert by_name["shop"]["server_max_connections"] == 50
    assert by_name["api"]["server_max_connections"] == 7


def test_left_out_it_is_absent_so_the_model_and_its_digest_do_not_change() -> None:
    model, problems = build({"lb_services": [service()]})
    assert problems == []
    assert model is not None
    assert "server_max_connections" not in model["services"][0]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (0, "service shop: server_max_connections 0 is out of range; expected an integer from 1 to 100000"),
        (100_001, "service shop: server_max_connections 100001 is out of range"),
        ("many", "service shop: server_max_connections 'many' is a string, not an integer"),
        (True, "service shop: server_max_connections True is a boolean, not an integer"),
    ],
)
def test_values_out_of_its_declared_range_are_refused_naming_the_service(value: Any, problem: str) -> None:
    model, problems = build({"lb_services": [service(server_max_connections=value)]})
    assert model is None
    assert [p for p in problems if problem in p], problems


def test_a_pool_is_named_in_its_problem() -> None:
    _model, problems = build(edge(server_max_connections=-1))
    assert [p for p in problems if p.startswith("pool api: server_max_connections -1 is out of range")], problems
