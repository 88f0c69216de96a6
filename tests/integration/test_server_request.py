"""playbooks/server.yml refuses a bad request on the control node: every problem once, one block, no host (#27)."""

from __future__ import annotations

from pathlib import Path

from test_validate_playbook import EXAMPLES, REPO_ROOT, assert_no_connection, output, run

SERVER = REPO_ROOT / "playbooks" / "server.yml"


def test_a_bad_request_lists_every_problem_once_and_touches_no_host(tmp_path: Path) -> None:
    request = ('{"lbguard_action": "drian", "lbguard_service": "shop", "lbguard_servers": "web1,web1", '
               '"lbguard_reason": "CHG-1\\u202e\\u0007", "lbguard_weight": "٣"}')
    result = run(EXAMPLES / "good" / "hosts.yml", tmp_path, playbook=SERVER, extra_vars=request)
    text = output(result)
    assert result.returncode == 2, text
    assert_no_connection(text)
    lines = ("4 problem(s) in the request:",
             "- reason contains the control character U+202E: write it as one line of visible text",
             "- action 'drian' is not one of maint, drain, weight, ready (did you mean 'drain'?)",
             "- servers lists a server twice: web1 and web1",
             "- weight is only for action weight, not 'drian'")
    for line in lines:
        assert text.count(line) == 1, (line, text)
    assert "Runtime operation refused: 4 problem(s), listed above; no host touched." in text
