""".pre-commit-config.yaml: local hooks whose commands exist, and a model gate that really gates.

The validate hook's own command line is run, as pre-commit would run it (from the
project root, no file names appended): it must pass on inventories/examples/good and
fail on inventories/examples/incident, the incident's model.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG = REPO_ROOT / ".pre-commit-config.yaml"
GOOD = "inventories/examples/good/hosts.yml"
INCIDENT = "inventories/examples/incident/hosts.yml"


@pytest.fixture(scope="module")
def hooks() -> dict[str, dict]:
    data = yaml.safe_load(CONFIG.read_text())
    found: dict[str, dict] = {}
    for repo in data["repos"]:
        assert repo["repo"] == "local", f"remote hook repository {repo['repo']!r}: hooks must not need the network"
        assert "rev" not in repo
        for hook in repo["hooks"]:
            assert hook["id"] not in found, f"duplicate hook id {hook['id']}"
            found[hook["id"]] = hook
    return found


def argv(hook: dict) -> list[str]:
    return shlex.split(hook["entry"]) + [str(a) for a in hook.get("args", [])]


def hook_running(hooks: dict[str, dict], program: str) -> dict:
    matches = [h for h in hooks.values() if Path(argv(h)[0]).name == program]
    assert len(matches) == 1, f"expected one hook running {program}, found {[h['id'] for h in matches]}"
    return matches[0]


def test_every_hook_is_local_system_and_checks_the_whole_project(hooks: dict[str, dict]) -> None:
    assert hooks
    for hook in hooks.values():
        assert hook["language"] == "system", hook["id"]
        assert hook.get("pass_filenames") is False, f"{hook['id']}: checks the whole project, not single files"


def test_every_entry_command_exists(hooks: dict[str, dict]) -> None:
    for hook in hooks.values():
        command = argv(hook)
        program = command[0]
        assert program.startswith(".venv/bin/"), f"{hook['id']}: use the pinned tool of .venv, got {program}"
        path = REPO_ROOT / program
        assert path.is_file() and os.access(path, os.X_OK), f"{hook['id']}: {program} is missing or not executable"
        for arg in command[1:]:
            if "/" in arg and not arg.startswith("-"):
                assert (REPO_ROOT / arg).exists(), f"{hook['id']}: {arg} does not exist"


def test_the_three_checks_are_there(hooks: dict[str, dict]) -> None:
    assert argv(hook_running(hooks, "yamllint")) == [".venv/bin/yamllint", "-s", "."]
    assert argv(hook_running(hooks, "ansible-lint")) == [".venv/bin/ansible-lint"]
    assert argv(hook_running(hooks, "ansible-playbook")) == [
        ".venv/bin/ansible-playbook",
        "-i",
        GOOD,
        "playbooks/validate.yml",
    ]


def run_hook(command: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update({"ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp")})
    # pre-commit runs from the project root, where ansible-playbook reads ansible.cfg;
    # variables that would override it are not part of the hook.
    for name in ("ANSIBLE_CONFIG", "ANSIBLE_INVENTORY", "ANSIBLE_FILTER_PLUGINS", "ANSIBLE_STDOUT_CALLBACK"):
        env.pop(name, None)
    return subprocess.run(
        command,
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_validate_hook_passes_on_the_good_example(hooks: dict[str, dict], tmp_path: Path) -> None:
    command = argv(hook_running(hooks, "ansible-playbook"))
    result = run_hook(command, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "failed=0" in result.stdout


def test_validate_hook_fails_on_the_incident(hooks: dict[str, dict], tmp_path: Path) -> None:
    command = argv(hook_running(hooks, "ansible-playbook"))
    assert command.count(GOOD) == 1
    command = [INCIDENT if arg == GOOD else arg for arg in command]
    result = run_hook(command, tmp_path)
    text = result.stdout + result.stderr
    assert result.returncode != 0, text
    assert "max_server_share" in text, text  # failed for the model's reason, not for a broken command
