"""Unit tests of runtime operations: the request, the policy check, holds in verification and audit."""

import datetime

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.lbguard.core.plugins.filter import lbguard_audit as audit
from ansible_collections.lbguard.core.plugins.filter import lbguard_operation as operation
from ansible_collections.lbguard.core.plugins.plugin_utils import lbguard_operation
from ansible_collections.lbguard.core.plugins.plugin_utils import lbguard_verify_rules

NOW = datetime.datetime(2026, 12, 3, 9, 0, tzinfo=datetime.timezone.utc)


def model(*weights, min_active=2, max_share=0.5, balance="roundrobin"):
    return {"host": "lb-prod-1", "engine": "haproxy", "services": [{
        "name": "shop", "balance": balance,
        "policy": {"min_active_servers": min_active, "max_server_share": max_share, "allow_first": False},
        "servers": [{"name": f"web{i}", "weight": w, "backup": False, "disabled": False, "expected_share": 0.0}
                    for i, w in enumerate(weights, start=1)]}]}


def runtime(**servers):
    return {"shop": {name: {"status": status, "weight": weight} for name, (status, weight) in servers.items()}}


def request(**values):
    return lbguard_operation.normalise_operation({"service": "shop", "reason": "patching CHG-1", **values}, now=NOW)


ALL_UP = runtime(web1=("UP", 1), web2=("UP", 1), web3=("UP", 1))


# --------------------------------------------------------------- the request


def test_a_request_is_normalised():
    assert request(action="drain", servers="web2, web3", until="2026-12-03T18:00:00Z") == {
        "action": "drain", "service": "shop", "servers": ["web2", "web3"], "weight": None,
        "reason": "patching CHG-1", "until": "2026-12-03T18:00:00Z", "override": None, "steps": [None]}
    assert request(action="weight", servers=["web1"], weight="5")["weight"] == 5


@pytest.mark.parametrize("values, message", [
    ({"action": "drian", "servers": ["web1"]}, "action 'drian' is not one of maint, drain, weight, ready "
                                               "(did you mean 'drain'?)"),
    ({"action": "drain", "servers": []}, "servers must be a non-empty list"),
    ({"action": "drain", "servers": ["web1\nweb2"]}, "server name 'web1\\nweb2' is invalid"),
    ({"action": "drain", "servers": ["web1", "web1"]}, "servers lists a server twice"),
    ({"action": "weight", "servers": ["web1"], "weight": 1000}, "weight must be an integer from 0 to 256"),
    ({"action": "weight", "servers": ["web1"], "weight": "heavy"}, "weight must be an integer from 0 to 256"),
    ({"action": "weight", "servers": ["web1"], "weight": True}, "weight must be an integer from 0 to 256"),
    ({"action": "drain", "servers": ["web1"], "weight": 3}, "weight is only for action weight"),
    ({"action": "maint", "servers": ["web1"], "reason": " "}, "reason is required"),
    ({"action": "maint", "servers": ["web1"], "until": "tomorrow"}, "until 'tomorrow' is not an ISO 8601 time"),
    ({"action": "maint", "servers": ["web1"], "until": "2026-12-03T18:00:00"}, "has no time zone"),
    ({"action": "maint", "servers": ["web1"], "until": "2026-12-01T00:00:00Z"}, "is in the past"),
    ({"action": "maint", "servers": ["web1"], "service": "shop\n"}, "service must be the name"),
])
def test_bad_requests_are_refused_with_the_reason(values, message):
    with pytest.raises(ValueError, match="runtime operation refused") as error:
        request(**values)
    assert message in str(error.value)


@pytest.mark.parametrize("steps, final, weights", [
    ([10, 50, 100], 20, [2, 10, 20]),
    ("25,100", 4, [1, 4]),
    ([1, 2, 100], 10, [1, 10]),  # steps that round to the same weight are one
    ([100], 7, [7]),
])
def test_canary_steps_are_percents_of_the_final_weight(steps, final, weights):
    assert request(action="weight", servers=["web3"], weight=final, canary_steps=steps)["steps"] == weights


@pytest.mark.parametrize("values, message", [
    ({"action": "drain", "canary_steps": [50, 100]}, "canary_steps are only for action weight"),
    ({"action": "weight", "weight": 4, "canary_steps": [50, 20, 100]}, "canary_steps must rise and end at 100"),
    ({"action": "weight", "weight": 4, "canary_steps": [10, 50]}, "canary_steps must rise and end at 100"),
    ({"action": "weight", "weight": 4, "canary_steps": [0, 100]}, "0 is not a percent from 1 to 100"),
    ({"action": "weight", "weight": 4, "canary_steps": "lots"}, "'lots' is not a percent"),
])
def test_bad_canary_steps_are_refused(values, message):
    with pytest.raises(ValueError, match="runtime operation refused") as error:
        request(servers=["web3"], **values)
    assert message in str(error.value)


