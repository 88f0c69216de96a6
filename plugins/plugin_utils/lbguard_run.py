"""Filters that steer a deploy run: the staging gate, failed hosts, the run report.

Each load balancer of a run leaves its outcome in the host fact
``lb_deploy_result`` (set by the lb_deploy role)::

    {"host": "lb-stg-1", "environment": "staging", "status": "verified",
     "release": "r00003-...", "previous": "r00002-...", "changed": true,
     "problems": [], "figures": {"shop": {"requests": 60, "observed": {...}, ...}}}

``status`` is one of: verified, checked (check mode), clean (audit, no
drift), drift (audit), rolled_back (failed and restored),
failed_unchanged (failed; the live file was never changed, or needed no change),
skipped (production stopped after an earlier batch failed), rollback_failed.
Scripts and AWX workflows read these values; ``outcome`` says in words how a
failed deploy's rollback ended (see ``rollback_outcome``).

Optional fields the report prints: ``outcome``; ``problems_by_release``, the
problems of each release involved (``[{"release": "r00002-...", "role": "new",
"problems": [...]}, {"release": "r00001-...", "role": "restored", ...}]``),
printed once each, labelled with their release; ``warnings`` (see
``concentration_warnings``), ``runtime_reset``, and what a dead run left:
``reconciled`` (one sentence per thing settled first) and ``lock_taken_over``
(the run id whose lock this run took over).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_common import active_servers, pct_exact, pct_label
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_inventory import (
    complete_group_names,
    environments_of,
    hosts_in_environment,
)
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_policy import over_share


PASSED = ("verified", "checked", "clean")

#: Every status a host's result may have. Scripts and AWX workflows read them.
STATUSES: tuple[str, ...] = (
    "verified", "checked", "clean", "drift", "invalid", "failed", "failed_unchanged", "rolled_back",
    "rollback_failed", "skipped", "no_result", "refused", "undone",
)

#: The one specification of a host's result (lb_deploy_result, verify_result,
#: lb_audit_result, lb_plan_result, lb_server_result): every field, and its value when a play leaves it out.
#: host, environment and status are required.
RESULT_FIELDS: dict[str, Any] = {
    "host": None,                   # inventory hostname
    "environment": None,            # staging, production, or unknown when the model says neither
    "status": None,                 # one of STATUSES
    "outcome": None,                # in words, how a failure ended (rollback_outcome)
    "release": None,                # the release live when the play ended
    "previous": None,               # the release live before it
    "failed_release": None,         # the release that failed, after a rollback
    "changed": False,               # whether the live file changed (or would, in check mode)
    "problems": [],                 # one sentence each
    "problems_by_release": [],      # [{"release", "role": new|unchanged|restored|restore, "problems"}]
    "figures": {},                  # per service, what verification measured (lbguard_verify_summary)
    "rollback_figures": {},         # the same, for the release a rollback restored
    "rollback_seconds": None,       # from the failure to the restored release verified
    "classification": None,         # what the measurement looks like (lbguard_classify)
    "runtime_reset": [],            # runtime drift a deploy reset to the model and the holds
    "holds": [],                    # sanctioned runtime states in the ledger (lbguard_hold_lines)
    "operation": None,              # server.yml: the request, and per server what it did (drain: sessions left)
    "reconciled": [],               # what a dead run left and this run settled first
    "lock_taken_over": None,        # the run id whose lock this run took over
    "warnings": [],                 # concentrations the policy allows (concentration_warnings)
    "diff": [],                     # plan and audit: the rendered file against the live one
    "shares": [],                   # plan: expected shares before and after (lbguard_share_rows)
    "policy": [],                   # plan: each policy rule's result (lbguard_policy_checks)
    "directives": [],               # plan: the escape hatch's directives (lbguard_extra_directives)
}
REQUIRED_RESULT_FIELDS: tuple[str, ...] = ("host", "environment", "status")


def host_result(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A host's result with every field of RESULT_FIELDS; refuses unknown fields and statuses.

    Playbooks set only what they know; the report, the summary and AWX's
    artifacts then always see the same fields.
    """
    if not isinstance(fields, Mapping):
        raise AnsibleFilterError(f"lbguard_host_result: expected the result's fields as a dict, got {type(fields).__name__}")
    unknown = sorted(str(key) for key in fields if key not in RESULT_FIELDS)
    if unknown:
        raise AnsibleFilterError(f"lbguard_host_result: unknown field(s) {', '.join(unknown)}; "
                                 f"the fields are {', '.join(RESULT_FIELDS)}")
    missing = [key for key in REQUIRED_RESULT_FIELDS if fields.get(key) in (None, "")]
    if missing:
        raise AnsibleFilterError(f"lbguard_host_result: {', '.join(missing)} must be set")
    if fields["status"] not in STATUSES:
        raise AnsibleFilterError(f"lbguard_host_result: status {fields['status']!r} is not one of {', '.join(STATUSES)}")
    result = copy.deepcopy(RESULT_FIELDS)  # a fresh list or dict per result
    result.update(fields)
    return result

