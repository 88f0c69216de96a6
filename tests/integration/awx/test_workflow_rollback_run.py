"""Run playbooks/rollback.yml with the extra vars the workflow's rollback node sends.

The example inventory's hosts do not exist (TEST-NET-1). These runs reach no
host because the failed deploy's report, as AWX would hand it over in
``lbguard_deploy``, says that deploy changed none of them: what is left to
prove is which hosts are chosen and how the job ends.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from awx_config import REPO_ROOT, awx_calls, by_module

CALLS = awx_calls(["lbguard_awx_project_scm_url=https://git.example.org/ops/lbguard.git"])
NODES = {n["identifier"]: n for n in by_module(CALLS, "workflow_job_template")[0]["workflow_nodes"]}
INVENTORY = REPO_ROOT / "inventories" / "examples" / "good" / "hosts.yml"
UNCHANGED_PRODUCTION = {
    "run_id": "20261130T070000Z-42", "change_id": "c0ffee", "status": "failed",
    "hosts": {"prod-lb1": {"host": "prod-lb1", "environment": "production", "status": "failed_unchanged",
                           "changed": False, "problems": ["haproxy -c refused the new file"]}},
}


def rollback(tmp_path: Path, extra_vars: dict) -> subprocess.CompletedProcess[str]:
    vars_file = tmp_path / "extra_vars.json"
    vars_file.write_text(json.dumps(dict(extra_vars, lbguard_report_dir=str(tmp_path / "reports"))))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=f"{REPO_ROOT / 'collections'}:{REPO_ROOT / '.collections'}")
    return subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(INVENTORY),
         str(REPO_ROOT / "playbooks" / "rollback.yml"), "-e", f"@{vars_file}"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)


def the_report(tmp_path: Path) -> dict:
    (report,) = (tmp_path / "reports").glob("rollback-*.json")
    return json.loads(report.read_text())


@pytest.fixture(scope="module")
def node_extra_data() -> dict:
    return NODES["rollback-production"]["extra_data"]


def test_the_workflow_rollback_node_ends_failed_naming_what_it_did(tmp_path: Path, node_extra_data: dict) -> None:
    result = rollback(tmp_path, dict(node_extra_data, lbguard_deploy=UNCHANGED_PRODUCTION))
    assert result.returncode != 0
    out = " ".join(result.stdout.split())
    assert "deploy run 20261130T070000Z-42 changed none of prod-lb1: nothing to roll back" in out
    assert "This job fails on purpose (lbguard_rollback_then_fail)" in out
    # The rollback itself passed; only the deliberate failure fails the job.
    report = the_report(tmp_path)
    assert report["status"] == "passed"
    assert report["hosts"] == {}
    assert "UNREACHABLE" not in result.stdout


def test_without_then_fail_the_same_rollback_succeeds(tmp_path: Path, node_extra_data: dict) -> None:
    extra_vars = dict(node_extra_data, lbguard_deploy=UNCHANGED_PRODUCTION)
    extra_vars.pop("lbguard_rollback_then_fail")
    result = rollback(tmp_path, extra_vars)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "fails on purpose" not in result.stdout


def test_a_host_the_deploy_changed_is_rolled_back(tmp_path: Path, node_extra_data: dict) -> None:
    # prod-lb1 changed, so the rollback reaches for it. The host does not
    # exist: the job fails on the unreachable host, not on purpose.
    changed = {**UNCHANGED_PRODUCTION, "hosts": {"prod-lb1": {
        "host": "prod-lb1", "environment": "production", "status": "rolled_back", "changed": True}}}
    result = rollback(tmp_path, dict(node_extra_data, lbguard_deploy=changed, ansible_timeout=1))
    assert result.returncode != 0
    out = " ".join(result.stdout.split())
    assert "deploy run 20261130T070000Z-42 changed or lost track of prod-lb1" in out
    assert "fatal: [prod-lb1]: UNREACHABLE!" in out
    assert "fails on purpose" not in out
