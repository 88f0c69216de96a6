"""Runtime operations (playbooks/server.yml) on the real HAProxy of molecule/default, under real traffic."""

import json
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.environ.get("MOLECULE_PROJECT_DIRECTORY", "."), "molecule"))
from lbguard_testlib import lb, load_generator, run_playbook, show_stat, wait_for, wait_for_status  # noqa: E402

LB = "mol-lb-1"
HOLDS = "/var/lib/lbguard/haproxy/holds.json"
OPERATIONS = "/var/lib/lbguard/haproxy/operations.jsonl"
SOCKET = "/run/haproxy/admin.sock"
CONFIG = "/etc/haproxy/haproxy.cfg"
ALL_UP = {"mol-web-1": "UP", "mol-web-2": "UP", "mol-web-3": "UP"}
# Production's policy, for a refusal the staging policy would allow.
PRODUCTION_POLICY = '{"lb_policy": {"min_active_servers": 2, "max_server_share": 0.5}}'


def operate(report_dir, action, servers, *args):
    """Run server.yml; return the result and the JSON report it wrote."""
    result = run_playbook("server.yml", "-e", f"lbguard_report_dir={report_dir}", "-e", f"lbguard_action={action}",
                          "-e", "lbguard_service=shop", "-e", f"lbguard_servers={servers}",
                          "-e", "lbguard_reason='molecule test'", *args)
    reports = sorted(report_dir.glob("server-*.json"), key=os.path.getmtime)
    return result, (json.loads(reports[-1].read_text()) if reports else {})


def holds():
    text = lb(LB).run(f"cat {HOLDS}").stdout.strip()
    return json.loads(text) if text else {}


@pytest.fixture(autouse=True)
def every_server_ready_afterwards(tmp_path):
    """Whatever a test leaves, the next one starts with every server ready and no hold."""
    yield
    stat = show_stat(lb(LB))
    if holds() == {} and all(row["status"] == "UP" and row["weight"] == "1" for row in stat.values()) \
            and all(configured_weight(server) == 1 for server in stat):
        return  # nothing to put back: the playbook run would change nothing
    result, _ = operate(tmp_path / "cleanup", "ready", "mol-web-1,mol-web-2,mol-web-3", "-e",
                        "lbguard_override='molecule cleanup'")
    assert result.returncode == 0, result.stdout[-4000:]
    assert wait_for_status(lb(LB), ALL_UP) == ALL_UP
    assert holds() == {}


def test_a_drain_under_load_loses_no_request_and_is_recorded(tmp_path):
    with load_generator(LB, clients=8, limit_seconds=240) as load:
        result, report = operate(tmp_path, "drain", "mol-web-2", "-e", "lbguard_until=2099-01-01T00:00:00Z")
        after = load()
    assert result.returncode == 0, result.stdout[-6000:]
    host = report["hosts"][LB]
    assert host["status"] == "verified", host
    done = host["operation"]["servers_done"]["mol-web-2"]
    assert done["drained"] is True and done["sessions_left"] == 0, done
    assert show_stat(lb(LB))["mol-web-2"]["status"] == "DRAIN"
    # No new traffic went to the drained server during verification.
    assert host["figures"]["shop"]["observed"].get("mol-web-2") == 0, host["figures"]
    assert host["figures"]["shop"]["expected"]["mol-web-2"] == 0, host["figures"]
    assert after["requests"] > 100 and after["errors"] == 0, after
    hold = holds()["shop/mol-web-2"]
    assert (hold["action"], hold["reason"], hold["until"]) == ("drain", "molecule test", "2099-01-01T00:00:00Z")
    assert hold["by"] and hold["at"] and hold["operation"] == report["run_id"]
    history = [json.loads(line) for line in lb(LB).file(OPERATIONS).content_string.splitlines()]
    assert history[-1]["action"] == "drain" and history[-1]["server"] == "mol-web-2"
    # The audit is quiet about the sanctioned drain.
    audited = run_playbook("audit.yml", "-e", f"lbguard_report_dir={tmp_path}")
    assert audited.returncode == 0, audited.stdout[-4000:]


