"""Filters of the load balancer model: lbguard_model_problems, lbguard_validated_model and the
filters that read a validated model.

The model's rules and their documentation (inputs, normalised output, limits)
are in plugins/plugin_utils/lbguard_model_build.py and the modules it imports:
lbguard_model_schema (keys, ranges, defaults), lbguard_model_values (reading
values, problems), lbguard_model_services, lbguard_model_servers,
lbguard_model_frontends and lbguard_model_inputs (Ansible's hostvars and groups).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ansible_collections.lbguard.core.plugins.module_utils.lbguard_inventory import complete_group_names
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_filter_errors import guarded_filters
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_model_build import (
    build_model,
    model_problems,
    normalize_model,
    share_summary,
)
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_model_inputs import (
    _adapt,
    lbguard_change_id,
    lbguard_environment,
    lbguard_stats_password_hash,
    lbguard_tls_files,
)
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_model_values import ModelError


def lbguard_model_problems(
    lb_host: str, hostvars: Mapping[str, Any], groups: Mapping[str, Any], names: Mapping[str, Any] | None = None
) -> list[str]:
    """Filter: every problem of the model of ``lb_host`` (empty list when valid)."""
    host, host_vars, group_members, backends = _adapt(lb_host, hostvars, groups, "lbguard_model_problems")
    if host_vars is None:
        return [f"{host} is not a host of the inventory"]
    return model_problems(host, host_vars, group_members, backends, names)


def lbguard_model_findings(
    lb_host: str, hostvars: Mapping[str, Any], groups: Mapping[str, Any], names: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Filter: ``{"host", "problems", "warnings"}`` of the model of ``lb_host``, each line prefixed with the host.

    Warnings are what the policy allows but an operator should know (a staging certificate near its expiry).
    """
    host, host_vars, group_members, backends = _adapt(lb_host, hostvars, groups, "lbguard_model_findings")
    if host_vars is None:
        return {"host": host, "problems": [f"{host}: {host} is not a host of the inventory"], "warnings": []}
    model, problems = build_model(host, host_vars, group_members, backends, names)
    warnings = model["warnings"] if model is not None else []
    return {"host": host, "problems": [f"{host}: {p}" for p in problems], "warnings": [f"{host}: {w}" for w in warnings]}


def lbguard_validated_model(
    lb_host: str, hostvars: Mapping[str, Any], groups: Mapping[str, Any], names: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Filter: the normalised model of ``lb_host``; raises AnsibleFilterError listing every problem."""
    host, host_vars, group_members, backends = _adapt(lb_host, hostvars, groups, "lbguard_validated_model")
    if host_vars is None:
        raise ModelError(host, [f"{host} is not a host of the inventory"])
    return normalize_model(host, host_vars, group_members, backends, names)


def lbguard_inventory_groups(names: Mapping[str, Any] | None) -> dict[str, str]:
    """Filter: ``lbguard_group_names`` completed with lbguard's default group names.

    Raises ValueError naming every problem of the mapping (AnsibleFilterError through Ansible).
    """
    return complete_group_names(names)


def lbguard_share_summary(service: Mapping[str, Any]) -> str:
    """Filter: ``"web1=33%, web2=33%, web3=33%"`` for a normalised service."""
    return share_summary(service)


class FilterModule:
    """lbguard model filters."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return guarded_filters({
            "lbguard_model_problems": lbguard_model_problems,
            "lbguard_model_findings": lbguard_model_findings,
            "lbguard_validated_model": lbguard_validated_model,
            "lbguard_share_summary": lbguard_share_summary,
            "lbguard_tls_files": lbguard_tls_files,
            "lbguard_stats_password_hash": lbguard_stats_password_hash,
            "lbguard_change_id": lbguard_change_id,
            "lbguard_environment": lbguard_environment,
            "lbguard_inventory_groups": lbguard_inventory_groups,
        })
