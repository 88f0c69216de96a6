"""plugins/modules/lbguard_ledger_info.py run by the real `ansible` command, as a task runs it.

Its functions are unit-tested in tests/unit/plugins/modules/test_lbguard_ledger_info.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_the_module_runs_as_ansible_runs_it_in_check_mode(tmp_path: Path) -> None:
    root = tmp_path / "ledger"
    tool = Path(sys.executable).parent / "ansible"
    result = subprocess.run([str(tool), "localhost", "-m", "lbguard.core.lbguard_ledger_info", "--check", "-a",
                             json.dumps({"root": str(root), "engine": "nginx"}), "-o"],
                            capture_output=True, text=True, timeout=120, check=False,
                            env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"current": null' in result.stdout and '"changed": false' in result.stdout, result.stdout
