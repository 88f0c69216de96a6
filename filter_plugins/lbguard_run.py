"""Filters that steer a deploy run: the staging gate, failed hosts, the run report.

The filters' logic and its documentation: plugins/plugin_utils/lbguard_run.py.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_filter_errors import guarded_filters
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_run import (
    concentration_warnings,
    failed_hosts,
    failure_text,
    host_result,
    production_gate,
    rollback_outcome,
    run_report,
    slice_hosts,
    summary_text,
)


class FilterModule:
    """lbguard run filters."""

    def filters(self) -> dict[str, Any]:
        """Filter names for Ansible."""
        return guarded_filters({
            "lbguard_failed_hosts": failed_hosts,
            "lbguard_production_gate": production_gate,
            "lbguard_run_report": run_report,
            "lbguard_run_summary_text": summary_text,
            "lbguard_run_failure_text": failure_text,
            "lbguard_concentration_warnings": concentration_warnings,
            "lbguard_rollback_outcome": rollback_outcome,
            "lbguard_host_result": host_result,
            "lbguard_slice": slice_hosts,
        })
