"""Unit tests of filter_plugins/lbguard_verify.py: every verification rule, pass and fail."""

from __future__ import annotations

import collections
import copy
import random
from typing import Any

import pytest

from ansible_collections.lbguard.core.plugins.filter import lbguard_verify as v
from ansible_collections.lbguard.core.plugins.plugin_utils import lbguard_verify_report
from ansible_collections.lbguard.core.plugins.plugin_utils import lbguard_verify_shares

DIGEST = "a" * 64
LABEL = "staging lb-stg-1"


def server(name: str, share: float, weight: int = 1, backup: bool = False, disabled: bool = False) -> dict[str, Any]:
    """One model server."""
    return {"name": name, "address": name, "port": 80, "weight": weight, "backup": backup,
            "disabled": disabled, "expected_share": share}


def make_model(balance: str = "roundrobin", servers: list[dict[str, Any]] | None = None,
               max_share: float = 0.5, engine: str = "haproxy", mode: str = "http",
               health: bool = True) -> dict[str, Any]:
    """A normalised model with one service "shop"."""
    if servers is None:
        servers = [server("web1", 1 / 3), server("web2", 1 / 3), server("web3", 1 / 3)]
    return {
        "host": "lb-stg-1", "engine": engine, "environment": "staging", "digest": DIGEST,
        "services": [{
            "name": "shop", "mode": mode, "listen": 8080, "balance": balance,
            "health_check": {"enabled": health},
            "policy": {"min_active_servers": 1, "max_server_share": max_share, "allow_first": False},
            "servers": servers,
        }],
    }


def make_probe(counts: dict[str, int] | None = None, requests: int | None = None, runtime: Any = "default",
               running_model: str | None = DIGEST, lbtot: dict[str, int] | None = None,
               unusable_reason: str | None = None, **errors: int) -> dict[str, Any]:
    """A probe result for service "shop"; requests defaults to successes + errors.

    ``lbtot`` adds HAProxy's counter window (1.2 s), unusable when ``unusable_reason`` is given.
    """
    if counts is None:
        counts = {"web1": 20, "web2": 20, "web3": 20}
    if runtime == "default":
        runtime = {"shop": {name: {"status": "UP", "weight": 1} for name in ("web1", "web2", "web3")}}
    traffic = {"mode": "http", "counts": counts, "status_5xx": 0, "other_errors": 0,
               "connection_errors": 0, "missing_header": 0}
    traffic.update(errors)
    traffic["requests"] = requests if requests is not None else sum(counts.values()) + sum(errors.values())
    result = {"changed": False, "runtime": runtime, "runtime_error": None, "running_model": running_model,
              "running_model_error": None, "traffic": {"shop": traffic}}
    if lbtot is not None:
        result["counters"] = {"shop": {"window_seconds": 1.2, "lbtot": lbtot, "stot": lbtot,
                                       "usable": unusable_reason is None, "unusable_reason": unusable_reason}}
    return result


# What the message says was counted, by source.
PROBE_60 = "counted the probe's 60 answers (no counters read)"


def problems(model: dict[str, Any], probe: dict[str, Any], **settings: Any) -> list[str]:
    """Run the filter with the test label."""
    settings.setdefault("label", LABEL)
    return v.lbguard_verify_problems(model, probe, settings)


# ------------------------------------------------------------------- all good


def test_healthy_release_has_no_problem() -> None:
    assert problems(make_model(), make_probe()) == []


def test_default_label_is_environment_and_host() -> None:
    out = v.lbguard_verify_problems(make_model(), make_probe(running_model="b" * 64), {})
    assert out[0].startswith("staging lb-stg-1: ")


def test_filter_module_exports_the_filters() -> None:
    assert set(v.FilterModule().filters()) == {"lbguard_verify_problems", "lbguard_verify_summary",
                                               "lbguard_share_table", "lbguard_verify_expected_up",
                                               "lbguard_verify_settle_note"}


# ------------------------------------------------------------- a) running model


def test_reload_that_did_not_apply_is_reported() -> None:
    out = problems(make_model(), make_probe(running_model="b" * 64))
    assert out == [f"{LABEL}: the running configuration is not the new release (running model {'b' * 64}, "
                   f"expected {DIGEST}): the reload did not take effect"]


def test_unreadable_running_model_fails_with_its_error() -> None:
    probe = make_probe(running_model=None)
    probe["running_model_error"] = "cannot read http://127.0.0.1:8405/lbguard/model: ConnectionRefusedError"
    out = problems(make_model(), probe)
    assert len(out) == 1
    assert "the running configuration is not the new release" in out[0]
    assert "ConnectionRefusedError" in out[0]
    assert "the reload did not take effect" in out[0]


def test_running_model_whitespace_is_ignored() -> None:
    assert problems(make_model(), make_probe(running_model=DIGEST + "\n")) == []


# ------------------------------------------------------------------ b) runtime


