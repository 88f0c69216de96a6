"""Print the figures of lbguard's structure that issue #26 set targets for.

    python scripts/structure_report.py [--playbook playbooks/deploy.yml] [--json]

- the files one deploy runs through: every playbook and task file reached from
  the playbook by its imports and includes (a role named by a template, such as
  ``lbguard.core.{{ engine }}``, counts as each engine role), and the templates
  they render; the vars files and role defaults they read are listed apart;
- how deep those includes nest;
- the decisions that depend on a task's name (``ansible_failed_task.name``);
- the largest Python files of plugins/ and filter_plugins/;
- where each shared constant's literal value is written.

It only reads files, and exits 0; tests/unit/test_structure_report.py checks
the figures against the targets.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
COLLECTION_PREFIX = "lbguard.core."
INCLUDE_ACTIONS = {
    "import_playbook": "playbook",
    "include_tasks": "tasks",
    "import_tasks": "tasks",
    "include_role": "role",
    "import_role": "role",
}
#: Where a task names a file it reads besides includes (template sources).
TEMPLATE_ACTIONS = ("template",)
BLOCK_KEYS = ("block", "rescue", "always")
PLAY_TASK_KEYS = ("pre_tasks", "tasks", "post_tasks", "handlers")
TASK_NAME_DECISION = re.compile(r"ansible_failed_task\.name")
TARGETS = {"deploy_files": 12, "include_depth": 3, "task_name_decisions": 0, "python_max_lines": 500}


@dataclass
class Walk:
    """The files reached from one playbook, and the deepest include chain."""

    files: dict[str, int] = field(default_factory=dict)  # path -> include depth at which it was first reached
    deepest: list[str] = field(default_factory=list)
    settings: set[str] = field(default_factory=set)  # vars files, role defaults and vars: values, no steps
    engines: tuple[str, ...] = ("haproxy", "nginx")

    def reach(self, path: Path, depth: int, chain: list[str]) -> bool:
        rel = str(path.resolve().relative_to(ROOT))
        if len(chain) > len(self.deepest):
            self.deepest = list(chain)
        if rel in self.files and self.files[rel] <= depth:
            return False
        self.files[rel] = depth
        return True


def _short(action: str) -> str:
    return action.rsplit(".", 1)[-1]


def _roles_named(name: str, engines: tuple[str, ...]) -> list[str]:
    name = name.removeprefix(COLLECTION_PREFIX)
    if "{{" in name:
        return list(engines)
    return [name]


def _files_named(folder: Path, name: str) -> list[Path]:
    """``name`` in ``folder``; a templated name matches every file its fixed parts allow."""
    if "{{" not in name:
        return [folder / name] if (folder / name).is_file() else []
    pattern = re.sub(r"\{\{.*?\}\}", "*", name)
    return sorted(folder.glob(pattern))


def walk_tasks(walk: Walk, tasks: Any, base: Path, role_dir: Path | None, depth: int, chain: list[str]) -> None:
    for task in tasks or []:
        if not isinstance(task, dict):
            continue
        for key in BLOCK_KEYS:
            if key in task:
                walk_tasks(walk, task[key], base, role_dir, depth, chain)
        for action, value in task.items():
            kind = INCLUDE_ACTIONS.get(_short(action))
            if kind == "playbook":
                for target in _files_named(base, str(value)):
                    walk_playbook(walk, target, depth, chain)
            elif kind == "tasks":
                name = value if isinstance(value, str) else (value or {}).get("file", "")
                for target in _files_named(base, str(name)):
                    walk_task_file(walk, target, role_dir, depth + 1, chain + [str(target.relative_to(ROOT))])
            elif kind == "role":
                args = value or {}
                for role in _roles_named(str(args.get("name", "")), walk.engines):
                    walk_role(walk, role, str(args.get("tasks_from", "main")), depth + 1, chain)
            elif _short(action) in TEMPLATE_ACTIONS and role_dir is not None and isinstance(value, dict):
                for target in _files_named(role_dir / "templates", str(value.get("src", ""))):
                    walk.reach(target, depth, chain)


def walk_task_file(walk: Walk, path: Path, role_dir: Path | None, depth: int, chain: list[str]) -> None:
    if walk.reach(path, depth, chain):
        walk_tasks(walk, yaml.safe_load(path.read_text()), path.parent, role_dir, depth, chain)


def walk_role(walk: Walk, role: str, tasks_from: str, depth: int, chain: list[str]) -> None:
    role_dir = ROOT / "roles" / role
    name = tasks_from if tasks_from.endswith((".yml", ".yaml")) else f"{tasks_from}.yml"
    for extra in ("defaults/main.yml", "vars/main.yml"):
        if (role_dir / extra).is_file():
            walk.settings.add(str((role_dir / extra).relative_to(ROOT)))
    for target in _files_named(role_dir / "tasks", name):
        walk_task_file(walk, target, role_dir, depth, chain + [str(target.relative_to(ROOT))])


def walk_playbook(walk: Walk, path: Path, depth: int = 0, chain: list[str] | None = None) -> None:
    chain = (chain or []) + [str(path.relative_to(ROOT))]
    if not walk.reach(path, depth, chain):
        return
    for play in yaml.safe_load(path.read_text()) or []:
        if not isinstance(play, dict):
            continue
        walk_tasks(walk, [play], path.parent, None, depth, chain)  # import_playbook entries
        for vars_file in play.get("vars_files") or []:
            for target in _files_named(path.parent, str(vars_file)):
                walk.settings.add(str(target.resolve().relative_to(ROOT)))
        for key in PLAY_TASK_KEYS:
            walk_tasks(walk, play.get(key), path.parent, None, depth, chain)
        for role in play.get("roles") or []:
            name = role if isinstance(role, str) else role.get("role") or role.get("name", "")
            for each in _roles_named(str(name), walk.engines):
                walk_role(walk, each, "main", depth + 1, chain)


def python_files() -> list[tuple[str, int]]:
    found = []
    for folder in ("plugins", "filter_plugins"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.is_symlink() or any(p.is_symlink() for p in path.relative_to(ROOT).parents if str(p) != "."):
                continue
            found.append((str(path.relative_to(ROOT)), len(path.read_text().splitlines())))
    return sorted(found, key=lambda item: -item[1])


def task_name_decisions() -> list[str]:
    hits = []
    for path in [*ROOT.glob("playbooks/**/*.yml"), *ROOT.glob("roles/*/tasks/*.yml"), *ROOT.glob("roles/*/vars/*.yml")]:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if TASK_NAME_DECISION.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{number}")
    return hits


def _documentation_lines(text: str) -> set[int]:
    """Lines of a module's DOCUMENTATION, EXAMPLES and RETURN strings: they state values for a reader."""
    import ast  # noqa: PLC0415 - only this figure parses Python

    lines: set[int] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") in ("DOCUMENTATION", "EXAMPLES", "RETURN")
                                                for t in node.targets):
            lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return lines


