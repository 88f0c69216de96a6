"""Unit tests of the run filters: the staging gate, failed hosts, the run report."""

import json
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.lbguard.core.plugins.plugin_utils import lbguard_model_build
from ansible_collections.lbguard.core.plugins.filter import lbguard_run as run
from ansible_collections.lbguard.core.plugins.plugin_utils import lbguard_run

GROUPS = {"loadbalancers": ["lb-stg", "lb-prod-1", "lb-prod-2"], "staging": ["lb-stg"],
          "production": ["lb-prod-1", "lb-prod-2"]}
LBS = GROUPS["loadbalancers"]


def result(host, environment, status, **extra):
    return {"lb_deploy_result": {"host": host, "environment": environment, "status": status, "problems": [],
                                 "release": "r00002", "changed": True, **extra}}


def test_gate_allows_production_when_staging_verified_in_this_run():
    hostvars = {"lb-stg": result("lb-stg", "staging", "verified"), "lb-prod-1": {}, "lb-prod-2": {}}
    gate = lbguard_run.production_gate(LBS, GROUPS, hostvars, ["staging", "production"], "c1")
    assert gate["allowed"], gate


def test_gate_holds_production_when_staging_rolled_back_or_left_no_result():
    hostvars = {"lb-stg": result("lb-stg", "staging", "rolled_back"), "lb-prod-1": {}, "lb-prod-2": {}}
    gate = lbguard_run.production_gate(LBS, GROUPS, hostvars, ["staging", "production"], "c1")
    assert not gate["allowed"] and "lb-stg rolled_back" in gate["reason"]
    gate = lbguard_run.production_gate(LBS, GROUPS, {"lb-stg": {}}, ["staging", "production"], "c1")
    assert not gate["allowed"] and "no result" in gate["reason"]


def ledger(change_id):
    return {"deploy_staging_ledger": {"last_verified": "r1", "releases": [
        {"id": "r1", "verification": {"status": "passed", "change_id": change_id}}]}}


def test_production_alone_needs_staging_to_have_verified_this_change():
    allowed = lbguard_run.production_gate(LBS, GROUPS, {"lb-stg": ledger("c1")}, ["production"], "c1")
    assert allowed["allowed"], allowed
    refused = lbguard_run.production_gate(LBS, GROUPS, {"lb-stg": ledger("c0")}, ["production"], "c1")
    assert not refused["allowed"]
    assert "refusing production: this change has not passed staging verification" in refused["reason"]
    never = lbguard_run.production_gate(LBS, GROUPS, {"lb-stg": {}}, ["production"], "c1")
    assert not never["allowed"] and "no ledger" in never["reason"]


def test_gate_refuses_an_inventory_without_staging():
    groups = dict(GROUPS, staging=[])
    gate = lbguard_run.production_gate(LBS, groups, {}, ["staging", "production"], "c1")
    assert not gate["allowed"] and "no staging load balancer" in gate["reason"]


def test_failed_hosts_lists_only_that_environment():
    hostvars = {"lb-stg": result("lb-stg", "staging", "rolled_back"),
                "lb-prod-1": result("lb-prod-1", "production", "verified"),
                "lb-prod-2": result("lb-prod-2", "production", "rollback_failed")}
    assert lbguard_run.failed_hosts(LBS, hostvars, "production") == ["lb-prod-2"]
    assert lbguard_run.failed_hosts(LBS, hostvars, "staging") == ["lb-stg"]


def test_report_fails_on_any_failure_and_on_held_production():
    hostvars = {"lb-stg": result("lb-stg", "staging", "rolled_back", problems=["observed web1 100%"]),
                "lb-prod-1": {}, "lb-prod-2": {}}
    gate = {"allowed": False, "reason": "production not touched"}
    report = lbguard_run.run_report(LBS, hostvars, GROUPS, {"run_id": "r", "change_id": "c", "stages": ["staging", "production"],
                                                    "gate": gate})
    assert report["status"] == "failed"
    assert any(line.startswith("FAIL staging lb-stg rolled_back") for line in report["lines"])
    assert "       observed web1 100%" in report["lines"]
    assert report["lines"][-1] == "HELD production: production not touched"
    assert set(report["hosts"]) == {"lb-stg"}


