"""The lbguard_report action, run by the real ansible-playbook on the control node."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

from lbguard_test_tools import REPO_ROOT, ansible_playbook

REPORT = {"run_id": "20261203T101500Z-1", "status": "failed", "hosts": {"lb-1": {"problems": ["a\nb", "ü"]}}}


def write(tmp_path: Path, name: str, *args: str) -> subprocess.CompletedProcess[str]:
    """One play on localhost that writes REPORT as ``name`` under tmp_path/out/reports."""
    play = tmp_path / "play.yml"
    play.write_text(json.dumps([{
        "hosts": "localhost", "connection": "local", "gather_facts": False,
        "tasks": [{"name": "Write", "lbguard.core.lbguard_report": {
            "dir": str(tmp_path / "out" / "reports"), "name": name, "report": REPORT}, "register": "written"},
            {"ansible.builtin.debug": {"var": "written"}}],
    }]))
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    return subprocess.run([ansible_playbook(), "-i", "localhost,", str(play), *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_report_is_written_whole_with_its_folders_and_reports_no_change(tmp_path: Path) -> None:
    result = write(tmp_path, "deploy-1.json")
    assert result.returncode == 0, result.stdout + result.stderr
    path = tmp_path / "out" / "reports" / "deploy-1.json"
    assert json.loads(path.read_text(encoding="utf-8")) == REPORT
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in path.parent.iterdir()) == ["deploy-1.json"]  # no partial file left
    assert "changed=0" in result.stdout, result.stdout


def test_a_check_run_writes_nothing(tmp_path: Path) -> None:
    result = write(tmp_path, "deploy-1.json", "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (tmp_path / "out").exists()
    assert "check mode:" in result.stdout, result.stdout


def test_a_name_with_a_path_is_refused(tmp_path: Path) -> None:
    result = write(tmp_path, "../escape.json")
    assert result.returncode != 0
    assert "name must be a plain file name" in result.stdout, result.stdout
    assert not (tmp_path / "out" / "escape.json").exists()
