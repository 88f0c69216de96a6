"""One home for every constant and every rule (issue 26).

The ledger root, lbguard's status port, HAProxy's admin socket and the list of
engines live in plugins/module_utils/lbguard_constants.py; the definition of an
UP server (``is_up``) and the reader of HAProxy's ``show stat`` CSV
(``parse_show_stat``) in plugins/module_utils/lbguard_haproxy_api.py. Python
imports them from there, YAML reads them through the lbguard_constant filter.
This test greps the tracked files of plugins/, filter_plugins/,
roles/ and playbooks/ for the literal values and the rules' tell-tale code, and
fails on any occurrence outside their home and the documented exceptions below.
"""

from __future__ import annotations

import ast
import fnmatch
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_constants import (
    ADMIN_SOCKET,
    ENGINES,
    LEDGER_ROOT,
    STATUS_BIND,
    STATUS_MODEL_PATH,
    STATUS_PORT,
    STATUS_URL,
)

from lbguard_test_tools import REPO_ROOT

SCOPE = ("plugins/", "filter_plugins/", "roles/", "playbooks/")
CONSTANTS_HOME = "plugins/module_utils/lbguard_constants.py"
RULES_HOME = "plugins/module_utils/lbguard_haproxy_api.py"

#: What may not be written twice: name -> (its one home, the pattern that finds it, file suffixes searched).
ANY_FILE = ("",)
NEEDLES: dict[str, tuple[str, re.Pattern[str], tuple[str, ...]]] = {
    "the ledger root": (CONSTANTS_HOME, re.compile(re.escape(LEDGER_ROOT)), ANY_FILE),
    "the status port": (CONSTANTS_HOME, re.compile(rf"(?<![\w.]){STATUS_PORT}(?!\d)"), ANY_FILE),
    "HAProxy's admin socket": (CONSTANTS_HOME, re.compile(re.escape(ADMIN_SOCKET)), ANY_FILE),
    "the status listener's model path": (CONSTANTS_HOME, re.compile(re.escape(STATUS_MODEL_PATH) + r"\b"), ANY_FILE),
    "the engine list": (CONSTANTS_HOME, re.compile(r"\b" + r"""['"]?\s*,\s*['"]?""".join(ENGINES) + r"\b"),
                        ANY_FILE),
    # The rules are Python: a second definition would be a function or a test of the status text.
    "the definition of an UP server": (
        RULES_HOME,
        re.compile(r"""def is_up\b|startswith\(\s*\(?\s*["']UP|==\s*["'](UP|no check)["']""", re.IGNORECASE),
        (".py",),
    ),
    "a 'show stat' parser": (RULES_HOME, re.compile(r"\bpxname\b|csv\.(DictReader|reader)\b"), (".py",)),
}

#: Lines that may name the engines, and why: a play's or task's tags are the words an operator types
#: (--tags haproxy), listed for --list-tags; they select by engine, lbguard iterates nothing there (#26).
ENGINE_TAG_LINE = re.compile(r"^\s*tags:\s*\[")

#: Files that may state a value, and why. Each pattern is an fnmatch glob on the path in the repository.
ALLOWED: dict[str, str] = {
    "*.md": "documentation for a reader (READMEs state the defaults they explain)",
    "filter_plugins/*.yml": "filter documentation, static YAML that ansible-doc reads; "
                            "test_filter_docs_state_the_constants checks the values",
    "roles/*/meta/argument_specs.yml": "role documentation and argument validation, static YAML that ansible-core reads "
                                       "without templating; test_role_argument_specs_state_the_constants checks them",
}

#: Module documentation (DOCUMENTATION, EXAMPLES, RETURN of plugins/modules/ and plugins/doc_fragments/) is static
#: YAML too: ansible-doc reads it without running the module. test_module_docs_state_the_constants checks it.
DOC_STRINGS = ("DOCUMENTATION", "EXAMPLES", "RETURN")