def constant_homes(constants: dict[str, str]) -> dict[str, list[str]]:
    """For each constant, the code files that write its literal value.

    Documentation is left out, as tests/unit/plugins/module_utils/test_constants_home.py leaves it out:
    module doc strings, filter doc files and role argument specs state values for their reader.
    """
    code = []
    for folder in ("plugins", "filter_plugins", "roles", "playbooks"):
        for path in (ROOT / folder).rglob("*"):
            rel = path.relative_to(ROOT)
            if (not path.is_file() or path.suffix not in (".py", ".yml", ".j2")
                    or any((ROOT / parent).is_symlink() for parent in rel.parents if str(parent) != ".")
                    or path.name == "argument_specs.yml" or (rel.parts[0] == "filter_plugins" and path.suffix == ".yml")):
                continue
            lines = path.read_text().splitlines()
            skip = _documentation_lines("\n".join(lines)) if path.suffix == ".py" else set()
            code.append((str(rel), [line for number, line in enumerate(lines, 1) if number not in skip]))
    return {label: sorted(rel for rel, lines in code if any(value in line for line in lines))
            for label, value in constants.items()}


def shared_constants() -> dict[str, str]:
    """The shared constants' literal values, read from their one home when it exists."""
    sys.path[:0] = [str(ROOT / "collections")]
    try:
        from ansible_collections.lbguard.core.plugins.module_utils import lbguard_constants as home  # noqa: PLC0415
    except ImportError:
        return {}
    return {name.lower(): str(value) for name, value in vars(home).items()
            if name.isupper() and isinstance(value, (str, int)) and not isinstance(value, bool)}


