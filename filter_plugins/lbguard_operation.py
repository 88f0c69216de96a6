"""Runtime operations on servers (playbooks/server.yml): the request, its policy check, and holds.

The filters' logic and its documentation: plugins/plugin_utils/lbguard_operation.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_common import kind
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_holds import file_holds
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_filter_errors import guarded_filters
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_operation import (
    held_model,
    hold_findings,
    hold_lines,
    normalise_operation,
    operation_problems,
    request_problems,
    runtime_intent,
)


# ------------------------------------------------------------------- filters


def lbguard_operation(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Filter: the operator's request for playbooks/server.yml, checked and normalised."""
    if not isinstance(raw, Mapping):
        raise AnsibleFilterError(f"lbguard_operation: expected a mapping, got {kind(raw)}")
    try:
        return normalise_operation(raw)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from None


def lbguard_operation_request_problems(raw: Mapping[str, Any]) -> list[str]:
    """Filter: every problem of the operator's request for playbooks/server.yml (empty: it is valid)."""
    if not isinstance(raw, Mapping):
        raise AnsibleFilterError(f"lbguard_operation_request_problems: expected a mapping, got {kind(raw)}")
    return request_problems(raw)


def lbguard_operation_problems(model: Mapping[str, Any], operation: Mapping[str, Any],
                               runtime: Mapping[str, Any] | None = None,
                               holds: Mapping[str, Any] | None = None) -> list[str]:
    """Filter: the policy's verdict on the state an operation would leave (empty: allowed)."""
    try:
        return operation_problems(model, operation, runtime, holds)
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from None


def lbguard_held_model(model: Mapping[str, Any], holds: Mapping[str, Any] | None) -> dict[str, Any]:
    """Filter: the model with the ledger's holds applied."""
    return held_model(model, holds)


def lbguard_file_holds(holds: Mapping[str, Any] | None, engine: str) -> dict[str, dict[str, Any]]:
    """Filter: the holds an engine's file carries (nginx every hold, HAProxy runtime weights)."""
    return file_holds(holds, engine)


def lbguard_file_model(model: Mapping[str, Any], holds: Mapping[str, Any] | None) -> dict[str, Any]:
    """Filter: the model an engine's file is rendered from, the ledger's holds that file carries applied."""
    return held_model(model, file_holds(holds, model["engine"]))


def lbguard_runtime_intent(model: Mapping[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """Filter: each server's runtime state and weight as the model asks, for lbguard_server action=converge."""
    return runtime_intent(model)


def lbguard_hold_findings(model: Mapping[str, Any], holds: Mapping[str, Any] | None) -> list[str]:
    """Filter: the audit's findings about holds (expired, or on a server the model lacks)."""
    return hold_findings(model, holds)


def lbguard_hold_lines(holds: Mapping[str, Any] | None) -> list[str]:
    """Filter: one report line per hold."""
    return hold_lines(holds)


class FilterModule:
    """lbguard runtime-operation filters."""

    def filters(self) -> dict[str, Any]:
        return guarded_filters({
            "lbguard_operation": lbguard_operation,
            "lbguard_operation_request_problems": lbguard_operation_request_problems,
            "lbguard_operation_problems": lbguard_operation_problems,
            "lbguard_held_model": lbguard_held_model,
            "lbguard_file_holds": lbguard_file_holds,
            "lbguard_file_model": lbguard_file_model,
            "lbguard_runtime_intent": lbguard_runtime_intent,
            "lbguard_hold_findings": lbguard_hold_findings,
            "lbguard_hold_lines": lbguard_hold_lines,
        })
