"""Tell a load-balancer misconfiguration from a traffic surge, from per-server counters.

The filters' logic and its documentation: plugins/plugin_utils/lbguard_classify.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_filter_errors import guarded_filters
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_classify import classify, probe_counters


def lbguard_classify(
    model: Mapping[str, Any], counters: Mapping[str, Any], settings: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Filter: classify one LB as healthy / internal_misconfiguration / external_surge / backends_down."""
    return classify(model, counters, settings)


class FilterModule:
    """lbguard traffic classification filter."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return guarded_filters({"lbguard_classify": lbguard_classify, "lbguard_probe_counters": probe_counters})
