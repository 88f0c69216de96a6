"""lbguard used as another team would: an empty playbook repository that installs the
built collection and names none of lbguard's groups.

The test makes the repository: its own ansible.cfg, an inventory of this scenario's
hosts under the team's group names (edge, preprod, live, app_servers) mapped with
lbguard_group_names, and no path into this checkout besides the collections
requirements.yml names. It runs validate, deploy, verify and rollback by fully
qualified names only, and leaves the scenario's release live as it found it.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, os.path.join(os.environ.get("MOLECULE_PROJECT_DIRECTORY", "."), "molecule"))
from lbguard_testlib import PROJECT, served_by, lb  # noqa: E402  (path set just above)
from lbguard_testlib import snapshot as ledger_snapshot  # noqa: E402  (path set just above)

CONFIG = "/etc/haproxy/haproxy.cfg"
LEDGER = "/var/lib/lbguard/haproxy"
LBS = {"pl-lb-stg-1": "preprod", "pl-lb-prod-1": "live", "pl-lb-prod-2": "live"}
APPS = {"pl-web-stg-1": "preprod", "pl-web-stg-2": "preprod", "pl-web-stg-3": "preprod",
        "pl-web-prod-1": "live", "pl-web-prod-2": "live", "pl-web-prod-3": "live"}
GROUP_NAMES = {"loadbalancers": "edge", "staging": "preprod", "production": "live"}


def run(*args, cwd, env, timeout=900):
    return subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def team_inventory(inventory: Path, interval: str, lb_vars: dict | None = None) -> None:
    """The team's inventory: its own group names, this scenario's hosts and their SSH settings."""
    scenario = Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent
    (inventory / "group_vars").mkdir(parents=True, exist_ok=True)
    shutil.copytree(scenario / "host_vars", inventory / "host_vars", dirs_exist_ok=True)
    groups = {"edge": list(LBS), "app_servers": list(APPS),
              "preprod": [h for h, g in {**LBS, **APPS}.items() if g == "preprod"],
              "live": [h for h, g in {**LBS, **APPS}.items() if g == "live"]}
    hosts = {"all": {"children": {name: {"hosts": {h: None for h in members}} for name, members in groups.items()}}}
    (inventory / "hosts.yml").write_text(yaml.safe_dump(hosts))
    service = {"name": "shop", "listen": 8080, "backend_group": "app_servers", "backend_port": 80,
               "health_check": {"path": "/health", "interval": interval, "rise": 1, "fall": 2}}
    (inventory / "group_vars" / "edge.yml").write_text(yaml.safe_dump({"lb_services": [service], **(lb_vars or {})}))
    (inventory / "group_vars" / "preprod.yml").write_text(
        yaml.safe_dump({"lb_policy": {"min_active_servers": 1, "max_server_share": 1.0}}))
    (inventory / "group_vars" / "live.yml").write_text(
        yaml.safe_dump({"lb_policy": {"min_active_servers": 2, "max_server_share": 0.5}}))


@pytest.fixture(scope="module")
def team(tmp_path_factory):
    """The team's repository with lbguard.core installed from the built tarball, and its environment."""
    repo = tmp_path_factory.mktemp("team-repo")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ANSIBLE_", "MOLECULE_"))}
    env.update(ANSIBLE_CONFIG=str(repo / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_COLLECTIONS_PATH=f"{repo / 'collections'}:{PROJECT}/.collections")
    (repo / "ansible.cfg").write_text(
        "[defaults]\ninterpreter_python = /usr/bin/python3\ncallback_result_format = yaml\n"
        "[inventory]\nany_unparsed_is_failed = True\n[ssh_connection]\npipelining = True\n")
    built = run("ansible-galaxy", "collection", "build", "--output-path", str(repo / "dist"), PROJECT,
                cwd=repo, env=env)
    assert built.returncode == 0, built.stdout + built.stderr
    tarball, = (repo / "dist").glob("lbguard-core-*.tar.gz")
    installed = run("ansible-galaxy", "collection", "install", "--no-deps", "-p", str(repo / "collections"),
                    str(tarball), cwd=repo, env=env)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return repo, env


def lbguard(team, playbook, *args, interval="1s", lb_vars=None):
    """Run lbguard.core.PLAYBOOK from the team's repository; returns the result and its JSON report."""
    repo, env = team
    team_inventory(repo / "inventory", interval, lb_vars)
    reports = repo / "reports" / playbook
    reports.mkdir(parents=True, exist_ok=True)
    before = set(os.listdir(reports))
    result = run("ansible-playbook", "-i", "inventory", f"lbguard.core.{playbook}",
                 "-e", json.dumps({"lbguard_group_names": GROUP_NAMES, "lbguard_report_dir": str(reports)}), *args,
                 cwd=repo, env=env)
    new = sorted(set(os.listdir(reports)) - before)
    report = json.loads((reports / new[-1]).read_text()) if new else {}
    return result, report


def statuses(report):
    return {name: host["status"] for name, host in report.get("hosts", {}).items()}


def test_a_team_repository_runs_lbguard_by_fully_qualified_names_under_its_own_group_names(team):
    before = {name: ledger_snapshot(name, CONFIG, LEDGER) for name in LBS}

    validated, _ = lbguard(team, "validate", interval="2s")
    assert validated.returncode == 0, validated.stdout + validated.stderr
    for name in LBS:
        assert f"{name}: OK" in validated.stdout

    # A failed deploy rolls itself back; the rollback below is for the one that passed.
    deployed, report = lbguard(team, "deploy", interval="2s")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert statuses(report) == {name: "verified" for name in LBS}, report
    assert {name: host["environment"] for name, host in report["hosts"].items()} == {
        "pl-lb-stg-1": "staging", "pl-lb-prod-1": "production", "pl-lb-prod-2": "production"}
    for name in LBS:
        assert "inter 2s" in lb(name).file(CONFIG).content_string
        assert ledger_snapshot(name, CONFIG, LEDGER)["config"] != before[name]["config"]
    # The team's app_servers group, read through its own environment groups: each LB serves its own three.
    assert set(served_by(lb("pl-lb-prod-1"), 30)) == {h for h, g in APPS.items() if g == "live"}

    verified, report = lbguard(team, "verify", interval="2s")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert statuses(report) == {name: "verified" for name in LBS}, report

    rolled_back, report = lbguard(team, "rollback", "-e", "lbguard_rollback_to=previous")
    assert rolled_back.returncode == 0, rolled_back.stdout + rolled_back.stderr
    assert statuses(report) == {name: "verified" for name in LBS}, report
    for name in LBS:
        after = ledger_snapshot(name, CONFIG, LEDGER)
        assert (after["config"], after["current"]) == (before[name]["config"], before[name]["current"]), name


TEAM_LEDGER = "/var/lib/team-lb/ledger"
TEAM_SOCKET = "/run/haproxy/team-admin.sock"


def test_every_path_the_team_changes_reaches_deploy_verify_audit_and_unlock(team):
    """The ledger root and the stats socket set once in the team's inventory, the report folder per run."""
    before = {name: ledger_snapshot(name, CONFIG, LEDGER) for name in LBS}
    paths = {"lbguard_ledger_root": TEAM_LEDGER, "haproxy_stats_socket": TEAM_SOCKET}

    deployed, report = lbguard(team, "deploy", lb_vars=paths)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert statuses(report) == {name: "verified" for name in LBS}, report
    for name in LBS:
        host = lb(name)
        assert f"stats socket {TEAM_SOCKET} " in host.file(CONFIG).content_string
        assert "Name: HAProxy" in host.check_output(f"echo 'show info' | socat stdio UNIX-CONNECT:{TEAM_SOCKET}")
        team_current = host.file(f"{TEAM_LEDGER}/haproxy/current").content_string.strip()
        assert host.file(f"{TEAM_LEDGER}/haproxy/last_verified").content_string.strip() == team_current
        # The default ledger saw none of it.
        assert ledger_snapshot(name, CONFIG, LEDGER)["current"] == before[name]["current"]
        assert ledger_snapshot(name, CONFIG, LEDGER)["releases"] == before[name]["releases"]

    verified, report = lbguard(team, "verify", lb_vars=paths)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert statuses(report) == {name: "verified" for name in LBS}, report
    assert all(host["figures"]["shop"]["source"] == "counters" for host in report["hosts"].values()), report

    audited, report = lbguard(team, "audit", lb_vars=paths)
    assert audited.returncode == 0, audited.stdout + audited.stderr
    assert statuses(report) == {name: "clean" for name in LBS}, report

    # A stale lock in the team's ledger, as a killed run leaves it.
    stale = {"run_id": "team-run-killed", "owner": "team", "started": "2026-12-01T00:00:00Z", "started_epoch": 0}
    lb("pl-lb-stg-1").check_output(f"echo {json.dumps(json.dumps(stale))} > {TEAM_LEDGER}/lock")
    unlocked, _ = lbguard(team, "unlock", "-e", "lbguard_unlock_run_id=team-run-killed",
                          "-e", "lbguard_hosts=pl-lb-stg-1", lb_vars=paths)
    assert unlocked.returncode == 0, unlocked.stdout + unlocked.stderr
    assert "cleared the lock of run team-run-killed" in unlocked.stdout
    assert not lb("pl-lb-stg-1").file(f"{TEAM_LEDGER}/lock").exists

    # Back to lbguard's socket: the scenario's own configuration, byte for byte.
    restored, report = lbguard(team, "deploy", lb_vars={"lbguard_ledger_root": TEAM_LEDGER})
    assert restored.returncode == 0, restored.stdout + restored.stderr
    for name in LBS:
        assert ledger_snapshot(name, CONFIG, LEDGER)["config"] == before[name]["config"], name