def test_down_servers_are_reported() -> None:
    probe = make_probe()
    probe["runtime"]["shop"]["web2"]["status"] = "DOWN"
    probe["runtime"]["shop"]["web3"]["status"] = "DOWN"
    out = problems(make_model(), probe)
    assert out == [f"{LABEL} service shop: servers DOWN: web2 (DOWN), web3 (DOWN); expected UP: web1, web2, web3"]


@pytest.mark.parametrize("status", ["UP", "UP 1/2", "UP 2/3"])
def test_up_variants_count_as_up(status: str) -> None:
    probe = make_probe()
    probe["runtime"]["shop"]["web1"]["status"] = status
    assert problems(make_model(), probe) == []


@pytest.mark.parametrize("status", ["DRAIN", "MAINT", "NOLB", "DOWN 1/2", "no check"])
def test_not_up_states_of_an_active_server_fail(status: str) -> None:
    probe = make_probe()
    probe["runtime"]["shop"]["web1"]["status"] = status
    out = problems(make_model(), probe)
    assert out == [f"{LABEL} service shop: servers DOWN: web1 ({status}); expected UP: web1, web2, web3"]


def test_no_check_is_up_when_the_service_has_no_health_check() -> None:
    probe = make_probe()
    for entry in probe["runtime"]["shop"].values():
        entry["status"] = "no check"
    assert problems(make_model(health=False), probe) == []


def test_server_missing_from_runtime_is_a_problem() -> None:
    probe = make_probe()
    del probe["runtime"]["shop"]["web3"]
    out = problems(make_model(), probe)
    assert out == [f"{LABEL} service shop: servers DOWN: web3 (missing from the runtime state); "
                   "expected UP: web1, web2, web3"]


def test_backend_missing_from_runtime_reports_every_server() -> None:
    out = problems(make_model(), make_probe(runtime={}))
    assert len(out) == 1 and out[0].count("missing from the runtime state") == 3


def test_disabled_server_must_be_maint() -> None:
    servers = [server("web1", 0.5), server("web2", 0.5), server("web3", 0.0, disabled=True)]
    counts = {"web1": 30, "web2": 30}
    probe = make_probe(counts)
    probe["runtime"]["shop"]["web3"]["status"] = "MAINT"
    assert problems(make_model(servers=servers), probe) == []
    probe["runtime"]["shop"]["web3"]["status"] = "UP"
    out = problems(make_model(servers=servers), probe)
    assert out == [f"{LABEL} service shop: disabled servers not in MAINT: web3 (UP)"]


def test_backup_and_zero_weight_servers_need_not_be_up() -> None:
    servers = [server("web1", 0.5), server("web2", 0.5), server("web3", 0.0, backup=True)]
    probe = make_probe({"web1": 30, "web2": 30})
    probe["runtime"]["shop"]["web3"]["status"] = "DOWN"
    assert problems(make_model(servers=servers), probe) == []


def test_runtime_server_unknown_to_the_model_is_reported() -> None:
    probe = make_probe()
    probe["runtime"]["shop"]["web9"] = {"status": "UP", "weight": 1}
    out = problems(make_model(), probe)
    assert out == [f"{LABEL} service shop: the runtime has servers that are not in the model: web9"]


@pytest.mark.parametrize("weights", [(1, 0, 0), (80, 10, 10), (8, 1, 1)])
def test_weights_set_at_runtime_fail_before_any_traffic_is_judged(weights: tuple[int, int, int]) -> None:
    probe = make_probe()
    for name, weight in zip(("web1", "web2", "web3"), weights):
        probe["runtime"]["shop"][name]["weight"] = weight
    out = problems(make_model(balance="leastconn"), probe)
    changed = [f"{name} {weight} (model 1)" for name, weight in zip(("web1", "web2", "web3"), weights) if weight != 1]
    assert out == [f"{LABEL} service shop: runtime weights differ from the model: {', '.join(changed)}"]


def test_weights_are_compared_only_for_servers_that_are_up() -> None:
    servers = [server("web1", 0.5), server("web2", 0.5), server("web3", 0.0, disabled=True)]
    probe = make_probe({"web1": 30, "web2": 30})
    probe["runtime"]["shop"]["web2"].update(status="DRAIN", weight=0)
    probe["runtime"]["shop"]["web3"].update(status="MAINT", weight=0)
    out = problems(make_model(servers=servers), probe)
    assert out == [f"{LABEL} service shop: servers DOWN: web2 (DRAIN); expected UP: web1, web2"]


def test_runtime_error_is_a_problem() -> None:
    probe = make_probe(runtime={})
    probe["runtime_error"] = "cannot read 'show stat' from /run/haproxy/admin.sock: PermissionError"
    out = problems(make_model(), probe)
    assert out == [f"{LABEL}: cannot verify the HAProxy runtime state: cannot read 'show stat' from "
                   "/run/haproxy/admin.sock: PermissionError"]


