"""Filter entry: the engine roles' rendered settings and their checks (plugin_utils/lbguard_settings.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_filter_errors import guarded_filters
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_settings import rendered_settings, setting_problems


def lbguard_rendered_settings(engine: str) -> list[str]:
    """Filter: the names of the role settings ``engine``'s templates write into its config."""
    return rendered_settings(engine)


def lbguard_setting_problems(engine: str, values: Sequence[Any]) -> list[str]:
    """Filter: the problems of those settings; ``values`` in the order of lbguard_rendered_settings (query('vars'))."""
    names = rendered_settings(engine)
    if isinstance(values, Mapping) or isinstance(values, (str, bytes)) or len(values) != len(names):
        raise ValueError(f"lbguard_setting_problems: expected the {len(names)} values of lbguard_rendered_settings, "
                         "in order (query('ansible.builtin.vars', *names))")
    return setting_problems(engine, dict(zip(names, values)))


class FilterModule:
    """lbguard rendered-settings filters."""

    def filters(self) -> dict[str, Any]:
        return guarded_filters({
            "lbguard_rendered_settings": lbguard_rendered_settings,
            "lbguard_setting_problems": lbguard_setting_problems,
        })
