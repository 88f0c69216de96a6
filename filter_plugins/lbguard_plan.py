"""Filters of the change review (playbooks/plan.yml): diffs, shares, policy rules."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.lbguard.core.plugins.module_utils.lbguard_common import active_servers
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_policy import over_share, too_few_active
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_filter_errors import guarded_filters


def unified_diff(diffs: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None) -> str:
    """A unified diff from the ``diff`` of a template task run with --diff."""
    if not diffs:
        return ""
    if isinstance(diffs, Mapping):
        diffs = [diffs]
    out = []
    for diff in diffs:
        before = str(diff.get("before", "")).splitlines(keepends=True)
        after = str(diff.get("after", "")).splitlines(keepends=True)
        live = str(diff.get("before_header", "live"))
        out.extend(difflib.unified_diff(before, after, live, f"{live} (proposed)"))
    return "".join(out)


def _shares(model: Mapping[str, Any] | None) -> dict[tuple[str, str], float]:
    if not model:
        return {}
    return {(s["name"], v["name"]): float(v["expected_share"]) for s in model.get("services", []) for v in s["servers"]}


def share_rows(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per service and server: expected share before (live release) and after (proposal).

    ``before`` is None when the live release has no model (never deployed by
    lbguard); its shares are then None.
    """
    old, new = _shares(before), _shares(after)
    rows = []
    for key in list(new) + [k for k in old if k not in new]:
        rows.append({"service": key[0], "server": key[1],
                     "before": old.get(key) if before else None, "after": new.get(key, 0.0),
                     "changed": before is None or abs(old.get(key, 0.0) - new.get(key, 0.0)) > 1e-9})
    return rows


def policy_checks(model: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every policy rule of every service, evaluated on a validated model."""
    checks = []
    for service in model.get("services", []):
        policy = service["policy"]
        active = active_servers(service["servers"])
        top = max(service["servers"], key=lambda s: s["expected_share"])
        checks.append({"service": service["name"], "rule": "min_active_servers",
                       "limit": policy["min_active_servers"], "value": len(active),
                       "passed": not too_few_active(len(active), policy["min_active_servers"])})
        checks.append({"service": service["name"], "rule": "max_server_share",
                       "limit": policy["max_server_share"], "value": top["expected_share"],
                       "detail": top["name"],
                       "passed": not over_share({top["name"]: top["expected_share"]}, policy["max_server_share"])})
        checks.append({"service": service["name"], "rule": "allow_first",
                       "limit": policy["allow_first"], "value": service["balance"],
                       "passed": service["balance"] != "first" or bool(policy["allow_first"])})
    return checks


def extra_directives(model: Mapping[str, Any]) -> list[dict[str, str]]:
    """Every directive the escape hatch passes through, with its section, for the reviewer."""
    rows = [{"section": "global", "directive": d} for d in model.get("global_directives") or []]
    rows += [{"section": f"frontend {f['name']}", "directive": d}
             for f in model.get("frontends") or [] for d in f.get("extra_directives") or []]
    rows += [{"section": f"pool {s['name']}", "directive": d}
             for s in model.get("services", []) for d in s.get("extra_directives") or []]
    return rows


class FilterModule:
    """lbguard change-review filters."""

    def filters(self) -> dict[str, Any]:
        return guarded_filters({"lbguard_unified_diff": unified_diff, "lbguard_share_rows": share_rows,
                "lbguard_policy_checks": policy_checks, "lbguard_extra_directives": extra_directives})
