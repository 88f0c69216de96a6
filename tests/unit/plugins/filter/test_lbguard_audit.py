"""Unit tests of the audit's drift findings."""

from ansible_collections.lbguard.core.plugins.filter import lbguard_audit as audit


def model(*weights, balance="roundrobin", max_share=0.5):
    return {"services": [{"name": "shop", "balance": balance,
                          "policy": {"min_active_servers": 2, "max_server_share": max_share},
                          "servers": [{"name": f"web{i}", "weight": w, "backup": False, "disabled": False}
                                      for i, w in enumerate(weights, start=1)]}]}


def runtime(**servers):
    return {"shop": {name: {"status": status, "weight": weight} for name, (status, weight) in servers.items()}}


def test_runtime_matching_the_model_is_no_drift():
    assert audit.runtime_drift(model(1, 1, 1), runtime(web1=("UP", 1), web2=("UP", 1), web3=("UP", 1))) == []


def test_weight_changed_through_the_runtime_api_is_drift_and_judged_by_policy():
    found = audit.runtime_drift(model(1, 1, 1), runtime(web1=("UP", 100), web2=("UP", 1), web3=("UP", 1)))
    assert "service shop: server web1 has weight 100 at runtime, 1 in the model" in found
    assert ("service shop: at runtime server web1 would receive 98% of traffic (web1=100, web2=1, web3=1); "
            "policy max_server_share is 50%") in found


def test_server_in_maintenance_or_drain_by_hand_is_drift():
    found = audit.runtime_drift(model(1, 1, 1), runtime(web1=("UP", 1), web2=("MAINT", 1), web3=("DRAIN", 0)))
    assert "service shop: server web2 is MAINT at runtime, active in the model" in found
    assert "service shop: server web3 is DRAIN at runtime, active in the model" in found
    # Only web1 is left taking traffic: above the policy's share.
    assert any("at runtime server web1 would receive 100%" in f for f in found)


def test_missing_service_or_server_at_runtime_is_drift():
    assert audit.runtime_drift(model(1, 1), {}) == ["service shop: not present in the runtime API"]
    found = audit.runtime_drift(model(1, 1), runtime(web1=("UP", 1)))
    assert "service shop: server web2 is not present at runtime" in found


def ledger(current="r2", verified="r2", sha="abc"):
    return {"current": current, "last_verified": verified,
            "releases": [{"id": "r1", "config_sha256": "old"}, {"id": "r2", "config_sha256": sha}]}


def test_file_matching_the_ledger_and_the_intent_is_no_drift():
    assert audit.file_drift("abc", ledger(), False) == []


def test_hand_edit_is_drift_on_both_counts():
    found = audit.file_drift("edited", ledger(), True)
    assert found[0] == "the live file differs from the ledger's current release r2 (edited by hand?)"
    assert "the configuration rendered from the inventory differs from the live file" in found[1]


def test_unverified_current_release_missing_file_and_no_ledger_are_drift():
    assert "is not the last verified one (r1)" in audit.file_drift("abc", ledger(verified="r1"), False)[0]
    assert audit.file_drift(None, ledger(), False) == ["the live configuration file is missing"]
    assert "never deployed by lbguard" in audit.file_drift("abc", {"current": None, "releases": []}, False)[0]


def test_no_server_able_to_take_traffic_at_runtime_is_drift():
    found = audit.runtime_drift(model(1, 1), runtime(web1=("MAINT", 1), web2=("DRAIN", 1)))
    assert "service shop: no server can take traffic at runtime" in found


def test_findings_text_is_one_block_a_finding_a_line_under_its_host():
    drifted = [{"host": "lb-prod-1", "problems": ["service shop: server web1 has weight 100 at runtime, 1 in the model"]},
               {"host": "lb-stg-1", "problems": ["the live file differs", "the rendered configuration differs"]},
               {"host": "lb-a", "problems": []}]
    assert audit.findings_text(drifted, "R1").splitlines() == [
        "lbguard audit R1: drift on lb-a, lb-prod-1, lb-stg-1:",
        "- lb-prod-1: service shop: server web1 has weight 100 at runtime, 1 in the model",
        "- lb-stg-1: the live file differs",
        "- lb-stg-1: the rendered configuration differs",
    ]
    assert "lbguard_audit_findings_text" in audit.FilterModule().filters()