def tracked_files(root: Path) -> list[str]:
    """The regular files git tracks under SCOPE (links, such as plugins/modules, are their targets' business)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--", *SCOPE], cwd=root, capture_output=True, text=True,
                            check=True).stdout.split("\0")
    return sorted(path for path in listed if path and (root / path).is_file() and not (root / path).is_symlink())


def doc_string_lines(text: str) -> set[int]:
    """Line numbers (1-based) of the documentation strings of a module or doc fragment."""
    lines: set[int] = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id in DOC_STRINGS for t in node.targets):
            lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return lines


def offences(root: Path) -> list[str]:
    """Every line under SCOPE that repeats a constant or a rule outside its home and the allowed files."""
    found = []
    for path in tracked_files(root):
        if any(fnmatch.fnmatch(path, pattern) for pattern in ALLOWED):
            continue
        try:
            text = (root / path).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        docs = doc_string_lines(text) if path.endswith(".py") else set()
        for name, (home, pattern, suffixes) in NEEDLES.items():
            if path == home or not path.endswith(suffixes):
                continue
            for number, line in enumerate(text.splitlines(), 1):
                if name == "the engine list" and ENGINE_TAG_LINE.match(line):
                    continue
                if number not in docs and pattern.search(line):
                    found.append(f"{path}:{number}: {name} outside {home}: {line.strip()}")
    return found


def test_every_constant_and_rule_has_one_home() -> None:
    found = offences(REPO_ROOT)
    assert found == [], "\n".join(
        ["Import the value from its home (Python) or read it with lbguard.core.lbguard_constant (YAML):", *found])


def test_the_scan_finds_a_repeated_value(tmp_path: Path) -> None:
    """The test can fail: a copy of each value, and of each rule, in a tracked file is found."""
    (tmp_path / "roles" / "r" / "defaults").mkdir(parents=True)
    (tmp_path / "plugins" / "modules").mkdir(parents=True)
    (tmp_path / "roles" / "r" / "defaults" / "main.yml").write_text(
        f"root: {LEDGER_ROOT}\nbind: {STATUS_BIND}\nsocket: {ADMIN_SOCKET}\nengines: [{', '.join(ENGINES)}]\n")
    (tmp_path / "plugins" / "modules" / "m.py").write_text(
        f'DOCUMENTATION = """\ndefault: {LEDGER_ROOT}\n"""\n'
        'def up(status):\n    return status.startswith("UP")\n\n'
        'def rows(text):\n    return csv.DictReader(text)\n')
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "."], cwd=tmp_path, check=True)
    found = offences(tmp_path)
    assert [line.split(":", 2)[:2] for line in found] == [
        ["plugins/modules/m.py", "5"], ["plugins/modules/m.py", "8"],
        ["roles/r/defaults/main.yml", "1"], ["roles/r/defaults/main.yml", "2"],
        ["roles/r/defaults/main.yml", "3"], ["roles/r/defaults/main.yml", "4"],
    ], found


# ------------------------------------------------------ the allowed statements state the same values


def option_docs(path: Path) -> dict[str, dict[str, Any]]:
    """A module's documented options, with the lbguard doc fragments it extends merged in."""
    text = path.read_text()
    docs = {node.targets[0].id: node.value.value for node in ast.parse(text).body
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == "DOCUMENTATION"}
    documentation = yaml.safe_load(docs["DOCUMENTATION"])
    options = dict(documentation.get("options") or {})
    for fragment in documentation.get("extends_documentation_fragment") or []:
        if not fragment.startswith("lbguard.core."):
            continue
        name = fragment.removeprefix("lbguard.core.")
        source = (REPO_ROOT / "plugins" / "doc_fragments" / f"{name}.py").read_text()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "DOCUMENTATION":
                options.update(yaml.safe_load(node.value.value)["options"])
    return options


#: The options that state a constant, by name, wherever they are documented.
DOCUMENTED = {
    "root": LEDGER_ROOT,
    "stats_socket": ADMIN_SOCKET,
    "status_url": STATUS_URL,
    "haproxy_stats_socket": ADMIN_SOCKET,
    "lb_verify_stats_socket": ADMIN_SOCKET,
    "haproxy_status_bind": STATUS_BIND,
    "nginx_status_bind": STATUS_BIND,
    "lb_verify_status_url": STATUS_URL,
    "lb_verify_ledger_root": LEDGER_ROOT,
    "lb_monitoring_exporter_port": STATUS_PORT,
}


def stated(options: dict[str, Any], where: str) -> list[str]:
    """Options whose documented default or choices differ from the constant they state (an option without a
    default, such as lbguard_ledger's status_url, states none)."""
    wrong = []
    for name, option in options.items():
        if name in DOCUMENTED and "default" in option and option["default"] != DOCUMENTED[name]:
            wrong.append(f"{where} {name}: default {option.get('default')!r}, constant {DOCUMENTED[name]!r}")
        if set(ENGINES) <= set(option.get("choices") or []) and option["choices"] != list(ENGINES):
            wrong.append(f"{where} {name}: choices {option['choices']!r}, engines {list(ENGINES)!r}")
    return wrong


@pytest.mark.parametrize("path", sorted((REPO_ROOT / "plugins" / "modules").glob("lbguard_*.py")), ids=lambda p: p.stem)
def test_module_docs_state_the_constants(path: Path) -> None:
    assert stated(option_docs(path), path.stem) == []


def test_role_argument_specs_state_the_constants() -> None:
    wrong, seen = [], set()
    for path in sorted(REPO_ROOT.glob("roles/*/meta/argument_specs.yml")):
        for entry, spec in (yaml.safe_load(path.read_text())["argument_specs"] or {}).items():
            options = spec.get("options") or {}
            seen |= set(options) & set(DOCUMENTED)
            wrong += stated(options, f"{path.parent.parent.name} {entry}")
    assert wrong == []
    assert seen == set(DOCUMENTED) - {"root", "stats_socket", "status_url"}


def test_filter_docs_state_the_constants() -> None:
    wrong = []
    for path in sorted((REPO_ROOT / "filter_plugins").glob("*.yml")):
        wrong += stated(yaml.safe_load(path.read_text())["DOCUMENTATION"].get("options") or {}, path.stem)
    assert wrong == []


def test_plays_pass_the_ledger_root_once_through_module_defaults() -> None:
    """lbguard_ledger_root reaches the ledger modules through the action group, not task by task."""
    per_task = []
    for path in tracked_files(REPO_ROOT):
        if not path.endswith(".yml") or not path.startswith(("playbooks/", "roles/")):
            continue
        lines = (REPO_ROOT / path).read_text().splitlines()
        for number, line in enumerate(lines, 1):
            if re.match(r"\s*root: .*lbguard_ledger_root", line) and lines[number - 2].strip() != \
                    "group/lbguard.core.ledger:":
                per_task.append(f"{path}:{number}: {line.strip()}")
    assert per_task == [], "set it in the play: module_defaults: {group/lbguard.core.ledger: {root: ...}}"
