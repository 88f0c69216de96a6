"""The project's jobs through ansible-runner, the engine AWX runs them with.

Each job runs the way an AWX job template runs it: from the project root with
the project's own ansible.cfg (every ANSIBLE_* variable of the test run is
removed), the awx_display event callback, extra vars instead of prompts. The
tests assert what AWX would see: the job status, the exit code, and the
set_stats artifacts a workflow's next node receives as extra vars.

Runs after test_pipeline.py against the same hosts; every test leaves the good
release live.
"""

import json
import os
import sys

import ansible_runner
import yaml
import pytest

sys.path.insert(0, os.path.join(os.environ.get("MOLECULE_PROJECT_DIRECTORY", "."), "molecule"))
from lbguard_testlib import PROJECT, lb, served_by  # noqa: E402  (path set just above)
from lbguard_testlib import snapshot as ledger_snapshot  # noqa: E402  (path set just above)

CONFIG = "/etc/haproxy/haproxy.cfg"
LEDGER = "/var/lib/lbguard/haproxy"
STAGING_LBS = ["pl-lb-stg-1"]
PRODUCTION_LBS = ["pl-lb-prod-1", "pl-lb-prod-2"]
GOOD_SERVICE = {"name": "shop", "listen": 8080, "backend_group": "webservers", "backend_port": 80,
                "health_check": {"path": "/health", "interval": "1s", "rise": 1, "fall": 2}}


@pytest.fixture(autouse=True)
def project_settings_only(monkeypatch):
    """Leave the project's ansible.cfg as the only Ansible setting, as in AWX."""
    for name in [n for n in os.environ if n.startswith("ANSIBLE_")]:
        monkeypatch.delenv(name)


class Job:
    """One finished ansible-runner job: status, rc, artifacts, stdout."""

    def __init__(self, runner):
        self.status = runner.status
        self.rc = runner.rc
        self.stdout = runner.stdout.read()
        stats = [e for e in runner.events if e.get("event") == "playbook_on_stats"]
        # What AWX stores as the job's artifacts and hands to the next workflow node.
        self.artifacts = stats[-1]["event_data"].get("artifact_data", {}) if stats else None

    def __repr__(self):
        return f"Job(status={self.status}, rc={self.rc}, artifacts={self.artifacts})\n{self.stdout[-6000:]}"


def run_job(tmp_path, playbook, extravars=None, host_vars=None):
    """Run a playbook of the project like an AWX job template would."""
    private = tmp_path / f"runner-{playbook.replace('.yml', '')}-{len(list(tmp_path.glob('runner-*')))}"
    private.mkdir()
    cmdline = ""
    if host_vars:
        # The model change under review, as a second inventory source (in AWX: the
        # project's inventory at the new revision).
        overlay = tmp_path / f"overlay-{len(list(tmp_path.glob('overlay-*')))}.yml"
        overlay.write_text(json.dumps({"all": {"hosts": host_vars}}))
        cmdline = f"-i {overlay}"
    runner = ansible_runner.run(
        private_data_dir=str(private),
        project_dir=PROJECT,
        playbook=f"playbooks/{playbook}",
        inventory=os.environ["MOLECULE_INVENTORY_FILE"],
        cmdline=cmdline or None,
        extravars={"lbguard_report_dir": str(tmp_path / "reports"), **(extravars or {})},
        quiet=True,
        timeout=900,
    )
    return Job(runner)


def snapshot(name):
    return ledger_snapshot(name, CONFIG, LEDGER)


def statuses(artifact):
    return {host: result["status"] for host, result in artifact["hosts"].items()}


def test_validate_job_passes_a_good_model_and_fails_a_typo_naming_service_and_rule(tmp_path):
    good = run_job(tmp_path, "validate.yml")
    assert (good.status, good.rc) == ("successful", 0), good

    typo = run_job(tmp_path, "validate.yml", {"lb_services": [dict(GOOD_SERVICE, balance="roundrobbin")]})
    assert typo.status == "failed" and typo.rc != 0, typo
    assert "service shop" in typo.stdout and "roundrobbin" in typo.stdout, typo


