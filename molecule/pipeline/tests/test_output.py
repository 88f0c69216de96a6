"""What an operator reads at the end of a run, as ansible-playbook prints it.

A verify run that has to wait for a server to come back, and a deploy that
reloads every load balancer, both pass and must print no retry, no error and no
fatal line, one line per host saying what verification waits for, and the run
summary as one block with a line per host. A verify run that fails
(a server put in maintenance by hand) must name the host and the problem in its
summary and its final failure, each printed as one block.

Runs before test_pipeline.py against the same hosts (testinfra orders files by
name); every test leaves the good release live and every server enabled.
"""

import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("MOLECULE_PROJECT_DIRECTORY", "."), "molecule"))
from lbguard_testlib import deploy, lb, run_playbook, start_playbook, wait_for_status  # noqa: E402  (path set just above)

SOCKET = "/run/haproxy/admin.sock"
ENVIRONMENTS = {"pl-lb-stg-1": "staging", "pl-lb-prod-1": "production", "pl-lb-prod-2": "production"}
WEB = {"staging": ["pl-web-stg-1", "pl-web-stg-2", "pl-web-stg-3"],
       "production": ["pl-web-prod-1", "pl-web-prod-2", "pl-web-prod-3"]}
GOOD_SERVICE = {"name": "shop", "listen": 8080, "backend_group": "webservers", "backend_port": 80,
                "health_check": {"path": "/health", "interval": "1s", "rise": 1, "fall": 2}}
# Lines a run that succeeds must never print: they read as real errors at 3 a.m.
ALARMING = ("FAILED - RETRYING", "[ERROR]", "fatal:")


def overlay(tmp_path, host_vars):
    """A second inventory source that sets host variables on top of the scenario's."""
    path = tmp_path / "overlay.yml"
    path.write_text(json.dumps({"all": {"hosts": host_vars}}))
    return ["-i", str(path)]


def output(result):
    """Everything a run printed: results go to stdout, errors and failed results to stderr."""
    return result.stdout + "\n" + result.stderr


def printed_block(text, header):
    """The lines of the `msg: |-` block printed after the first line starting with ``header``.

    ``header`` is a task's banner ("TASK [Summary]") or a failed result
    ("fatal: [localhost]: FAILED!"). Fails when it is missing or the message has
    any other shape (a list, a quoted string).
    """
    lines = text.splitlines()
    banner = next((i for i, line in enumerate(lines) if line.startswith(header)), None)
    assert banner is not None, f"no {header} in the output:\n{text[-4000:]}"
    # The result's own "    msg:" key; Ansible's "Origin:" excerpt of the task file starts its lines with numbers.
    start = next((i for i in range(banner + 1, len(lines))
                  if lines[i].startswith("TASK [") or re.match(r"\s+msg:", lines[i])), None)
    assert start is not None and lines[start].strip() == "msg: |-", \
        f"{header} printed no block message:\n" + "\n".join(lines[banner:banner + 12])
    indent = len(lines[start + 1]) - len(lines[start + 1].lstrip())
    assert indent > len(lines[start]) - len(lines[start].lstrip()), lines[start:start + 3]
    block = []
    for line in lines[start + 1:]:
        if not line.startswith(" " * indent):
            break
        block.append(line[indent:])
    return block


def assert_quiet(text):
    """No line of a run's output (stdout and stderr) reads as an error."""
    alarming = [line for line in text.splitlines() if any(word in line for word in ALARMING)]
    assert alarming == [], "\n".join(alarming) + "\n----\n" + text[-6000:]


def set_server(host, action, server):
    """Enable or disable a server of the shop backend through HAProxy's runtime API."""
    host.check_output(f"echo '{action} server shop/{server}' | socat stdio {SOCKET}")


def test_a_verify_that_waits_for_a_server_to_come_back_passes_quietly_with_a_summary_block(tmp_path):
    """The wait really waits: pl-web-stg-2 is in maintenance until verify says what it waits for."""
    staging = lb("pl-lb-stg-1")
    set_server(staging, "disable", "pl-web-stg-2")
    waiting = re.compile(r"staging pl-lb-stg-1: waiting up to 60 s for the running model [0-9a-f]{12}… "
                         r"and pl-web-stg-1, pl-web-stg-2, pl-web-stg-3 UP$")
    lines = []
    enabled = False
    run = None
    try:
        run = start_playbook("verify.yml", "-e", f"lbguard_report_dir={tmp_path}", "-e", "lb_verify_settle_seconds=60")
        for line in run.stdout:
            lines.append(line.rstrip("\n"))
            if not enabled and waiting.search(lines[-1]):
                time.sleep(2)  # the probe is polling by now
                set_server(staging, "enable", "pl-web-stg-2")
                enabled = True
        run.wait(timeout=600)
    finally:
        if run is not None and run.poll() is None:
            run.kill()
        set_server(staging, "enable", "pl-web-stg-2")
        status = wait_for_status(staging, {name: "UP" for name in WEB["staging"]})
        assert status == {name: "UP" for name in WEB["staging"]}, status
    text = "\n".join(lines)
    assert enabled, f"verify never said what it waits for:\n{text[-6000:]}"
    assert run.returncode == 0, text[-6000:]
    assert_quiet(text)
    report = json.loads(next(tmp_path.glob("verify-*.json")).read_text())
    summary = printed_block(text, "TASK [Summary]")
    assert summary[0] == f"verify {report['run_id']} change {report['change_id'][:12]}: PASSED", summary
    for name, environment in ENVIRONMENTS.items():
        line = f"OK   {environment} {name} verified, release {report['hosts'][name]['release']}"
        assert line in summary, summary


