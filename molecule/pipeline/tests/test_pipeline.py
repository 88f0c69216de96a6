"""The staged pipeline against real HAProxy, nginx web servers and real traffic.

Converge has already run deploy.yml once (a good change). Each test below
drives one more change through the real playbook and checks the hosts; every
test leaves the good release live for the next one.
"""

import http.server
import json
import os
import sys
import threading
import time


sys.path.insert(0, os.path.join(os.environ.get("MOLECULE_PROJECT_DIRECTORY", "."), "molecule"))
from lbguard_testlib import deploy, lb, problems, run_playbook, served_by, start_playbook  # noqa: E402  (path set just above)
from lbguard_testlib import snapshot as ledger_snapshot  # noqa: E402  (path set just above)

CONFIG = "/etc/haproxy/haproxy.cfg"
LEDGER = "/var/lib/lbguard/haproxy"
LOCK = "/var/lib/lbguard/lock"
STAGING_LBS = ["pl-lb-stg-1"]
PRODUCTION_LBS = ["pl-lb-prod-1", "pl-lb-prod-2"]
WEB = {"staging": ["pl-web-stg-1", "pl-web-stg-2", "pl-web-stg-3"],
       "production": ["pl-web-prod-1", "pl-web-prod-2", "pl-web-prod-3"]}
GOOD_SERVICE = {"name": "shop", "listen": 8080, "backend_group": "webservers", "backend_port": 80,
                "health_check": {"path": "/health", "interval": "1s", "rise": 1, "fall": 2}}


def snapshot(name):
    return ledger_snapshot(name, CONFIG, LEDGER)


def release_meta(name, release):
    return json.loads(lb(name).file(f"{LEDGER}/releases/{release}/meta.json").content_string)


def overlay(tmp_path, host_vars):
    """A second inventory source that sets host variables on top of the scenario's."""
    path = tmp_path / "overlay.yml"
    path.write_text(json.dumps({"all": {"hosts": host_vars}}))
    return ["-i", str(path)]


def assert_serving_evenly(name, environment):
    counts = served_by(lb(name), 30)
    assert counts == {web: 10 for web in WEB[environment]}, counts


def test_good_change_reached_both_environments_and_verified():
    for name, environment in [(n, "staging") for n in STAGING_LBS] + [(n, "production") for n in PRODUCTION_LBS]:
        host = lb(name)
        current = host.file(f"{LEDGER}/current").content_string.strip()
        assert host.file(f"{LEDGER}/last_verified").content_string.strip() == current
        meta = release_meta(name, current)
        assert meta["verification"]["status"] == "passed"
        assert meta["verification"]["change_id"]
        assert meta["config_sha256"] == host.file(CONFIG).sha256sum
        assert not host.file(LOCK).exists
        assert_serving_evenly(name, environment)


def test_incident_is_caught_in_staging_rolled_back_and_never_reaches_production(tmp_path):
    before = {name: snapshot(name) for name in STAGING_LBS + PRODUCTION_LBS}
    # The incident: weights that send nearly everything to one server, under a
    # service policy loose enough that static validation accepts them.
    loose = dict(GOOD_SERVICE, policy={"min_active_servers": 1, "max_server_share": 1.0})
    weights = {"pl-web-stg-1": {"lb_weight": 256}, "pl-web-prod-1": {"lb_weight": 256}}
    result, report = deploy(tmp_path, *overlay(tmp_path, weights), "-e", json.dumps({"lb_services": [loose]}))
    found = problems(report)
    assert result.returncode != 0, result.stdout
    assert report["hosts"]["pl-lb-stg-1"]["status"] == "rolled_back", report
    assert "observed pl-web-stg-1 100%, pl-web-stg-2 0%, pl-web-stg-3 0%; expected 99/0/0 (+-10)" in found, found
    assert "pl-web-stg-2 and pl-web-stg-3 have weight but received nothing" in found, found
    assert "production not touched: staging did not pass" in found, found
    assert not set(PRODUCTION_LBS) & set(report["hosts"]), report

    staging = snapshot("pl-lb-stg-1")
    assert staging["config"] == before["pl-lb-stg-1"]["config"]
    assert staging["current"] == before["pl-lb-stg-1"]["current"]
    failed = sorted(set(staging["releases"]) - set(before["pl-lb-stg-1"]["releases"]))
    assert len(failed) == 1
    assert release_meta("pl-lb-stg-1", failed[0])["verification"]["status"] == "failed"
    assert_serving_evenly("pl-lb-stg-1", "staging")
    for name in PRODUCTION_LBS:
        assert snapshot(name) == before[name]


