"""Numbers YAML changes behind the writer's back, found in the inventory's own files.

Ansible reads YAML 1.1: an unquoted ``010`` is the octal number 8 and ``1:30``
the base-60 number 90, with no warning. A weight of ``010`` would then be 8.
``lbguard_yaml_traps(sources)`` lists every such scalar in the YAML files of
the inventory sources (``ansible_inventory_sources``) and of their
group_vars/ and host_vars/ folders, by file and line, so validate.yml can
refuse them before any host is touched.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import yaml

from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_filter_errors import guarded_filters

#: YAML 1.1 plain scalars that resolve to integers a reader does not expect.
OCTAL = re.compile(r"[-+]?0[0-7_]+")
SEXAGESIMAL = re.compile(r"[-+]?[1-9][0-9_]*(:[0-5]?[0-9])+")
INT_TAG = "tag:yaml.org,2002:int"
YAML_ENDINGS = (".yml", ".yaml")


def _yaml_files(source: str) -> Iterator[str]:
    """The YAML files an inventory source stands for: the file itself, or every file below a folder."""
    if os.path.isfile(source):
        if source.endswith(YAML_ENDINGS):
            yield source
        folders = [os.path.join(os.path.dirname(source), name) for name in ("group_vars", "host_vars")]
    elif os.path.isdir(source):
        folders = [source]
    else:
        return
    for folder in folders:
        for root, dirs, files in os.walk(folder):
            dirs.sort()
            for name in sorted(files):
                in_vars = bool({"group_vars", "host_vars"} & set(root.split(os.sep)))
                if name.endswith(YAML_ENDINGS) or (in_vars and "." not in name):
                    yield os.path.join(root, name)


def _scalars(node: yaml.Node) -> Iterator[yaml.ScalarNode]:
    if isinstance(node, yaml.ScalarNode):
        yield node
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _scalars(item)
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield from _scalars(key)
            yield from _scalars(value)


def _trap(value: str) -> str | None:
    if OCTAL.fullmatch(value) and value.strip("+-") not in ("0", "00"):
        return f"{value} is read as the octal number {int(value.replace('_', ''), 8)}"
    if SEXAGESIMAL.fullmatch(value):
        total = 0
        for part in value.lstrip("+-").replace("_", "").split(":"):
            total = total * 60 + int(part)
        return f"{value} is read as the base-60 number {-total if value.startswith('-') else total}"
    return None


def yaml_traps(sources: Sequence[str] | None) -> list[str]:
    """Filter: ``path:line: what the number is read as``, for every octal or base-60 scalar in the sources' YAML."""
    problems: list[str] = []
    seen: set[str] = set()
    for source in sources or []:
        for path in _yaml_files(str(source)):
            real = os.path.realpath(path)
            if real in seen:
                continue
            seen.add(real)
            try:
                with open(path, encoding="utf-8") as handle:
                    documents = list(yaml.compose_all(handle, Loader=yaml.SafeLoader))
            except (OSError, UnicodeDecodeError, yaml.YAMLError):
                continue  # Ansible itself reports files it cannot read or parse
            for document in documents:
                for scalar in _scalars(document) if document is not None else ():
                    if scalar.tag == INT_TAG and scalar.style is None:
                        trap = _trap(scalar.value)
                        if trap:
                            problems.append(
                                f"{path}:{scalar.start_mark.line + 1}: {trap} (YAML 1.1); "
                                f"quote it or write the number you mean"
                            )
    return problems


class FilterModule:
    """lbguard YAML filters."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return guarded_filters({"lbguard_yaml_traps": yaml_traps})
