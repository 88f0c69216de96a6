"""awx/configure.yml: syntax, and every awx.awx call against the module's own argument spec."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from awx_config import PLAYBOOK, REPO_ROOT, argument_errors, awx_calls

SCM_URL = "lbguard_awx_project_scm_url=https://git.example.org/ops/lbguard.git"
CALLS = awx_calls([SCM_URL])


def tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    return str(path) if path.exists() else name


def run_ansible(*args: str) -> subprocess.CompletedProcess[str]:
    # No controller settings reach the run, so nothing here can talk to a real AWX.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CONTROLLER_", "TOWER_"))}
    env.update(ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_COLLECTIONS_PATH=f"{REPO_ROOT / 'collections'}:{REPO_ROOT / '.collections'}")
    return subprocess.run([tool("ansible-playbook"), *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def test_syntax_check() -> None:
    result = run_ansible("--syntax-check", str(PLAYBOOK))
    assert result.returncode == 0, result.stdout + result.stderr


def test_yamllint_strict() -> None:
    result = subprocess.run([tool("yamllint"), "-s", "awx"], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_kind_of_object_is_configured() -> None:
    modules = {c.action for c in CALLS}
    assert {"awx.awx.project", "awx.awx.inventory", "awx.awx.inventory_source", "awx.awx.job_template",
            "awx.awx.workflow_job_template", "awx.awx.schedule"} <= modules


def test_every_loop_item_is_a_call_of_its_own() -> None:
    # Seven job templates, two inventories with a source each, two schedules, two workflows.
    counts = {m: sum(1 for c in CALLS if c.action == f"awx.awx.{m}") for m in
              ("job_template", "inventory", "inventory_source", "schedule", "workflow_job_template")}
    assert counts == {"job_template": 7, "inventory": 2, "inventory_source": 2, "schedule": 2,
                      "workflow_job_template": 2}


@pytest.mark.parametrize("call", CALLS, ids=[c.label() for c in CALLS])
def test_arguments_match_the_modules_own_spec(call) -> None:
    assert argument_errors(call.action, call.args) == []


@pytest.mark.parametrize("overrides", [
    [SCM_URL, "lbguard_awx_inventory_source_path=inventories/lab/hosts.yml"],
    [SCM_URL, "lbguard_awx_execution_environment_image=registry.example.org/lbguard-ee:1",
     "lbguard_awx_project_scm_credential=lbguard git"],
], ids=["own-inventory", "ee-and-scm-credential"])
def test_arguments_stay_valid_with_the_documented_overrides(overrides) -> None:
    calls = awx_calls(overrides)
    assert [(c.label(), e) for c in calls for e in argument_errors(c.action, c.args)] == []


def test_extra_vars_reach_the_arguments() -> None:
    calls = awx_calls([SCM_URL, "lbguard_awx_execution_environment_image=registry.example.org/lbguard-ee:1",
                       "lbguard_awx_inventory_source_path=inventories/site/hosts.yml"])
    templates = [c.args for c in calls if c.action == "awx.awx.job_template"]
    assert {t["execution_environment"] for t in templates} == {"lbguard EE"}
    sources = [c.args for c in calls if c.action == "awx.awx.inventory_source"]
    assert {s["source_path"] for s in sources} == {"inventories/site/hosts.yml"}
    # Without an image, the EE is omitted, as `omit` does at run time.
    assert all("execution_environment" not in c.args for c in CALLS if c.action == "awx.awx.job_template")


# The checker itself: a wrong argument of each kind must be an error.
@pytest.mark.parametrize(("action", "args", "expected"), [
    ("awx.awx.job_template", {"name": "t", "playbok": "playbooks/deploy.yml"}, "playbok"),
    ("awx.awx.job_template", {"name": "t", "job_type": "deploy"}, "value of job_type must be one of: run, check"),
    ("awx.awx.job_template", {"name": "t", "forks": "many"}, "forks"),
    ("awx.awx.inventory", {"name": "i"}, "missing required arguments: organization"),
    ("awx.awx.inventory_source", {"name": "s", "inventory": "i", "source": "git"}, "value of source must be one of"),
    ("awx.awx.schedule", {"name": "s", "rrule": "x", "verbosity": 9}, "value of verbosity must be one of"),
    ("awx.awx.project", {"name": "p", "scm_type": "git", "controller_hots": "x"}, "controller_hots"),
    ("awx.awx.workflow_job_template", {"name": "w", "workflow_nodes": [{"identifier": "a", "sucess_nodes": []}]},
     "sucess_nodes"),
    ("awx.awx.workflow_job_template", {"name": "w", "workflow_nodes": [{"unified_job_template": {"name": "x"}}]},
     "missing required arguments: identifier"),
    ("awx.awx.workflow_job_template", {"name": "w", "workflow_nodes": [{"identifier": "a", "job_type": "walk"}]},
     "value of job_type must be one of: run, check"),
], ids=["unknown-key", "bad-choice", "wrong-type", "missing-required", "bad-choice-source", "bad-int-choice",
        "misspelt-auth-option", "unknown-node-key", "node-without-identifier", "bad-node-choice"])
def test_the_checker_rejects_wrong_arguments(action: str, args: dict, expected: str) -> None:
    errors = argument_errors(action, args)
    assert any(expected in e for e in errors), errors


def test_the_auth_options_come_from_the_collection() -> None:
    # ControllerModule adds them; a spec taken from main() alone would miss them.
    assert argument_errors("awx.awx.project", {"name": "p", "controller_host": "https://awx.example.org",
                                               "controller_oauthtoken": "t", "validate_certs": True}) == []


def test_without_the_clone_url_the_playbook_stops_before_calling_awx() -> None:
    result = run_ansible(str(PLAYBOOK))
    assert result.returncode != 0
    assert "set lbguard_awx_project_scm_url" in result.stdout
    assert "TASK [Create the project]" not in result.stdout
