"""Recovery from a killed run (issue 11): commit-confirmed, reconcile, takeover, unlock.

A deploy of a correct change to pl-lb-stg-1 is killed with SIGKILL right after
its reload, before verification confirms the release. The test then checks
what the operator relies on:

- the host's own timer puts the last verified release back within the bound
  (lb_deploy_confirm_timeout) and reloads, with no controller;
- unlock.yml clears the lock the killed run left;
- the next deploy of the same change passes on the first try;
- a deploy started before the timer fires takes the lock over by run id,
  restores the unconfirmed release first, and then applies its change.

Every test ends with the scenario's own model live and verified again.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.environ.get("MOLECULE_PROJECT_DIRECTORY", "."), "molecule"))
from lbguard_testlib import ansible_env, deploy, lb, playbook_command, run_playbook  # noqa: E402  (path set just above)

LB = "pl-lb-stg-1"
CONFIG = "/etc/haproxy/haproxy.cfg"
LEDGER = "/var/lib/lbguard/haproxy"
LOCK = "/var/lib/lbguard/lock"
MODEL_URL = "http://127.0.0.1:8405/lbguard/model"
TIMER = "lbguard-confirm-haproxy.timer"
# The full path's task that records the reloaded file as a release (roles/lb_deploy/tasks/full_path.yml).
RECORD_TASK = "TASK [lbguard.core.lb_deploy : Record the live configuration as a release]"
STAGING_ONLY = ["-e", json.dumps({"lbguard_stages": ["staging"]})]
# The bound under test; deploy.yml's default is 300 s. It counts from the ledger's begin, before the
# reload: on a busy CI machine the run took up to ~20 s from there to its verification, so the timer
# fired before the kill it is meant to follow.
CONFIRM_TIMEOUT = 60
# systemd's timer accuracy (1 s), the restorer and the reload.
RESTORE_MARGIN = 10
CHANGED_SERVICE = {"name": "shop", "listen": 8080, "backend_group": "webservers", "backend_port": 80,
                   "health_check": {"path": "/health", "interval": "2s", "rise": 1, "fall": 2}}


def overlay(tmp_path):
    """A correct change for pl-lb-stg-1 alone: health checks every 2 s instead of 1 s."""
    path = tmp_path / "overlay.yml"
    path.write_text(json.dumps({"all": {"hosts": {LB: {"lb_services": [CHANGED_SERVICE]}}}}))
    return ["-i", str(path)]


def state():
    """What the host runs and what its ledger says: live file checksum, pointers, running model digest."""
    host = lb(LB)
    return {
        "config": host.file(CONFIG).sha256sum,
        "current": current_release(),
        "last_verified": host.file(f"{LEDGER}/last_verified").content_string.strip(),
        "running_model": running_model(),
    }


def current_release():
    return lb(LB).file(f"{LEDGER}/current").content_string.strip()


def running_model():
    return lb(LB).check_output(f"curl -s {MODEL_URL}")


def wait_for(condition, timeout, every=0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


def kill_deploy_after_its_reload(tmp_path, confirm_timeout):
    """Start a deploy of the change, SIGKILL it once the new config runs; return (before, run id, kill time).

    The kill comes when the run prints its first verification task after it
    recorded the release (the fast path's verification comes before, and changes
    nothing): its release is reloaded and recorded, its lock held and its release
    not confirmed. Watching the run's own output, not polling the host, keeps
    that moment exact however busy the machine is.
    """
    before = state()
    command = playbook_command("deploy.yml", *overlay(tmp_path), *STAGING_ONLY, "-e",
                               f"lb_deploy_confirm_timeout={confirm_timeout}", "-e",
                               f"lbguard_report_dir={tmp_path}")
    # Its own session, so the kill takes ansible-playbook's workers and SSH connections too.
    run = subprocess.Popen(command, env=dict(ansible_env(), PYTHONUNBUFFERED="1"), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, start_new_session=True)
    seen = []
    try:
        for line in run.stdout:
            seen.append(line)
            recorded = any(text.startswith(RECORD_TASK) for text in seen)
            if recorded and line.startswith("TASK [lbguard.core.lb_verify : "):
                break
        else:
            raise AssertionError(f"the deploy ended before its verification: {''.join(seen)[-4000:]}")
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=30)
    killed_at = time.monotonic()
    # The reload was issued before the kill; on a busy machine the new process may still be starting.
    assert wait_for(lambda: running_model() != before["running_model"], 20), "killed before the reload"
    assert current_release() != before["current"], "killed before the record"
    lock = json.loads(lb(LB).file(LOCK).content_string)
    return before, lock["run_id"], killed_at


@pytest.fixture
def back_to_the_scenario_model(tmp_path):
    """Whatever happens, end with the scenario's own model deployed and verified, and no lock."""
    yield
    host = lb(LB)
    if host.file(LOCK).exists:
        host.run(f"rm -f {LOCK}")
    result, report = deploy(tmp_path / "restore", *STAGING_ONLY)
    assert result.returncode == 0, result.stdout[-6000:]


