"""How every lbguard filter fails: with an AnsibleFilterError that names the filter.

Controller-side only (it needs ansible.errors), so it lives in plugin_utils,
not module_utils. Each FilterModule returns ``guarded_filters({...})``: a
filter's own AnsibleError passes through untouched; anything else (a
KeyError from a dict that is not a validated model, a TypeError from a
string where a list belongs, a ValueError from a bad setting) becomes one
readable message instead of a Python traceback.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Mapping

from ansible.errors import AnsibleError, AnsibleFilterError, AnsibleTypeError


def guarded(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` as Ansible calls it: every failure an AnsibleFilterError that starts with ``name``."""

    @functools.wraps(function)
    def filter_function(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except AnsibleError:
            raise
        except (TypeError, AttributeError) as exc:
            raise AnsibleTypeError(f"{name}: an input has the wrong type ({exc}); see "
                                         f"ansible-doc -t filter lbguard.core.{name}") from exc
        except (KeyError, IndexError) as exc:
            raise AnsibleFilterError(f"{name}: an input lacks {exc}; pass what ansible-doc -t filter "
                                     f"lbguard.core.{name} describes (a model from lbguard_validated_model, "
                                     "a registered module result)") from exc
        except ValueError as exc:
            raise AnsibleFilterError(f"{name}: {exc}") from exc

    return filter_function


def guarded_filters(filters: Mapping[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """A FilterModule's {name: function}, each function ``guarded``."""
    return {name: guarded(name, function) for name, function in filters.items()}
