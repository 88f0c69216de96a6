"""A deploy that would change nothing only verifies (the fast path of roles/lb_deploy/tasks/main.yml)."""

import os
import sys

sys.path.insert(0, os.path.join(os.environ.get("MOLECULE_PROJECT_DIRECTORY", "."), "molecule"))
from lbguard_testlib import deploy, lb, run_playbook  # noqa: E402  (path set just above)

LB = "mol-lb-1"
CONFIG = "/etc/haproxy/haproxy.cfg"
RELEASES = "/var/lib/lbguard/haproxy/releases"


def worker_pid(host):
    """The HAProxy worker's pid: a reload starts a new worker."""
    info = host.check_output("echo 'show info' | socat stdio /run/haproxy/admin.sock")
    return next(line.split(":")[1].strip() for line in info.splitlines() if line.startswith("Pid:"))


def test_a_deploy_that_changes_nothing_only_verifies_and_a_hand_edit_takes_the_full_path(tmp_path):
    host = lb(LB)
    result, _ = deploy(tmp_path)
    assert result.returncode == 0, result.stdout[-4000:]
    releases, pid = host.check_output(f"ls {RELEASES}").split(), worker_pid(host)

    result, report = deploy(tmp_path)
    assert result.returncode == 0, result.stdout[-4000:]
    assert report["hosts"][LB]["status"] == "verified" and not report["hosts"][LB]["changed"], report["hosts"][LB]
    assert report["hosts"][LB]["figures"]["shop"]["observed"], report["hosts"][LB]  # it did measure
    assert host.check_output(f"ls {RELEASES}").split() == releases  # nothing recorded
    assert worker_pid(host) == pid  # no reload

    # The live file is no longer the release: the full path renders it again and reloads.
    host.check_output(f"echo '# edited by hand' >> {CONFIG}")
    result, report = deploy(tmp_path)
    assert result.returncode == 0, result.stdout[-4000:]
    assert f"{LB}: not measured: the live file is no longer release" in result.stdout, result.stdout[-4000:]
    assert "deploying in full" in result.stdout
    assert "edited by hand" not in host.file(CONFIG).content_string
    assert worker_pid(host) != pid


def test_a_stopped_load_balancer_fails_verification_by_its_state_and_a_deploy_starts_it(tmp_path):
    host = lb(LB)
    host.check_output("systemctl stop haproxy")
    try:
        result = run_playbook("verify.yml", "-e", f"lbguard_report_dir={tmp_path}", "-e", f"lbguard_hosts={LB}")
        assert result.returncode != 0
        assert f"{LB}: haproxy is inactive, not active" in result.stdout, result.stdout[-4000:]
        # Not the fast path: the full path reloads, which starts the service, and verifies.
        result, report = deploy(tmp_path)
        assert result.returncode == 0, result.stdout[-4000:]
        assert report["hosts"][LB]["status"] == "verified", report["hosts"][LB]
        assert host.service("haproxy").is_running
    finally:
        host.run("systemctl start haproxy")
