"""The audit's result as Prometheus gauges, for node_exporter's textfile collector.

playbooks/audit.yml writes this text to the file named by lbguard_audit_textfile
(``-e lbguard_audit_textfile=/var/lib/prometheus/node-exporter/lbguard_audit.prom``).
node_exporter serves it; the LBConfigDrift rule alerts on ``lbguard_config_drift == 1``.

Per audited load balancer (label lb_host = inventory hostname):

* ``lbguard_audit_success``: 1 when the audit completed, 0 when it failed
  (unreachable host, unreadable ledger...);
* ``lbguard_config_drift``: 1 drift, 0 clean, only for hosts whose audit
  completed. A host that could not be audited is never reported as clean;
* ``lbguard_audit_timestamp_seconds``: when the audit ran (Unix time), so a
  stale file (schedule stopped) can be alerted on;
* ``lbguard_certificate_expiry_timestamp_seconds``: per certificate of the
  host's TLS frontends (labels frontend, certificate), when it expires (Unix
  time), from the model the audit compared the host with; the
  LBCertificateExpiring rule alerts on the days left.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_filter_errors import guarded_filters

_GAUGES = (
    ("lbguard_audit_success",
     "1 when lbguard's drift audit of the load balancer completed, 0 when it failed (unreachable, error)."),
    ("lbguard_config_drift",
     "1 when lbguard's audit found the load balancer's live config or runtime state differing from the last "
     "verified release and the model, 0 when clean; absent when the audit failed."),
    ("lbguard_audit_timestamp_seconds", "Unix time of the lbguard drift audit that wrote these values."),
    ("lbguard_certificate_expiry_timestamp_seconds",
     "Unix time when a certificate of the load balancer's TLS frontend expires (lbguard model)."),
)


def _label_value(value: str) -> str:
    """A label value in the text exposition format: backslash, quote and newline escaped."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _host_state(hostvars: Mapping[str, Any], host: str) -> tuple[bool, bool]:
    """(audit completed, drift found) for one host, from the facts lb_audit sets."""
    facts = hostvars.get(host) or {}
    result = facts.get("lb_audit_result")
    completed = facts.get("lb_audit_completed") is True and isinstance(result, Mapping)
    return completed, bool(completed and result.get("status") == "drift")


def _certificate_samples(hostvars: Mapping[str, Any], host: str) -> list[str]:
    """One expiry sample per certificate of the host's model, when the audit validated it."""
    model = (hostvars.get(host) or {}).get("lbguard_model")
    samples = []
    for frontend in (model or {}).get("frontends") or [] if isinstance(model, Mapping) else []:
        for certificate in (frontend.get("tls") or {}).get("certificates") or []:
            labels = (f'lb_host="{_label_value(host)}",frontend="{_label_value(frontend["name"])}",'
                      f'certificate="{_label_value(certificate["name"])}"')
            samples.append(f"lbguard_certificate_expiry_timestamp_seconds{{{labels}}} "
                           f"{int(certificate['not_after_timestamp'])}")
    return samples


def audit_metrics(hosts: Iterable[str], hostvars: Mapping[str, Any], timestamp: float | None = None) -> str:
    """The text of the textfile: HELP/TYPE lines and one sample per host and gauge, hosts sorted."""
    when = time.time() if timestamp is None else float(timestamp)
    states = {host: _host_state(hostvars, host) for host in sorted(set(hosts))}
    samples: dict[str, list[str]] = {name: [] for name, _ in _GAUGES}
    for host, (completed, drift) in states.items():
        label = f'{{lb_host="{_label_value(host)}"}}'
        samples["lbguard_audit_success"].append(f"lbguard_audit_success{label} {int(completed)}")
        if completed:
            samples["lbguard_config_drift"].append(f"lbguard_config_drift{label} {int(drift)}")
        samples["lbguard_audit_timestamp_seconds"].append(f"lbguard_audit_timestamp_seconds{label} {when:.3f}")
        samples["lbguard_certificate_expiry_timestamp_seconds"] += _certificate_samples(hostvars, host)
    lines: list[str] = []
    for name, help_text in _GAUGES:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", *samples[name]]
    return "\n".join(lines) + "\n"


class FilterModule:
    """lbguard audit metrics filter."""

    def filters(self) -> dict[str, Any]:
        return guarded_filters({"lbguard_audit_metrics": audit_metrics})