def test_a_deploy_that_reloads_every_lb_and_passes_prints_no_error_and_a_summary_block(tmp_path):
    changed = dict(GOOD_SERVICE, health_check=dict(GOOD_SERVICE["health_check"], interval="2s"))
    try:
        result, report = deploy(tmp_path, *overlay(tmp_path, {name: {"lb_services": [changed]} for name in ENVIRONMENTS}))
        assert result.returncode == 0, result.stdout
        assert_quiet(output(result))
        for name, environment in ENVIRONMENTS.items():
            waiting = (rf"{environment} {name}: waiting up to 12 s for the running model [0-9a-f]{{12}}… "
                       rf"and {', '.join(WEB[environment])} UP$")
            assert re.search(waiting, result.stdout, re.MULTILINE), (waiting, result.stdout[-6000:])

        summary = printed_block(result.stdout, "TASK [Summary]")
        assert summary[0] == f"deploy {report['run_id']} change {report['change_id'][:12]}: PASSED", summary
        for name, environment in ENVIRONMENTS.items():
            assert report["hosts"][name]["changed"] is True, report
            line = f"OK   {environment} {name} verified, release {report['hosts'][name]['release']} (changed)"
            assert line in summary, summary
        assert not any(line.startswith(("FAIL", "HELD")) for line in summary), summary
    finally:
        restored, _ = deploy(tmp_path)
        assert restored.returncode == 0, restored.stdout
    assert_quiet(output(restored))
    assert printed_block(restored.stdout, "TASK [Summary]")[0].endswith(": PASSED")


def test_a_failing_verify_names_the_host_and_the_problem_in_blocks(tmp_path):
    staging = lb("pl-lb-stg-1")
    staging.check_output(f"echo 'disable server shop/pl-web-stg-2' | socat stdio {SOCKET}")
    try:
        result = run_playbook("verify.yml", "-e", "lbguard_hosts=pl-lb-stg-1", "-e", "lb_verify_settle_seconds=2",
                              "-e", f"lbguard_report_dir={tmp_path}")
    finally:
        staging.check_output(f"echo 'enable server shop/pl-web-stg-2' | socat stdio {SOCKET}")
        status = wait_for_status(staging, {name: "UP" for name in WEB["staging"]})
        assert status == {name: "UP" for name in WEB["staging"]}, status
    assert result.returncode != 0, result.stdout
    report = json.loads(next(tmp_path.glob("verify-*.json")).read_text())
    release = report["hosts"]["pl-lb-stg-1"]["release"]
    down = "staging pl-lb-stg-1 service shop: servers DOWN: pl-web-stg-2 (MAINT)"
    assert re.search(r"^\s*staging pl-lb-stg-1: waiting up to 2 s for the running model [0-9a-f]{12}… "
                     r"and pl-web-stg-1, pl-web-stg-2, pl-web-stg-3 UP$", result.stdout, re.MULTILINE), result.stdout

    # The verdict (one block, rescued by verify.yml) reaches the report one problem an item.
    problems = report["hosts"]["pl-lb-stg-1"]["problems"]
    assert any(problem.startswith(down) for problem in problems), problems
    assert any("pl-web-stg-2 has weight but received nothing" in problem for problem in problems), problems
    assert not any("\n" in problem for problem in problems), problems

    summary = printed_block(result.stdout, "TASK [Summary]")
    assert summary[0] == f"verify {report['run_id']} change {report['change_id'][:12]}: FAILED", summary
    assert f"FAIL staging pl-lb-stg-1 failed, release {release}" in summary, summary
    assert any(line.strip().startswith(down) for line in summary), summary
    # Only the verified host is named.
    assert not any("pl-lb-prod" in line for line in summary), summary

    failure = printed_block(output(result), "fatal: [localhost]: FAILED!")
    assert failure == ["verify failed:", f"FAIL staging pl-lb-stg-1 failed, release {release}"], failure
