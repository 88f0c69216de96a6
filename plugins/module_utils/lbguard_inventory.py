"""Which inventory groups lbguard reads, and an inventory host's environment.

One home for these rules: the model filter derives an LB's environment and its
backends' with them, the run filters (production gate, run report) count an
environment's load balancers with them, and the lbguard_environment filter
gives playbooks the same answer. Standard library only.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from ansible_collections.lbguard.core.plugins.module_utils.lbguard_common import closest, kind

#: The environments, in deploy order. Each has its built-in policy and its inventory group.
ENVIRONMENTS: tuple[str, ...] = ("staging", "production")

#: lbguard's group roles -> the default inventory group name. A repository with
#: its own names maps them with the extra var ``lbguard_group_names``; the
#: playbooks select their hosts by the same mapping (playbooks/vars/lbguard.yml).
GROUP_ROLES: dict[str, str] = {"loadbalancers": "loadbalancers", "staging": "staging", "production": "production"}

#: An inventory group name Ansible accepts without a warning.
GROUP_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def group_names(raw: Any) -> tuple[dict[str, str], list[str]]:
    """The inventory group of each of lbguard's group roles: ``raw`` over ``GROUP_ROLES``.

    :param raw: ``lbguard_group_names`` (role -> group name), None or {} for the defaults.
    :returns: the complete mapping and the problems of ``raw`` (unknown roles,
        names that are no group names, one group for both environments).
    """
    names = dict(GROUP_ROLES)
    problems: list[str] = []
    if raw is None:
        return names, problems
    if not isinstance(raw, Mapping):
        return names, [f"lbguard_group_names must map group roles to group names, got {kind(raw)}"]
    for role, name in raw.items():
        if role not in GROUP_ROLES:
            close = closest(role, list(GROUP_ROLES))
            hint = f"; did you mean {close!r}?" if close else ""
            problems.append(
                f"lbguard_group_names: {role!r} is not a group role{hint} (roles: {', '.join(GROUP_ROLES)})"
            )
        elif not isinstance(name, str) or not GROUP_NAME_RE.fullmatch(name):
            problems.append(f"lbguard_group_names.{role}: {name!r} is not a group name")
        else:
            names[str(role)] = name
    if names["staging"] == names["production"]:
        problems.append(
            f"lbguard_group_names: staging and production are both group {names['staging']!r}; "
            "each environment needs its own group"
        )
    return names, problems


def complete_group_names(raw: Any) -> dict[str, str]:
    """``group_names`` for a caller that cannot go on with a bad mapping: ValueError naming every problem."""
    names, problems = group_names(raw)
    if problems:
        raise ValueError("; ".join(problems))
    return names


def environments_of(host: str, group_members: Mapping[str, Sequence[str]], names: Mapping[str, str]) -> list[str]:
    """The environments whose groups list ``host``: exactly one for a host lbguard may use."""
    return [env for env in ENVIRONMENTS if host in (group_members.get(names[env]) or ())]


def hosts_in_environment(
    hosts: Sequence[str], group_members: Mapping[str, Sequence[str]], names: Mapping[str, str], environment: str
) -> list[str]:
    """The ``hosts`` (in their order) whose one environment is ``environment``."""
    return [host for host in hosts if environments_of(host, group_members, names) == [environment]]
