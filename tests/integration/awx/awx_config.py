"""Read awx/configure.yml the way ansible-playbook does, and check awx.awx arguments.

Without an AWX server, two things can still be proven about the playbook:

- its tasks' arguments, templated by Ansible's own loader, variable manager and
  templar (vars_files, extra vars, loops, omit), one set per loop item;
- that those arguments satisfy each awx.awx module's own argument spec. The
  spec is taken from the module itself: its main() builds ``argument_spec`` and
  hands it to ControllerAPIModule, whose base class adds the auth options and
  calls AnsibleModule.__init__. That call is intercepted to capture the final
  spec and its keyword arguments (mutually_exclusive, required_if...), then
  stopped, so no request is ever made.

The nodes of workflow_job_template are a ``list`` of ``dict`` to the argument
spec, which checks nothing inside them; they are checked against the suboptions
the module documents for them (its DOCUMENTATION, the collection's own schema).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
PLAYBOOK = REPO_ROOT / "awx" / "configure.yml"
COLLECTIONS = REPO_ROOT / ".collections"
# Keyword arguments of AnsibleModule that ArgumentSpecValidator also enforces.
VALIDATOR_KWARGS = ("mutually_exclusive", "required_together", "required_one_of", "required_if", "required_by")


@dataclass
class TaskCall:
    """One module call the playbook would make: a task, or one item of its loop."""

    name: str
    action: str
    args: dict[str, Any]
    item: Any = None
    when: list[str] = field(default_factory=list)

    def label(self) -> str:
        return f"{self.name} [{self.item.get('name') if isinstance(self.item, Mapping) else self.item}]"


@functools.cache
def _install_collection_loader() -> None:
    """ansible-core's collection loader can be installed once per process."""
    from ansible.plugins.loader import init_plugin_loader

    init_plugin_loader([str(COLLECTIONS)])


def _ansible(extra_vars: Sequence[str]) -> None:
    """Set up ansible-core as the CLI would: extra vars, collection loader."""
    from ansible import context
    from ansible.module_utils.common.collections import ImmutableDict

    from ansible.utils import vars as ansible_vars

    context.CLIARGS = ImmutableDict(extra_vars=tuple(extra_vars))
    # ansible-core parses extra vars once per process and keeps them on the
    # function; forget them so that each call sees its own.
    ansible_vars.load_extra_vars.extra_vars = {}
    _install_collection_loader()


def task_calls(playbook: Path = PLAYBOOK, extra_vars: Sequence[str] = ()) -> list[TaskCall]:
    """Every module call of the playbook, arguments templated, one per loop item."""
    _ansible(extra_vars)
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.playbook import Playbook
    from ansible.template import Templar
    from ansible.vars.manager import VariableManager

    loader = DataLoader()
    inventory = InventoryManager(loader=loader, sources=["localhost,"])
    variables = VariableManager(loader=loader, inventory=inventory)
    localhost = inventory.get_host("localhost")
    calls = []
    for play in Playbook.load(str(playbook), variable_manager=variables, loader=loader).get_plays():
        for block in play.compile():
            for task in _tasks(block):
                if task.action in ("meta", "ansible.builtin.meta"):
                    continue
                task_vars = variables.get_vars(play=play, host=localhost, task=task)
                if task.loop is None:
                    items = [None]
                else:
                    items = Templar(loader=loader, variables=task_vars).template(task.loop)
                loop_var = task.loop_control.loop_var if task.loop_control else "item"
                for item in items:
                    item_vars = dict(task_vars, **({loop_var: item} if task.loop is not None else {}))
                    args = Templar(loader=loader, variables=item_vars).template(task.args)
                    calls.append(TaskCall(name=task.name, action=task.resolved_action or task.action,
                                          args=dict(args), item=item, when=list(task.when or [])))
    return calls


def _tasks(block: Any) -> Iterator[Any]:
    for entry in list(block.block) + list(block.rescue) + list(block.always):
        if hasattr(entry, "block"):
            yield from _tasks(entry)
        else:
            yield entry


class _SpecCaptured(Exception):
    def __init__(self, argument_spec: dict[str, Any], kwargs: dict[str, Any]) -> None:
        super().__init__("argument spec captured")
        self.argument_spec = argument_spec
        self.kwargs = kwargs


_SPECS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}


def module_spec(action: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The final argument spec of an awx.awx module, and its validator kwargs."""
    if action not in _SPECS:
        _ansible(())
        from ansible.module_utils.basic import AnsibleModule

        namespace, collection, name = action.split(".")
        module = importlib.import_module(f"ansible_collections.{namespace}.{collection}.plugins.modules.{name}")

        def capture(self: Any, argument_spec: dict[str, Any], **kwargs: Any) -> None:
            raise _SpecCaptured(argument_spec, kwargs)

        with mock.patch.object(AnsibleModule, "__init__", capture):
            try:
                module.main()
            except _SpecCaptured as captured:
                kwargs = {k: captured.kwargs[k] for k in VALIDATOR_KWARGS if captured.kwargs.get(k)}
                _SPECS[action] = (captured.argument_spec, kwargs)
            else:
                raise AssertionError(f"{action}: main() never built an AnsibleModule")
    return _SPECS[action]


def module_documentation(action: str) -> dict[str, Any]:
    namespace, collection, name = action.split(".")
    module = importlib.import_module(f"ansible_collections.{namespace}.{collection}.plugins.modules.{name}")
    return yaml.safe_load(module.DOCUMENTATION)


def _spec_from_doc(options: Mapping[str, Any]) -> dict[str, Any]:
    """Turn documented options (DOCUMENTATION) into an argument spec."""
    spec = {}
    for name, doc in options.items():
        entry: dict[str, Any] = {"type": doc.get("type", "str")}
        for key in ("required", "choices", "elements", "default", "aliases"):
            if key in doc:
                entry[key] = doc[key]
        if "suboptions" in doc:
            entry["options"] = _spec_from_doc(doc["suboptions"])
        spec[name] = entry
    return spec


def _validate(spec: dict[str, Any], kwargs: Mapping[str, Any], params: Mapping[str, Any]) -> list[str]:
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    validator = ArgumentSpecValidator(spec, **kwargs)
    # Sorted: the set of unsupported names would otherwise print in any order.
    return sorted(validator.validate(dict(params)).error_messages)


def argument_errors(action: str, args: Mapping[str, Any]) -> list[str]:
    """Everything the module would reject in these arguments; empty when valid."""
    spec, kwargs = module_spec(action)
    errors = _validate(spec, kwargs, args)
    if action == "awx.awx.workflow_job_template" and isinstance(args.get("workflow_nodes"), list):
        node_doc = module_documentation(action)["options"]["workflow_nodes"]["suboptions"]
        node_spec = _spec_from_doc(node_doc)
        for node in args["workflow_nodes"]:
            ident = node.get("identifier", "?") if isinstance(node, Mapping) else "?"
            errors += [f"workflow node {ident}: {e}" for e in _validate(node_spec, {}, node)]
    return errors


def awx_calls(extra_vars: Sequence[str] = ()) -> list[TaskCall]:
    return [c for c in task_calls(PLAYBOOK, extra_vars) if c.action.startswith("awx.awx.")]


def by_module(calls: Sequence[TaskCall], module: str) -> list[dict[str, Any]]:
    return [c.args for c in calls if c.action == f"awx.awx.{module}"]