def test_a_deploy_killed_after_its_reload_is_rolled_back_by_the_host(tmp_path, back_to_the_scenario_model):
    before, run_id, killed_at = kill_deploy_after_its_reload(tmp_path, CONFIRM_TIMEOUT)
    host = lb(LB)
    left = state()
    assert left["config"] != before["config"] and left["running_model"] != before["running_model"], left
    assert host.file(f"{LEDGER}/pending.json").exists
    assert host.run(f"systemctl is-active {TIMER}").stdout.strip() == "active"

    # No controller from here on: the host restores the last verified release by itself.
    restored = wait_for(lambda: state() == before, timeout=CONFIRM_TIMEOUT + RESTORE_MARGIN, every=0.5)
    assert restored, f"not restored {time.monotonic() - killed_at:.0f} s after the kill: {state()} != {before}"
    expired = json.loads(host.file(f"{LEDGER}/expired.json").content_string)
    assert expired["run_id"] == run_id and expired["reload_rc"] == 0, expired
    assert expired["restore_release"] == before["last_verified"]

    # The killed run's lock is still there; unlock.yml clears it by run id.
    assert json.loads(host.file(LOCK).content_string)["run_id"] == run_id
    unlocked = run_playbook("unlock.yml", "-e", f"lbguard_hosts={LB}", "-e", f"lbguard_unlock_run_id={run_id}")
    assert unlocked.returncode == 0, unlocked.stdout[-4000:]
    assert f"cleared the lock of run {run_id}" in unlocked.stdout
    assert not host.file(LOCK).exists

    # The next deploy of the same change passes on the first try and says what the timer did.
    result, report = deploy(tmp_path / "next", *overlay(tmp_path), *STAGING_ONLY)
    assert result.returncode == 0, result.stdout[-6000:]
    outcome = report["hosts"][LB]
    assert outcome["status"] == "verified" and outcome["changed"], outcome
    assert outcome["reconciled"] == [
        f"run {run_id} did not confirm within {CONFIRM_TIMEOUT} s: the host's timer restored "
        f"{before['last_verified']} at {expired['expired_at']} (over {expired['replaced_release']})"], outcome
    assert f"settled before this change: run {run_id} did not confirm" in " ".join(result.stdout.split())
    failed = json.loads(host.file(f"{LEDGER}/releases/{expired['replaced_release']}/meta.json").content_string)
    assert failed["verification"]["status"] == "failed", failed
    assert not host.file(f"{LEDGER}/expired.json").exists
    assert host.run(f"systemctl is-active {TIMER}").stdout.strip() != "active"


def test_a_deploy_right_after_a_killed_one_takes_its_lock_over_and_restores_first(
        tmp_path, back_to_the_scenario_model):
    before, run_id, _ = kill_deploy_after_its_reload(tmp_path, 300)
    host = lb(LB)
    killed = state()
    assert killed["current"] != before["current"], killed

    # Without the run id the lock is refused, and the message names the way out.
    refused, report = deploy(tmp_path / "refused", *overlay(tmp_path), *STAGING_ONLY)
    assert refused.returncode != 0
    assert f"-e lbguard_takeover_lock={run_id}" in " ".join(report["hosts"][LB]["problems"]), report
    assert state() == killed

    result, report = deploy(tmp_path / "next", *overlay(tmp_path), *STAGING_ONLY, "-e",
                            f"lbguard_takeover_lock={run_id}")
    assert result.returncode == 0, result.stdout[-6000:]
    outcome = report["hosts"][LB]
    assert outcome["status"] == "verified" and outcome["lock_taken_over"] == run_id, outcome
    assert len(outcome["reconciled"]) == 1, outcome
    assert outcome["reconciled"][0].startswith(f"run {run_id} died before confirming"), outcome
    assert outcome["reconciled"][0].endswith(f"restored {before['current']} (over {killed['current']})"), outcome
    assert f"took over the lock of run {run_id}" in result.stdout
    unconfirmed = json.loads(host.file(f"{LEDGER}/releases/{killed['current']}/meta.json").content_string)
    assert unconfirmed["verification"]["status"] == "failed", unconfirmed
    assert not host.file(f"{LEDGER}/pending.json").exists
    assert host.run(f"systemctl is-active {TIMER}").stdout.strip() != "active"
    assert not host.file(LOCK).exists