#: A server whose expected share is above this (a fraction) makes a warning;
#: a run overrides it with the extra var lbguard_concentration_warn_share.
CONCENTRATION_WARN_SHARE = 0.8

#: How each role of a release in ``problems_by_release`` is named in the summary.
RELEASE_ROLES = {"new": "new release", "unchanged": "unchanged release", "restored": "restored release",
                 "restore": "restoring release"}


def concentration_warnings(model: Mapping[str, Any] | None, warn_share: float | None = None) -> list[str]:
    """Services of a validated model whose policy lets one server take more than ``warn_share`` of the traffic.

    The model filter (lbguard_model) sets ``expected_share`` on every server:
    weight over the active weights, or 1.0 for the first active server under
    ``balance first``. A share above ``warn_share`` passes validation when the
    policy allows it (max_server_share up to 1.0, allow_first), so it is
    reported here instead, with what concentrates it:
    ``service shop: web1 takes 100% of traffic (balance first; policy allows up to 100%)``.
    The model's own ``warnings`` (what validation allowed in staging, such as a
    certificate near its expiry) come first.
    ``model`` None (a release without a recorded model) has no warnings;
    ``warn_share`` None means CONCENTRATION_WARN_SHARE.
    """
    try:
        threshold = CONCENTRATION_WARN_SHARE if warn_share is None else float(warn_share)
    except (TypeError, ValueError):
        threshold = -1.0  # reported just below, with the value given
    if not 0 < threshold <= 1:
        raise ValueError(f"lbguard_concentration_warn_share must be a fraction above 0 and at most 1, got {warn_share!r}")
    warnings = [str(warning) for warning in (model or {}).get("warnings") or []]
    for service in (model or {}).get("services") or []:
        servers = service.get("servers") or []
        active = active_servers(servers)
        shares = {str(server.get("name")): float(server.get("expected_share") or 0.0) for server in servers}
        for name in over_share(shares, threshold):
            share = shares[name]
            if service.get("balance") == "first":
                cause = "balance first"
            elif len(active) == 1:
                cause = "the only active server"
            else:
                cause = "weights " + ", ".join(f"{s['name']}={s['weight']}" for s in active)
            limit = float((service.get("policy") or {}).get("max_server_share", 1.0))
            warnings.append(f"service {service.get('name')}: {name} takes {pct_label(share)} of "
                            f"traffic ({cause}; policy allows up to {pct_exact(limit)})")
    return warnings