def test_change_that_passes_haproxy_check_but_breaks_at_runtime_is_rolled_back(tmp_path):
    before = snapshot("pl-lb-stg-1")
    broken = dict(GOOD_SERVICE, backend_port=81)  # valid syntax, nothing listens there
    result, report = deploy(tmp_path, "-e", json.dumps({"lb_services": [broken]}))
    assert result.returncode != 0, result.stdout
    assert report["hosts"]["pl-lb-stg-1"]["status"] == "rolled_back", report
    assert "servers DOWN" in problems(report), report
    after = snapshot("pl-lb-stg-1")
    assert after["config"] == before["config"] and after["current"] == before["current"]
    assert_serving_evenly("pl-lb-stg-1", "staging")
    for name in PRODUCTION_LBS:
        assert ":81 " not in lb(name).file(CONFIG).content_string


def test_second_of_two_concurrent_deploys_is_refused_by_the_lock(tmp_path):
    # The full path takes the lock; a deploy that changes nothing would only verify.
    first = start_playbook("deploy.yml", "-e", "lb_deploy_fast_path=false")
    staging = lb("pl-lb-stg-1")
    deadline = time.monotonic() + 180
    while not staging.file(LOCK).exists:
        assert first.poll() is None, "the first deploy ended before it took the lock"
        assert time.monotonic() < deadline, "the first deploy never took the lock"
        time.sleep(0.2)
    second, report = deploy(tmp_path)
    first_out, _ = first.communicate(timeout=900)
    assert second.returncode != 0, second.stdout
    assert "another deploy holds the lock on this host: run" in problems(report), report
    assert first.returncode == 0, first_out
    assert not staging.file(LOCK).exists


def test_production_alone_refuses_a_change_staging_has_not_verified(tmp_path):
    before = {name: snapshot(name) for name in PRODUCTION_LBS}
    changed = dict(GOOD_SERVICE, health_check=dict(GOOD_SERVICE["health_check"], interval="2s"))
    result, report = deploy(tmp_path, "-e", json.dumps({"lbguard_stages": ["production"], "lb_services": [changed]}))
    assert result.returncode != 0, result.stdout
    assert "refusing production: this change has not passed staging verification" in problems(report), report
    for name in PRODUCTION_LBS:
        assert snapshot(name) == before[name]
    # The change staging did verify (the good one, in converge) may go alone.
    allowed = run_playbook("deploy.yml", "-e", json.dumps({"lbguard_stages": ["production"]}))
    assert allowed.returncode == 0, allowed.stdout


def test_failed_production_batch_rolls_back_every_production_host_of_the_run(tmp_path):
    before = {name: snapshot(name) for name in PRODUCTION_LBS}
    changed = dict(GOOD_SERVICE, health_check=dict(GOOD_SERVICE["health_check"], interval="2s"))
    broken_on_second = dict(changed, backend_port=81)
    host_vars = {"pl-lb-stg-1": {"lb_services": [changed]}, "pl-lb-prod-1": {"lb_services": [changed]},
                 "pl-lb-prod-2": {"lb_services": [broken_on_second]}}
    try:
        result, report = deploy(tmp_path, *overlay(tmp_path, host_vars))
        assert result.returncode != 0, result.stdout
        assert report["hosts"]["pl-lb-prod-2"]["status"] == "rolled_back", report
        assert report["hosts"]["pl-lb-prod-1"]["status"] == "rolled_back", report
        assert "rolled back because production failed on pl-lb-prod-2" in problems(report), report
        for name in PRODUCTION_LBS:
            after = snapshot(name)
            assert after["config"] == before[name]["config"], name
            assert after["current"] == before[name]["current"], name
            assert_serving_evenly(name, "production")
        # The first batch really had changed before it was rolled back.
        new = set(snapshot("pl-lb-prod-1")["releases"]) - set(before["pl-lb-prod-1"]["releases"])
        assert len(new) == 1
        assert release_meta("pl-lb-prod-1", new.pop())["verification"]["status"] == "failed"
    finally:
        restored = run_playbook("deploy.yml")
        assert restored.returncode == 0, restored.stdout


def test_verify_playbook_passes_on_the_good_release_and_fails_on_a_drained_server(tmp_path):
    result = run_playbook("verify.yml", "-e", f"lbguard_report_dir={tmp_path}")
    assert result.returncode == 0, result.stdout
    report = json.loads(next(tmp_path.glob("verify-*.json")).read_text())
    assert {h: r["status"] for h, r in report["hosts"].items()} == {n: "verified" for n in STAGING_LBS + PRODUCTION_LBS}
    # An operator puts a server in maintenance by hand: scheduled verification notices.
    staging = lb("pl-lb-stg-1")
    staging.check_output("echo 'disable server shop/pl-web-stg-2' | socat stdio /run/haproxy/admin.sock")
    try:
        failed = run_playbook("verify.yml", "-e", "lbguard_hosts=pl-lb-stg-1", "-e", "lb_verify_settle_seconds=0")
        assert failed.returncode != 0, failed.stdout
    finally:
        staging.check_output("echo 'enable server shop/pl-web-stg-2' | socat stdio /run/haproxy/admin.sock")


