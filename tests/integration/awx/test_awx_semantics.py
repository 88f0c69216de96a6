"""What awx/configure.yml builds makes sense: names resolve, the workflow's graph, the schedules.

The arguments are the ones ansible-playbook would send (see awx_config.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from dateutil.rrule import rrulestr

from awx_config import REPO_ROOT, awx_calls, by_module
from awx_rrule import awx_rrule_problems

CALLS = awx_calls(["lbguard_awx_project_scm_url=https://git.example.org/ops/lbguard.git"])
PROJECT = by_module(CALLS, "project")[0]
INVENTORIES = {i["name"]: i for i in by_module(CALLS, "inventory")}
SOURCES = by_module(CALLS, "inventory_source")
TEMPLATES = {t["name"]: t for t in by_module(CALLS, "job_template")}
WORKFLOWS = {w["name"]: w for w in by_module(CALLS, "workflow_job_template")}
WORKFLOW = WORKFLOWS["lbguard deploy with approval"]
AUDIT_WORKFLOW = WORKFLOWS["lbguard audit in slices"]
NODES = {n["identifier"]: n for n in WORKFLOW["workflow_nodes"]}
SCHEDULES = by_module(CALLS, "schedule")
MACHINE_CREDENTIAL = "lbguard SSH"


def template_of(node: dict) -> dict:
    return TEMPLATES[node["unified_job_template"]["name"]]


def templates_running(playbook: str, **extra_vars) -> list[dict]:
    return [t for t in TEMPLATES.values() if t["playbook"] == playbook
            and all(t.get("extra_vars", {}).get(k) == v for k, v in extra_vars.items())]


def edges(node_id: str, kind: str) -> list[str]:
    return [e["identifier"] for e in NODES[node_id].get("related", {}).get(kind, [])]


def node_running(template: dict) -> str:
    (node_id,) = [i for i, n in NODES.items() if n["unified_job_template"]["name"] == template["name"]]
    return node_id


# --- The server operation's survey -------------------------------------------------

#: AWX's survey question types (awx/api/serializers.py, SurveySpec).
SURVEY_TYPES = {"text", "textarea", "password", "integer", "float", "multiplechoice", "multiselect"}


def test_the_server_template_asks_what_server_yml_reads() -> None:
    (template,) = templates_running("playbooks/server.yml")
    assert template["survey_enabled"] is True
    questions = {q["variable"]: q for q in template["survey_spec"]["spec"]}
    header = (REPO_ROOT / "playbooks" / "server.yml").read_text()
    for variable, question in questions.items():
        assert variable in header, variable
        assert question["type"] in SURVEY_TYPES and question["question_name"], question
    assert {"lbguard_action", "lbguard_service", "lbguard_servers", "lbguard_reason"} <= set(questions)
    from ansible_collections.lbguard.core.plugins.module_utils.lbguard_holds import ACTIONS  # noqa: PLC0415
    assert sorted(questions["lbguard_action"]["choices"]) == sorted(ACTIONS)
    assert questions["lbguard_weight"]["type"] == "integer"
    assert (questions["lbguard_weight"]["min"], questions["lbguard_weight"]["max"]) == (0, 256)
    # An operator names the servers and the service every time; no default could be right.
    assert all(questions[v]["required"] and "default" not in questions[v]
               for v in ("lbguard_service", "lbguard_servers"))


# --- Names and files -------------------------------------------------------------


def test_every_template_runs_a_playbook_of_this_repository() -> None:
    assert {t["playbook"] for t in TEMPLATES.values()} == {
        "playbooks/validate.yml", "playbooks/deploy.yml", "playbooks/rollback.yml",
        "playbooks/verify.yml", "playbooks/audit.yml", "playbooks/server.yml"}
    for template in TEMPLATES.values():
        assert (REPO_ROOT / template["playbook"]).is_file(), template["playbook"]


def test_templates_name_the_project_and_inventories_defined_here() -> None:
    for template in TEMPLATES.values():
        assert template["project"] == PROJECT["name"]
        assert template["inventory"] in INVENTORIES
        assert template["organization"] == PROJECT["organization"]


def test_templates_log_in_unprivileged_and_leave_become_to_the_tasks() -> None:
    # become_enabled would run every task as root; the playbooks' tasks say become themselves.
    for template in TEMPLATES.values():
        assert template["become_enabled"] is False, template["name"]
        assert template["credentials"] == [MACHINE_CREDENTIAL], template["name"]


def test_deploy_templates_pin_their_stage() -> None:
    (staging,) = templates_running("playbooks/deploy.yml", lbguard_stages=["staging"])
    (production,) = templates_running("playbooks/deploy.yml", lbguard_stages=["production"])
    assert staging["inventory"] != production["inventory"]


def test_templates_accept_what_the_workflow_nodes_give_them() -> None:
    # AWX drops a node's extra_data and inventory unless the template prompts for them.
    (rollback,) = templates_running("playbooks/rollback.yml")
    assert rollback["ask_variables_on_launch"] is True
    assert rollback["ask_inventory_on_launch"] is True
    (audit,) = templates_running("playbooks/audit.yml")
    assert audit["ask_variables_on_launch"] is True  # each slice's lbguard_slice
    for template in TEMPLATES.values():
        if template not in (rollback, audit):
            assert not template.get("ask_variables_on_launch"), template["name"]


def test_inventory_sources_read_files_of_this_project() -> None:
    assert {s["inventory"] for s in SOURCES} == set(INVENTORIES)
    for source in SOURCES:
        assert source["source"] == "scm"
        assert source["source_project"] == PROJECT["name"]
        assert (REPO_ROOT / source["source_path"]).is_file(), source["source_path"]
        assert not Path(source["source_path"]).is_absolute()


def load_balancers(source_path: str) -> dict[str, set[str]]:
    """Groups of an inventory file, read by ansible-inventory as AWX's sync does."""
    out = subprocess.run([str(Path(sys.executable).parent / "ansible-inventory"), "-i", source_path, "--list"],
                         cwd=REPO_ROOT, capture_output=True, text=True, check=True,
                         env=dict(os.environ, ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"))).stdout
    data = yaml.safe_load(out)

    def hosts(group: str) -> set[str]:
        found = set(data.get(group, {}).get("hosts", []))
        for child in data.get(group, {}).get("children", []):
            found |= hosts(child)
        return found

    return {g: hosts(g) for g in ("loadbalancers", "staging", "production")}


def test_both_inventories_hold_the_whole_site() -> None:
    # deploy.yml's change id covers every LB of the inventory and production's
    # gate reads staging's ledger: both inventories need every LB of both stages.
    groups = [load_balancers(s["source_path"]) for s in SOURCES]
    for group in groups:
        assert group["loadbalancers"] & group["staging"], "no staging load balancer"
        assert group["loadbalancers"] & group["production"], "no production load balancer"
    assert all(g["loadbalancers"] == groups[0]["loadbalancers"] for g in groups)


# --- The workflow ------------------------------------------------------------------


def test_nodes_and_edges_name_existing_things() -> None:
    assert len(NODES) == len(WORKFLOW["workflow_nodes"]), "identifiers must be unique"
    for node in NODES.values():
        ujt = node["unified_job_template"]
        if ujt["type"] == "job_template":
            assert ujt["name"] in TEMPLATES
        for kind in ("success_nodes", "failure_nodes", "always_nodes"):
            for target in edges(node["identifier"], kind):
                assert target in NODES


def test_success_path_is_validate_staging_approval_production() -> None:
    validate = node_running(templates_running("playbooks/validate.yml")[0])
    staging = node_running(templates_running("playbooks/deploy.yml", lbguard_stages=["staging"])[0])
    production = node_running(templates_running("playbooks/deploy.yml", lbguard_stages=["production"])[0])
    assert edges(validate, "success_nodes") == [staging]
    (approval,) = edges(staging, "success_nodes")
    assert NODES[approval]["unified_job_template"]["type"] == "workflow_approval"
    assert NODES[approval]["unified_job_template"]["timeout"] > 0
    assert edges(approval, "success_nodes") == [production]
    # The first node is the only one nothing leads to: a workflow starts at its roots.
    targets = {t for n in NODES for k in ("success_nodes", "failure_nodes", "always_nodes") for t in edges(n, k)}
    assert set(NODES) - targets == {validate}
    assert not any(edges(n, "always_nodes") for n in NODES)


@pytest.mark.parametrize("stage", ["staging", "production"])
def test_a_failed_deploy_leads_to_a_rollback_of_its_stage(stage: str) -> None:
    deploy = node_running(templates_running("playbooks/deploy.yml", lbguard_stages=[stage])[0])
    (rollback,) = edges(deploy, "failure_nodes")
    node = NODES[rollback]
    assert template_of(node)["playbook"] == "playbooks/rollback.yml"
    assert node["extra_data"]["lbguard_hosts"] == f"loadbalancers:&{stage}"
    assert node["extra_data"]["lbguard_rollback_changed_by_deploy"] is True
    assert node["extra_data"]["lbguard_rollback_to"] == "last_verified"
    # The node's inventory is the one its stage's deploy used.
    assert node["inventory"]["name"] == templates_running("playbooks/deploy.yml", lbguard_stages=[stage])[0]["inventory"]


@pytest.mark.parametrize("stage", ["staging", "production"])
def test_the_path_after_a_rollback_ends_failed(stage: str) -> None:
    deploy = node_running(templates_running("playbooks/deploy.yml", lbguard_stages=[stage])[0])
    (rollback,) = edges(deploy, "failure_nodes")
    # The rollback job fails on purpose, and nothing follows it: AWX marks a
    # workflow failed when a failed node has no failure path.
    assert NODES[rollback]["extra_data"]["lbguard_rollback_then_fail"] is True
    assert not NODES[rollback].get("related")


def test_rollback_playbook_ends_in_a_failure_when_asked() -> None:
    plays = yaml.safe_load((REPO_ROOT / "playbooks" / "rollback.yml").read_text())
    last_task = plays[-1]["tasks"][-1]
    assert "ansible.builtin.fail" in last_task
    assert last_task["when"] == "lbguard_rollback_then_fail | default(false) | bool"


# --- Schedules ------------------------------------------------------------------------


def test_schedules_run_audit_hourly_and_verify_every_15_minutes() -> None:
    spacing = {}
    now = datetime.now(timezone.utc)
    for schedule in SCHEDULES:
        assert awx_rrule_problems(schedule["rrule"]) == [], schedule["name"]
        rule = rrulestr(schedule["rrule"], forceset=True)
        first = rule.after(now)
        second = rule.after(first)
        target = schedule["unified_job_template"]
        # The audit runs as its workflow of slices, each node the audit template.
        playbook = TEMPLATES[target]["playbook"] if target in TEMPLATES else {
            template_of(node)["playbook"] for node in WORKFLOWS[target]["workflow_nodes"]}.pop()
        spacing[playbook] = second - first
        assert first - now <= spacing[playbook], "the first run is within one interval"
    assert spacing == {"playbooks/audit.yml": timedelta(hours=1), "playbooks/verify.yml": timedelta(minutes=15)}


@pytest.mark.parametrize(("rrule", "problem"), [
    ("DTSTART:20261201T000000 RRULE:FREQ=HOURLY;INTERVAL=1", "naive"),
    ("DTSTART;TZID=UTC:20261201T000000 RRULE:FREQ=HOURLY", "INTERVAL is required"),
    ("DTSTART;TZID=UTC:20261201T000000 RRULE:FREQ=SECONDLY;INTERVAL=5", "SECONDLY"),
    ("DTSTART;TZID=UTC:20261201T000000 RRULE:FREQ=DAILY;INTERVAL=1;COUNT=2000", "COUNT over 999"),
    ("DTSTART;TZID=UTC:20261201T000000 RRULE:FREQ=MONTHLY;INTERVAL=1;BYDAY=2MO", "numeric prefix"),
    ("DTSTART;TZID=UTC:20261201T000000 RRULE:FREQ=DAILY;INTERVAL=1;COUNT=5;UNTIL=20270101T000000Z", "COUNT and UNTIL"),
    ("DTSTART:20261201T000000Z DTSTART:20261202T000000Z RRULE:FREQ=DAILY;INTERVAL=1", "only one DTSTART"),
    ("RRULE:FREQ=DAILY;INTERVAL=1", "a DTSTART"),
    ("DTSTART:20261201T000000Z", "at least one RRULE"),
    ("DTSTART;TZID=Not/AZone:20261201T000000 RRULE:FREQ=DAILY;INTERVAL=1", "unknown TZID"),
    ("DTSTART:20261201T000000Z RRULE:FREQ=DAILY;INTERVAL=1 EXDATE:20261205T000000Z", "EXDATE"),
])
def test_awx_rrule_rules_reject_what_awx_rejects(rrule: str, problem: str) -> None:
    assert any(problem in p for p in awx_rrule_problems(rrule)), awx_rrule_problems(rrule)


def test_awx_rrule_rules_accept_both_time_zone_forms() -> None:
    assert awx_rrule_problems("DTSTART:20261201T000000Z RRULE:FREQ=MINUTELY;INTERVAL=15") == []
    assert awx_rrule_problems("DTSTART;TZID=Europe/Berlin:20261201T000000 RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=MO") == []


# --- Job slicing ---------------------------------------------------------------------


def test_only_verify_is_sliced_by_awx() -> None:
    # AWX's slice holds only some hosts of the inventory. verify.yml judges each LB by its
    # ledger's release model; every other playbook builds models from the inventory,
    # whose backend groups a slice would cut short.
    sliced = {t["playbook"]: int(t["job_slice_count"]) for t in TEMPLATES.values() if int(t["job_slice_count"]) > 1}
    assert sliced == {"playbooks/verify.yml": 4}, sliced


def slices_of(workflow: dict) -> list[str]:
    return [node["extra_data"]["lbguard_slice"] for node in workflow["workflow_nodes"]]


def test_the_audit_runs_in_slices_at_once_each_with_the_whole_inventory() -> None:
    nodes = AUDIT_WORKFLOW["workflow_nodes"]
    assert slices_of(AUDIT_WORKFLOW) == ["1/4", "2/4", "3/4", "4/4"]
    assert len({node["identifier"] for node in nodes}) == len(nodes)
    assert {template_of(node)["playbook"] for node in nodes} == {"playbooks/audit.yml"}
    # No edges: all start at once. The template is not sliced by AWX, and takes the node's extra vars.
    assert not any(node.get("related") for node in nodes)
    (audit,) = templates_running("playbooks/audit.yml")
    assert int(audit["job_slice_count"]) == 1 and audit["ask_variables_on_launch"] is True
    # playbooks/audit.yml's role, lb_audit, picks the slice's hosts.
    audit_yml = (REPO_ROOT / "roles" / "lb_audit" / "vars" / "main.yml").read_text()
    assert "lbguard.core.lbguard_slice(lbguard_slice" in audit_yml


def test_the_slice_count_is_one_setting() -> None:
    calls = awx_calls(["lbguard_awx_project_scm_url=https://git.example.org/ops/lbguard.git",
                       "lbguard_awx_verify_slices=7", "lbguard_awx_audit_slices=3"])
    assert {t["playbook"]: int(t["job_slice_count"]) for t in by_module(calls, "job_template")
            if int(t["job_slice_count"]) > 1} == {"playbooks/verify.yml": 7}
    (audit,) = [w for w in by_module(calls, "workflow_job_template") if w["name"] == "lbguard audit in slices"]
    assert slices_of(audit) == ["1/3", "2/3", "3/3"]