def test_report_passes_when_every_expected_host_verified_and_flags_missing_ones():
    hostvars = {h: result(h, "production" if "prod" in h else "staging", "verified") for h in LBS}
    gate = {"allowed": True, "reason": "ok"}
    context = {"run_id": "r", "change_id": "c", "stages": ["staging", "production"], "gate": gate}
    assert lbguard_run.run_report(LBS, hostvars, GROUPS, context)["status"] == "passed"
    del hostvars["lb-prod-2"]["lb_deploy_result"]
    missing = lbguard_run.run_report(LBS, hostvars, GROUPS, context)
    assert missing["status"] == "failed" and missing["hosts"]["lb-prod-2"]["status"] == "no_result"


def test_check_mode_report_says_what_would_change():
    hostvars = {"lb-stg": result("lb-stg", "staging", "checked")}
    report = lbguard_run.run_report(["lb-stg"], hostvars, GROUPS, {"stages": ["staging"], "gate": {"allowed": False}})
    assert report["status"] == "passed"
    assert report["lines"][0].endswith("(would change)")


def test_production_hosts_after_a_failed_batch_are_reported_skipped():
    hostvars = {"lb-stg": result("lb-stg", "staging", "verified"),
                "lb-prod-1": result("lb-prod-1", "production", "rolled_back"), "lb-prod-2": {}}
    gate = {"allowed": True, "reason": "ok"}
    report = lbguard_run.run_report(LBS, hostvars, GROUPS, {"stages": ["staging", "production"], "gate": gate})
    assert report["status"] == "failed"
    assert report["hosts"]["lb-prod-2"]["status"] == "skipped"
    assert report["hosts"]["lb-prod-2"]["problems"] == ["not deployed: production stopped after lb-prod-1 failed"]


def test_classification_replaces_the_raw_figures_line():
    hostvars = {"lb-stg": {"verify_result": {"host": "lb-stg", "environment": "staging", "status": "failed",
                                             "classification": "misconfiguration: web1 took 100% of 60 requests",
                                             "figures": {"shop": {"requests": 60, "observed": {"web1": 1.0}}},
                                             "problems": []}}}
    report = lbguard_run.run_report(["lb-stg"], hostvars, GROUPS, {"result_fact": "verify_result",
                                                          "expected_hosts": ["lb-stg"]})
    assert report["lines"][1] == "       misconfiguration: web1 took 100% of 60 requests"
    assert not any("60 req [" in line for line in report["lines"])


def test_a_multi_line_problem_keeps_every_line_indented_under_its_host():
    verdict = "staging lb-stg: servers DOWN: web2 (MAINT)\nstaging lb-stg service shop: observed web1 100%"
    hostvars = {"lb-stg": result("lb-stg", "staging", "rolled_back", problems=[verdict])}
    report = lbguard_run.run_report(["lb-stg"], hostvars, GROUPS, {"expected_hosts": ["lb-stg"]})
    assert report["lines"][1:] == ["       staging lb-stg: servers DOWN: web2 (MAINT)",
                                   "       staging lb-stg service shop: observed web1 100%"]
    assert report["hosts"]["lb-stg"]["problems"] == [verdict]


def failed_report():
    hostvars = {"lb-stg": result("lb-stg", "staging", "rolled_back", problems=["observed web1 100%"]),
                "lb-prod-1": {}, "lb-prod-2": {}}
    return lbguard_run.run_report(LBS, hostvars, GROUPS, {"run_id": "20261202T090000Z-ab12", "change_id": "0123456789abcdef",
                                                  "stages": ["staging", "production"],
                                                  "gate": {"allowed": False, "reason": "production not touched"}})


def test_summary_text_is_one_block_status_line_first():
    text = lbguard_run.summary_text(failed_report(), "deploy")
    assert text.splitlines() == [
        "deploy 20261202T090000Z-ab12 change 0123456789ab: FAILED",
        "FAIL staging lb-stg rolled_back, release r00002 (changed)",
        "       observed web1 100%",
        "HELD production: production not touched",
    ]


def test_failure_text_lists_only_the_failing_and_held_lines():
    assert lbguard_run.failure_text(failed_report(), "deploy") == (
        "deploy failed:\n"
        "FAIL staging lb-stg rolled_back, release r00002 (changed)\n"
        "HELD production: production not touched")


