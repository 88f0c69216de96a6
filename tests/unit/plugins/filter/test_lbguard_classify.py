"""Unit tests of filter_plugins/lbguard_classify.py: every state, the exact sentences, precedence, bad input."""

from __future__ import annotations

from typing import Any

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.lbguard.core.plugins.filter import lbguard_classify as c
from ansible_collections.lbguard.core.plugins.plugin_utils import lbguard_classify


def server(name: str, share: float, weight: int = 1, backup: bool = False, disabled: bool = False) -> dict[str, Any]:
    """One normalised model server."""
    return {"name": name, "address": name, "port": 80, "weight": weight, "backup": backup,
            "disabled": disabled, "expected_share": share}


def service(
    name: str = "shop", balance: str = "roundrobin", servers: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """One normalised model service, three equal servers by default."""
    if servers is None:
        servers = [server("web1", 1 / 3), server("web2", 1 / 3), server("web3", 1 / 3)]
    return {"name": name, "mode": "http", "listen": 8080, "balance": balance,
            "policy": {"min_active_servers": 2, "max_server_share": 0.5, "allow_first": False},
            "servers": servers}


def model(*services: dict[str, Any]) -> dict[str, Any]:
    """A normalised model of one load balancer (service "shop" when none given)."""
    return {"host": "lb-prod-1", "engine": "haproxy", "environment": "production", "digest": "d" * 64,
            "services": list(services) or [service()]}


def counts(*requests: int, status: tuple[str, ...] = ("UP", "UP", "UP"), weights: tuple[int, ...] = (1, 1, 1),
           names: tuple[str, ...] = ("web1", "web2", "web3"), **rates: float) -> dict[str, Any]:
    """Counters of one service."""
    result: dict[str, Any] = {
        name: {"requests": r, "status": s, "weight": w} for name, r, s, w in zip(names, requests, status, weights)
    }
    result.update(rates)
    return result


# ------------------------------------------------------------------ the four states


def test_healthy_exact_sentence() -> None:
    result = c.lbguard_classify(model(), {"shop": counts(396, 396, 408)})
    assert result["state"] == "healthy"
    assert result["reason"] == "healthy: shop web1 33%, web2 33%, web3 34% of 1,200 requests"
    assert result["findings"] == [result["reason"]]
    shop = result["services"]["shop"]
    assert shop["state"] == "healthy" and shop["requests"] == 1200 and shop["judged"] is True
    assert shop["shares"]["web3"] == pytest.approx(0.34)
    assert shop["in_rotation"] == ["web1", "web2", "web3"]


def test_incident_is_a_misconfiguration_exact_sentence() -> None:
    result = c.lbguard_classify(model(), {"shop": counts(12400, 0, 0)})
    assert result["state"] == "internal_misconfiguration"
    assert result["reason"] == (
        "misconfiguration: web1 took 100% of 12,400 requests while web2 and web3 were UP with equal weight"
    )
    assert result["services"]["shop"]["concentrated"] == ["web1"]


def test_even_surge_exact_sentence() -> None:
    result = c.lbguard_classify(model(), {"shop": counts(408, 396, 396, rate=52.0, baseline_rate=10.0)})
    assert result["state"] == "external_surge"
    assert result["reason"] == (
        "surge: shop at 5.2x its baseline rate, split as the weights say (web1 34%, web2 33%, web3 33%)"
    )
    assert result["services"]["shop"]["surge_ratio"] == pytest.approx(5.2)


def test_backend_down_exact_sentence() -> None:
    result = c.lbguard_classify(model(), {"shop": counts(600, 0, 600, status=("UP", "DOWN", "UP"))})
    assert result["state"] == "backends_down"
    assert result["reason"] == "backends down: web2 (DOWN) in shop"
    shop = result["services"]["shop"]
    assert shop["down"] == ["web2"] and shop["concentrated"] == []
    # web1 and web3 at 50% are exactly their share among the servers in rotation
    assert shop["expected_in_rotation"] == {"web1": 0.5, "web2": 0.0, "web3": 0.5}


# ------------------------------------------------------- telling the causes apart


def test_concentration_during_a_surge_is_a_misconfiguration_not_a_surge() -> None:
    result = c.lbguard_classify(model(), {"shop": counts(60000, 0, 0, rate=200.0, baseline_rate=40.0)})
    assert result["state"] == "internal_misconfiguration"
    assert result["findings"] == [
        "misconfiguration: web1 took 100% of 60,000 requests while web2 and web3 were UP with equal weight"
    ]


def test_surge_below_the_factor_is_healthy() -> None:
    result = c.lbguard_classify(model(), {"shop": counts(400, 400, 400, rate=29.0, baseline_rate=10.0)})
    assert result["state"] == "healthy"
    assert result["services"]["shop"]["surge_ratio"] == pytest.approx(2.9)


def test_last_server_standing_is_not_a_misconfiguration() -> None:
    result = c.lbguard_classify(model(), {"shop": counts(900, 0, 0, status=("UP", "DOWN", "MAINT"))})
    assert result["state"] == "backends_down"
    assert result["reason"] == "backends down: web2 (DOWN) and web3 (MAINT) in shop"


def test_half_of_four_servers_down_is_not_a_misconfiguration() -> None:
    four = service("cart", servers=[server(f"cart{i}", 0.25) for i in range(1, 5)])
    names = ("cart1", "cart2", "cart3", "cart4")
    result = c.lbguard_classify(
        model(four),
        {"cart": counts(500, 500, 0, 0, names=names, status=("UP", "UP", "DOWN", "DOWN"), weights=(1, 1, 1, 1))},
    )
    assert result["state"] == "backends_down"
    assert result["reason"] == "backends down: cart3 (DOWN) and cart4 (DOWN) in cart"


def test_misconfiguration_and_down_server_lists_both_findings() -> None:
    result = c.lbguard_classify(model(), {"shop": counts(1000, 0, 0, status=("UP", "UP", "DOWN"))})
    assert result["state"] == "internal_misconfiguration"
    assert result["findings"] == [
        "misconfiguration: web1 took 100% of 1,000 requests while web2 was UP with equal weight",
        "backends down: web3 (DOWN) in shop",
    ]
    assert result["reason"] == "; ".join(result["findings"])


def test_precedence_across_services_and_named_services() -> None:
    shop, api = service("shop"), service("api", servers=[server("api1", 0.5), server("api2", 0.5)])
    result = c.lbguard_classify(model(shop, api), {
        "shop": counts(400, 400, 400, status=("UP", "UP", "UP"), rate=50.0, baseline_rate=5.0),
        "api": counts(300, 0, names=("api1", "api2"), status=("UP", "UP"), weights=(1, 1)),
    })
    assert result["state"] == "internal_misconfiguration"
    assert result["findings"] == [
        "misconfiguration: api1 took 100% of 300 requests in api while api2 was UP with equal weight",
        "surge: shop at 10.0x its baseline rate, split as the weights say (web1 33%, web2 33%, web3 33%)",
    ]
    assert result["services"]["shop"]["state"] == "external_surge"
    assert result["services"]["api"]["state"] == "internal_misconfiguration"


def test_surge_with_a_server_down_is_backends_down_first() -> None:
    result = c.lbguard_classify(
        model(), {"shop": counts(700, 0, 700, status=("UP", "DOWN", "UP"), rate=40.0, baseline_rate=10.0)}
    )
    assert result["state"] == "backends_down"
    assert result["findings"] == [
        "backends down: web2 (DOWN) in shop",
        "surge: shop at 4.0x its baseline rate, split as the weights say (web1 50%, web2 0%, web3 50%)",
    ]


def test_unequal_weights_are_named() -> None:
    weighted = service(servers=[server("web1", 0.5, weight=2), server("web2", 0.25), server("web3", 0.25)])
    result = c.lbguard_classify(model(weighted), {"shop": counts(1000, 0, 0, weights=(2, 1, 1))})
    assert result["reason"] == (
        "misconfiguration: web1 took 100% of 1,000 requests while web2 and web3 were UP with weight 1 each"
    )
    result = c.lbguard_classify(model(weighted), {"shop": counts(0, 1000, 0, weights=(2, 1, 1))})
    assert result["reason"] == (
        "misconfiguration: web2 took 100% of 1,000 requests while web1 and web3 were UP with weights 2 and 1"
    )


# ------------------------------------------------------------ what is not judged


def test_hash_balance_is_not_judged_for_shares() -> None:
    result = c.lbguard_classify(model(service(balance="source")),
                                {"shop": counts(1000, 0, 0, rate=100.0, baseline_rate=1.0)})
    assert result["state"] == "healthy"
    assert result["services"]["shop"]["judged"] is False


def test_too_few_requests_are_not_judged() -> None:
    result = c.lbguard_classify(model(), {"shop": counts(5, 0, 0)})
    assert result["state"] == "healthy"
    assert result["reason"] == "healthy: shop web1 100%, web2 0%, web3 0% of 5 requests"
    assert c.lbguard_classify(model(), {"shop": counts(5, 0, 0)}, {"min_requests": 5})["state"] == (
        "internal_misconfiguration"
    )


def test_excess_within_tolerance_is_healthy_and_tolerance_is_a_setting() -> None:
    # web1 at 1,600 of 3,000 (53.3%) is 20 points above a third: at the tolerance, not above it
    assert c.lbguard_classify(model(), {"shop": counts(1600, 700, 700)})["state"] == "healthy"
    assert c.lbguard_classify(model(), {"shop": counts(1601, 700, 699)})["state"] == "internal_misconfiguration"
    assert c.lbguard_classify(model(), {"shop": counts(1400, 800, 800)}, {"tolerance": 0.1})["state"] == (
        "internal_misconfiguration"
    )


def test_no_traffic_and_runtime_weight_zero() -> None:
    assert c.lbguard_classify(model(), {"shop": counts(0, 0, 0)})["reason"] == "healthy: shop got no requests"
    # web2 and web3 UP but weight 0 at runtime: not in rotation, so no "other" server could take traffic
    result = c.lbguard_classify(model(), {"shop": counts(900, 0, 0, weights=(1, 0, 0))})
    assert result["state"] == "healthy"
    assert result["services"]["shop"]["in_rotation"] == ["web1"]


def test_missing_server_and_status_forms() -> None:
    shop_counts = counts(500, 500, names=("web1", "web3"), status=("UP 1/3", "no check"), weights=(1, 1))
    shop_counts["web9"] = {"requests": 0, "status": "UP", "weight": 1}
    result = c.lbguard_classify(model(), {"shop": shop_counts})
    assert result["reason"] == "backends down: web2 (not reported) in shop"
    assert result["services"]["shop"]["unknown_servers"] == ["web9"]
    assert result["services"]["shop"]["in_rotation"] == ["web1", "web3"]


def test_backup_and_disabled_servers_are_not_down() -> None:
    spare = service(servers=[server("web1", 0.5), server("web2", 0.5), server("web3", 0.0, backup=True),
                             server("web4", 0.0, disabled=True)])
    result = c.lbguard_classify(model(spare), {"shop": counts(
        600, 600, 0, 0, names=("web1", "web2", "web3", "web4"), status=("UP", "UP", "DOWN", "MAINT"),
        weights=(1, 1, 1, 1))})
    assert result["state"] == "healthy"
    assert result["reason"] == "healthy: shop web1 50%, web2 50%, web3 0%, web4 0% of 1,200 requests"


# ------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("the_model", "the_counters", "settings", "message"),
    [
        ("lb-prod-1", {}, None, "expects the validated model"),
        (model(), {}, None, "no entry for service shop"),
        (model(), ["shop"], None, "counters must be a mapping"),
        (model(), {"shop": counts(1, "2", 3)}, None, "server web2: requests must be an integer >= 0"),
        (model(), {"shop": counts(1, True, 3)}, None, "requests must be an integer"),
        (model(), {"shop": counts(1, 2, 3, status=("UP", "", "UP"))}, None, "status must be a text"),
        (model(), {"shop": counts(1, 2, 3, weights=(1, -1, 1))}, None, "weight must be an integer >= 0"),
        (model(), {"shop": counts(1, 2, 3, rate="fast")}, None, "rate must be a number >= 0"),
        (model(), {"shop": {"web1": 5}}, None, "server web1 must be a mapping"),
        (model(), {"shop": counts(1, 2, 3)}, {"tolerence": 0.1}, "unknown settings tolerence"),
        (model(), {"shop": counts(1, 2, 3)}, {"tolerance": 2}, "settings.tolerance"),
        (model(), {"shop": counts(1, 2, 3)}, {"surge_factor": 1}, "settings.surge_factor"),
        (model(), {"shop": counts(1, 2, 3)}, {"min_requests": 1.5}, "settings.min_requests"),
        (model(), {"shop": counts(1, 2, 3)}, {"share_balances": "roundrobin"}, "settings.share_balances"),
    ],
)
def test_bad_input_raises_filter_error(the_model: Any, the_counters: Any, settings: Any, message: str) -> None:
    with pytest.raises(AnsibleFilterError, match=message):
        c.lbguard_classify(the_model, the_counters, settings)


