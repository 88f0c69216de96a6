"""Which load balancers a workflow's rollback job restores.

In an AWX workflow, the rollback node runs after a deploy node failed. The
failed deploy's report reaches it as the extra var ``lbguard_deploy`` (the
deploy's ``set_stats`` artifact, see playbooks/include/report_run.yml)::

    {"run_id": "...", "change_id": "...", "status": "failed",
     "hosts": {"lb-prod-1": {"environment": "production", "status": "rolled_back",
                             "changed": true, "release": "...", "previous": "..."}, ...}}

The rollback restores the hosts that deploy changed, and the hosts whose outcome
is unknown (no_result: unreachable, or the run stopped mid-way). When the report
names none of the rollback's hosts it is not about them: AWX hands a node the
newest artifact of its ancestors, so when the production deploy died before
reporting, ``lbguard_deploy`` is still staging's. Then, and without any report,
every host of the pattern is rolled back: rolling a host back to the release it
already runs is a no-op followed by a verification.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_filter_errors import guarded_filters

# Outcomes after which the host may not run the release it ran before the deploy.
UNKNOWN = ("no_result",)


def rollback_scope(play_hosts: Sequence[str], deploy_report: Any) -> dict[str, Any]:
    """The hosts to roll back, and one sentence saying why those."""
    hosts = list(play_hosts)
    reported = deploy_report.get("hosts") if isinstance(deploy_report, Mapping) else None
    if not isinstance(reported, Mapping):
        return {"hosts": hosts, "reason": "no deploy report reached this job (the deploy stopped before reporting): "
                                          "every host of the pattern is rolled back"}
    run_id = deploy_report.get("run_id") or "?"
    listed = [h for h in hosts if h in reported]
    if not listed:
        return {"hosts": hosts, "reason": f"the deploy report of run {run_id} names none of these hosts "
                                          "(it is from another stage): every host of the pattern is rolled back"}
    chosen = [h for h in listed
              if (reported[h] or {}).get("changed") or (reported[h] or {}).get("status") in UNKNOWN]
    if not chosen:
        return {"hosts": [], "reason": f"deploy run {run_id} changed none of {', '.join(listed)}: nothing to roll back"}
    return {"hosts": chosen, "reason": f"deploy run {run_id} changed or lost track of {', '.join(chosen)}"}


class FilterModule:
    """lbguard rollback filters."""

    def filters(self) -> dict[str, Any]:
        return guarded_filters({"lbguard_rollback_scope": rollback_scope})