def test_runtime_not_checked_for_nginx_or_when_disabled() -> None:
    assert problems(make_model(engine="nginx"), make_probe(runtime={})) == []
    assert problems(make_model(), make_probe(runtime={}), check_runtime=False) == []


# ------------------------------------------------------------ c) traffic split


def test_incident_all_traffic_to_web1_with_equal_weights() -> None:
    out = problems(make_model(), make_probe({"web1": 60}))
    assert out == [f"{LABEL} service shop: observed web1 100%, web2 0%, web3 0%; expected 33/33/33 (+-10); "
                   f"{PROBE_60}; web2 and web3 have weight but received nothing; web1 exceeds max_server_share 50%"]


def test_incident_is_reported_in_staging_policy_too() -> None:
    out = problems(make_model(max_share=1.0), make_probe({"web1": 60}))
    assert out == [f"{LABEL} service shop: observed web1 100%, web2 0%, web3 0%; expected 33/33/33 (+-10); "
                   f"{PROBE_60}; web2 and web3 have weight but received nothing; "
                   "web1 (+67, chance +-22) is more than 10 points off the expected share (99.9% confidence)"]


def test_a_single_starved_server_is_reported() -> None:
    # 50% against 33% at 60 requests is within chance; nothing at all is not.
    out = problems(make_model(max_share=1.0), make_probe({"web1": 30, "web2": 30}))
    assert len(out) == 1
    assert out[0].endswith("observed web1 50%, web2 50%, web3 0%; expected 33/33/33 (+-10); "
                           f"{PROBE_60}; web3 has weight but received nothing")


def test_share_off_beyond_tolerance_and_chance_fails() -> None:
    # 330/600 = 55% against 33%: 22 points off, 7 of them chance at 600 requests.
    out = problems(make_model(), make_probe({"web1": 330, "web2": 135, "web3": 135}))
    assert out == [f"{LABEL} service shop: observed web1 55%, web2 23%, web3 23%; expected 33/33/33 (+-10); "
                   "counted the probe's 600 answers (no counters read); "
                   "web1 (+22, chance +-7) is more than 10 points off the expected share (99.9% confidence)"]


def test_share_off_within_chance_passes() -> None:
    # The same 55% from 60 requests: 22 points off, but chance alone moves a share 22 points.
    assert problems(make_model(), make_probe({"web1": 33, "web2": 14, "web3": 13})) == []


def test_tolerance_and_margin_boundary() -> None:
    servers = [server("web1", 0.5), server("web2", 0.5)]
    model = make_model(servers=servers, max_share=1.0)
    margin = lbguard_verify_shares.share_margin(0.5, 10000, lbguard_verify_shares.confidence_z(0.001, 2))
    assert round(margin, 4) == 0.0174
    # Exactly tolerance + margin off passes; 1 request more fails.
    at_limit = round(10000 * (0.5 + 0.1 + margin))
    assert problems(model, make_probe({"web1": at_limit - 1, "web2": 10001 - at_limit}, runtime=None),
                    check_runtime=False) == []
    out = problems(model, make_probe({"web1": at_limit + 1, "web2": 9999 - at_limit}, runtime=None),
                   check_runtime=False)
    assert len(out) == 1 and "web1 (+12, chance +-2) and web2 (-12, chance +-2) are more than 10 points off" in out[0]


def test_custom_tolerance_is_used_and_shown() -> None:
    probe = make_probe({"web1": 2500, "web2": 1750, "web3": 1750})
    out = problems(make_model(), probe, tolerance=0.05)
    assert out == [f"{LABEL} service shop: observed web1 42%, web2 29%, web3 29%; expected 33/33/33 (+-5); "
                   "counted the probe's 6000 answers (no counters read); "
                   "web1 (+8, chance +-2) is more than 5 points off the expected share (99.9% confidence)"]
    assert problems(make_model(), probe) == []


def test_max_server_share_plus_tolerance_beyond_chance() -> None:
    servers = [server("web1", 0.5), server("web2", 0.5)]
    model = make_model(servers=servers, max_share=0.5)
    # 67% of 60 is within 50% + 10% + chance; 70% of 600 is not.
    assert problems(model, make_probe({"web1": 40, "web2": 20}), check_runtime=False) == []
    out = problems(model, make_probe({"web1": 420, "web2": 180}), check_runtime=False)
    assert out == [f"{LABEL} service shop: observed web1 70%, web2 30%; expected 50/50 (+-10); "
                   "counted the probe's 600 answers (no counters read); web1 exceeds max_server_share 50%; "
                   "web2 (-20, chance +-7) is more than 10 points off the expected share (99.9% confidence)"]


