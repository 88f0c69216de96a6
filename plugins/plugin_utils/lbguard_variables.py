"""The top-level variables lbguard reads: one list, and the checks that use it.

A load balancer's ``lb_*`` and ``lbguard_*`` variables are either part of the
model (``MODEL_VARIABLES``, read by the model filter), a backend host's
(``BACKEND_VARIABLES``), an option of one of the collection's roles (read from
their meta/argument_specs.yml), a variable an operator passes to a playbook
(``OPERATOR_VARIABLES``), or a fact lbguard sets during a run (``RUN_FACTS``).
Anything else with those prefixes is a typo whose value would be ignored while
defaults apply (``lb_polcy`` leaves production's built-in policy in force), so
validation refuses it, with the closest known name.

``lbguard_group_names`` is also checked for where it is set: plays choose their
hosts before they read inventory variables, so it works only as an extra var.

Controller-side only (it reads the roles' files and Ansible's command line).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ansible_collections.lbguard.core.plugins.module_utils.lbguard_common import closest
# The model's and a backend host's variables are declared with the model (docs/model.md).
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_model_spec import BACKEND_VARIABLES, MODEL_VARIABLES

#: Prefixes of lbguard's variables: a name with one of them must be known.
PREFIXES: tuple[str, ...] = ("lb_", "lbguard_")


#: Variables an operator (or an AWX job, or a workflow artifact) passes to the playbooks.
OPERATOR_VARIABLES: tuple[str, ...] = (
    # every playbook
    "lbguard_group_names",
    "lbguard_ledger_root",
    "lbguard_report_dir",
    "lbguard_hosts",
    # deploy.yml
    "lbguard_stages",
    "lbguard_takeover_lock",
    "lbguard_concentration_warn_share",
    # rollback.yml and unlock.yml
    "lbguard_rollback_to",
    "lbguard_rollback_changed_by_deploy",
    "lbguard_rollback_then_fail",
    "lbguard_unlock_run_id",
    # audit.yml's, plan.yml's and server.yml's own (lbguard_slice, lbguard_audit_*,
    # lbguard_plan_reach_timeout, a request about servers) are options of the roles
    # lb_audit, lb_plan and lb_server, read from their argument specs.
    # a run's report, handed by AWX to the workflow's next job (playbooks/include/report_run.yml)
    "lbguard_deploy",
    "lbguard_verify",
    "lbguard_rollback",
    "lbguard_audit",
    "lbguard_plan",
    "lbguard_server",
)

#: awx/configure.yml's settings (awx/vars/lbguard_awx.yml) share one prefix.
OPERATOR_PREFIXES: tuple[str, ...] = ("lbguard_awx_",)

#: Facts lbguard sets on every load balancer at the start of a run (playbooks/include/prepare_run.yml).
RUN_FACTS: tuple[str, ...] = ("lbguard_run_id", "lbguard_owner", "lbguard_revision", "lbguard_change_id")

#: The collection's roles folder (this file is plugins/plugin_utils/ of the collection).
ROLES_DIR = Path(__file__).resolve().parents[2] / "roles"


@functools.lru_cache(maxsize=1)
def role_variables() -> frozenset[str]:
    """Every option of every entry point of the collection's roles (their meta/argument_specs.yml)."""
    import yaml  # noqa: PLC0415 - PyYAML ships with ansible-core; imported only when a check runs

    # libyaml's loader when PyYAML has it: the pure-Python one takes 0.3 s for these files, on every validation.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    names: set[str] = set()
    for spec_file in sorted(ROLES_DIR.glob("*/meta/argument_specs.yml")):
        specs = (yaml.load(spec_file.read_text(encoding="utf-8"), Loader=loader) or {}).get("argument_specs") or {}
        for entry in specs.values():
            names.update((entry or {}).get("options") or {})
    return frozenset(names)


def known_variables() -> frozenset[str]:
    """Every ``lb_*`` / ``lbguard_*`` name lbguard knows."""
    return frozenset(MODEL_VARIABLES + BACKEND_VARIABLES + OPERATOR_VARIABLES + RUN_FACTS) | role_variables()


def unknown_variable_problems(names: Iterable[Any]) -> list[str]:
    """One problem per name with lbguard's prefixes that no list above knows, with the closest known name."""
    known = known_variables()
    problems = []
    for name in sorted(str(n) for n in names if isinstance(n, str)):
        if not name.startswith(PREFIXES) or name in known or name.startswith(OPERATOR_PREFIXES):
            continue
        near = closest(name, sorted(known))
        hint = f"; did you mean {near}?" if near else ""
        problems.append(f"variable {name} is not one lbguard knows, so its value would be ignored{hint} "
                        "(the model's variables: docs/model.md; a role's: ansible-doc -t role lbguard.core.ROLE)")
    return problems


def extra_variable_names() -> frozenset[str]:
    """Names of the run's extra vars (-e, and AWX's extra vars, which reach ansible-playbook the same way)."""
    from ansible import context  # noqa: PLC0415 - controller only; read when a check runs
    from ansible.parsing.dataloader import DataLoader  # noqa: PLC0415 - as above
    from ansible.utils.vars import load_extra_vars  # noqa: PLC0415 - as above

    if not context.CLIARGS or not context.CLIARGS.get("extra_vars"):
        return frozenset()
    return frozenset(load_extra_vars(DataLoader()))


def group_names_placement_problems(hosts_setting_it: Iterable[str]) -> list[str]:
    """The problem of ``lbguard_group_names`` set in the inventory (on these hosts) rather than as an extra var."""
    hosts = sorted(set(hosts_setting_it))
    if not hosts or "lbguard_group_names" in extra_variable_names():
        return []
    shown = ", ".join(hosts[:5]) + (f" and {len(hosts) - 5} more" if len(hosts) > 5 else "")
    return [f"lbguard_group_names is set in the inventory (host or group variables of {shown}), where plays "
            "cannot see it: a play chooses its hosts before it reads inventory variables, so deploy.yml would "
            "select lbguard's default groups and find other hosts or none. Pass it as an extra var: "
            "-e '{\"lbguard_group_names\": {...}}', or in the extra vars of an AWX job template"]
