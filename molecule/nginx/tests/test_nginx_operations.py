"""Runtime operations (playbooks/server.yml) on nginx, which has no runtime API: through its file."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.environ.get("MOLECULE_PROJECT_DIRECTORY", "."), "molecule"))
from lbguard_testlib import lb, load_generator, run_playbook, served_by  # noqa: E402  (path set just above)

LB = "ng-lb-stg-1"
CONFIG = "/etc/nginx/nginx.conf"
LEDGER = "/var/lib/lbguard/nginx"
WEB = ["ng-web-stg-1", "ng-web-stg-2", "ng-web-stg-3"]


def operate(report_dir, action, servers, *args):
    result = run_playbook("server.yml", "-e", f"lbguard_report_dir={report_dir}", "-e", f"lbguard_hosts={LB}",
                          "-e", f"lbguard_action={action}", "-e", "lbguard_service=shop",
                          "-e", f"lbguard_servers={servers}", "-e", "lbguard_reason='molecule nginx'", *args)
    reports = sorted(report_dir.glob("server-*.json"), key=os.path.getmtime)
    return result, (json.loads(reports[-1].read_text())["hosts"][LB] if reports else {})


def server_line(name):
    (line,) = [line for line in lb(LB).file(CONFIG).content_string.splitlines() if f" {name}:80 " in line
               or line.strip().startswith(f"server {name}:80")]
    return line


def test_a_drain_goes_through_the_file_is_kept_by_deploy_and_audit_and_is_given_back(tmp_path):
    host = lb(LB)
    try:
        with load_generator(LB, clients=5, limit_seconds=300) as load:
            result, outcome = operate(tmp_path / "drain", "drain", "ng-web-stg-2")
            sent = load()
        assert result.returncode == 0, result.stdout[-6000:]
        assert outcome["status"] == "verified", outcome
        assert sent["errors"] == 0, sent
        assert server_line("ng-web-stg-2").rstrip().endswith("down;")
        assert "ng-web-stg-2" not in served_by(host, 30, header="X-Backend")
        # The file is a verified release of the ledger, the hold is recorded.
        current = host.file(f"{LEDGER}/current").content_string.strip()
        meta = json.loads(host.file(f"{LEDGER}/releases/{current}/meta.json").content_string)
        assert meta["verification"]["status"] == "passed" and meta["config_sha256"] == host.file(CONFIG).sha256sum
        assert json.loads(host.file(f"{LEDGER}/holds.json").content_string)["shop/ng-web-stg-2"]["action"] == "drain"

        deployed = run_playbook("deploy.yml", "-e", f"lbguard_report_dir={tmp_path}")
        assert deployed.returncode == 0, deployed.stdout[-6000:]
        assert server_line("ng-web-stg-2").rstrip().endswith("down;")
        audited = run_playbook("audit.yml", "-e", f"lbguard_report_dir={tmp_path}", "-e", f"lbguard_hosts={LB}")
        assert audited.returncode == 0, audited.stdout[-6000:]
    finally:
        result, outcome = operate(tmp_path / "ready", "ready", "ng-web-stg-2")
    assert result.returncode == 0, result.stdout[-6000:]
    assert not server_line("ng-web-stg-2").rstrip().endswith("down;")
    assert set(served_by(host, 30, header="X-Backend")) == set(WEB)


def test_a_drain_of_every_server_is_refused_and_the_file_is_untouched(tmp_path):
    before = lb(LB).file(CONFIG).sha256sum
    result, outcome = operate(tmp_path, "drain", ",".join(WEB))
    assert result.returncode != 0
    assert outcome["status"] == "refused", outcome
    assert any("no active server" in p for p in outcome["problems"]), outcome["problems"]
    assert lb(LB).file(CONFIG).sha256sum == before