def test_weighted_split_passes() -> None:
    servers = [server("web1", 0.5, weight=2), server("web2", 0.25), server("web3", 0.25)]
    probe = make_probe({"web1": 30, "web2": 15, "web3": 15})
    probe["runtime"]["shop"]["web1"]["weight"] = 2
    assert problems(make_model(servers=servers, max_share=0.5), probe) == []


def test_unknown_server_answering_is_reported() -> None:
    out = problems(make_model(), make_probe({"web1": 20, "web2": 20, "web3": 19, "ghost": 1}))
    assert out == [f"{LABEL} service shop: observed web1 33%, web2 33%, web3 32%, ghost 2%; "
                   f"expected 33/33/33 (+-10); {PROBE_60}; answered by unknown server ghost"]


def test_backup_server_answering_is_reported() -> None:
    servers = [server("web1", 0.5), server("web2", 0.5), server("web3", 0.0, backup=True)]
    probe = make_probe({"web1": 29, "web2": 29, "web3": 2})
    out = problems(make_model(servers=servers), probe)
    assert out == [f"{LABEL} service shop: observed web1 48%, web2 48%, web3 3%; expected 50/50/0 (+-10); "
                   f"{PROBE_60}; answered by inactive server web3 (backup)"]


def test_source_balance_skips_share_checks() -> None:
    # One client hashes to one server: 100% on web1 is normal.
    assert problems(make_model(balance="source"), make_probe({"web1": 60})) == []
    assert problems(make_model(balance="uri"), make_probe({"web2": 60})) == []


def test_source_balance_still_checks_the_answering_server() -> None:
    out = problems(make_model(balance="source"), make_probe({"ghost": 60}))
    assert out == [f"{LABEL} service shop: observed web1 0%, web2 0%, web3 0%, ghost 100% "
                   f"(balance source: share not checked); {PROBE_60}; answered by unknown server ghost"]


def test_source_balance_still_checks_errors() -> None:
    out = problems(make_model(balance="source"), make_probe({"web1": 53}, status_5xx=5, connection_errors=2))
    assert out == [f"{LABEL} service shop: 7 of 60 requests failed (11.7%: 5 5xx, 2 connection errors); limit 1%"]


@pytest.mark.parametrize("balance", ["static-rr", "leastconn", "random"])
def test_other_balances_check_shares(balance: str) -> None:
    out = problems(make_model(balance=balance), make_probe({"web1": 60}))
    assert len(out) == 1 and "web2 and web3 have weight but received nothing" in out[0]


def test_haproxy_random_shares_follow_its_hash_ring() -> None:
    shares = lbguard_verify_shares.haproxy_random_shares([server("web1", 1 / 3), server("web2", 1 / 3), server("web3", 1 / 3)])
    # Measured in the lab (HAProxy 2.6, idle, 1500 requests): 34.3/29.0/36.7.
    assert {name: round(share, 3) for name, share in shares.items()} == {"web1": 0.351, "web2": 0.295, "web3": 0.354}
    assert sum(shares.values()) == pytest.approx(1.0)
    # Weight adds points (16 per unit); inactive servers have none, but keep their position (id).
    weighted = lbguard_verify_shares.haproxy_random_shares([dict(server("web1", 0.5), weight=2), server("web2", 0.25),
                                             dict(server("web3", 0.0), weight=0), server("web4", 0.25)])
    assert set(weighted) == {"web1", "web2", "web4"} and weighted["web1"] > 0.4


def test_haproxy_random_is_judged_against_the_range_from_ring_to_weights() -> None:
    ring = {"web1": 842, "web2": 708, "web3": 850}  # the ring's shares, 2400 counted
    probe = make_probe({"web1": 20, "web2": 20, "web3": 20}, lbtot=ring)
    assert problems(make_model(balance="random"), probe) == []
    out = problems(make_model(balance="random", max_share=1.0), make_probe({"web1": 60}))
    assert len(out) == 1 and "expected 35/30/35 (random's hash ring) to 33/33/33 (weights) (+-10)" in out[0], out


def test_haproxy_random_with_many_requests_fails_beyond_the_range() -> None:
    probe = make_probe({"web1": 3000, "web2": 1500, "web3": 1500})
    out = problems(make_model(balance="random", max_share=1.0), probe)
    assert len(out) == 1 and "(+-10)" in out[0] and "web1 (+15, chance +-2)" in out[0], out


def test_haproxy_leastconn_idle_takes_turns_whatever_the_weights() -> None:
    servers = [server("web1", 0.5, weight=2), server("web2", 0.25), server("web3", 0.25)]
    runtime = {"shop": {"web1": {"status": "UP", "weight": 2}, "web2": {"status": "UP", "weight": 1},
                        "web3": {"status": "UP", "weight": 1}}}
    idle = make_probe({"web1": 2000, "web2": 2000, "web3": 2000}, runtime=runtime)
    loaded = make_probe({"web1": 3000, "web2": 1500, "web3": 1500}, runtime=runtime)
    model = make_model(balance="leastconn", servers=servers)
    assert problems(model, idle) == [] and problems(model, loaded) == []
    # nginx's least_conn breaks ties by weight: an even split is off there.
    out = problems(make_model(balance="leastconn", servers=servers, engine="nginx"), idle)
    assert len(out) == 1 and "web1 (-17, chance +-2)" in out[0], out