def test_every_canary_step_is_judged_and_the_breach_names_its_weight():
    canary = request(action="weight", servers=["web1"], weight=10, canary_steps=[10, 100])
    assert canary["steps"] == [1, 10]
    problems = lbguard_operation.operation_problems(model(1, 1, 1), canary, ALL_UP, {})
    assert problems == ["lb-prod-1: weight change of web1 in shop to 10: server web1 would receive 83.3% of traffic "
                        "(web1=10, web2=1, web3=1); policy max_server_share is 50%"]


def test_ready_needs_no_reason_and_the_filter_raises_for_ansible():
    assert lbguard_operation.normalise_operation({"action": "ready", "service": "shop", "servers": ["web1"]})["reason"] == ""
    with pytest.raises(AnsibleFilterError, match="action None is not one of"):
        operation.lbguard_operation({"service": "shop", "servers": ["web1"], "reason": "x"})


# ---------------------------------------------------------- the policy check


def test_draining_one_of_three_is_allowed_in_production():
    assert lbguard_operation.operation_problems(model(1, 1, 1), request(action="drain", servers=["web2"]), ALL_UP, {}) == []


def test_draining_two_of_three_breaks_both_rules_and_names_them():
    problems = lbguard_operation.operation_problems(model(1, 1, 1), request(action="drain", servers=["web2", "web3"]),
                                            ALL_UP, {})
    assert any("lb-prod-1: drain of web2 and web3 in shop: only 1 active server (web1); policy "
               "min_active_servers is 2" in p for p in problems), problems
    assert any("server web1 would receive 100% of traffic" in p and "max_server_share is 50%" in p
               for p in problems), problems


def test_a_server_already_down_counts_and_is_named():
    live = runtime(web1=("UP", 1), web2=("UP", 1), web3=("DOWN", 1))
    problems = lbguard_operation.operation_problems(model(1, 1, 1), request(action="maint", servers=["web2"]), live, {})
    assert problems and "(web3 is DOWN)" in problems[0], problems


def test_a_runtime_weight_that_concentrates_traffic_is_refused():
    problems = lbguard_operation.operation_problems(model(1, 1, 1), request(action="weight", servers=["web1"], weight=10),
                                            ALL_UP, {})
    assert any("server web1 would receive 83.3% of traffic" in p for p in problems), problems


def test_ready_goes_back_to_the_model_weight():
    live = runtime(web1=("UP", 1), web2=("DRAIN", 0), web3=("UP", 1))
    assert lbguard_operation.operation_problems(model(1, 1, 1), request(action="ready", servers=["web2"]), live, {}) == []


def test_without_runtime_the_holds_count():
    holds = {"shop/web3": {"action": "maint"}}
    problems = lbguard_operation.operation_problems(model(1, 1, 1), request(action="drain", servers=["web2"]), None, holds)
    assert any("only 1 active server (web1)" in p for p in problems), problems


def test_unknown_service_and_server_are_named():
    with pytest.raises(ValueError, match="no service or pool 'shopp'.*did you mean 'shop'"):
        lbguard_operation.operation_problems(model(1, 1), request(action="drain", servers=["web1"], service="shopp"),
                                     ALL_UP, {})
    with pytest.raises(ValueError, match="service shop has no server web9"):
        lbguard_operation.operation_problems(model(1, 1), request(action="drain", servers=["web9"]), ALL_UP, {})


# -------------------------------------------------- holds in verify and audit


DRAIN_WEB2 = {"shop/web2": {"action": "drain", "by": "alice", "at": "2026-12-03T08:00:00Z", "reason": "patching",
                            "until": "2026-12-03T18:00:00Z"}}


def test_the_held_model_expects_the_sanctioned_state_and_shares():
    held = lbguard_operation.held_model(model(1, 1, 1, min_active=1, max_share=1.0), DRAIN_WEB2)
    servers = {s["name"]: s for s in held["services"][0]["servers"]}
    assert servers["web2"]["weight"] == 0 and servers["web2"]["hold"]["by"] == "alice"
    assert [round(s["expected_share"], 2) for s in servers.values()] == [0.5, 0.0, 0.5]



def test_the_held_model_leaves_the_model_it_was_given_as_it_was():
    """It copies only what a hold changes: the inventory's model stays as validated."""
    given = model(1, 1, 1, min_active=1, max_share=1.0)
    before = repr(given)
    held = lbguard_operation.held_model(given, DRAIN_WEB2)
    assert repr(given) == before
    assert held["services"][0] is not given["services"][0]
    assert lbguard_operation.held_model(given, {}) == given

