"""The traffic policy's rules, in one place: expected shares from weights, and the two limits.

The model filter applies them to the weights a change proposes, the plan shows
them, the audit applies them to the weights live at runtime, verification to
the shares it observes, and the run's summary warns with them below the limit.
Standard library only.
"""

from __future__ import annotations

from typing import Mapping

from ansible_collections.lbguard.core.plugins.module_utils.lbguard_common import EPSILON


def weight_shares(weights: Mapping[str, float], balance: str | None = None) -> dict[str, float]:
    """Each server's expected share of the traffic, from the weights of the servers in rotation.

    ``weights`` are the servers that are neither disabled nor backup, in order.
    A server's share is its weight over their sum; under ``balance first`` the
    first server with a weight takes everything. All zero when no weight is set.
    """
    shares = {name: 0.0 for name in weights}
    total = sum(weights.values())
    if total <= 0:
        return shares
    if balance == "first":
        first = next(name for name, weight in weights.items() if weight > 0)
        shares[first] = 1.0
        return shares
    return {name: weight / total for name, weight in weights.items()}


def over_share(shares: Mapping[str, float], limit: float, slack: float = 0.0) -> list[str]:
    """The servers whose share is above ``limit`` (plus ``slack``), in order: the max_server_share rule.

    A share exactly at the limit is within it (float noise aside).
    """
    return [name for name, share in shares.items() if share > float(limit) + slack + EPSILON]


def too_few_active(active: int, minimum: int) -> bool:
    """The min_active_servers rule: fewer servers take load-balanced traffic than the policy asks."""
    return active < int(minimum)