def test_haproxy_leastconn_beyond_both_ends_fails_and_names_the_range() -> None:
    servers = [server("web1", 0.5, weight=2), server("web2", 0.25), server("web3", 0.25)]
    runtime = {"shop": {"web1": {"status": "UP", "weight": 2}, "web2": {"status": "UP", "weight": 1},
                        "web3": {"status": "UP", "weight": 1}}}
    out = problems(make_model(balance="leastconn", servers=servers, max_share=1.0),
                   make_probe({"web1": 800, "web2": 2600, "web3": 2600}, runtime=runtime))
    assert len(out) == 1 and "expected 33/33/33 (leastconn, idle) to 50/25/25 (weights) (+-10)" in out[0], out
    assert "web1 (-20, chance +-2)" in out[0], out


def test_nginx_random_keeps_the_widened_tolerance() -> None:
    out = problems(make_model(balance="random", max_share=1.0, engine="nginx"), make_probe({"web1": 60}))
    # 3 x sqrt(1/3 x 2/3 / 60) = 18.26 points.
    assert len(out) == 1 and "expected 33/33/33 (+-18.2574)" in out[0], out
    out = problems(make_model(balance="random", max_share=1.0, engine="nginx"), make_probe({"web1": 60}),
                   random_sigmas=0)
    assert len(out) == 1 and "expected 33/33/33 (+-10)" in out[0], out


def test_first_balance_expects_everything_on_the_first_server() -> None:
    servers = [server("web1", 1.0), server("web2", 0.0), server("web3", 0.0)]
    model = make_model(balance="first", servers=servers, max_share=1.0)
    assert problems(model, make_probe({"web1": 60})) == []
    out = problems(model, make_probe({"web2": 60}))
    assert out == [f"{LABEL} service shop: observed web1 0%, web2 100%, web3 0%; expected 100/0/0 (+-10); "
                   f"{PROBE_60}; web1 has weight but received nothing; "
                   "web2 (+100, chance +-0) is more than 10 points off the expected share (99.9% confidence)"]


# ------------------------------------------------------- c) what is counted


# The probe's own answers under 20 concurrent clients (issue 11): 22/35/43, 13/50/37, 52/13/35.
ISSUE_PROBE_COUNTS = [{"web1": 13, "web2": 21, "web3": 26}, {"web1": 8, "web2": 30, "web3": 22},
                      {"web1": 31, "web2": 8, "web3": 21}]


@pytest.mark.parametrize("counts", ISSUE_PROBE_COUNTS)
def test_counters_are_judged_when_usable(counts: dict[str, int]) -> None:
    probe = make_probe(counts, lbtot={"web1": 812, "web2": 810, "web3": 809})
    assert problems(make_model(), probe) == []
    summary = v.lbguard_verify_summary(make_model(), probe)["shop"]
    assert (summary["source"], summary["counted"], summary["window_seconds"]) == ("counters", 2431, 1.2)
    assert summary["observed"] == {"web1": 0.334, "web2": 0.333, "web3": 0.333}


@pytest.mark.parametrize("counts", ISSUE_PROBE_COUNTS)
def test_the_issues_probe_counts_alone_pass_the_test(counts: dict[str, int]) -> None:
    """What failed production deploys at random under the fixed 10-point rule."""
    assert problems(make_model(), make_probe(counts)) == []


def test_counters_show_the_incident_the_probe_missed() -> None:
    probe = make_probe({"web1": 20, "web2": 20, "web3": 20}, lbtot={"web1": 2431, "web2": 0, "web3": 0})
    out = problems(make_model(), probe)
    assert out == [f"{LABEL} service shop: observed web1 100%, web2 0%, web3 0%; expected 33/33/33 (+-10); "
                   "counted all 2431 requests the LB sent in 1.2 s (HAProxy counters); "
                   "web2 and web3 have weight but received nothing; web1 exceeds max_server_share 50%"]


def test_unusable_counters_fall_back_to_the_probe_and_say_so() -> None:
    reason = "counters went back (web1 lbtot 812 -> 3): HAProxy reloaded or restarted"
    probe = make_probe({"web1": 60}, lbtot={"web1": -809, "web2": 4, "web3": 4}, unusable_reason=reason)
    out = problems(make_model(), probe)
    assert len(out) == 1
    assert f"counted the probe's 60 answers (counters unusable: {reason}); web2 and web3 have weight" in out[0]
    summary = v.lbguard_verify_summary(make_model(), probe)["shop"]
    assert (summary["source"], summary["counted"], summary["note"]) == ("probe", 60, f"counters unusable: {reason}")
    assert summary["observed"] == {"web1": 1.0, "web2": 0.0, "web3": 0.0}