def test_summary_text_of_a_passing_run():
    hostvars = {"lb-stg": result("lb-stg", "staging", "verified")}
    report = lbguard_run.run_report(["lb-stg"], hostvars, GROUPS, {"run_id": "r1", "change_id": None,
                                                          "expected_hosts": ["lb-stg"]})
    assert lbguard_run.summary_text(report, "verify") == ("verify r1 change -: PASSED\n"
                                                  "OK   staging lb-stg verified, release r00002 (changed)")
    assert set(run.FilterModule().filters()) >= {"lbguard_run_summary_text", "lbguard_run_failure_text"}


def test_runtime_drift_a_deploy_reset_is_listed_under_its_host():
    drift = "staging lb-stg: servers DOWN: web2 (MAINT)\nsecond line of the verdict"
    hostvars = {"lb-stg": result("lb-stg", "staging", "verified", runtime_reset=[drift])}
    report = lbguard_run.run_report(["lb-stg"], hostvars, GROUPS, {"stages": ["staging"], "gate": {"allowed": False}})
    assert report["status"] == "passed"
    assert "       runtime drift reset: staging lb-stg: servers DOWN: web2 (MAINT)" in report["lines"]
    clean = lbguard_run.run_report(["lb-stg"], {"lb-stg": result("lb-stg", "staging", "verified")}, GROUPS,
                           {"stages": ["staging"], "gate": {"allowed": False}})
    assert not any("runtime drift" in line for line in clean["lines"])


def test_what_a_dead_run_left_is_listed_under_its_host():
    settled = "run r-0 died before confirming (timer due 2026-12-02T10:05:00Z): run r1 restored r00001 (over r00002)"
    hostvars = {"lb-stg": result("lb-stg", "staging", "verified", reconciled=[settled], lock_taken_over="r-0")}
    report = lbguard_run.run_report(["lb-stg"], hostvars, GROUPS, {"stages": ["staging"], "gate": {"allowed": False}})
    assert report["status"] == "passed"
    assert report["lines"][1:3] == ["       took over the lock of run r-0",
                                    f"       settled before this change: {settled}"]


# ------------------------------------------------------------------ concentration warnings


def validated(engine, balance="roundrobin", weights=(1, 1, 1), backup=(), max_share=1.0, allow_first=False):
    """A model validated by the model filter itself, so expected_share is the one a deploy sees."""
    servers = [{"name": f"web{i}", "address": f"10.0.0.{i}", "port": 8080, "weight": w, "backup": i in backup}
               for i, w in enumerate(weights, start=1)]
    policy = {"min_active_servers": 1, "max_server_share": max_share, "allow_first": allow_first}
    host_vars = {"lb_engine": engine, "lb_services": [{"name": "shop", "listen": 80, "balance": balance,
                                                       "servers": servers, "policy": policy}]}
    built, found = lbguard_model_build.build_model("lb-stg", host_vars, {"staging": ["lb-stg"], "loadbalancers": ["lb-stg"]}, {})
    assert found == [], found
    return built


def test_haproxy_balance_first_that_the_policy_allows_warns():
    model = validated("haproxy", balance="first", allow_first=True)
    assert lbguard_run.concentration_warnings(model) == [
        "service shop: web1 takes 100% of traffic (balance first; policy allows up to 100%)"]


def test_nginx_has_no_first_but_a_single_active_server_or_weights_concentrate():
    single = validated("nginx", backup=(2, 3))
    assert lbguard_run.concentration_warnings(single) == [
        "service shop: web1 takes 100% of traffic (the only active server; policy allows up to 100%)"]
    heavy = validated("nginx", weights=(9, 1, 1))
    assert lbguard_run.concentration_warnings(heavy) == [
        "service shop: web1 takes 82% of traffic (weights web1=9, web2=1, web3=1; policy allows up to 100%)"]


def test_concentration_warns_only_above_the_threshold():
    assert lbguard_run.concentration_warnings(validated("haproxy")) == []
    assert lbguard_run.concentration_warnings(validated("haproxy", weights=(8, 1, 1))) == [], "80% is not more than 80%"
    assert lbguard_run.concentration_warnings(validated("haproxy", weights=(8, 1, 1)), 0.7) != []
    assert lbguard_run.concentration_warnings(validated("haproxy", weights=(2, 1)), "0.6") == [
        "service shop: web1 takes 67% of traffic (weights web1=2, web2=1; policy allows up to 100%)"]
    assert lbguard_run.concentration_warnings(None) == [], "a release adopted without a model"
    for wrong in (0, 1.5, "80%"):
        with pytest.raises(ValueError, match="lbguard_concentration_warn_share"):
            lbguard_run.concentration_warnings(validated("haproxy"), wrong)


