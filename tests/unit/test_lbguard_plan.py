"""Unit tests of the change-review filters."""

import lbguard_plan as plan


def model(*weights, balance="roundrobin", max_share=0.5, minimum=2):
    total = sum(weights)
    return {"services": [{"name": "shop", "balance": balance,
                          "policy": {"min_active_servers": minimum, "max_server_share": max_share,
                                     "allow_first": False},
                          "servers": [{"name": f"web{i}", "weight": w, "backup": False, "disabled": False,
                                       "expected_share": w / total} for i, w in enumerate(weights, start=1)]}]}


def test_unified_diff_of_a_template_diff():
    text = plan.unified_diff([{"before": "a\nb\n", "after": "a\nc\n", "before_header": "/etc/haproxy/haproxy.cfg"}])
    assert "--- /etc/haproxy/haproxy.cfg\n+++ /etc/haproxy/haproxy.cfg (proposed)\n" in text
    assert "-b\n+c\n" in text
    assert plan.unified_diff([]) == ""


def test_share_rows_before_and_after():
    rows = plan.share_rows(model(1, 1), model(3, 1))
    assert rows[0] == {"service": "shop", "server": "web1", "before": 0.5, "after": 0.75, "changed": True}
    assert rows[1]["before"] == 0.5 and rows[1]["after"] == 0.25
    unknown = plan.share_rows(None, model(1, 1))
    assert unknown[0]["before"] is None


def test_share_rows_list_servers_the_change_removes():
    rows = plan.share_rows(model(1, 1, 1), model(1, 1))
    assert rows[-1]["server"] == "web3" and rows[-1]["after"] == 0.0 and rows[-1]["changed"]


def test_policy_checks_evaluate_every_rule():
    checks = {c["rule"]: c for c in plan.policy_checks(model(3, 1))}
    assert checks["max_server_share"]["passed"] is False and checks["max_server_share"]["detail"] == "web1"
    assert checks["min_active_servers"]["passed"] is True and checks["min_active_servers"]["value"] == 2
    assert checks["allow_first"]["passed"] is True
    first = {c["rule"]: c for c in plan.policy_checks(model(1, 1, balance="first"))}
    assert first["allow_first"]["passed"] is False
