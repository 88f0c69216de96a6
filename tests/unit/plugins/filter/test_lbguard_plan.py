"""Unit tests of the change-review filters and the report they fill (roles/lb_plan/templates/plan.md.j2)."""

import jinja2
from ansible_collections.lbguard.core.plugins.filter import lbguard_plan as plan
from lbguard_test_tools import REPO_ROOT


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


TEMPLATE = REPO_ROOT / "roles" / "lb_plan" / "templates" / "plan.md.j2"
WARNING = "service shop: web1 takes 100% of traffic (balance first; policy allows up to 100%)"


def render_plan(*plans):
    """plan.md.j2 rendered as Ansible's template module does (trim_blocks), with lb_plan's lb_plan_result items."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE.parent), trim_blocks=True,
                             undefined=jinja2.StrictUndefined)
    return env.get_template(TEMPLATE.name).render(
        lbguard_run_id="20261202T100000Z-1", lbguard_change_id="0123456789abcdef", lbguard_revision="abc",
        lbguard_owner="alice", lb_plan_results=list(plans))


def plan_result(host, warnings, directives=()):
    return {"host": host, "environment": "staging", "status": "checked", "changed": True, "release": "r00001",
            "problems": [], "diff": "", "shares": plan.share_rows(None, model(1, 1)),
            "policy": plan.policy_checks(model(1, 1)), "warnings": warnings, "directives": list(directives)}


def test_plan_report_lists_extra_directives_for_review():
    rows = [{"section": "frontend edge", "directive": "http-request set-header X-A a|b"}]
    text = render_plan(plan_result("lb-stg-1", [], rows))
    assert "| frontend edge | `http-request set-header X-A a\\|b` |" in text
    assert "Extra directives" not in render_plan(plan_result("lb-stg-1", []))


def test_plan_report_puts_a_concentration_warning_at_the_top():
    text = render_plan(plan_result("lb-stg-1", [WARNING]), plan_result("lb-stg-2", []))
    sections = [line for line in text.splitlines() if line.startswith("## ")]
    assert sections[0] == "## WARNING: one server takes most of a service's traffic", sections
    assert f"- **lb-stg-1 (staging)** {WARNING}" in text
    assert text.index(WARNING) < text.index("## lb-stg-1 (staging)")
    assert "lb-stg-2 (staging)**" not in text, "a host without warnings is not listed in the warning section"


def test_plan_report_without_concentration_has_no_warning_section():
    text = render_plan(plan_result("lb-stg-1", []))
    assert "WARNING" not in text.split("## Checklist")[0]
    invalid = dict(plan_result("lb-stg-1", []), status="invalid", problems=["service shop: bad"])
    assert "## lb-stg-1 (staging) - INVALID MODEL" in render_plan(invalid)