def test_a_passing_run_prints_the_warning_and_keeps_it_per_host_in_the_json_report():
    warning = lbguard_run.concentration_warnings(validated("haproxy", balance="first", allow_first=True))
    hostvars = {"lb-stg": result("lb-stg", "staging", "verified", warnings=warning),
                "lb-prod-1": result("lb-prod-1", "production", "verified"),
                "lb-prod-2": result("lb-prod-2", "production", "verified")}
    report = lbguard_run.run_report(LBS, hostvars, GROUPS, {"stages": ["staging", "production"],
                                                    "gate": {"allowed": True, "reason": "ok"}})
    assert report["status"] == "passed"
    assert report["lines"][:3] == [
        "OK   staging lb-stg verified, release r00002 (changed)",
        "WARN staging lb-stg service shop: web1 takes 100% of traffic (balance first; policy allows up to 100%)",
        "OK   production lb-prod-1 verified, release r00002 (changed)"]
    written = json.loads(json.dumps(report))
    assert written["hosts"]["lb-stg"]["warnings"] == warning
    assert written["hosts"]["lb-prod-1"]["warnings"] == []
    assert "WARN" not in lbguard_run.failure_text(report, "deploy")


# ------------------------------------------------------------------ rollback outcomes


def test_rollback_outcome_says_what_happened_and_keeps_the_old_statuses():
    assert lbguard_run.rollback_outcome(True, restored=True) == {"status": "rollback_failed", "outcome": "restore failed"}
    assert lbguard_run.rollback_outcome(False, restored=True, verification_failed=True) == {
        "status": "rollback_failed", "outcome": "restored, still failing"}
    assert lbguard_run.rollback_outcome(False, restored=True, verified=True) == {"status": "rolled_back",
                                                                         "outcome": "restored"}
    assert lbguard_run.rollback_outcome(False, restored=True) == {
        "status": "rolled_back", "outcome": "restored, not verified (no model recorded)"}
    assert lbguard_run.rollback_outcome(False) == {"status": "failed_unchanged", "outcome": "live file unchanged"}


DOWN = "staging lb-stg service shop: servers DOWN: web1 (DOWN), web2 (DOWN)"


def rolled_back(outcome, status, restored_problems, role="restored"):
    return result("lb-stg", "staging", status, outcome=outcome, release="r00001", failed_release="r00002",
                  problems_by_release=[
                      {"release": "r00002", "role": "new", "problems": [DOWN, "observed web1 0%"]},
                      {"release": "r00001", "role": role, "problems": restored_problems}])


def test_a_restored_release_failing_the_same_way_prints_each_problem_once_labelled():
    hostvars = {"lb-stg": rolled_back("restored, still failing", "rollback_failed", [DOWN, "observed web2 0%"])}
    lines = lbguard_run.run_report(["lb-stg"], hostvars, GROUPS, {"expected_hosts": ["lb-stg"]})["lines"]
    assert lines == [
        "FAIL staging lb-stg rollback_failed, release r00001 (changed): restored, still failing",
        f"       new release r00002 and restored release r00001: {DOWN}",
        "       new release r00002: observed web1 0%",
        "       restored release r00001: observed web2 0%",
        "       the restored release fails like the new one: the cause is likely outside the configuration "
        "(backends down?); see the runbook, \"Restored, still failing\""]
    assert sum(DOWN in line for line in lines) == 1


def test_a_verified_rollback_labels_only_the_new_release_problems():
    hostvars = {"lb-stg": rolled_back("restored", "rolled_back", [])}
    lines = lbguard_run.run_report(["lb-stg"], hostvars, GROUPS, {"expected_hosts": ["lb-stg"]})["lines"]
    assert lines == ["FAIL staging lb-stg rolled_back, release r00001 (changed): restored",
                     f"       new release r00002: {DOWN}", "       new release r00002: observed web1 0%"]