class WebhookReceiver:
    """A local HTTP receiver for the audit's notification (127.0.0.1, random port)."""

    def __enter__(self):
        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802  (http.server's naming)
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()


def audit(tmp_path, *args):
    result = run_playbook("audit.yml", "-e", f"lbguard_report_dir={tmp_path}", *args)
    report = json.loads(max(tmp_path.glob("audit-*.json"), key=os.path.getmtime).read_text())
    return result, report


def test_audit_finds_no_drift_after_a_deploy(tmp_path):
    with WebhookReceiver() as hook:
        result, report = audit(tmp_path, "-e", f"lbguard_audit_webhook_url={hook.url}")
    assert result.returncode == 0, result.stdout
    assert {h: r["status"] for h, r in report["hosts"].items()} == {n: "clean" for n in STAGING_LBS + PRODUCTION_LBS}
    assert hook.received == []


def test_audit_reports_hand_edit_and_runtime_weight_change_and_notifies(tmp_path):
    staging, production = lb("pl-lb-stg-1"), lb("pl-lb-prod-1")
    before = snapshot("pl-lb-stg-1")
    staging.check_output(f"echo '# hand edit' >> {CONFIG}")
    production.check_output("echo 'set server shop/pl-web-prod-1 weight 100' | socat stdio /run/haproxy/admin.sock")
    try:
        with WebhookReceiver() as hook:
            result, report = audit(tmp_path, "-e", f"lbguard_audit_webhook_url={hook.url}")
        assert result.returncode != 0, result.stdout
        hosts = report["hosts"]
        assert hosts["pl-lb-stg-1"]["status"] == "drift"
        assert any("the live file differs from the ledger's current release" in p
                   for p in hosts["pl-lb-stg-1"]["problems"]), hosts
        assert any("# hand edit" in d.get("after", "") for d in hosts["pl-lb-stg-1"]["diff"]) or \
            any("# hand edit" in d.get("before", "") for d in hosts["pl-lb-stg-1"]["diff"]), hosts
        assert hosts["pl-lb-prod-1"]["status"] == "drift"
        assert "service shop: server pl-web-prod-1 has weight 100 at runtime, 1 in the model" in \
            hosts["pl-lb-prod-1"]["problems"]
        assert hosts["pl-lb-prod-2"]["status"] == "clean"
        assert len(hook.received) == 1
        assert "drift on pl-lb-prod-1, pl-lb-stg-1:" in hook.received[0]["text"]
        # The audit changed nothing.
        assert staging.file(CONFIG).content_string.endswith("# hand edit\n")
        assert snapshot("pl-lb-stg-1")["current"] == before["current"]
    finally:
        restored = run_playbook("deploy.yml")
        assert restored.returncode == 0, restored.stdout
    clean, _ = audit(tmp_path)
    assert clean.returncode == 0, clean.stdout


def test_plan_writes_a_review_report_and_changes_nothing(tmp_path):
    before = {name: snapshot(name) for name in STAGING_LBS + PRODUCTION_LBS}
    heavier = {"pl-web-stg-1": {"lb_weight": 2}, "pl-web-prod-1": {"lb_weight": 2}}
    result = run_playbook("plan.yml", *overlay(tmp_path, heavier), "-e", f"lbguard_report_dir={tmp_path}")
    assert result.returncode == 0, result.stdout
    report = next(tmp_path.glob("plan-*.md")).read_text()
    assert "## pl-lb-prod-1 (production) - changes" in report
    assert "| shop | pl-web-prod-1 | 33% | 50% (changed) |" in report
    assert "| shop | max_server_share | 0.5 | 50% (pl-web-prod-1) | pass |" in report
    assert "-    server pl-web-prod-1 pl-web-prod-1:80 weight 1 check" in report
    assert "+    server pl-web-prod-1 pl-web-prod-1:80 weight 2 check" in report
    assert "## Checklist for the peer reviewer" in report
    for name in before:
        assert snapshot(name) == before[name]


def test_plan_of_an_invalid_model_fails_and_says_why(tmp_path):
    incident = {"pl-web-prod-1": {"lb_weight": 100}, "pl-web-prod-2": {"lb_weight": 0},
                "pl-web-prod-3": {"lb_weight": 0}}
    result = run_playbook("plan.yml", *overlay(tmp_path, incident), "-e", f"lbguard_report_dir={tmp_path}")
    assert result.returncode != 0, result.stdout
    report = next(tmp_path.glob("plan-*.md")).read_text()
    assert "INVALID MODEL" in report
    assert "server pl-web-prod-1 would receive 100% of traffic" in report
