"""The staged pipeline with lb_engine nginx, against real nginx and real traffic.

Converge has already run deploy.yml once (a good change). The web servers name
themselves in an X-Backend header, which counts the split independently of the
header nginx adds.
"""

import json
import os
import sys


sys.path.insert(0, os.path.join(os.environ.get("MOLECULE_PROJECT_DIRECTORY", "."), "molecule"))
from lbguard_testlib import deploy, lb, load_generator, problems, run_playbook, served_by  # noqa: E402  (path set just above)
from lbguard_testlib import snapshot as ledger_snapshot  # noqa: E402  (path set just above)

CONFIG = "/etc/nginx/nginx.conf"
LEDGER = "/var/lib/lbguard/nginx"
WEB = {"ng-lb-stg-1": ["ng-web-stg-1", "ng-web-stg-2", "ng-web-stg-3"],
       "ng-lb-prod-1": ["ng-web-prod-1", "ng-web-prod-2"]}
GOOD_SERVICE = {"name": "shop", "listen": 8080, "backend_group": "webservers", "backend_port": 80,
                "health_check": {"path": "/health", "interval": "1s", "rise": 1, "fall": 2}}


def snapshot(name):
    return ledger_snapshot(name, CONFIG, LEDGER)


def assert_serving_evenly(name):
    counts = served_by(lb(name), 60, header="X-Backend")
    servers = WEB[name]
    assert set(counts) == set(servers), counts
    # nginx balances per worker: close to even, not exactly even.
    assert all(abs(counts[s] - 60 / len(servers)) <= 6 for s in servers), counts


def test_good_change_is_live_verified_and_checked_whole():
    for name in WEB:
        host = lb(name)
        assert host.service("nginx").is_running
        assert host.run(f"nginx -t -c {CONFIG}").rc == 0
        config = host.file(CONFIG).content_string
        assert "upstream shop {" in config and "add_header X-Served-By $upstream_addr always;" in config
        current = host.file(f"{LEDGER}/current").content_string.strip()
        meta = json.loads(host.file(f"{LEDGER}/releases/{current}/meta.json").content_string)
        assert meta["verification"]["status"] == "passed"
        assert meta["config_sha256"] == host.file(CONFIG).sha256sum
        assert host.check_output("curl -s http://127.0.0.1:8405/lbguard/model") == meta["model_digest"]
        assert "Active connections" in host.check_output("curl -s http://127.0.0.1:8405/stub_status")
        assert_serving_evenly(name)


def test_verification_counts_real_clients_from_the_split_log(tmp_path):
    """Open-source nginx has no per-server counters: verification counts every
    request of its window from the split log, real clients' included."""
    with load_generator("ng-lb-stg-1", clients=5, limit_seconds=600) as sent:
        result = run_playbook("verify.yml", "-e", "lbguard_hosts=ng-lb-stg-1", "-e", f"lbguard_report_dir={tmp_path}")
        assert sent()["errors"] == 0, sent()
    assert result.returncode == 0, result.stdout[-6000:]
    report = json.loads(next(tmp_path.glob("verify-*.json")).read_text())["hosts"]["ng-lb-stg-1"]
    shop = report["figures"]["shop"]
    assert shop["source"] == "counters" and shop["counted"] > shop["requests"], shop
    assert set(shop["observed"]) == set(WEB["ng-lb-stg-1"]), shop
    config = lb("ng-lb-stg-1").file(CONFIG).content_string
    assert "access_log /var/log/nginx/lbguard-split-shop.log lbguard_split;" in config


def test_incident_is_caught_in_staging_and_rolled_back(tmp_path):
    before = {name: snapshot(name) for name in WEB}
    loose = dict(GOOD_SERVICE, policy={"min_active_servers": 1, "max_server_share": 1.0})
    overlay = tmp_path / "overlay.yml"
    overlay.write_text(json.dumps({"all": {"hosts": {"ng-web-stg-1": {"lb_weight": 256},
                                                     "ng-web-prod-1": {"lb_weight": 256}}}}))
    result, report = deploy(tmp_path, "-i", str(overlay), "-e", json.dumps({"lb_services": [loose]}))
    found = problems(report)
    assert result.returncode != 0, result.stdout
    assert report["hosts"]["ng-lb-stg-1"]["status"] == "rolled_back", report
    assert "observed ng-web-stg-1 100%, ng-web-stg-2 0%, ng-web-stg-3 0%; expected 99/0/0 (+-10)" in found, found
    assert "production not touched" in found, found
    staging = snapshot("ng-lb-stg-1")
    assert staging["config"] == before["ng-lb-stg-1"]["config"]
    assert staging["current"] == before["ng-lb-stg-1"]["current"]
    assert len(staging["releases"]) == len(before["ng-lb-stg-1"]["releases"]) + 1
    assert snapshot("ng-lb-prod-1") == before["ng-lb-prod-1"]
    assert_serving_evenly("ng-lb-stg-1")


def test_reload_that_nginx_refuses_is_detected_and_rolled_back(tmp_path):
    """Port 22 is sshd's: `nginx -t` passes, the reload cannot bind and nginx
    quietly keeps the old configuration. Only the running-model check sees it."""
    before = snapshot("ng-lb-stg-1")
    taken = dict(GOOD_SERVICE, listen=22)
    result, report = deploy(tmp_path, "-e", json.dumps({"lb_services": [taken]}))
    found = problems(report)
    assert result.returncode != 0, result.stdout
    assert report["hosts"]["ng-lb-stg-1"]["status"] == "rolled_back", report
    assert "the running configuration is not the new release" in found, found
    after = snapshot("ng-lb-stg-1")
    assert after["config"] == before["config"] and after["current"] == before["current"]
    assert_serving_evenly("ng-lb-stg-1")
