"""Judge what lbguard_probe measured on a load balancer against the lbguard model.

Filters (thin wrappers over plugins/plugin_utils/lbguard_verify_rules.py, which
documents the rules, lbguard_verify_shares.py and lbguard_verify_report.py):

* ``model | lbguard_verify_problems(probe, settings)`` -> list[str]: one readable
  message per problem, empty when the load balancer does what the model says.
* ``model | lbguard_verify_summary(probe)`` -> {service: {"requests", "source",
  "counted", "window_seconds", "note", "observed", "expected", "errors"}} for
  reports and job artifacts.
* ``service_summary | lbguard_share_table`` -> "web1 34%, web2 33%, web3 33%".
* ``model | lbguard_verify_expected_up`` -> {service: [server, ...]}: the servers
  rule b expects UP, which lbguard_probe waits for after a reload ({} for nginx).
* ``model | lbguard_verify_settle_note(seconds, label)`` -> the one line said
  before that wait: what is awaited and for how long.
"""

from __future__ import annotations

from typing import Any, Mapping

from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_filter_errors import guarded_filters
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_verify_report import (
    expected_up,
    settle_note,
    share_table,
    verify_problems,
    verify_summary,
)


# ------------------------------------------------------------------------ filters


def _filter_error(exc: Exception) -> Exception:
    """AnsibleFilterError when Ansible is importable (always inside Ansible), else the error itself."""
    try:
        from ansible.errors import AnsibleFilterError
    except ImportError:  # pragma: no cover - outside Ansible
        return exc
    return AnsibleFilterError(f"lbguard_verify: {exc}")


def lbguard_verify_problems(model: Mapping[str, Any], probe: Mapping[str, Any],
                            settings: Mapping[str, Any] | None = None) -> list[str]:
    """Filter: problems of one load balancer (see module docstring)."""
    try:
        return verify_problems(model, probe, settings)
    except (ValueError, TypeError, KeyError) as exc:
        raise _filter_error(exc) from exc


def lbguard_verify_summary(model: Mapping[str, Any], probe: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Filter: per-service traffic summary for reports."""
    try:
        return verify_summary(model, probe)
    except (ValueError, TypeError, KeyError) as exc:
        raise _filter_error(exc) from exc


def lbguard_share_table(service_summary: Mapping[str, Any]) -> str:
    """Filter: observed shares of one service summary as short text."""
    try:
        return share_table(service_summary)
    except (ValueError, TypeError, AttributeError) as exc:
        raise _filter_error(exc) from exc


def lbguard_verify_expected_up(model: Mapping[str, Any]) -> dict[str, list[str]]:
    """Filter: servers the settle wait expects UP, per service."""
    try:
        return expected_up(model)
    except (ValueError, TypeError, KeyError) as exc:
        raise _filter_error(exc) from exc


def lbguard_verify_settle_note(model: Mapping[str, Any], seconds: Any, label: str) -> str:
    """Filter: the line that says what the settle wait awaits and for how long."""
    try:
        return settle_note(model, seconds, label)
    except (ValueError, TypeError, KeyError) as exc:
        raise _filter_error(exc) from exc


class FilterModule:
    """lbguard verification filters."""

    def filters(self) -> dict[str, Any]:
        """Filter names for Ansible."""
        return guarded_filters({
            "lbguard_verify_problems": lbguard_verify_problems,
            "lbguard_verify_summary": lbguard_verify_summary,
            "lbguard_share_table": lbguard_share_table,
            "lbguard_verify_expected_up": lbguard_verify_expected_up,
            "lbguard_verify_settle_note": lbguard_verify_settle_note,
        })