def test_a_failed_restore_is_labelled_with_the_release_it_tried_to_put_back():
    hostvars = {"lb-stg": rolled_back("restore failed", "rollback_failed", ["cannot read releases/r00001/config"],
                                      role="restore")}
    lines = lbguard_run.run_report(["lb-stg"], hostvars, GROUPS, {"expected_hosts": ["lb-stg"]})["lines"]
    assert lines[0].endswith(": restore failed")
    assert lines[-1] == "       restoring release r00001: cannot read releases/r00001/config"
    assert not any("outside the configuration" in line for line in lines)


def test_a_change_that_never_became_a_release_is_labelled_as_this_run_s_change():
    hostvars = {"lb-stg": result("lb-stg", "staging", "failed_unchanged", outcome="live file unchanged",
                                 changed=False, problems_by_release=[
                                     {"release": None, "role": "new", "problems": ["haproxy -c refused the file"]}])}
    lines = lbguard_run.run_report(["lb-stg"], hostvars, GROUPS, {"expected_hosts": ["lb-stg"]})["lines"]
    assert lines == ["FAIL staging lb-stg failed_unchanged, release r00002: live file unchanged",
                     "       this run's change: haproxy -c refused the file"]


def test_figures_line_says_when_haproxy_counters_were_judged():
    counted = {"shop": {"requests": 60, "source": "counters", "counted": 2431,
                        "observed": {"web1": 0.34, "web2": 0.33, "web3": 0.33}}}
    probed = {"shop": {"requests": 60, "source": "probe", "counted": 60, "observed": {"web1": 0.5, "web2": 0.5}}}
    assert lbguard_run._figures_line(counted) == "shop: 2431 req counted by the LB [web1 34%, web2 33%, web3 33%]"
    assert lbguard_run._figures_line(probed) == "shop: 60 req [web1 50%, web2 50%]"


# ------------------------------------------------------------------ the host result


def test_host_result_fills_every_field_and_keeps_what_is_given():
    result = lbguard_run.host_result({"host": "lb-stg", "environment": "staging", "status": "verified", "changed": True})
    assert list(result) == list(lbguard_run.RESULT_FIELDS)
    assert (result["changed"], result["problems"], result["release"]) == (True, [], None)
    # Defaults are fresh per result: one result's list is never another's.
    result["problems"].append("x")
    assert lbguard_run.host_result({"host": "a", "environment": "staging", "status": "failed"})["problems"] == []


@pytest.mark.parametrize(("fields", "message"), [
    ({"host": "a", "environment": "staging", "status": "verified", "problem": []}, r"unknown field\(s\) problem"),
    ({"host": "a", "status": "verified"}, "environment must be set"),
    ({"host": "a", "environment": "staging", "status": "verifed"}, "status 'verifed' is not one of"),
])
def test_host_result_refuses_what_the_specification_does_not_know(fields, message):
    with pytest.raises(AnsibleFilterError, match=message):
        lbguard_run.host_result(fields)


def test_the_host_result_filter_documents_every_field():
    doc = (Path(run.__file__).parent / "lbguard_host_result.yml").read_text()
    for field in lbguard_run.RESULT_FIELDS:
        assert f"V({field})" in doc, field


# ------------------------------------------------------- slices of a parallel job


def test_the_slices_of_a_fleet_cover_every_host_once() -> None:
    hosts = [f"lb-{i:02d}" for i in range(1, 11)]
    slices = [lbguard_run.slice_hosts(hosts, f"{k}/4") for k in range(1, 5)]
    assert slices[0] == ["lb-01", "lb-05", "lb-09"] and slices[3] == ["lb-04", "lb-08"]
    assert sorted(sum(slices, [])) == hosts
    assert lbguard_run.slice_hosts(hosts, None) == hosts and lbguard_run.slice_hosts(hosts, "") == hosts
    assert lbguard_run.slice_hosts(hosts[:2], "3/4") == []  # more slices than hosts: an empty slice, not an error


@pytest.mark.parametrize("spec", ["0/4", "5/4", "2", "a/b", "2/4/8", "-1/4"])
def test_a_slice_that_is_not_k_of_n_is_refused(spec: str) -> None:
    with pytest.raises(AnsibleFilterError, match=r"lbguard_slice: .* is not K/N with 1 <= K <= N"):
        lbguard_run.slice_hosts(["lb-01"], spec)
