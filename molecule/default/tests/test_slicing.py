"""Slicing a job over AWX execution nodes: a verify job may see only some hosts (AWX job slicing); an audit job
sees the whole inventory and audits its share (lbguard_slice, awx/vars/lbguard_awx.yml)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

sys.path.insert(0, os.path.join(os.environ.get("MOLECULE_PROJECT_DIRECTORY", "."), "molecule"))
from lbguard_testlib import PROJECT, ansible_env, lb, run_playbook  # noqa: E402


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


def test_the_audit_in_slices_keeps_the_whole_inventory_and_covers_each_load_balancer_once(tmp_path):
    """AWX's audit workflow: each job gets the whole inventory and lbguard_slice=K/N (playbooks/audit.yml)."""
    host = lb("mol-lb-1")
    host.check_output("echo '# edited by hand' >> /etc/haproxy/haproxy.cfg")
    try:
        runs = {}
        for spec in ("1/2", "2/2"):
            out = tmp_path / spec.replace("/", "-of-")
            result = run_playbook("audit.yml", "-e", f"lbguard_report_dir={out}", "-e", f"lbguard_slice={spec}",
                                  "-e", f"lbguard_audit_textfile={out}/lbguard_audit.prom")
            runs[spec] = (result, json.loads(next(out.glob("audit-*.json")).read_text()), out)
    finally:
        host.check_output("sed -i '/# edited by hand/d' /etc/haproxy/haproxy.cfg")
    # The first slice holds the only LB, with its whole model (no empty backend group), and finds the edit.
    result, report, out = runs["1/2"]
    assert result.returncode != 0 and list(report["hosts"]) == ["mol-lb-1"], result.stdout[-4000:]
    assert report["hosts"]["mol-lb-1"]["status"] == "drift", report["hosts"]
    assert "edited by hand" in json.dumps(report["hosts"]["mol-lb-1"]["diff"])
    assert 'lbguard_config_drift{lb_host="mol-lb-1"} 1' in (out / "lbguard_audit-slice-1-of-2.prom").read_text()
    # The second holds none, and says so by auditing nothing.
    result, report, out = runs["2/2"]
    assert result.returncode == 0 and report["hosts"] == {}, result.stdout[-4000:]
    assert "lb_host=" not in (out / "lbguard_audit-slice-2-of-2.prom").read_text()
    # A slice that is not K/N is refused before any host is touched.
    refused = run_playbook("audit.yml", "-e", f"lbguard_report_dir={tmp_path}", "-e", "lbguard_slice=3/2")
    said = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "lbguard_slice: '3/2' is not K/N" in said, said[-3000:]