def test_a_drain_that_breaks_the_policy_is_refused_and_changes_nothing(tmp_path):
    before = lb(LB).run(f"cat {HOLDS}").stdout
    result, report = operate(tmp_path, "drain", "mol-web-2,mol-web-3", "-e", PRODUCTION_POLICY)
    assert result.returncode != 0, result.stdout[-4000:]
    host = report["hosts"][LB]
    assert host["status"] == "refused", host
    assert any("drain of mol-web-2 and mol-web-3 in shop: only 1 active server (mol-web-1); "
               "policy min_active_servers is 2" in p for p in host["problems"]), host["problems"]
    assert wait_for_status(lb(LB), ALL_UP, timeout=2) == ALL_UP
    assert lb(LB).run(f"cat {HOLDS}").stdout == before


def test_an_override_with_a_reason_goes_ahead_and_is_recorded(tmp_path):
    result, report = operate(tmp_path, "maint", "mol-web-2,mol-web-3", "-e", PRODUCTION_POLICY,
                             "-e", "lbguard_override='all hands, CHG-9'")
    assert result.returncode == 0, result.stdout[-4000:]
    assert report["hosts"][LB]["warnings"], report["hosts"][LB]
    assert holds()["shop/mol-web-3"]["override"] == "all hands, CHG-9"


def test_a_bad_request_is_refused_before_any_host(tmp_path):
    result, report = operate(tmp_path, "drian", "mol-web-2")
    assert result.returncode != 0
    assert "action 'drian' is not one of maint, drain, weight, ready (did you mean 'drain'?)" in result.stdout + result.stderr
    assert report == {}
    result, _ = operate(tmp_path, "drain", "mol-web-9")
    assert result.returncode != 0
    assert "service shop has no server mol-web-9" in result.stdout + result.stderr


def test_maintenance_is_kept_across_a_reload_and_a_deploy_and_the_audit_tells_it_from_drift(tmp_path):
    host = lb(LB)
    result, _ = operate(tmp_path, "maint", "mol-web-3")
    assert result.returncode == 0, result.stdout[-4000:]
    host.check_output("systemctl reload haproxy")
    time.sleep(2)
    assert show_stat(host)["mol-web-3"]["status"].startswith("MAINT")

    deployed = run_playbook("deploy.yml", "-e", f"lbguard_report_dir={tmp_path}")
    assert deployed.returncode == 0, deployed.stdout[-6000:]
    assert show_stat(host)["mol-web-3"]["status"].startswith("MAINT")
    assert "held: shop/mol-web-3: maintenance by" in deployed.stdout

    audited = run_playbook("audit.yml", "-e", f"lbguard_report_dir={tmp_path}")
    assert audited.returncode == 0, audited.stdout[-4000:]

    # The same state set by hand on another server is drift, loudly.
    host.check_output(f"echo 'disable server shop/mol-web-2' | socat stdio {SOCKET}")
    audited = run_playbook("audit.yml", "-e", f"lbguard_report_dir={tmp_path}")
    assert audited.returncode != 0
    report = json.loads(max(tmp_path.glob("audit-*.json"), key=os.path.getmtime).read_text())
    problems = report["hosts"][LB]["problems"]
    assert "service shop: server mol-web-2 is MAINT at runtime, active in the model" in problems, problems
    assert not any("mol-web-3" in p for p in problems), problems


def test_after_a_reload_no_request_reaches_a_server_that_was_down():
    web = lb("mol-web-1")
    web.check_output("systemctl stop nginx")
    try:
        assert wait_for(lambda: show_stat(lb(LB))["mol-web-1"]["status"].startswith("DOWN"), timeout=30)
        with load_generator(LB, clients=8, limit_seconds=120) as load:
            start = load()
            lb(LB).check_output("systemctl reload haproxy")
            time.sleep(4)  # longer than the health check's fall (2 x 1 s)
            end = load()
        assert end["requests"] > start["requests"] + 50, end
        assert end["errors"] == start["errors"], (start, end)
        assert show_stat(lb(LB))["mol-web-1"]["status"].startswith("DOWN")
    finally:
        web.check_output("systemctl start nginx")
        assert wait_for_status(lb(LB), ALL_UP) == ALL_UP


def runtime_weight(server):
    return int(lb(LB).check_output(f"echo 'get weight shop/{server}' | socat stdio {SOCKET}").split()[0])