def test_filter_is_registered() -> None:
    filters = c.FilterModule().filters()
    assert {name: function.__wrapped__ for name, function in filters.items()} == {
        "lbguard_classify": c.lbguard_classify, "lbguard_probe_counters": lbguard_classify.probe_counters}


def test_probe_counters_take_runtime_state_and_fall_back_to_the_model_for_nginx():
    model = {"services": [{"name": "shop", "servers": [{"name": "web1", "weight": 1}, {"name": "web2", "weight": 2}]}]}
    probe = {"traffic": {"shop": {"counts": {"web1": 40}}},
             "runtime": {"shop": {"web1": {"status": "UP", "weight": 1}, "web2": {"status": "DOWN", "weight": 2}}}}
    assert lbguard_classify.probe_counters(model, probe) == {"shop": {
        "web1": {"requests": 40, "status": "UP", "weight": 1},
        "web2": {"requests": 0, "status": "DOWN", "weight": 2}}}
    nginx = lbguard_classify.probe_counters(model, {"traffic": {"shop": {"counts": {"web2": 3}}}, "runtime": {}})
    assert nginx["shop"]["web2"] == {"requests": 3, "status": "UP", "weight": 2}


def test_probe_counters_prefer_haproxy_counters_over_the_probe_answers_when_usable():
    model = {"services": [{"name": "shop", "servers": [{"name": "web1", "weight": 1}, {"name": "web2", "weight": 1}]}]}
    traffic = {"shop": {"counts": {"web1": 40, "web2": 20}}}
    window = {"usable": True, "lbtot": {"web1": 1200, "web2": 1180}}
    counted = lbguard_classify.probe_counters(model, {"traffic": traffic, "counters": {"shop": window}, "runtime": {}})
    assert {name: row["requests"] for name, row in counted["shop"].items()} == {"web1": 1200, "web2": 1180}
    unusable = dict(window, usable=False)
    answers = lbguard_classify.probe_counters(model, {"traffic": traffic, "counters": {"shop": unusable}, "runtime": {}})
    assert {name: row["requests"] for name, row in answers["shop"].items()} == {"web1": 40, "web2": 20}