def test_counters_that_counted_nothing_fall_back_to_the_probe() -> None:
    probe = make_probe({"web1": 60}, lbtot={"web1": 0, "web2": 0, "web3": 0})
    out = problems(make_model(), probe)
    assert len(out) == 1 and "counted the probe's 60 answers (the counters counted nothing)" in out[0]


def test_nginx_without_its_split_log_judges_the_probe_and_says_why() -> None:
    out = problems(make_model(engine="nginx"), make_probe({"web1": 60}))
    assert len(out) == 1 and "counted the probe's 60 answers (nginx split log not read);" in out[0]


def test_nginx_random_on_its_split_log_keeps_the_plain_tolerance() -> None:
    split = make_probe({"web1": 20, "web2": 20, "web3": 20}, lbtot={"web1": 1700, "web2": 1700, "web3": 600})
    split["counters"]["shop"]["origin"] = "nginx split log"
    out = problems(make_model(balance="random", engine="nginx"), split)
    # 60 probe answers would widen it to +-18: 4000 counted requests need no widening.
    assert len(out) == 1 and "(+-10)" in out[0] and "web3 (-18, chance +-3)" in out[0], out


def test_nginx_split_log_is_judged_like_counters_and_named() -> None:
    split = make_probe({"web1": 20, "web2": 20, "web3": 20}, lbtot={"web1": 900, "web2": 50, "web3": 50})
    split["counters"]["shop"]["origin"] = "nginx split log"
    out = problems(make_model(engine="nginx"), split)
    assert len(out) == 1 and "counted all 1000 requests the LB sent in 1.2 s (nginx split log)" in out[0], out
    assert "web1 exceeds max_server_share 50%" in out[0], out


def test_inactive_server_in_the_counters_and_unknown_in_the_probe_are_reported() -> None:
    servers = [server("web1", 0.5), server("web2", 0.5), server("web3", 0.0, backup=True)]
    probe = make_probe({"web1": 29, "web2": 29, "ghost": 2}, lbtot={"web1": 500, "web2": 480, "web3": 20})
    out = problems(make_model(servers=servers), probe)
    assert out == [f"{LABEL} service shop: observed web1 50%, web2 48%, web3 2%; expected 50/50/0 (+-10); "
                   "counted all 1000 requests the LB sent in 1.2 s (HAProxy counters); "
                   "answered by inactive server web3 (backup); answered by unknown server ghost"]


# ------------------------------------------------- c) the test's error rates


def test_z_is_bonferroni_over_the_active_servers() -> None:
    assert [round(lbguard_verify_shares.confidence_z(0.001, k), 2) for k in (1, 2, 3)] == [3.29, 3.48, 3.59]
    assert lbguard_verify_shares.share_margin(1 / 3, 0, 3.59) == float("inf")


@pytest.mark.parametrize("counts", [{"web1": 60}, {"web1": 100}, {"web1": 48, "web2": 6, "web3": 6},
                                    {"web1": 80, "web2": 10, "web3": 10}])
def test_incident_splits_are_detected_within_100_requests(counts: dict[str, int]) -> None:
    """100/0/0 and 80/10/10 against 33/33/33 at 60 and 100 requests, even where 100% is allowed."""
    out = problems(make_model(max_share=1.0), make_probe(counts))
    assert len(out) == 1 and "web1 (+" in out[0] and "more than 10 points off the expected share" in out[0], out


def requests_to_detect(shares: list[float], expected: float = 1 / 3, alpha: float = 0.001) -> int:
    """Fewest requests at which one of the shares fails the share test (not counting "received nothing")."""
    z = lbguard_verify_shares.confidence_z(alpha, len(shares))
    return next(n for n in range(1, 10000) if any(lbguard_verify_shares.share_off(share, expected, n, 0.10, z) for share in shares))


def test_requests_needed_to_detect_the_incident_splits() -> None:
    """The figures docs/verification.md gives."""
    assert requests_to_detect([1.0, 0.0, 0.0]) == 9
    assert requests_to_detect([0.8, 0.1, 0.1]) == 22


@pytest.mark.parametrize("counts", [{"web1": a, "web2": b, "web3": 60 - a - b}
                                    for a in (19, 20, 21) for b in (19, 20, 21)])
def test_an_even_split_of_60_never_fails(counts: dict[str, int]) -> None:
    assert problems(make_model(), make_probe(counts)) == []


def false_alarms(shares: list[float], requests: int, trials: int) -> float:
    """Fraction of simulated measurements (servers drawn at random with ``shares``) that fail rule c."""
    rng = random.Random(20261202)
    model = make_model()
    failed = 0
    for _ in range(trials):
        counts = collections.Counter(rng.choices(["web1", "web2", "web3"], weights=shares, k=requests))
        failed += bool(problems(model, make_probe(dict(counts))))
    return failed / trials


