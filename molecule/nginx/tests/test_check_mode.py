"""`deploy.yml --check --diff` previews a change on every LB and changes nothing.

Runs after converge (a good release is live on both LBs) and before the
pipeline tests. The change previewed is every server's weight (2 instead of 1:
the split stays even, so the policy passes), so every LB's diff shows it.
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.environ.get("MOLECULE_PROJECT_DIRECTORY", "."), "molecule"))
from lbguard_testlib import lb, run_playbook  # noqa: E402  (path set just above)

LBS = {"ng-lb-stg-1": "ng-web-stg-1", "ng-lb-prod-1": "ng-web-prod-1"}
WEB = ["ng-web-stg-1", "ng-web-stg-2", "ng-web-stg-3", "ng-web-prod-1", "ng-web-prod-2"]
# Everything a deploy could change on an LB: the live file, the ledger, installed
# packages, the running nginx processes (a reload replaces the workers).
STATE = ("sha256sum /etc/nginx/nginx.conf; "
         "find /var/lib/lbguard -printf '%p %s %T@\\n' | sort; "
         "stat -c 'dpkg %Y' /var/lib/dpkg/status; "
         "pgrep -a nginx | sort")


def host_state(name):
    return lb(name).check_output(STATE)


def test_check_diff_shows_every_lb_diff_and_changes_nothing(tmp_path):
    before = {name: host_state(name) for name in LBS}
    overlay = tmp_path / "weights.yml"
    overlay.write_text(json.dumps({"all": {"hosts": {web: {"lb_weight": 2} for web in WEB}}}))

    result = run_playbook("deploy.yml", "--check", "--diff", "-i", str(overlay),
                          "-e", f"lbguard_report_dir={tmp_path / 'reports'}")

    out = result.stdout
    assert result.returncode == 0, out[-4000:]
    for name, web in LBS.items():
        # The template's diff names the file and shows the new weight for that LB's server.
        section = out.split(f"[{name}]", 1)[-1]
        assert re.search(rf"^\+\s*server \S*{web}\S* weight=2", out, re.MULTILINE), out[-4000:]
        assert "/etc/nginx/nginx.conf" in section
    # Handlers are skipped in check mode: nothing reloads.
    for handler in re.findall(r"RUNNING HANDLER \[[^\]]*\].*?(?=\n\n(?:TASK|RUNNING|PLAY))", out, re.DOTALL):
        assert "changed:" not in handler and "ok:" not in handler, handler
    assert {name: host_state(name) for name in LBS} == before
    # A check run writes no report either: the control node is left as it was.
    assert not (tmp_path / "reports").exists() or not list((tmp_path / "reports").iterdir())