def configured_weight(server):
    """The weight of the server's line in the live haproxy.cfg."""
    line = next(line for line in lb(LB).file(CONFIG).content_string.splitlines()
                if line.strip().startswith(f"server {server} "))
    return int(line.split(" weight ")[1].split()[0])


def test_a_restart_after_a_crash_keeps_the_states_of_the_last_operation(tmp_path):
    host = lb(LB)
    result, _ = operate(tmp_path, "maint", "mol-web-3")
    assert result.returncode == 0, result.stdout[-4000:]
    crashed_pid = host.check_output("systemctl show --property MainPID --value haproxy")
    # A crash: neither a reload nor a stop can save the states this time.
    host.check_output("systemctl kill --signal=KILL haproxy")

    def restarted():
        host.run("systemctl start haproxy")  # unless the unit's Restart= already did
        pid = host.check_output("systemctl show --property MainPID --value haproxy")
        return pid not in ("0", crashed_pid) and host.run(f"echo 'show stat' | socat stdio {SOCKET}").rc == 0

    assert wait_for(restarted, timeout=30)
    assert show_stat(host)["mol-web-3"]["status"].startswith("MAINT")


def test_a_canary_brings_a_server_in_step_by_step(tmp_path):
    result, _ = operate(tmp_path, "weight", "mol-web-3", "-e", "lbguard_weight=0")
    assert result.returncode == 0, result.stdout[-4000:]
    result, report = operate(tmp_path, "weight", "mol-web-3", "-e", "lbguard_weight=2",
                             "-e", "lbguard_canary_steps=50,100", "-e", "lbguard_canary_pause=1")
    assert result.returncode == 0, result.stdout[-6000:]
    assert report["hosts"][LB]["status"] == "verified"
    assert runtime_weight("mol-web-3") == 2
    assert holds()["shop/mol-web-3"]["weight"] == 2
    steps = [json.loads(line) for line in lb(LB).file(OPERATIONS).content_string.splitlines()]
    this_run = [(s["weight"], s["reason"]) for s in steps if s["operation"] == report["run_id"]]
    assert this_run == [(1, "molecule test (canary step 1 of 2)"), (2, "molecule test")], this_run

    # The final weight is in the file: reloads, restarts and the next deploy start from it.
    assert configured_weight("mol-web-3") == 2
    deployed = run_playbook("deploy.yml", "-e", f"lbguard_report_dir={tmp_path}")
    assert deployed.returncode == 0, deployed.stdout[-6000:]
    assert configured_weight("mol-web-3") == 2 and runtime_weight("mol-web-3") == 2
    audited = run_playbook("audit.yml", "-e", f"lbguard_report_dir={tmp_path}")
    assert audited.returncode == 0, audited.stdout[-4000:]

    # Ready ends the hold: the file and the runtime go back to the model's weight.
    result, _ = operate(tmp_path, "ready", "mol-web-3")
    assert result.returncode == 0, result.stdout[-4000:]
    assert configured_weight("mol-web-3") == 1 and runtime_weight("mol-web-3") == 1


def test_a_canary_on_a_server_returning_errors_is_aborted_and_the_weights_come_back(tmp_path):
    result, _ = operate(tmp_path, "weight", "mol-web-3", "-e", "lbguard_weight=0")
    assert result.returncode == 0, result.stdout[-4000:]
    hold_before = holds()["shop/mol-web-3"]
    web = lb("mol-web-3")
    web.check_output("touch /var/www/lbguard-fail")  # / answers 500, /health still 200
    try:
        result, report = operate(tmp_path, "weight", "mol-web-3", "-e", "lbguard_weight=4",
                                 "-e", "lbguard_canary_steps=25,100", "-e", "lbguard_canary_pause=1")
    finally:
        web.check_output("rm -f /var/www/lbguard-fail")
    assert result.returncode != 0, result.stdout[-4000:]
    host = report["hosts"][LB]
    assert host["status"] == "undone", host
    assert any("5xx" in p or "error" in p for p in host["problems"]), host["problems"]
    assert runtime_weight("mol-web-3") == 0 and configured_weight("mol-web-3") == 0
    assert holds()["shop/mol-web-3"] == hold_before
