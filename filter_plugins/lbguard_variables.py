"""Filter entry: the problems of load balancers' top-level variables (plugin_utils/lbguard_variables.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_filter_errors import guarded_filters
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_variables import (
    group_names_placement_problems,
    unknown_variable_problems,
)


def lbguard_variable_problems(hosts: Sequence[str], hostvars: Mapping[str, Any]) -> list[str]:
    """Filter: unknown lb_*/lbguard_* variables of each host, prefixed with the host; lbguard_group_names misplaced."""
    if isinstance(hosts, (str, bytes)) or not isinstance(hosts, Sequence):
        raise TypeError(f"the input must be a list of inventory hostnames, got {type(hosts).__name__}")
    problems: list[str] = []
    setting_group_names = []
    for host in hosts:
        names = list(hostvars[host]) if host in hostvars else []
        problems += [f"{host}: {problem}" for problem in unknown_variable_problems(names)]
        if "lbguard_group_names" in names:
            setting_group_names.append(host)
    return problems + group_names_placement_problems(setting_group_names)


class FilterModule:
    """lbguard top-level variable filters."""

    def filters(self) -> dict[str, Any]:
        return guarded_filters({"lbguard_variable_problems": lbguard_variable_problems})
