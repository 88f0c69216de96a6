"""AWX job slicing (awx/vars/lbguard_awx.yml): a verify job may see only some hosts of the inventory."""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

sys.path.insert(0, os.path.join(os.environ.get("MOLECULE_PROJECT_DIRECTORY", "."), "molecule"))
from lbguard_testlib import PROJECT, ansible_env  # noqa: E402


def keep_only(node, hosts):
    """The inventory with every other host left out of every group, as AWX writes a slice's inventory."""
    if isinstance(node, dict):
        return {key: ({name: keep_only(value, hosts) for name, value in (child or {}).items() if name in hosts}
                      if key == "hosts" and isinstance(child, dict) else keep_only(child, hosts))
                for key, child in node.items()}
    return node


def test_verify_judges_a_slice_holding_the_load_balancer_without_its_web_servers(tmp_path):
    source = Path(os.environ["MOLECULE_INVENTORY_FILE"])
    inventory = yaml.safe_load(source.read_text(encoding="utf-8"))
    # Beside the scenario's inventory, so its group_vars and host_vars apply to the slice too.
    sliced = source.with_name("slice-of-test-slicing.yml")
    sliced.write_text(yaml.safe_dump(keep_only(inventory, {"mol-lb-1"})), encoding="utf-8")
    try:
        check_the_slice(sliced, tmp_path)
    finally:
        sliced.unlink()


def check_the_slice(sliced, tmp_path):
    # Without its web servers, the inventory cannot build this LB's model (an empty backend group) ...
    validated = subprocess.run(["ansible-playbook", "-i", str(sliced), f"{PROJECT}/playbooks/validate.yml"],
                               env=ansible_env(), capture_output=True, text=True, timeout=600, check=False)
    assert validated.returncode != 0, validated.stdout[-3000:]
    assert "backend_group 'webservers' has no hosts" in validated.stdout + validated.stderr, validated.stderr[-3000:]
    # ... and verify does not need it: it judges the model of the release the ledger keeps.
    verified = subprocess.run(["ansible-playbook", "-i", str(sliced), f"{PROJECT}/playbooks/verify.yml",
                               "-e", f"lbguard_report_dir={tmp_path}"],
                              env=ansible_env(), capture_output=True, text=True, timeout=600, check=False)
    assert verified.returncode == 0, verified.stdout[-6000:]
    report = json.loads(next(tmp_path.glob("verify-*.json")).read_text())
    assert report["hosts"]["mol-lb-1"]["status"] == "verified", report["hosts"]