def test_verification_accepts_a_sanctioned_drain_and_refuses_an_unsanctioned_one():
    live = runtime(web1=("UP", 1), web2=("DRAIN", 0), web3=("UP", 1))["shop"]
    plain = model(1, 1, 1)["services"][0]
    assert lbguard_verify_rules.runtime_problems(plain, live, "lb-prod-1")
    held = lbguard_operation.held_model(model(1, 1, 1), DRAIN_WEB2)["services"][0]
    assert lbguard_verify_rules.runtime_problems(held, live, "lb-prod-1") == []


def test_the_audit_is_quiet_about_sanctioned_maintenance_and_loud_about_the_rest():
    live = runtime(web1=("UP", 1), web2=("MAINT", 1), web3=("UP", 1))
    holds = {"shop/web2": {**DRAIN_WEB2["shop/web2"], "action": "maint"}}
    assert audit.runtime_drift(lbguard_operation.held_model(model(1, 1, 1), holds), live) == []
    assert "service shop: server web2 is MAINT at runtime, active in the model" in \
        audit.runtime_drift(lbguard_operation.held_model(model(1, 1, 1), {}), live)
    assert lbguard_operation.hold_findings(model(1, 1, 1), holds, NOW) == []


def test_expired_holds_and_holds_on_unknown_servers_are_findings():
    holds = {"shop/web2": DRAIN_WEB2["shop/web2"], "shop/web9": {"action": "maint", "reason": "old"}}
    later = NOW + datetime.timedelta(days=1)
    findings = lbguard_operation.hold_findings(model(1, 1, 1), holds, later)
    assert findings[0].startswith("shop/web2: drain by alice at 2026-12-03T08:00:00Z until 2026-12-03T18:00:00Z: "
                                  "patching has expired")
    assert findings[1].startswith("hold on shop/web9, which the model does not have")


def test_nginx_has_no_drain_and_no_weight_0_so_both_take_the_server_out():
    nginx = dict(model(1, 1, 1, min_active=1, max_share=1.0), engine="nginx")
    holds = {"shop/web2": {"action": "drain"}, "shop/web3": {"action": "weight", "weight": 0}}
    servers = {s["name"]: s for s in lbguard_operation.held_model(nginx, holds)["services"][0]["servers"]}
    assert servers["web2"]["disabled"] and servers["web3"]["disabled"]
    assert servers["web2"]["weight"] == 1  # the file keeps a valid weight next to `down`
    assert servers["web1"]["expected_share"] == 1.0


def test_nginx_operations_are_judged_by_the_holds():
    nginx = dict(model(1, 1, 1), engine="nginx")
    problems = lbguard_operation.operation_problems(nginx, request(action="drain", servers=["web2"]), {},
                                            {"shop/web3": {"action": "maint"}})
    assert any("only 1 active server (web1)" in p for p in problems), problems


def test_an_overridden_hold_makes_its_split_the_limit_for_verification_and_audit():
    holds = {"shop/web2": {"action": "maint", "override": "all hands"},
             "shop/web3": {"action": "maint", "override": "all hands"}}
    held = lbguard_operation.held_model(model(1, 1, 1), holds)
    assert held["services"][0]["policy"]["max_server_share"] == 1.0
    assert held["services"][0]["policy"]["overridden"] == ["all hands"]
    live = runtime(web1=("UP", 1), web2=("MAINT", 1), web3=("MAINT", 1))
    assert audit.runtime_drift(held, live) == []
    # Without the override the same state is drift.
    plain = lbguard_operation.held_model(model(1, 1, 1), {k: {"action": "maint"} for k in holds})
    assert any("max_server_share is 50%" in f for f in audit.runtime_drift(plain, live))


def test_a_sanctioned_drain_is_quiet_although_haproxy_still_shows_its_weight():
    # HAProxy 2.6 shows a drained server's weight as before (measured in the lab).
    live = runtime(web1=("UP", 1), web2=("DRAIN", 1), web3=("UP", 1))
    assert audit.runtime_drift(lbguard_operation.held_model(model(1, 1, 1), DRAIN_WEB2), live) == []
    assert "service shop: server web2 is DRAIN at runtime, active in the model" in \
        audit.runtime_drift(lbguard_operation.held_model(model(1, 1, 1), {}), live)


