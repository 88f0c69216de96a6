"""Every command that README.md and docs/*.md mark `lab` or `lab-lb`, run for real on this scenario.

The blocks are found by tests/lib/docs_commands.py (the same code tests/integration/test_docs.py
uses). Each command belongs to a step (``docs_commands.lab_step``); the tests below
run the steps in an order that makes sense (deploy before rollback, a stale lock
before unlock or takeover), with the placeholders replaced by this scenario's values:

    INVENTORY, inventories/lab/hosts.yml  the scenario's inventory
    lb-stg-1, lb-prod-1                   mol-lb-1, the scenario's only LB (in staging)
    RELEASE_ID, ID                        the release mol-lb-1 runs (the only verified one here)
    RUN_ID                                the run of a stale lock this test leaves on purpose
    TEXTFILE                              a file in a temporary folder
    WEBHOOK_URL                           a receiver on 127.0.0.1 started by this test
    SERVER, PORT                          mol-web-1, 80
    web-stg-1..3 (in shown output)        mol-web-1..3

Output a doc shows after `<!-- output -->` must appear in the real output.

The scenario has no production LB: the staging gate (deploy.yml with
lbguard_stages [production]) runs with no production host, and so checks that
the gate reads staging's ledger and lets the verified change pass.

Molecule runs the test files in name order, so this file runs before
test_haproxy.py: every step leaves the converged release live and verified again.
"""

import http.server
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import time

PROJECT = os.environ.get("MOLECULE_PROJECT_DIRECTORY", ".")
sys.path.insert(0, os.path.join(PROJECT, "molecule"))
sys.path.insert(0, os.path.join(PROJECT, "tests", "lib"))
import docs_commands as dc  # noqa: E402  (path set just above)
from lbguard_testlib import ansible_env, lb, served_by, show_stat  # noqa: E402  (path set just above)

LB = "mol-lb-1"
WEB_SERVERS = ["mol-web-1", "mol-web-2", "mol-web-3"]
CONFIG = "/etc/haproxy/haproxy.cfg"
LEDGER = "/var/lib/lbguard/haproxy"
LOCK = "/var/lib/lbguard/lock"
STALE_RUN_ID = "20261201T000000Z-424242"

#: Every step, in the order the tests run them.
STEPS = ("deploy", "deploy-check", "verify", "audit", "audit-textfile", "plan", "production-gate",
         "deploy-broken-change", "rollback", "rollback-to-release", "read-ledger", "restore-by-hand", "health",
         "unlock", "deploy-takeover", "server-drain", "server-refused", "server-ready")


def lab_commands(step):
    """(block, command) of every `lab` command of one step."""
    return [(block, command) for block in dc.shell_blocks("lab") for command in block.commands()
            if dc.lab_step(command) == step]


def lb_blocks(step):
    return [block for block in dc.shell_blocks("lab-lb") if dc.lb_step(block) == step]


def current_release():
    return lb(LB).file(f"{LEDGER}/current").content_string.strip()


def values(**extra):
    """The scenario's values for the docs' placeholders."""
    inventory = os.environ["MOLECULE_INVENTORY_FILE"]
    base = {"inventories/lab/hosts.yml": inventory, "INVENTORY": inventory, "lb-stg-1": LB, "lb-prod-1": LB,
            "RELEASE_ID": current_release(), "RUN_ID": STALE_RUN_ID,
            **{f"web-stg-{n}": f"mol-web-{n}" for n in (1, 2, 3)}}
    base.update(extra)
    return base


def run(command, **extra):
    """One doc command, placeholders replaced, from the project folder."""
    script = dc.substitute(command, values(**extra))
    return subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=PROJECT, env=ansible_env(),
                          capture_output=True, text=True, timeout=900, check=False)


def run_step(step, expect, **extra):
    """Run every command of a step; each must exit as its block says, print ``expect`` (a regex) and what the doc shows."""
    commands = lab_commands(step)
    assert commands, f"no doc command belongs to step {step}"
    outputs = []
    for block, command in commands:
        result = run(command, **extra)
        output = result.stdout + result.stderr
        assert result.returncode == block.exit_code, f"{block.where}: {command}: rc {result.returncode}\n{output}"
        # Ansible's YAML callback folds long messages: compare with single spaces.
        assert re.search(expect, " ".join(output.split())), f"{block.where}: {command}: no /{expect}/ in\n{output}"
        for line in block.expected_output:
            shown = dc.substitute(line, values(**extra))
            assert dc.shows(output, shown), f"{block.where}: the doc shows {shown!r}, the real output does not:\n{output}"
        assert "FAILED - RETRYING" not in output, f"{block.where}: retry noise in\n{output}"
        outputs.append(output)
    return outputs


def assert_converged_release_serves_evenly():
    host = lb(LB)
    assert host.file(f"{LEDGER}/last_verified").content_string.strip() == current_release()
    assert host.service("haproxy").is_running
    assert served_by(host, 30) == {name: 10 for name in WEB_SERVERS}


def test_every_lab_block_has_a_step_and_every_step_a_command():
    for block in dc.shell_blocks("lab") + dc.shell_blocks("lab-lb"):
        steps = dc.lab_steps(block)
        assert steps and set(steps) <= set(STEPS), f"{block.where}: steps {steps}"
    for step in STEPS:
        assert lab_commands(step) or lb_blocks(step), f"step {step} runs no doc command"


def test_deploy():
    run_step("deploy", rf"OK\s+staging {LB} verified")
    assert_converged_release_serves_evenly()


def test_deploy_check_diff_changes_nothing():
    before = (lb(LB).file(CONFIG).sha256sum, current_release())
    run_step("deploy-check", rf"{LB}\s+: ok=\d+\s+changed=0 ")
    assert (lb(LB).file(CONFIG).sha256sum, current_release()) == before


