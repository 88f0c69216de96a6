"""The top-level variables lbguard knows (plugins/plugin_utils/lbguard_variables.py), and that the list stays whole."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ansible_collections.lbguard.core.plugins.plugin_utils import lbguard_variables as variables

REPO_ROOT = Path(__file__).resolve().parents[4]


def test_a_typo_is_refused_with_the_closest_known_name() -> None:
    problems = variables.unknown_variable_problems(["lb_polcy", "lb_policy", "ansible_host", "lbguard_model"])
    assert len(problems) == 1
    assert problems[0].startswith("variable lb_polcy is not one lbguard knows")
    assert "did you mean lb_policy?" in problems[0]


@pytest.mark.parametrize("name", variables.MODEL_VARIABLES + variables.BACKEND_VARIABLES + variables.RUN_FACTS
                         + ("lb_deploy_confirm_timeout", "lb_verify_tolerance", "lb_monitoring_exporter_address",
                            "lbguard_awx_organization"))
def test_known_names_pass(name: str) -> None:
    assert variables.unknown_variable_problems([name]) == []


def test_the_roles_argument_specs_are_read() -> None:
    # One option of each role that has a spec: the list is read from the files, not written out.
    for option in ("lb_deploy_confirm_timeout", "lb_verify_tolerance", "lb_monitoring_output_dir"):
        assert option in variables.role_variables(), option
    assert "lb_deploy_confirm_timeout" not in variables.OPERATOR_VARIABLES + variables.MODEL_VARIABLES


def test_operator_variables_documented_as_role_options_are_known_from_the_roles() -> None:
    # server.yml's request, audit.yml's and plan.yml's settings keep their names as options of their roles.
    for option in ("lbguard_action", "lbguard_canary_pause", "lbguard_audit_textfile", "lbguard_slice",
                   "lbguard_plan_reach_timeout"):
        assert option in variables.role_variables(), option
        assert option not in variables.OPERATOR_VARIABLES, option
        assert variables.unknown_variable_problems([option]) == [], option
    # The model's one project-wide name is documented by the roles that read it.
    assert "lbguard_model" in variables.role_variables()


def test_every_variable_a_playbook_reads_from_outside_is_known() -> None:
    """A variable a playbook or role reads with a default, or tests for, is known: the list cannot fall behind."""
    read = set()
    for path in [*REPO_ROOT.glob("playbooks/**/*.yml"), *REPO_ROOT.glob("roles/*/tasks/*.yml"),
                 *REPO_ROOT.glob("roles/*/templates/*.j2")]:
        read |= set(re.findall(r"\b(lbguard_[a-z0-9_]+) *(?:\| *default|is (?:not )?defined)", path.read_text()))
    facts = set()
    for path in [*REPO_ROOT.glob("playbooks/**/*.yml"), *REPO_ROOT.glob("roles/*/tasks/*.yml")]:
        facts |= set(re.findall(r"^ +(lbguard_[a-z0-9_]+):", path.read_text(), re.MULTILINE))
    # Names set in the same files (facts of a play on localhost, play vars) are not read from outside.
    outside = sorted(name for name in read if variables.unknown_variable_problems([name]) and name not in facts)
    assert outside == []


def test_every_variable_of_the_project_inventories_is_known() -> None:
    """The example, lab and test inventories use only names lbguard knows (their own checks would refuse others)."""
    unknown = set()
    for path in [*REPO_ROOT.glob("inventories/**/*.yml"), *REPO_ROOT.glob("molecule/*/molecule.yml"),
                 *REPO_ROOT.glob("tests/prometheus/inventory.yml")]:
        names = re.findall(r"\b((?:lb|lbguard)_[a-z0-9_]+) *:(?:\s|$)", path.read_text(), re.MULTILINE)
        unknown |= {f"{path.relative_to(REPO_ROOT)}: {name}" for name in names
                    if variables.unknown_variable_problems([name])}
    assert sorted(unknown) == []


def test_group_names_from_the_inventory_are_a_problem_without_an_extra_var() -> None:
    problems = variables.group_names_placement_problems(["lb-a", "lb-b"])
    assert len(problems) == 1
    assert "lbguard_group_names is set in the inventory (host or group variables of lb-a, lb-b)" in problems[0]
    assert variables.group_names_placement_problems([]) == []