def test_random_draws_at_the_expected_shares_raise_no_false_alarm() -> None:
    assert false_alarms([1 / 3, 1 / 3, 1 / 3], requests=60, trials=5000) < 0.01
    assert false_alarms([1 / 3, 1 / 3, 1 / 3], requests=60, trials=5000) == 0.0


def test_random_draws_at_the_tolerance_edge_stay_near_alpha() -> None:
    """One server's true share exactly 10 points high: failing is a false alarm, at most about alpha."""
    assert false_alarms([0.4333, 0.2833, 0.2834], requests=60, trials=5000) < 0.002
    assert false_alarms([0.4333, 0.2833, 0.2834], requests=600, trials=1000) < 0.005


def test_tcp_service_has_no_share_check() -> None:
    model = make_model(mode="tcp")
    probe = make_probe({}, requests=60)
    probe["traffic"]["shop"]["mode"] = "tcp"
    assert problems(model, probe) == []


# ------------------------------------------------------------------- d) errors


def test_error_rate_message() -> None:
    out = problems(make_model(), make_probe({"web1": 18, "web2": 18, "web3": 17}, status_5xx=5,
                                            connection_errors=2))
    assert out == [f"{LABEL} service shop: 7 of 60 requests failed (11.7%: 5 5xx, 2 connection errors); limit 1%"]


def test_error_rate_at_the_limit_passes() -> None:
    # 1 of 100 = 1%: allowed.
    assert problems(make_model(), make_probe({"web1": 33, "web2": 33, "web3": 33}, status_5xx=1)) == []
    out = problems(make_model(), make_probe({"web1": 33, "web2": 33, "web3": 32}, status_5xx=1, other_errors=1))
    assert out == [f"{LABEL} service shop: 2 of 100 requests failed (2.0%: 1 5xx, 1 other HTTP error); limit 1%"]


def test_missing_header_counts_as_failure() -> None:
    out = problems(make_model(), make_probe({"web1": 20, "web2": 20, "web3": 17}, missing_header=3))
    assert out == [f"{LABEL} service shop: 3 of 60 requests failed (5.0%: 3 responses without the served-by "
                   "header); limit 1%"]


def test_zero_requests_must_fail() -> None:
    out = problems(make_model(), make_probe({}, requests=0))
    assert out == [f"{LABEL} service shop: no probe requests were made: its traffic cannot be verified"]


def test_all_connection_errors_must_fail_even_with_a_lax_limit() -> None:
    probe = make_probe({}, connection_errors=60)
    out = problems(make_model(), probe, max_error_rate=1.0)
    assert out == [f"{LABEL} service shop: 60 of 60 requests failed (100.0%: 60 connection errors); limit 100%; "
                   "no request succeeded"]


def test_no_successful_response_without_counted_errors_fails() -> None:
    out = problems(make_model(), make_probe({}, requests=60))
    assert out == [f"{LABEL} service shop: 0 of 60 requests failed (0.0%); limit 1%; no request succeeded"]


def test_service_missing_from_probe_fails() -> None:
    probe = make_probe()
    probe["traffic"] = {}
    out = problems(make_model(), probe)
    assert out == [f"{LABEL} service shop: the probe has no traffic result for this service: "
                   "its traffic cannot be verified"]


def test_tcp_connection_errors() -> None:
    model = make_model(mode="tcp")
    probe = make_probe({}, connection_errors=60)
    probe["traffic"]["shop"]["mode"] = "tcp"
    out = problems(model, probe)
    assert out == [f"{LABEL} service shop: 60 of 60 connections failed (100.0%: 60 connection errors); limit 1%; "
                   "no connection succeeded"]


def test_failed_or_skipped_probe_is_one_problem() -> None:
    out = problems(make_model(), {"failed": True, "msg": "invalid services"})
    assert out == [f"{LABEL}: the probe failed (invalid services): nothing could be verified"]
    assert problems(make_model(), {"skipped": True}) == [f"{LABEL}: the probe was skipped: nothing could be verified"]


def test_several_rules_report_together() -> None:
    probe = make_probe({"web1": 55}, running_model="c" * 64, status_5xx=5)
    probe["runtime"]["shop"]["web2"]["status"] = "DOWN"
    probe["runtime"]["shop"]["web3"]["status"] = "DOWN"
    out = problems(make_model(), probe)
    assert len(out) == 4
    assert "reload did not take effect" in out[0]
    assert "servers DOWN" in out[1]
    assert "observed web1 100%" in out[2]
    assert "5 of 60 requests failed" in out[3]


# ---------------------------------------------------------------- settings


@pytest.mark.parametrize("settings", [{"tolerance": 2}, {"tolerance": "x"}, {"max_error_rate": -0.1},
                                      {"check_runtime": "maybe"}, {"tolerence": 0.1}, {"alpha": 0},
                                      {"alpha": 0.6}, {"alpha": "often"}])
