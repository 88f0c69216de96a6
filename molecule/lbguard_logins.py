"""Who Ansible logs in as on a scenario's hosts: the checks every scenario runs."""

from __future__ import annotations

import os
import subprocess

from lbguard_testlib import ansible_env

DEPLOY_USER = "deploy"


def remote_user_ids(*ansible_args: str) -> dict[str, str]:
    """`id -un` on every host of the scenario's inventory, through Ansible's own connection."""
    result = subprocess.run(
        ["ansible", "all", "-i", os.environ["MOLECULE_INVENTORY_FILE"], "-o",
         "-m", "ansible.builtin.command", "-a", "id -un", *ansible_args],
        env=ansible_env(), capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    users = {}
    for line in result.stdout.splitlines():
        # ansible -o: "HOST | CHANGED | rc=0 | (stdout) USER"
        host, _, rest = line.partition(" | ")
        users[host.strip()] = rest.rsplit("(stdout)", 1)[-1].strip()
    return users


def assert_logins_are_unprivileged(expected_hosts: int) -> None:
    """Every host is reached as the deploy user, who is not root; become gives root; root logins still work."""
    plain = remote_user_ids()
    assert len(plain) == expected_hosts, plain
    assert set(plain.values()) == {DEPLOY_USER}, plain
    assert set(remote_user_ids("--become").values()) == {"root"}
    # The inventory's ansible_user outranks --user: only an extra var overrides it.
    assert set(remote_user_ids("-e", "ansible_user=root").values()) == {"root"}