def test_staging_job_hands_its_artifacts_to_the_production_job_like_a_workflow(tmp_path):
    before = {name: snapshot(name) for name in STAGING_LBS + PRODUCTION_LBS}
    # A real change: each environment's first web server gets weight 2 (50% of the traffic).
    heavier = {"pl-web-stg-1": {"lb_weight": 2}, "pl-web-prod-1": {"lb_weight": 2}}
    try:
        staging = run_job(tmp_path, "deploy.yml", {"lbguard_stages": ["staging"]}, heavier)
        assert (staging.status, staging.rc) == ("successful", 0), staging
        handed_on = staging.artifacts["lbguard_deploy"]
        assert handed_on["status"] == "passed", staging
        assert statuses(handed_on) == {"pl-lb-stg-1": "verified"}, staging
        assert snapshot("pl-lb-stg-1")["current"] != before["pl-lb-stg-1"]["current"]
        assert all(snapshot(name) == before[name] for name in PRODUCTION_LBS), "staging job touched production"

        # AWX merges the previous node's artifacts into the next node's extra vars.
        production = run_job(tmp_path, "deploy.yml", {"lbguard_stages": ["production"], **staging.artifacts}, heavier)
        assert (production.status, production.rc) == ("successful", 0), production
        result = production.artifacts["lbguard_deploy"]
        assert result["status"] == "passed", production
        assert result["change_id"] == handed_on["change_id"], production
        assert statuses(result) == {name: "verified" for name in PRODUCTION_LBS}, production
        counts = served_by(lb("pl-lb-prod-1"), 40)
        assert 17 <= counts["pl-web-prod-1"] <= 23, counts  # half of 40; an even split gives 13
    finally:
        restored = run_job(tmp_path, "deploy.yml")
        assert (restored.status, restored.rc) == ("successful", 0), restored


def test_incident_job_fails_rolls_back_and_reports_it_in_the_artifacts(tmp_path):
    before = {name: snapshot(name) for name in STAGING_LBS + PRODUCTION_LBS}
    loose = dict(GOOD_SERVICE, policy={"min_active_servers": 1, "max_server_share": 1.0})
    incident = {"pl-web-stg-1": {"lb_weight": 256}, "pl-web-prod-1": {"lb_weight": 256}}
    job = run_job(tmp_path, "deploy.yml", {"lb_services": [loose]}, incident)

    # A failed job: AWX follows the workflow's failure edge.
    assert job.status == "failed" and job.rc != 0, job
    result = job.artifacts["lbguard_deploy"]
    assert result["status"] == "failed", job
    assert statuses(result) == {"pl-lb-stg-1": "rolled_back"}, job
    assert "deploy failed" in job.stdout, job
    for name in STAGING_LBS + PRODUCTION_LBS:
        after = snapshot(name)
        assert (after["config"], after["current"]) == (before[name]["config"], before[name]["current"]), name


def test_verify_job_passes_on_the_good_release_and_fails_on_a_drained_server(tmp_path):
    good = run_job(tmp_path, "verify.yml")
    assert (good.status, good.rc) == ("successful", 0), good
    assert good.artifacts["lbguard_verify"]["status"] == "passed", good
    assert set(statuses(good.artifacts["lbguard_verify"])) == set(STAGING_LBS + PRODUCTION_LBS), good

    drain = "echo 'set server shop/pl-web-prod-2 state drain' | socat stdio /run/haproxy/admin.sock"
    ready = "echo 'set server shop/pl-web-prod-2 state ready' | socat stdio /run/haproxy/admin.sock"
    lb("pl-lb-prod-1").check_output(drain)
    try:
        bad = run_job(tmp_path, "verify.yml", {"lbguard_hosts": "loadbalancers:&production", "lb_verify_settle_seconds": 0})
    finally:
        lb("pl-lb-prod-1").check_output(ready)
    assert bad.status == "failed" and bad.rc != 0, bad
    result = bad.artifacts["lbguard_verify"]
    assert result["status"] == "failed", bad
    assert statuses(result)["pl-lb-prod-1"] != "verified", bad
    assert statuses(result)["pl-lb-prod-2"] == "verified", bad


def test_audit_job_is_clean_after_a_deploy_and_fails_on_a_hand_edit(tmp_path):
    clean = run_job(tmp_path, "audit.yml")
    assert (clean.status, clean.rc) == ("successful", 0), clean
    assert statuses(clean.artifacts["lbguard_audit"]) == {n: "clean" for n in STAGING_LBS + PRODUCTION_LBS}, clean

    host = lb("pl-lb-prod-2")
    original = host.file(CONFIG).sha256sum
    size = host.file(CONFIG).size
    host.check_output(f"echo '# hand edit' >> {CONFIG}")
    try:
        drift = run_job(tmp_path, "audit.yml")
    finally:
        host.check_output(f"truncate -s {size} {CONFIG}")  # cut the appended line off again
    assert drift.status == "failed" and drift.rc != 0, drift
    result = drift.artifacts["lbguard_audit"]
    assert statuses(result)["pl-lb-prod-2"] == "drift", drift
    assert statuses(result)["pl-lb-prod-1"] == "clean", drift
    assert host.file(CONFIG).sha256sum == original


