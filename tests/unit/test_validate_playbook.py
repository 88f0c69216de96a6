"""Run the real `ansible-playbook playbooks/validate.yml` on the example inventories.

The example hosts have ansible_host values in 192.0.2.0/24 (TEST-NET-1, never
routed): a run that tried to connect to them would fail as unreachable or time out.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO_ROOT / "playbooks" / "validate.yml"
EXAMPLES = REPO_ROOT / "inventories" / "examples"


def ansible_playbook() -> str:
    """ansible-playbook of the virtualenv running the tests (the project's .venv)."""
    for candidate in (Path(sys.executable).parent / "ansible-playbook", REPO_ROOT / ".venv" / "bin" / "ansible-playbook"):
        if candidate.exists():
            return str(candidate)
    pytest.skip("ansible-playbook not found next to the Python interpreter nor in .venv/bin")
    raise AssertionError  # unreachable


def run(inventory: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update({
        "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-local"),
    })
    for name in ("ANSIBLE_STDOUT_CALLBACK", "ANSIBLE_CALLBACK_RESULT_FORMAT", "ANSIBLE_FILTER_PLUGINS",
                 "ANSIBLE_INVENTORY"):
        env.pop(name, None)
    return subprocess.run([ansible_playbook(), "-i", str(inventory), str(PLAYBOOK)], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def assert_no_connection(text: str) -> None:
    recap = text[text.index("PLAY RECAP"):]
    hosts = [line.split()[0] for line in recap.splitlines()[1:] if ":" in line and "ok=" in line]
    assert hosts == ["localhost"], recap
    assert "unreachable=0" in recap
    assert "UNREACHABLE" not in text


def test_good_inventory_passes(tmp_path: Path) -> None:
    result = run(EXAMPLES / "good" / "hosts.yml", tmp_path)
    text = output(result)
    assert result.returncode == 0, text
    assert "'stg-lb1: OK'" in text
    assert "'prod-lb1: OK'" in text
    assert "failed=0" in text
    assert_no_connection(text)


def test_incident_inventory_fails_with_share_message(tmp_path: Path) -> None:
    result = run(EXAMPLES / "incident" / "hosts.yml", tmp_path)
    text = output(result)
    assert result.returncode == 2, text
    assert ("lb1: service shop: server web1 would receive 100% of traffic (web1=100, web2=0, web3=0); "
            "policy max_server_share is 50%") in text
    assert "lb1: service shop: only 1 active server (web1); policy min_active_servers is 2" in text
    assert "2 problem(s) in the load-balancer model" in text
    assert_no_connection(text)


def test_typos_inventory_lists_every_problem(tmp_path: Path) -> None:
    result = run(EXAMPLES / "typos" / "hosts.yml", tmp_path)
    text = output(result)
    assert result.returncode == 2, text
    for expected in (
        "lb1: service shop: balance 'roundrobbin' is not a known algorithm; did you mean 'roundrobin'?",
        "lb1: service shop: server web1: weight 1000 is out of range; expected an integer from 0 to 256 (haproxy)",
        "lb1: service shop: servers[1]: weight 'heavy' is a string, not an integer",
        "lb1: service shop: servers[1]: server name 'web\\n2' is invalid",
        "lb1: service shop: server web3: unknown key 'wieght'; did you mean 'weight'?",
        "lb1: service cache: backend_group 'cacheservers' has no hosts in environment production",
    ):
        assert expected in text, expected
    # one failing task, reported once
    assert text.count("fatal: [localhost]") == 1
    assert_no_connection(text)


def test_missing_loadbalancers_group_fails_clearly(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  hosts:\n    web1:\n      ansible_host: 192.0.2.99\n", encoding="utf-8")
    result = run(inventory, tmp_path)
    text = output(result)
    assert result.returncode == 2, text
    assert "no host in group 'loadbalancers'" in text
