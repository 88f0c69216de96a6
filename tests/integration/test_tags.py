"""The tags an operator uses, listed by --list-tags and doing what the docs say."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from lbguard_test_tools import REPO_ROOT, ansible_playbook

GOOD = REPO_ROOT / "inventories/examples/good"
INCIDENT = REPO_ROOT / "inventories/examples/incident"
# Play-level tags of each playbook (always: the run's shared facts).
EXPECTED = {
    # haproxy, nginx: deploy.yml --tags ENGINE deploys that engine's load balancers (#26).
    "deploy.yml": {"always", "validate", "deploy", "report", "haproxy", "nginx"},
    "verify.yml": {"always", "verify", "report"},
    "audit.yml": {"always", "audit", "report"},
    "rollback.yml": {"always", "rollback", "report"},
    "plan.yml": {"always", "plan", "report"},
    "validate.yml": {"validate"},
    "unlock.yml": {"unlock"},
    "monitoring.yml": {"monitoring"},
}
ENGINE_ROLES = ("haproxy", "nginx")


def run(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0")
    return subprocess.run([ansible_playbook(), *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


@pytest.mark.parametrize("playbook", sorted(EXPECTED))
def test_list_tags_shows_the_documented_tags(playbook: str) -> None:
    result = run("-i", str(GOOD), f"playbooks/{playbook}", "--list-tags")
    assert result.returncode == 0, result.stderr
    listed = {tag.strip() for play in re.findall(r"TASK TAGS: \[([^\]]*)\]", result.stdout) for tag in play.split(",")}
    assert listed == EXPECTED[playbook]


@pytest.mark.parametrize("engine", ENGINE_ROLES)
def test_every_task_of_an_engine_role_carries_the_engine_tag(engine: str) -> None:
    import yaml  # noqa: PLC0415  (only this test reads YAML)

    for task_file in (REPO_ROOT / "roles" / engine / "tasks").glob("*.yml"):
        for task in yaml.safe_load(task_file.read_text()):
            if "ansible.builtin.import_tasks" not in task:
                assert engine in task.get("tags", []), f"{task_file.name}: {task['name']}"


def test_deploy_with_tag_validate_only_validates_and_touches_no_host() -> None:
    # The example hosts do not exist: any task that tried to reach one would fail.
    good = run("-i", str(GOOD), "playbooks/deploy.yml", "--tags", "validate")
    assert good.returncode == 0, good.stdout + good.stderr
    assert re.search(r"msg: '?\S+: OK'?$", good.stdout, re.MULTILINE), good.stdout
    assert "Deploy, verify, roll back" not in good.stdout and "UNREACHABLE" not in good.stdout
    incident = run("-i", str(INCIDENT), "playbooks/deploy.yml", "--tags", "validate")
    assert incident.returncode != 0
    assert "problem(s) in the load-balancer model" in incident.stdout + incident.stderr


# One nginx load balancer on a closed loopback port: a task that reaches it fails at once as unreachable,
# and no address outside this machine is ever contacted.
NGINX_INVENTORY = """\
all:
  children:
    loadbalancers:
      hosts:
        lb-n:
          ansible_host: 127.0.0.1
          ansible_port: 1
          lb_engine: nginx
          lb_services: [{name: shop, listen: 8080, backend_group: web, backend_port: 8080}]
    web:
      hosts:
        web1: {ansible_host: 192.0.2.11}
        web2: {ansible_host: 192.0.2.12}
        web3: {ansible_host: 192.0.2.13}
    staging:
      hosts: {lb-n: {}, web1: {}, web2: {}, web3: {}}
    production:
      hosts: {}
"""


@pytest.mark.parametrize(("selected", "reaches_the_nginx_lb"), [("nginx", True), ("haproxy", False)])
def test_an_engine_tag_deploys_only_that_engines_load_balancers(tmp_path, selected: str, reaches_the_nginx_lb: bool) -> None:
    """--tags nginx runs lb_deploy's tasks on an nginx LB; --tags haproxy leaves it alone (#26, apply: tags)."""
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(NGINX_INVENTORY, encoding="utf-8")
    result = run("-i", str(inventory), "playbooks/deploy.yml", "-e", '{"lbguard_stages": ["staging"]}',
                 "--tags", selected)
    text = result.stdout + result.stderr
    ran = re.search(r"TASK \[lbguard\.core\.lb_deploy : Validate the model of this host\][^\n]*\n(?:[^\n]*\n)*?ok: \[lb-n\]",
                    text) is not None
    assert ran == reaches_the_nginx_lb, text
    # Validation of every model runs under either tag.
    assert "lb-n: OK" in text, text
    assert ("UNREACHABLE" in text) == reaches_the_nginx_lb, text