def test_haproxy_files_carry_runtime_weights_and_nginx_files_every_hold():
    holds = {"shop/web1": {"action": "maint", "by": "alice", "reason": "patching"},
             "shop/web2": {"action": "drain", "by": "alice", "reason": "patching"},
             "shop/web3": {"action": "weight", "weight": 4, "by": "bob", "reason": "canary"}}
    assert operation.lbguard_file_holds(holds, "haproxy") == {"shop/web3": {"action": "weight", "weight": 4}}
    assert operation.lbguard_file_holds(holds, "nginx") == {
        "shop/web1": {"action": "maint", "weight": None}, "shop/web2": {"action": "drain", "weight": None},
        "shop/web3": {"action": "weight", "weight": 4}}
    # Who and why are not in the file: a hold renewed with another reason renders the same file.
    renewed = {**holds, "shop/web3": {**holds["shop/web3"], "by": "carol", "reason": "renewed"}}
    assert operation.lbguard_file_holds(renewed, "haproxy") == operation.lbguard_file_holds(holds, "haproxy")
    assert operation.lbguard_file_holds(None, "haproxy") == {}


def test_the_model_haproxy_renders_keeps_the_final_canary_weight_but_not_a_drain():
    holds = {"shop/web2": {"action": "drain"}, "shop/web3": {"action": "weight", "weight": 4}}
    rendered = lbguard_operation.held_model(model(1, 1, 1, min_active=1, max_share=1.0),
                                    operation.lbguard_file_holds(holds, "haproxy"))
    assert [s["weight"] for s in rendered["services"][0]["servers"]] == [1, 1, 4]
    assert not any(s["disabled"] for s in rendered["services"][0]["servers"])


def test_the_file_model_is_the_model_with_the_holds_its_engine_keeps_in_the_file():
    holds = {"shop/web2": {"action": "drain"}, "shop/web3": {"action": "weight", "weight": 4}}
    base = model(1, 1, 1, min_active=1, max_share=1.0)
    assert operation.lbguard_file_model(base, holds) == lbguard_operation.held_model(
        base, operation.lbguard_file_holds(holds, "haproxy"))
    assert operation.lbguard_file_model(base, None) == lbguard_operation.held_model(base, {})


# ------------------------------------------------------------------ the request's boundary (#27)

CONTROL_CHARACTERS = ["\n", "\r", "\t", "\x00", "\x1b[31m", "\x7f", "\x85", "\u2028", "\u2029", "\u202e", "\u200b",
                      "\ufeff"]


@pytest.mark.parametrize("field", ["reason", "override", "until"])
@pytest.mark.parametrize("character", CONTROL_CHARACTERS)
def test_every_free_text_field_refuses_control_characters_of_any_kind(field, character):
    values = {"action": "maint", "servers": ["web1"], "reason": "CHG-1", field: f"CHG-1{character}forged line"}
    problems = lbguard_operation.request_problems({"service": "shop", **values}, now=NOW)
    expected = f"{field} contains the control character U+{ord(character[0]):04X}"
    assert [p for p in problems if p.startswith(expected)], problems
    with pytest.raises(ValueError, match="runtime operation refused"):
        request(**values)


def test_visible_unicode_text_in_a_reason_is_kept():
    assert request(action="maint", servers=["web1"], reason="Wartung: Ölpumpe – CHG-7")["reason"] == \
        "Wartung: Ölpumpe – CHG-7"


@pytest.mark.parametrize("weight", ["heavy", "٣", "０", "1e3", "5.0", "-1", 5.5, [], True, "99999999"])
def test_a_malformed_weight_gets_lbguards_own_words(weight):
    problems = lbguard_operation.request_problems(
        {"action": "weight", "service": "shop", "servers": ["web1"], "reason": "r", "weight": weight}, now=NOW)
    assert problems == [f"weight must be an integer from 0 to 256 for action weight, got {weight!r}"]


@pytest.mark.parametrize("steps", [["١٠", 100], ["ten", 100]])
def test_canary_steps_are_ascii_numbers(steps):
    problems = lbguard_operation.request_problems(
        {"action": "weight", "service": "shop", "servers": ["web1"], "reason": "r", "weight": 10,
         "canary_steps": steps}, now=NOW)
    assert problems == [f"canary_steps: {steps[0]!r} is not a percent from 1 to 100"]


def test_a_time_that_is_not_one_is_refused_in_lbguards_words():
    problems = lbguard_operation.request_problems(
        {"action": "maint", "service": "shop", "servers": ["web1"], "reason": "r", "until": "next tuesday"}, now=NOW)
    assert problems == ["until 'next tuesday' is not an ISO 8601 time: 'next tuesday' is not a time; write it like "
                        "2026-12-03T18:00:00Z"]
    assert "isoformat" not in problems[0]


def test_every_problem_of_a_request_is_listed_together():
    problems = operation.lbguard_operation_request_problems(
        {"action": "drian", "service": "shop", "servers": ["web1", "web1"], "weight": 3, "reason": "a\nb",
         "until": "soon"})
    assert len(problems) == 5, problems
    assert problems[0] == "reason contains the control character U+000A: write it as one line of visible text"
    assert operation.lbguard_operation_request_problems(
        {"action": "drain", "service": "shop", "servers": "web1", "reason": "CHG-1"}) == []
