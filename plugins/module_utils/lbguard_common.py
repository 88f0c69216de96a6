"""What every lbguard plugin means by the same words: active servers, shares, percents, lists.

One home for these rules, imported by the filters on the controller
(filter_plugins/, shipped as plugins/filter) and by the modules on the hosts
(plugins/modules) as
``ansible_collections.lbguard.core.plugins.module_utils.lbguard_common``.
Standard library only, Python 3.9 and later (the load balancers' Python).
"""

from __future__ import annotations

import difflib
import math
from typing import Any, Iterable, Mapping, Sequence

#: Float noise guard: a share exactly at a limit is at the limit.
EPSILON = 1e-9


# -------------------------------------------------------------------- servers


def is_active(server: Mapping[str, Any]) -> bool:
    """A server that takes load-balanced traffic: not disabled, not backup, weight > 0."""
    return not server.get("disabled") and not server.get("backup") and int(server.get("weight", 1)) > 0


def inactive_reason(server: Mapping[str, Any]) -> str:
    """Why a server takes no load-balanced traffic: "disabled", "backup" or "weight 0"."""
    if server.get("disabled"):
        return "disabled"
    if server.get("backup"):
        return "backup"
    return "weight 0"


def active_servers(servers: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The active servers (``is_active``), in their order."""
    return [server for server in servers if is_active(server)]


# ------------------------------------------------------------------- percents


def pct(share: float) -> int:
    """Share 0..1 as a whole percent, halves rounded up: 0.335 -> 34, 0.125 -> 13."""
    return int(math.floor(float(share) * 100 + 0.5 + EPSILON))


def pct_label(share: float) -> str:
    """Share 0..1 as a whole percent with its sign: 0.335 -> "34%"."""
    return f"{pct(share)}%"


def pct_exact(share: float) -> str:
    """Share 0..1 as a percent without rounding away what matters: 0.5 -> "50%", 0.125 -> "12.5%".

    Whole when within 0.05 points of whole, else one decimal: for limits and
    weights an operator wrote, where 12.5% must not read as 13%.
    """
    value = float(share) * 100
    if abs(value - round(value)) < 0.05:
        return f"{round(value)}%"
    return f"{value:.1f}%"


def pct_number(value: float) -> str:
    """Fraction as a compact percent number, no sign, no trailing zeros: 0.1 -> "10", 0.025 -> "2.5"."""
    return f"{round(float(value) * 100, 6):g}"


# ---------------------------------------------------------------------- words


def join_names(names: Sequence[str]) -> str:
    """English list: "a", "a and b", "a, b and c"."""
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """"1 connection error" / "2 connection errors"."""
    return f"{count} {singular if count == 1 else (plural_form or singular + 's')}"


def kind(value: Any) -> str:
    """A value's YAML-level type, for messages: "a string", "a list", "null"..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return f"a {type(value).__name__}"


def closest(word: Any, choices: Sequence[str]) -> str | None:
    """The choice closest to ``word`` (case-insensitive), for "did you mean" hints; None when none is close."""
    if not isinstance(word, str):
        return None
    lowered = {choice.lower(): choice for choice in choices}
    found = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[found[0]] if found else None