def rollback_outcome(restore_failed: bool, restored: bool = False, verified: bool = False,
                     verification_failed: bool = False) -> dict[str, str]:
    """How a failed deploy's rollback ended: the status scripts read and the outcome the summary prints.

    - restore failed: the previous release could not be put back (status rollback_failed);
    - restored, still failing: it is live again but failed verification too, for
      example because the backends are down (status rollback_failed);
    - restored: it is live again and verified (status rolled_back);
    - restored, not verified (no model recorded): it is live again, but it was
      adopted from the host without a model to verify against (status rolled_back);
    - live file unchanged: nothing to restore, the new release never went live
      (status failed_unchanged).
    """
    if restore_failed:
        return {"status": "rollback_failed", "outcome": "restore failed"}
    if verification_failed:
        return {"status": "rollback_failed", "outcome": "restored, still failing"}
    if restored and verified:
        return {"status": "rolled_back", "outcome": "restored"}
    if restored:
        return {"status": "rolled_back", "outcome": "restored, not verified (no model recorded)"}
    return {"status": "failed_unchanged", "outcome": "live file unchanged"}


def _result(hostvars: Mapping[str, Any], host: str, fact: str = "lb_deploy_result") -> dict[str, Any] | None:
    """A host's outcome fact as a dict, None when the host left none."""
    value = hostvars[host].get(fact) if host in hostvars else None
    return dict(value) if value else None


def failed_hosts(lb_hosts: Sequence[str], hostvars: Mapping[str, Any], environment: str) -> list[str]:
    """Load balancers of one environment whose deploy in this run did not pass."""
    failed = []
    for host in lb_hosts:
        result = _result(hostvars, host)
        if result and result.get("environment") == environment and result.get("status") not in PASSED:
            failed.append(host)
    return failed


def slice_hosts(hosts: Sequence[str], spec: str | None) -> list[str]:
    """The hosts of slice ``K/N`` of ``hosts`` (every N-th, from the K-th); all of them when ``spec`` is empty.

    Each of N jobs given the same inventory and one K from 1 to N covers its own
    hosts, none twice and none left out, whatever the fleet's size.
    """
    if spec in (None, ""):
        return list(hosts)
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", str(spec))
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise AnsibleFilterError(f"lbguard_slice: {spec!r} is not K/N with 1 <= K <= N (for example 2/4, "
                                 "the second of four slices)")
    index, count = int(match[1]), int(match[2])
    return list(hosts)[index - 1::count]


