"""Where a run report goes: the project's reports/ folder, wherever ansible-playbook runs from.

The real ansible-playbook runs rollback.yml on the good example; the run filters
themselves are unit-tested in tests/unit/plugins/filter/test_lbguard_run.py.
"""

import json
import os
import re
import subprocess

from lbguard_test_tools import REPO_ROOT, ansible_playbook


def test_a_run_report_goes_to_the_project_reports_folder_from_any_working_directory(tmp_path):
    """report_run.yml is imported from playbooks/include/: its default folder is still the project's reports/."""
    root = REPO_ROOT
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(root / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-local"))
    # No host matches: the run reaches its report without contacting anything.
    done = subprocess.run([ansible_playbook(), "-i", str(root / "inventories/examples/good/hosts.yml"),
                           str(root / "playbooks/rollback.yml"), "-e", "lbguard_hosts=no-such-host"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = re.search(r"rollback (\S+) change \S+: PASSED", done.stdout).group(1)
    report, misplaced = (folder / f"rollback-{run_id}.json" for folder in (root / "reports", root / "playbooks/reports"))
    try:
        assert report.is_file(), f"no {report.name} in the project's reports/: {done.stdout}"
        assert json.loads(report.read_text(encoding="utf-8"))["kind"] == "rollback"
        assert not misplaced.exists(), "written next to the playbooks"
    finally:
        report.unlink(missing_ok=True)
        misplaced.unlink(missing_ok=True)
