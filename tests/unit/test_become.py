"""Hosts are reached as an unprivileged user: a task that needs root on a managed
host says `become: true`, and nothing else does.

Walks every play and role task file. Control-node work (plays on localhost,
delegate_to localhost, the lb_monitoring role) must never become.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
# Modules that write root-owned state on a load balancer or web server, or read
# the root-only ledger and HAProxy's admin socket.
NEEDS_ROOT = {"ansible.builtin.apt", "ansible.builtin.template", "ansible.builtin.copy", "ansible.builtin.file",
              "lbguard.core.lbguard_ledger", "lbguard.core.lbguard_ledger_info", "lbguard.core.lbguard_probe"}
# systemd_service needs root only to change a unit, not to read its state.
SYSTEMD = "ansible.builtin.systemd_service"
CONTROL_NODE_ROLES = {"lb_monitoring"}
# Entry points of roles that the playbooks run in their plays on localhost.
CONTROL_NODE_TASK_FILES = {"roles/lb_audit/tasks/notify.yml", "roles/lb_plan/tasks/unreachable.yml",
                           "roles/lb_plan/tasks/report.yml", "roles/lb_server/tasks/request.yml",
                           "roles/lb_server/tasks/decide.yml"}
CONTROL_NODE_HOSTS = {"localhost", "127.0.0.1"}


def tasks_of(items: list[dict] | None) -> Iterator[dict]:
    """Every task, blocks flattened (their become is inherited by the block's tasks)."""
    for item in items or []:
        if not isinstance(item, dict):
            continue
        if "block" in item:
            for part in ("block", "rescue", "always"):
                for task in tasks_of(item.get(part)):
                    yield {"become": item["become"], **task} if "become" in item else task
        else:
            yield item


def module_of(task: dict) -> str | None:
    for key in task:
        if key in NEEDS_ROOT or key == SYSTEMD or "." in key and key.startswith("ansible.builtin."):
            return key
    return None


def needs_root(task: dict) -> bool:
    module = module_of(task)
    if module == SYSTEMD:
        return any(key in (task.get(SYSTEMD) or {}) for key in ("state", "enabled", "daemon_reload"))
    return module in NEEDS_ROOT


def playbook_files() -> list[Path]:
    """Every playbook under playbooks/ (playbooks/vars/ holds variables, not plays)."""
    return [p for p in sorted((REPO_ROOT / "playbooks").rglob("*.yml")) if "vars" not in p.relative_to(REPO_ROOT).parts]


def host_tasks() -> Iterator[tuple[str, dict]]:
    """(where, task) for every task that runs on a managed host."""
    for playbook in playbook_files() + sorted((REPO_ROOT / "lab").glob("*.yml")):
        for play in yaml.safe_load(playbook.read_text()) or []:
            if "hosts" not in play or str(play["hosts"]) in CONTROL_NODE_HOSTS:
                continue
            for part in ("pre_tasks", "tasks", "post_tasks", "handlers"):
                for task in tasks_of(play.get(part)):
                    if task.get("delegate_to") not in CONTROL_NODE_HOSTS:
                        yield f"{playbook.relative_to(REPO_ROOT)}: {task.get('name')}", task
    for task_file in sorted((REPO_ROOT / "roles").glob("*/*/*.yml")):
        role, kind = task_file.parts[-3], task_file.parts[-2]
        control_node = role in CONTROL_NODE_ROLES or str(task_file.relative_to(REPO_ROOT)) in CONTROL_NODE_TASK_FILES
        if kind in ("tasks", "handlers") and not control_node:
            for task in tasks_of(yaml.safe_load(task_file.read_text())):
                yield f"{task_file.relative_to(REPO_ROOT)}: {task.get('name')}", task


def control_node_tasks() -> Iterator[tuple[str, dict]]:
    for playbook in playbook_files():
        for play in yaml.safe_load(playbook.read_text()) or []:
            for part in ("tasks", "handlers"):
                for task in tasks_of(play.get(part)):
                    if str(play.get("hosts")) in CONTROL_NODE_HOSTS or task.get("delegate_to") in CONTROL_NODE_HOSTS:
                        yield f"{playbook.relative_to(REPO_ROOT)}: {task.get('name')}", task
    for task_file in sorted((REPO_ROOT / "roles").glob("*/tasks/*.yml")):
        if task_file.parts[-3] in CONTROL_NODE_ROLES or str(task_file.relative_to(REPO_ROOT)) in CONTROL_NODE_TASK_FILES:
            for task in tasks_of(yaml.safe_load(task_file.read_text())):
                yield f"{task_file.relative_to(REPO_ROOT)}: {task.get('name')}", task


def test_the_walk_finds_the_tasks_it_judges() -> None:
    judged = [where for where, task in host_tasks() if needs_root(task)]
    # The engine roles' install, render, start and reload are among them.
    assert any("roles/haproxy/tasks/render.yml: Render" in where for where in judged), judged
    assert any("roles/nginx/handlers/main.yml" in where for where in judged), judged
    assert len(judged) >= 20, judged


def test_every_host_task_that_needs_root_says_become() -> None:
    missing = [where for where, task in host_tasks() if needs_root(task) and task.get("become") is not True]
    assert missing == [], "tasks that need root without become: true:\n" + "\n".join(missing)


def test_no_host_task_becomes_without_needing_root() -> None:
    extra = [where for where, task in host_tasks()
             if task.get("become") is True and not needs_root(task) and module_of(task) is not None
             and "ansible.builtin.command" not in task and "ansible.builtin.stat" not in task]
    assert extra == [], "become: true on tasks that need no root:\n" + "\n".join(extra)


def test_control_node_tasks_never_become() -> None:
    found = [where for where, task in control_node_tasks() if task.get("become")]
    assert found == [], found


@pytest.mark.parametrize("playbook", sorted(p.name for p in (REPO_ROOT / "playbooks").glob("*.yml")))
def test_no_play_becomes_as_a_whole(playbook: str) -> None:
    plays: list[dict[str, Any]] = yaml.safe_load((REPO_ROOT / "playbooks" / playbook).read_text()) or []
    assert [play.get("name") for play in plays if "become" in play] == []