def production_gate(lb_hosts: Sequence[str], groups: Mapping[str, Sequence[str]], hostvars: Mapping[str, Any],
                    stages: Sequence[str], change_id: str, names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Decide whether production may be deployed in this run, and say why.

    With staging in the same run, every staging load balancer must have
    verified. Production alone (a separate AWX job) is allowed only when every
    staging load balancer's last verified release was verified for this very
    change id, read from its ledger (registered as ``deploy_staging_ledger``).
    ``names`` is lbguard_group_names: which groups are the environments.
    """
    if "production" not in stages:
        return {"allowed": False, "reason": "production is not among lbguard_stages in this run"}
    staging = hosts_in_environment(lb_hosts, groups, complete_group_names(names), "staging")
    if not staging:
        return {"allowed": False, "reason": "refusing production: the inventory has no staging load balancer "
                                            "to prove the change first"}
    if "staging" in stages:
        problems = []
        for host in staging:
            result = _result(hostvars, host)
            if result is None:
                problems.append(f"{host} has no result (unreachable or stopped before the deploy)")
            elif result.get("status") not in PASSED:
                problems.append(f"{host} {result.get('status')}")
        if problems:
            return {"allowed": False,
                    "reason": "production not touched: staging did not pass (" + "; ".join(problems) + ")"}
        return {"allowed": True, "reason": f"staging passed on {', '.join(staging)}; production may proceed"}

    problems = []
    for host in staging:
        ledger = hostvars[host].get("deploy_staging_ledger") or {}
        if not ledger.get("releases"):
            problems.append(f"{host}: no ledger (unreachable, or never deployed)")
            continue
        verified = next((r for r in ledger["releases"] if r.get("id") == ledger.get("last_verified")), None)
        verified_change = ((verified or {}).get("verification") or {}).get("change_id")
        if verified_change != change_id:
            problems.append(f"{host}: last verified release {ledger.get('last_verified')} was verified for change "
                            f"{str(verified_change)[:12]}, this run is change {change_id[:12]}")
    if problems:
        return {"allowed": False, "reason": "refusing production: this change has not passed staging verification ("
                                            + "; ".join(problems) + "); deploy staging first"}
    return {"allowed": True, "reason": f"staging verified change {change_id[:12]} on {', '.join(staging)}"}


def _change_note(result: Mapping[str, Any]) -> str:
    """" (changed)" or, in check mode, " (would change)"; empty when nothing changed."""
    if not result.get("changed"):
        return ""
    return " (would change)" if result.get("status") == "checked" else " (changed)"


def _figures_line(figures: Mapping[str, Any]) -> str:
    """Per service, the requests judged and the observed shares.

    "shop: 60 req [web1 33%, web2 33%, web3 33%]" when the probe's answers were
    judged; "shop: 2431 req counted by the LB [...]" when the LB's own counts were (HAProxy's
    counters, nginx's split log).
    """
    parts = []
    for service, data in figures.items():
        observed = ", ".join(f"{s} {pct_label(v)}" for s, v in (data.get("observed") or {}).items())
        if data.get("source") == "counters":
            parts.append(f"{service}: {data.get('counted', 0)} req counted by the LB [{observed}]")
        else:
            parts.append(f"{service}: {data.get('requests', 0)} req [{observed}]")
    return "; ".join(parts)


def _problem_lines(result: Mapping[str, Any]) -> list[str]:
    """A host's problems, one printed line each, every problem once.

    With ``problems_by_release`` each problem is labelled with the release it
    belongs to, and a problem that both the new and the restored release show
    is printed once with both labels, followed by a note: a problem that
    survives the rollback is likely outside the configuration. Without
    ``problems_by_release``, ``problems`` is printed as it is.
    """
    labelled: dict[str, list[str]] = {}
    by_release = result.get("problems_by_release") or []
    for entry in by_release:
        release = entry.get("release")
        role = RELEASE_ROLES.get(str(entry.get("role")), str(entry.get("role") or "release"))
        label = f"{role} {release}" if release else ("this run's change" if entry.get("role") == "new" else role)
        for problem in entry.get("problems") or []:
            labels = labelled.setdefault(str(problem), [])
            if label not in labels:
                labels.append(label)
    if not by_release:
        for problem in result.get("problems") or []:
            labelled.setdefault(str(problem), [])
    lines = []
    for problem, labels in labelled.items():
        # A multi-line problem (a verdict, an engine's stderr) keeps every line under its host.
        text = str(problem).splitlines() or [""]
        prefix = " and ".join(labels) + ": " if labels else ""
        lines.extend([f"{prefix}{text[0]}", *text[1:]])
    shared = [p for p, labels in labelled.items()
              if any(label.startswith(RELEASE_ROLES["new"]) for label in labels)
              and any(label.startswith(RELEASE_ROLES["restored"]) for label in labels)]
    if shared:
        lines.append("the restored release fails like the new one: the cause is likely outside the configuration "
                     "(backends down?); see the runbook, \"Restored, still failing\"")
    return lines


def run_report(lb_hosts: Sequence[str], hostvars: Mapping[str, Any], groups: Mapping[str, Sequence[str]],
               run: Mapping[str, Any]) -> dict[str, Any]:
    """The end-of-run report: per host outcome, overall status, lines to print.

    ``run`` carries run_id, change_id, revision, stages, the production gate
    (deploys only; other runs pass none) and result_fact, the host fact that
    holds each outcome. A host of a stage that ran but left no result counts
    as failed. ``run.group_names`` is lbguard_group_names.
    """
    names = complete_group_names(run.get("group_names"))
    stages = list(run.get("stages") or [])
    gate = run.get("gate")
    fact = run.get("result_fact") or "lb_deploy_result"
    expected = set(run.get("expected_hosts") or [])
    if gate is not None:
        if "staging" in stages:
            expected.update(hosts_in_environment(lb_hosts, groups, names, "staging"))
        if "production" in stages and gate.get("allowed"):
            expected.update(hosts_in_environment(lb_hosts, groups, names, "production"))

    hosts = {}
    lines = []
    failed = False
    stopped_by = failed_hosts(lb_hosts, hostvars, "production") if gate is not None else []
    for host in lb_hosts:
        result = _result(hostvars, host, fact)
        if result is None:
            if host not in expected:
                continue
            if stopped_by and environments_of(host, groups, names) == ["production"]:
                result = {"host": host, "environment": "production", "status": "skipped",
                          "problems": [f"not deployed: production stopped after {', '.join(stopped_by)} failed"]}
            else:
                result = {"host": host, "status": "no_result",
                          "problems": ["unreachable, or failed before the deploy started"]}
        result.setdefault("warnings", [])
        hosts[host] = result
        ok = result.get("status") in PASSED + ("skipped",)
        failed = failed or not ok
        outcome = f": {result['outcome']}" if result.get("outcome") else ""
        line = (f"{'OK  ' if ok else 'FAIL'} {result.get('environment', '?')} {host} {result.get('status')}, "
                f"release {result.get('release') or '-'}{_change_note(result)}{outcome}")
        lines.append(line)
        # Not indented like the details: a concentration the policy allows must stand out.
        lines.extend(f"WARN {result.get('environment', '?')} {host} {w}" for w in result["warnings"])
        figures = _figures_line(result.get("figures") or {})
        if result.get("classification"):
            lines.append(f"       {result['classification']}")
        elif figures:
            lines.append(f"       {figures}")
        # What a dead run left (lock, unconfirmed release), settled before this run's change.
        if result.get("lock_taken_over"):
            lines.append(f"       took over the lock of run {result['lock_taken_over']}")
        lines.extend(f"       settled before this change: {line}" for line in result.get("reconciled") or [])
        # Sanctioned maintenance, drains and runtime weights (playbooks/server.yml), kept by this run.
        lines.extend(f"       held: {line}" for line in result.get("holds") or [])
        # Runtime drift a deploy reset to the model and the holds: passed, but worth a look.
        lines.extend(f"       runtime drift reset: {line}" for p in result.get("runtime_reset") or []
                     for line in str(p).splitlines()[:1])
        lines.extend(f"       {line}" for line in _problem_lines(result))
    if gate is not None and "production" in stages and not gate.get("allowed"):
        failed = True
        lines.append(f"HELD production: {gate.get('reason')}")
    return {
        "run_id": run.get("run_id"),
        "change_id": run.get("change_id"),
        "revision": run.get("revision"),
        "stages": stages,
        "production_gate": gate,
        "status": "failed" if failed else "passed",
        "hosts": hosts,
        "lines": lines,
    }


def summary_text(report: Mapping[str, Any], kind: str) -> str:
    """The end-of-run summary as one block: a status line, then the report's lines.

    "verify 20261202T... change 1a2b3c4d5e6f: PASSED" and one line per host (and
    its figures or problems, indented). One string, so the callbacks print it as
    a block instead of a list of quoted, wrapped lines.
    """
    head = f"{kind} {report.get('run_id')} change {str(report.get('change_id') or '-')[:12]}: " \
           f"{str(report.get('status')).upper()}"
    return "\n".join([head, *[str(line) for line in report.get("lines") or []]])


def failure_text(report: Mapping[str, Any], kind: str) -> str:
    """Why a run ends failed, as a short block: "verify failed:" then each FAIL and HELD line."""
    failing = [str(line) for line in report.get("lines") or [] if str(line).startswith(("FAIL", "HELD"))]
    return "\n".join([f"{kind} {report.get('status')}:", *failing])