def test_verify():
    run_step("verify", rf"OK\s+staging {LB}")


def test_audit_finds_no_drift():
    run_step("audit", rf"{LB} clean")


class Receiver(http.server.BaseHTTPRequestHandler):
    bodies: list = []

    def do_POST(self):  # noqa: N802  (http.server's name)
        Receiver.bodies.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_audit_writes_the_textfile_and_posts_nothing_when_clean(tmp_path):
    server = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    textfile = tmp_path / "lbguard_audit.prom"
    try:
        run_step("audit-textfile", rf"{LB} clean", TEXTFILE=str(textfile),
                 WEBHOOK_URL=f"http://127.0.0.1:{server.server_port}/hook")
    finally:
        server.shutdown()
    gauges = textfile.read_text(encoding="utf-8")
    assert f'lbguard_config_drift{{lb_host="{LB}"}} 0' in gauges, gauges
    assert f'lbguard_audit_success{{lb_host="{LB}"}} 1' in gauges, gauges
    assert Receiver.bodies == []


def test_plan_writes_a_report_of_no_change():
    for output in run_step("plan", r"review report: \S+\.md"):
        report = re.search(r"review report: (\S+\.md)", output).group(1)
        with open(report, encoding="utf-8") as handle:
            text = handle.read()
        assert f"## {LB} (staging) - no change" in text, text
        assert "The rendered configuration equals the live file." in text, text


def test_staging_gate_lets_a_change_staging_verified_pass():
    run_step("production-gate", rf"staging verified change [0-9a-f]+ on {LB}")


def test_a_broken_change_is_rolled_back():
    before = (lb(LB).file(CONFIG).sha256sum, current_release())
    run_step("deploy-broken-change", rf"FAIL\s+staging {LB} rolled_back")
    assert (lb(LB).file(CONFIG).sha256sum, current_release()) == before
    assert_converged_release_serves_evenly()


def test_rollback():
    run_step("rollback", rf"OK\s+staging {LB}")
    run_step("rollback-to-release", rf"OK\s+staging {LB}")
    assert_converged_release_serves_evenly()


def run_on_lb(block, **extra):
    script = dc.substitute(block.text, {"ID": current_release(), "SERVER": WEB_SERVERS[0], "PORT": "80", **extra})
    return lb(LB).run(f"bash -eo pipefail -c {shlex.quote(script)}")


def test_read_the_ledger_on_the_lb():
    for block in lb_blocks("read-ledger"):
        result = run_on_lb(block)
        assert result.rc == 0, f"{block.where}: {result.stderr}"
        assert current_release() in result.stdout, result.stdout


def test_restore_by_hand_on_the_lb():
    release = current_release()
    for block in lb_blocks("restore-by-hand"):
        result = run_on_lb(block)
        assert result.rc == 0, f"{block.where}: {result.stderr}"
        host = lb(LB)
        assert host.file(CONFIG).sha256sum == host.file(f"{LEDGER}/releases/{release}/config").sha256sum
        assert current_release() == release
    assert_converged_release_serves_evenly()


def test_health_check_from_the_lb():
    for block in lb_blocks("health"):
        result = run_on_lb(block)
        assert result.rc == 0, f"{block.where}: {result.stderr}"
        assert re.match(r"HTTP/\S+ 200", result.stdout), result.stdout


def leave_a_stale_lock():
    """The lock of a run killed two hours ago, as lbguard_ledger writes it."""
    lock = {"run_id": STALE_RUN_ID, "owner": "docs-test", "started": "2026-12-01T00:00:00Z",
            "started_epoch": time.time() - 7200}
    assert lb(LB).run(f"printf %s {shlex.quote(json.dumps(lock))} > {LOCK}").rc == 0


def test_a_stale_lock_refuses_deploys_until_unlocked():
    leave_a_stale_lock()
    (_block, command), *_ = lab_commands("deploy")
    refused = run(command)
    assert refused.returncode != 0, refused.stdout
    assert "stale deploy lock on this host" in " ".join((refused.stdout + refused.stderr).split()), refused.stdout
    for block, command in lab_commands("unlock"):
        leave_a_stale_lock()
        result = run(command)
        assert result.returncode == block.exit_code, f"{block.where}: {result.stdout}{result.stderr}"
        assert not lb(LB).file(LOCK).exists, f"{block.where}: the lock is still there\n{result.stdout}"


def test_a_deploy_takes_over_the_lock_of_the_run_it_names():
    for block, command in lab_commands("deploy-takeover"):
        leave_a_stale_lock()
        result = run(command)
        output = " ".join((result.stdout + result.stderr).split())
        assert result.returncode == block.exit_code, f"{block.where}: {output}"
        assert f"took over the lock of run {STALE_RUN_ID}" in output, f"{block.where}: {output}"
        assert not lb(LB).file(LOCK).exists, f"{block.where}: the lock is still there\n{output}"


def test_server_operations():
    run_step("server-drain", rf"OK\s+staging {LB} verified")
    assert show_stat(lb(LB))["mol-web-2"]["status"] == "DRAIN"
    run_step("server-refused", rf"FAIL staging {LB} refused")
    run_step("server-ready", rf"OK\s+staging {LB} verified")
    assert {name: row["status"] for name, row in show_stat(lb(LB)).items()} == {name: "UP" for name in WEB_SERVERS}


def test_the_converged_release_is_live_again():
    run_step("deploy", rf"OK\s+staging {LB} verified")
    assert not lb(LB).file(LOCK).exists
    assert_converged_release_serves_evenly()