def rollback_node_extra_vars(stage):
    """The extra vars awx/configure.yml gives the workflow's rollback node of a stage."""
    with open(os.path.join(PROJECT, "awx", "vars", "lbguard_awx.yml"), encoding="utf-8") as handle:
        awx = yaml.safe_load(handle)
    return {**awx["lbguard_awx_rollback_extra_data"], "lbguard_hosts": f"loadbalancers:&{stage}"}


def test_workflow_failure_path_production_fails_then_the_rollback_node_restores_and_ends_failed(tmp_path):
    before = {name: snapshot(name) for name in PRODUCTION_LBS}
    changed = dict(GOOD_SERVICE, health_check=dict(GOOD_SERVICE["health_check"], interval="2s"))
    broken_on_second = dict(changed, backend_port=81)  # passes haproxy -c, fails verification
    host_vars = {"pl-lb-stg-1": {"lb_services": [changed]}, "pl-lb-prod-1": {"lb_services": [changed]},
                 "pl-lb-prod-2": {"lb_services": [broken_on_second]}}
    try:
        staging = run_job(tmp_path, "deploy.yml", {"lbguard_stages": ["staging"]}, host_vars)
        assert (staging.status, staging.rc) == ("successful", 0), staging
        production = run_job(tmp_path, "deploy.yml", {"lbguard_stages": ["production"], **staging.artifacts}, host_vars)
        assert production.status == "failed" and production.rc != 0, production
        failed = production.artifacts["lbguard_deploy"]
        assert failed["status"] == "failed", production
        assert statuses(failed) == {name: "rolled_back" for name in PRODUCTION_LBS}, production

        # The failure edge: the rollback node gets the failed job's artifacts and its own extra vars.
        rollback = run_job(tmp_path, "rollback.yml", {**production.artifacts, **rollback_node_extra_vars("production")},
                           host_vars)
        assert rollback.status == "failed" and rollback.rc != 0, rollback
        assert "This job fails on purpose (lbguard_rollback_then_fail)" in rollback.stdout, rollback
        restored = rollback.artifacts["lbguard_rollback"]
        assert restored["status"] == "passed", rollback
        assert statuses(restored) == {name: "verified" for name in PRODUCTION_LBS}, rollback
        for name in PRODUCTION_LBS:
            after = snapshot(name)
            assert (after["config"], after["current"]) == (before[name]["config"], before[name]["current"]), name
    finally:
        restored = run_job(tmp_path, "deploy.yml")
        assert (restored.status, restored.rc) == ("successful", 0), restored


def server_job(tmp_path, action, servers, **extra):
    """server.yml on the production LBs, as the AWX template with its survey runs it."""
    return run_job(tmp_path, "server.yml", {"lbguard_hosts": "loadbalancers:&production", "lbguard_action": action,
                                            "lbguard_service": "shop", "lbguard_servers": servers,
                                            "lbguard_reason": "runner test", **extra})


def test_a_drain_job_drains_on_every_production_lb_and_ready_gives_the_server_back(tmp_path):
    try:
        drained = server_job(tmp_path, "drain", "pl-web-prod-3")
        assert (drained.status, drained.rc) == ("successful", 0), drained
        result = drained.artifacts["lbguard_server"]
        assert result["status"] == "passed", drained
        assert statuses(result) == {name: "verified" for name in PRODUCTION_LBS}, drained
        for name in PRODUCTION_LBS:
            assert result["hosts"][name]["operation"]["servers_done"]["pl-web-prod-3"]["drained"] is True
            assert "pl-web-prod-3" not in served_by(lb(name), 20), name
    finally:
        ready = server_job(tmp_path, "ready", "pl-web-prod-3", lbguard_reason="")
    assert (ready.status, ready.rc) == ("successful", 0), ready
    for name in PRODUCTION_LBS:
        assert set(served_by(lb(name), 30)) == {"pl-web-prod-1", "pl-web-prod-2", "pl-web-prod-3"}, name


def test_a_drain_job_that_breaks_the_production_policy_fails_and_changes_nothing(tmp_path):
    before = {name: snapshot(name) for name in PRODUCTION_LBS}
    refused = server_job(tmp_path, "drain", "pl-web-prod-1,pl-web-prod-2")
    assert refused.status == "failed" and refused.rc != 0, refused
    result = refused.artifacts["lbguard_server"]
    assert statuses(result) == {name: "refused" for name in PRODUCTION_LBS}, refused
    assert "policy min_active_servers is 2" in "\n".join(result["hosts"]["pl-lb-prod-1"]["problems"]), refused
    for name in PRODUCTION_LBS:
        assert set(served_by(lb(name), 30)) == {"pl-web-prod-1", "pl-web-prod-2", "pl-web-prod-3"}, name
        assert snapshot(name) == before[name]
