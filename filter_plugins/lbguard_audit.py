"""Drift findings of a scheduled audit (playbooks/audit.yml).

An audit compares four views of one load balancer and says, in words, where
they disagree: the intended configuration (rendered from the inventory model),
the live file, the ledger's current release, and the runtime state (HAProxy's
runtime API). Every function returns a list of findings; an empty list means
no drift.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.lbguard.core.plugins.module_utils.lbguard_common import is_active, pct_label
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_policy import over_share, weight_shares
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_filter_errors import guarded_filters


def runtime_drift(model: Mapping[str, Any], runtime: Mapping[str, Any]) -> list[str]:
    """Differences between the model and HAProxy's runtime state.

    Finds servers put in maintenance or drain by hand, weights changed through
    the runtime API, and the traffic shares those runtime weights give, judged
    by the service's policy (the validation rules applied to what is live).
    """
    findings: list[str] = []
    for service in model.get("services", []):
        label = f"service {service['name']}"
        live = runtime.get(service["name"])
        if live is None:
            findings.append(f"{label}: not present in the runtime API")
            continue
        live_weights: dict[str, int] = {}
        for server in service["servers"]:
            state = live.get(server["name"])
            if state is None:
                findings.append(f"{label}: server {server['name']} is not present at runtime")
                continue
            status = str(state.get("status", ""))
            weight = int(state.get("weight") or 0)
            active = is_active(server)
            out_of_rotation = status.startswith(("MAINT", "DRAIN", "NOLB"))
            if active and out_of_rotation:
                findings.append(f"{label}: server {server['name']} is {status} at runtime, active in the model")
            # A drained or maintained server's weight balances nothing (HAProxy still shows its weight).
            if weight != server["weight"] and not server["disabled"] and not out_of_rotation:
                findings.append(f"{label}: server {server['name']} has weight {weight} at runtime, "
                                f"{server['weight']} in the model")
            if active and not status.startswith(("MAINT", "DRAIN", "NOLB")):
                live_weights[server["name"]] = weight
        total = sum(live_weights.values())
        limit = float(service["policy"]["max_server_share"])
        if total > 0 and service.get("balance") != "first":
            shares = weight_shares(live_weights)
            split = ", ".join(f"{n}={w}" for n, w in live_weights.items())
            for name in over_share(shares, limit):
                findings.append(f"{label}: at runtime server {name} would receive {pct_label(shares[name])} "
                                f"of traffic ({split}); policy max_server_share is {pct_label(limit)}")
        elif total == 0 and service["servers"]:
            findings.append(f"{label}: no server can take traffic at runtime")
    return findings


def file_drift(live_sha256: str | None, ledger: Mapping[str, Any], intended_changed: bool) -> list[str]:
    """Differences between the live file, the ledger's current release and the intent."""
    findings: list[str] = []
    current = ledger.get("current")
    release = next((r for r in ledger.get("releases") or [] if r.get("id") == current), None)
    if live_sha256 is None:
        findings.append("the live configuration file is missing")
    elif release is None:
        findings.append("the ledger has no current release: this host was never deployed by lbguard")
    elif release.get("config_sha256") != live_sha256:
        findings.append(f"the live file differs from the ledger's current release {current} (edited by hand?)")
    if release is not None and ledger.get("last_verified") != current:
        findings.append(f"the current release {current} is not the last verified one ({ledger.get('last_verified')})")
    if intended_changed:
        findings.append("the configuration rendered from the inventory differs from the live file "
                        "(an undeployed change, or a hand edit)")
    return findings


def findings_text(drifted: Sequence[Mapping[str, Any]], run_id: str) -> str:
    """The audit's findings as one block: "lbguard audit RUN: drift on a, b:", then "- host: finding" lines.

    ``drifted`` holds the audit results (host, problems) of the hosts with drift.
    Hosts are sorted, findings keep their order.
    """
    results = sorted(drifted, key=lambda result: str(result.get("host")))
    lines = [f"lbguard audit {run_id}: drift on {', '.join(str(result.get('host')) for result in results)}:"]
    lines += [f"- {result.get('host')}: {finding}" for result in results for finding in result.get("problems") or []]
    return "\n".join(lines)


class FilterModule:
    """lbguard audit filters."""

    def filters(self) -> dict[str, Any]:
        """Filter names for Ansible."""
        return guarded_filters({"lbguard_runtime_drift": runtime_drift, "lbguard_file_drift": file_drift,
                "lbguard_audit_findings_text": findings_text})
