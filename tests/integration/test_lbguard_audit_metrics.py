"""Unit tests of the audit's textfile gauges, checked with `promtool check metrics`."""

import shutil
import subprocess

import pytest

from ansible_collections.lbguard.core.plugins.filter import lbguard_audit_metrics as metrics


def facts(status=None, completed=True):
    """The host facts lb_audit leaves: lb_audit_result always, lb_audit_completed only when the block ran to its end."""
    result = {"lb_audit_result": {"host": "x", "status": status, "problems": []}}
    if completed:
        result["lb_audit_completed"] = True
    return result


def promtool_check(text):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not found on PATH: install Debian's `prometheus` package (scripts/bootstrap.sh)",
                    pytrace=False)
    return subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False)


def samples(text):
    return [line for line in text.splitlines() if not line.startswith("#")]


HOSTVARS = {
    "lb-clean": facts("clean"),
    "lb-drift": facts("drift"),
    # The rescue branch: the audit itself failed (status drift, no lb_audit_completed).
    "lb-failed": facts("drift", completed=False),
    # Unreachable: no fact at all.
    "lb-unreachable": {},
}


def test_clean_drifted_failed_and_unreachable_hosts():
    text = metrics.audit_metrics(list(HOSTVARS), HOSTVARS, timestamp=1764480000)
    assert samples(text) == [
        'lbguard_audit_success{lb_host="lb-clean"} 1',
        'lbguard_audit_success{lb_host="lb-drift"} 1',
        'lbguard_audit_success{lb_host="lb-failed"} 0',
        'lbguard_audit_success{lb_host="lb-unreachable"} 0',
        'lbguard_config_drift{lb_host="lb-clean"} 0',
        'lbguard_config_drift{lb_host="lb-drift"} 1',
        'lbguard_audit_timestamp_seconds{lb_host="lb-clean"} 1764480000.000',
        'lbguard_audit_timestamp_seconds{lb_host="lb-drift"} 1764480000.000',
        'lbguard_audit_timestamp_seconds{lb_host="lb-failed"} 1764480000.000',
        'lbguard_audit_timestamp_seconds{lb_host="lb-unreachable"} 1764480000.000',
    ]
    for name in ("lbguard_audit_success", "lbguard_config_drift", "lbguard_audit_timestamp_seconds"):
        assert f"# TYPE {name} gauge" in text.splitlines()


def test_a_host_that_was_not_audited_is_never_reported_clean():
    text = metrics.audit_metrics(["lb-failed", "lb-unreachable"], HOSTVARS, timestamp=1)
    assert "lbguard_config_drift{" not in text
    # The metric family is still declared, so the file keeps one shape.
    assert "# TYPE lbguard_config_drift gauge" in text


def test_output_passes_promtool_check_metrics():
    text = metrics.audit_metrics(list(HOSTVARS), HOSTVARS)
    checked = promtool_check(text)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == "" and checked.stderr.strip() == "", checked.stdout + checked.stderr


def test_promtool_check_metrics_catches_a_broken_exposition():
    # Proves the check above can fail: an unescaped quote breaks the format.
    checked = promtool_check('# TYPE lbguard_config_drift gauge\nlbguard_config_drift{lb_host="a"b"} 1\n')
    assert checked.returncode != 0


def test_label_values_are_escaped():
    odd = 'lb"quoted\\back\nline'
    text = metrics.audit_metrics([odd], {odd: facts("drift")}, timestamp=0)
    assert 'lbguard_config_drift{lb_host="lb\\"quoted\\\\back\\nline"} 1' in text.splitlines()
    checked = promtool_check(text)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_no_hosts_gives_declarations_only():
    text = metrics.audit_metrics([], {}, timestamp=0)
    assert samples(text) == []
    assert promtool_check(text).returncode == 0


def test_certificate_expiry_of_each_tls_frontend_is_a_gauge():
    model = {"frontends": [
        {"name": "edge", "tls": {"certificates": [{"name": "shop", "not_after_timestamp": 1790000000},
                                                  {"name": "api", "not_after_timestamp": 1780000000}]}},
        {"name": "plain", "tls": None}]}
    hostvars = {"lb-tls": dict(facts("clean"), lbguard_model=model), "lb-clean": facts("clean")}
    text = metrics.audit_metrics(list(hostvars), hostvars, timestamp=1)
    assert [s for s in samples(text) if s.startswith("lbguard_certificate")] == [
        'lbguard_certificate_expiry_timestamp_seconds{lb_host="lb-tls",frontend="edge",certificate="shop"} 1790000000',
        'lbguard_certificate_expiry_timestamp_seconds{lb_host="lb-tls",frontend="edge",certificate="api"} 1780000000',
    ]
    result = promtool_check(text)
    assert result.returncode == 0, result.stdout + result.stderr