def test_invalid_settings_raise_a_filter_error(settings: dict[str, Any]) -> None:
    from ansible.errors import AnsibleFilterError

    with pytest.raises(AnsibleFilterError):
        v.lbguard_verify_problems(make_model(), make_probe(), settings)


def test_alpha_sets_the_confidence() -> None:
    # 55% of 60 against 33%: within chance at alpha 0.001, not at alpha 0.5 (z 1.38).
    probe = make_probe({"web1": 33, "web2": 14, "web3": 13})
    assert problems(make_model(), probe, alpha="0.001") == []
    out = problems(make_model(), probe, alpha=0.5)
    assert len(out) == 1 and "web1 (+22, chance +-8) is more than 10 points off the expected share (50% confidence)" \
        in out[0], out


def test_string_settings_from_templates_are_accepted() -> None:
    assert problems(make_model(), make_probe(runtime={}), tolerance="0.1", check_runtime="false") == []


def test_inputs_are_not_modified() -> None:
    model, probe = make_model(), make_probe({"web1": 60})
    before = copy.deepcopy((model, probe))
    problems(model, probe)
    v.lbguard_verify_summary(model, probe)
    assert (model, probe) == before


# ------------------------------------------------------------- summary, table


def test_summary() -> None:
    probe = make_probe({"web1": 20, "web2": 21, "web3": 18, "ghost": 1}, status_5xx=2)
    summary = v.lbguard_verify_summary(make_model(), probe)
    assert summary == {"shop": {
        "requests": 62, "source": "probe", "counted": 60, "window_seconds": None, "note": "no counters read",
        "observed": {"web1": 0.333, "web2": 0.35, "web3": 0.3, "ghost": 0.017},
        "expected": {"web1": 0.333, "web2": 0.333, "web3": 0.333},
        "errors": 2,
    }}


def test_summary_without_traffic() -> None:
    probe = make_probe()
    probe["traffic"] = {}
    summary = v.lbguard_verify_summary(make_model(), probe)
    assert summary["shop"]["requests"] == 0
    assert summary["shop"]["observed"] == {"web1": 0.0, "web2": 0.0, "web3": 0.0}


def test_share_table() -> None:
    summary = v.lbguard_verify_summary(make_model(), make_probe({"web1": 21, "web2": 20, "web3": 20}))
    assert v.lbguard_share_table(summary["shop"]) == "web1 34%, web2 33%, web3 33%"
    assert v.lbguard_share_table({"observed": {"web1": 1.0}}) == "web1 100%"
    assert v.lbguard_share_table({"observed": {}}) == "no responses"
    assert v.lbguard_share_table({"observed": {"web1": 0.0}}) == "no responses"


def test_pct_rounds_halves_up() -> None:
    assert [lbguard_verify_report.pct(x) for x in (1 / 3, 0.335, 0.005, 0.0, 1.0, 2 / 3)] == [33, 34, 1, 0, 100, 67]


# ------------------------------------------------------- what the settle wait awaits


def test_expected_up_is_rule_b_active_servers_per_service() -> None:
    model = make_model(servers=[server("web1", 0.5), server("web2", 0.5), server("spare", 0.0, backup=True),
                                server("off", 0.0, disabled=True), server("idle", 0.0, weight=0)])
    model["services"].append({"name": "api", "servers": [server("web1", 1.0)]})
    assert v.lbguard_verify_expected_up(model) == {"shop": ["web1", "web2"], "api": ["web1"]}


def test_expected_up_is_empty_without_a_runtime_api() -> None:
    assert v.lbguard_verify_expected_up(make_model(engine="nginx")) == {}


def test_settle_note_names_the_model_the_servers_and_the_time() -> None:
    note = v.lbguard_verify_settle_note(make_model(), 12, LABEL)
    assert note == "staging lb-stg-1: waiting up to 12 s for the running model aaaaaaaaaaaa… and web1, web2, web3 UP"


def test_settle_note_names_a_server_of_several_services_once_and_nginx_only_the_model() -> None:
    model = make_model()
    model["services"].append({"name": "api", "servers": [server("web3", 0.5), server("web4", 0.5)]})
    assert v.lbguard_verify_settle_note(model, "2.5", LABEL).endswith(
        "up to 2.5 s for the running model aaaaaaaaaaaa… and web1, web2, web3, web4 UP")
    assert v.lbguard_verify_settle_note(make_model(engine="nginx"), 12, LABEL) == (
        "staging lb-stg-1: waiting up to 12 s for the running model aaaaaaaaaaaa…")


def test_settle_note_rejects_negative_seconds() -> None:
    with pytest.raises(Exception, match="settle seconds must be 0 or more"):
        v.lbguard_verify_settle_note(make_model(), -1, LABEL)