def yaml_files_per_engine(playbook: Path, engines: tuple[str, ...]) -> dict[str, int]:
    """The YAML files a deploy of one engine's load balancers runs through."""
    counts = {}
    for engine in engines:
        walk = Walk(engines=(engine,))
        walk_playbook(walk, playbook)
        counts[engine] = sum(1 for f in walk.files if f.endswith((".yml", ".yaml")))
    return counts


def report(playbook: Path) -> dict[str, Any]:
    walk = Walk()
    walk_playbook(walk, playbook)
    deploy_yaml = sorted(f for f in walk.files if f.endswith((".yml", ".yaml")))
    per_engine = yaml_files_per_engine(playbook, walk.engines)
    lines = sum(len((ROOT / f).read_text().splitlines()) for f in walk.files)
    largest = python_files()
    return {
        "playbook": str(playbook.relative_to(ROOT)),
        # A deploy touches the files of its load balancers' engine: the largest such count.
        "deploy_files": max(per_engine.values()),
        "deploy_files_per_engine": per_engine,
        "files_any_engine": len(deploy_yaml),
        "deploy_templates": sorted(f for f in walk.files if f.endswith(".j2")),
        "deploy_lines": lines,
        "files": deploy_yaml,
        "settings_files": sorted(walk.settings),
        "include_depth": max(0, len(walk.deepest) - 1),
        "deepest_chain": walk.deepest,
        "task_name_decisions": task_name_decisions(),
        "largest_python": largest[:8],
        "python_max_lines": largest[0][1] if largest else 0,
        "constant_homes": constant_homes(shared_constants()),
        "targets": TARGETS,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--playbook", default="playbooks/deploy.yml")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures = report(ROOT / args.playbook)
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0

    def met(key: str) -> str:
        value = len(figures[key]) if isinstance(figures[key], list) else figures[key]
        return "met" if value <= TARGETS[key] else "NOT met"

    per_engine = ", ".join(f"{engine} {count}" for engine, count in figures["deploy_files_per_engine"].items())
    print(f"{figures['playbook']}: {figures['deploy_files']} YAML files for one engine's load balancers "
          f"({per_engine}; {met('deploy_files')}, target <= {TARGETS['deploy_files']}); "
          f"{figures['files_any_engine']} for both, {len(figures['deploy_templates'])} templates, "
          f"{figures['deploy_lines']} lines:")
    for name in figures["files"]:
        print(f"  {name}")
    print(f"settings they read (vars files, role defaults and vars): {len(figures['settings_files'])}")
    print(f"include depth: {figures['include_depth']} ({met('include_depth')}, target <= {TARGETS['include_depth']}): "
          + " -> ".join(figures["deepest_chain"]))
    print(f"decisions on a task's name: {len(figures['task_name_decisions'])} ({met('task_name_decisions')}, target 0) "
          + " ".join(figures["task_name_decisions"]))
    print(f"largest Python files ({met('python_max_lines')}, target <= {TARGETS['python_max_lines']} lines):")
    for name, count in figures["largest_python"]:
        print(f"  {count:5d}  {name}")
    print("constants, and the code files that write their value:")
    for label, homes in figures["constant_homes"].items():
        print(f"  {label}: {', '.join(homes) or '(none)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
