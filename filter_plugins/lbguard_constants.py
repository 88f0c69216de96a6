"""lbguard's constants for roles and playbooks: ``'ledger_root' | lbguard.core.lbguard_constant``.

The values live in plugins/module_utils/lbguard_constants.py, where the modules
and the other filters read them too; this filter is how YAML reads them.
"""

from __future__ import annotations

from typing import Any, Callable

from ansible.errors import AnsibleFilterError
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_constants import CONSTANTS
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_filter_errors import guarded_filters


def constant(name: str) -> Any:
    """Filter: the value of one of lbguard's constants, by name."""
    if name not in CONSTANTS:
        raise AnsibleFilterError(f"lbguard_constant: no constant {name!r}; known: {', '.join(sorted(CONSTANTS))}")
    value = CONSTANTS[name]
    return list(value) if isinstance(value, (list, tuple)) else value


class FilterModule:
    """lbguard constants filter."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return guarded_filters({"lbguard_constant": constant})
