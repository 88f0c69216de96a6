"""Which hosts a workflow's rollback job restores (filter_plugins/lbguard_rollback.py)."""

from __future__ import annotations

from ansible_collections.lbguard.core.plugins.filter.lbguard_rollback import rollback_scope

PRODUCTION = ["lb-prod-1", "lb-prod-2", "lb-prod-3"]


def report(hosts: dict, run_id: str = "20261130T080000Z-1") -> dict:
    return {"run_id": run_id, "change_id": "c0ffee", "status": "failed", "hosts": hosts}


def test_only_hosts_the_deploy_changed_are_rolled_back() -> None:
    scope = rollback_scope(PRODUCTION, report({
        "lb-prod-1": {"environment": "production", "status": "rolled_back", "changed": True},
        "lb-prod-2": {"environment": "production", "status": "rolled_back", "changed": True},
        "lb-prod-3": {"environment": "production", "status": "skipped"},
    }))
    assert scope["hosts"] == ["lb-prod-1", "lb-prod-2"]
    assert "lb-prod-1, lb-prod-2" in scope["reason"]


def test_a_host_without_result_may_be_half_changed_and_is_rolled_back() -> None:
    scope = rollback_scope(PRODUCTION, report({
        "lb-prod-1": {"environment": "production", "status": "failed_unchanged", "changed": False},
        "lb-prod-2": {"host": "lb-prod-2", "status": "no_result"},
    }))
    assert scope["hosts"] == ["lb-prod-2"]


def test_nothing_changed_means_nothing_to_roll_back() -> None:
    scope = rollback_scope(PRODUCTION, report({
        "lb-prod-1": {"environment": "production", "status": "failed_unchanged", "changed": False},
    }, run_id="R7"))
    assert scope["hosts"] == []
    assert scope["reason"] == "deploy run R7 changed none of lb-prod-1: nothing to roll back"


def test_without_a_report_every_host_of_the_pattern_is_rolled_back() -> None:
    for missing in (None, "", {}, {"run_id": "R1"}):
        scope = rollback_scope(PRODUCTION, missing)
        assert scope["hosts"] == PRODUCTION
        assert "no deploy report" in scope["reason"]


def test_a_report_of_another_stage_is_not_trusted() -> None:
    # The production deploy died before reporting: AWX still hands the node
    # staging's artifact, which names no production host.
    staging_report = report({"lb-stg-1": {"environment": "staging", "status": "verified", "changed": True}})
    scope = rollback_scope(PRODUCTION, staging_report)
    assert scope["hosts"] == PRODUCTION
    assert "names none of these hosts" in scope["reason"]
