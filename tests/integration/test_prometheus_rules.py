"""Render the lb_monitoring role for real and check the result with promtool.

The role runs through `ansible-playbook tests/prometheus/render.yml` on the fixed
model of tests/prometheus/inventory.yml, so a template change is tested. Then:

* ``promtool check rules`` on the rule file;
* ``promtool check config`` on a prometheus.yml made of the scrape snippet and the
  rule file (checks the scrape config and loads the rules again);
* ``promtool test rules`` on tests/prometheus/lbguard_test.yml (copied next to the
  rules by the playbook): normal traffic, the incident, the incident's weights set
  at runtime, an even surge, a surge with concentration, a server down, the last server standing, a hash-balanced service,
  config drift, half of the servers down, concentration while a server is down, a
  failed and a stopped drift audit, certificates expiring and expired;
* the same unit tests against rules rendered with a broken threshold must fail,
  which proves they can.

promtool comes from Debian's ``prometheus`` package. Without it these tests fail
(they do not skip): the rules would otherwise ship untested.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from lbguard_test_tools import ansible_playbook

REPO_ROOT = Path(__file__).resolve().parents[2]
PROM_TESTS = REPO_ROOT / "tests" / "prometheus"
INVENTORY = PROM_TESTS / "inventory.yml"
PLAYBOOK = PROM_TESTS / "render.yml"
UNIT_TESTS = PROM_TESTS / "lbguard_test.yml"

ALERTS = ("LBTrafficConcentrated", "LBTrafficSurge", "LBBackendDown", "LBConfigDrift", "LBDriftAuditMissing",
          "LBCertificateExpiring")
CAUSES = {
    "LBTrafficConcentrated": "internal_misconfiguration",
    "LBTrafficSurge": "external_traffic",
    "LBBackendDown": "backend_down",
    "LBConfigDrift": "config_drift",
    "LBDriftAuditMissing": "audit_missing",
    "LBCertificateExpiring": "certificate_expiring",
}


def promtool() -> str:
    """Path of promtool; fails the test (no skip) when it is missing."""
    found = shutil.which("promtool")
    if found is None:
        pytest.fail(
            "promtool not found on PATH: install Debian's `prometheus` package "
            "(apt-get install --no-install-recommends prometheus, see scripts/bootstrap.sh); "
            "without it the lbguard Prometheus rules are untested",
            pytrace=False,
        )
    return found


def render(out_dir: Path, *extra_vars: str) -> Path:
    """Run the render playbook into ``out_dir``; returns the folder. Fails with Ansible's output."""
    env = dict(os.environ)
    env.update(
        {
            "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_LOCAL_TEMP": str(out_dir.parent / f"{out_dir.name}-ansible-tmp"),
        }
    )
    for name in ("ANSIBLE_STDOUT_CALLBACK", "ANSIBLE_FILTER_PLUGINS", "ANSIBLE_INVENTORY", "ANSIBLE_ROLES_PATH"):
        env.pop(name, None)
    command = [ansible_playbook(), "-i", str(INVENTORY), str(PLAYBOOK), "-e", f"lb_monitoring_output_dir={out_dir}"]
    for extra in extra_vars:
        command += ["-e", extra]
    result = subprocess.run(
        command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out_dir


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    """Run promtool with ``args``; stdout and stderr captured as text."""
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder with lbguard-rules.yml, lbguard-scrape.yml and lbguard_test.yml, rendered once."""
    promtool()  # fail early and clearly, before the slower render
    return render(tmp_path_factory.mktemp("prometheus") / "out")


def load_yaml(path: Path) -> Any:
    """Parse a YAML file."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def test_rendered_files(rendered: Path) -> None:
    rules = load_yaml(rendered / "lbguard-rules.yml")
    assert [g["name"] for g in rules["groups"]] == ["lbguard_model", "lbguard_traffic", "lbguard_alerts"]
    alerts = {r["alert"]: r for g in rules["groups"] for r in g["rules"] if "alert" in r}
    assert sorted(alerts) == sorted(ALERTS)
    for name, rule in alerts.items():
        assert rule["labels"]["cause"] == CAUSES[name]
        assert rule["labels"]["severity"] in {"critical", "warning"}
        assert "{{ $labels." in rule["annotations"]["summary"]
        assert rule["annotations"]["runbook_url"] == f"docs/runbook.md#{name.lower()}"

    records = [r for g in rules["groups"] for r in g["rules"] if "record" in r]
    expected = {
        (r["labels"]["lb_host"], r["labels"]["proxy"], r["labels"]["server"]): r["expr"]
        for r in records
        if r["record"] == "lbguard:expected_share"
    }
    assert expected == {
        ("lb-prod-a", "shop", "web1"): "vector(0.3333333333333333)",
        ("lb-prod-a", "shop", "web2"): "vector(0.3333333333333333)",
        ("lb-prod-a", "shop", "web3"): "vector(0.3333333333333333)",
        **{("lb-prod-a", "cart", f"cart{i}"): "vector(0.25)" for i in range(1, 5)},
        ("lb-prod-a", "api", "api1"): "vector(0.5)",
        ("lb-prod-a", "api", "api2"): "vector(0.5)",
        ("lb-stg-a", "shop", "web1"): "vector(1.0)",
        ("lb-stg-a", "search", "s1"): "vector(0.75)",
        ("lb-stg-a", "search", "s2"): "vector(0.25)",
    }
    checked = {
        (r["labels"]["lb_host"], r["labels"]["proxy"]) for r in records if r["record"] == "lbguard:share_checked"
    }
    assert checked == {("lb-prod-a", "shop"), ("lb-prod-a", "cart"), ("lb-stg-a", "shop"),
                       ("lb-stg-a", "search")}  # api: by source
    # the nginx LB has model info only, and a note
    nginx_records = [r["record"] for r in records if r.get("labels", {}).get("lb_host") == "lb-stg-n"]
    assert nginx_records == ["lbguard:model_info"]
    assert "#   lb-stg-n (staging)" in (rendered / "lbguard-rules.yml").read_text(encoding="utf-8")

    scrape = load_yaml(rendered / "lbguard-scrape.yml")
    (job,) = scrape["scrape_configs"]
    assert job["job_name"] == "lbguard_haproxy"
    targets = {c["labels"]["lb_host"]: c["targets"] for c in job["static_configs"]}
    assert targets == {"lb-prod-a": ["192.0.2.30:8405"], "lb-stg-a": ["lb-stg-a:8405"]}


def alert_rules(out_dir: Path) -> dict[str, Any]:
    """The alerting rules of a rendered rule file, by alert name."""
    rules = load_yaml(out_dir / "lbguard-rules.yml")
    return {r["alert"]: r for g in rules["groups"] for r in g["rules"] if "alert" in r}


def test_default_hold_times_and_severities(rendered: Path) -> None:
    alerts = alert_rules(rendered)
    assert {name: rule["for"] for name, rule in alerts.items()} == {
        "LBTrafficConcentrated": "2m", "LBTrafficSurge": "2m", "LBBackendDown": "1m", "LBConfigDrift": "0s",
        "LBDriftAuditMissing": "5m", "LBCertificateExpiring": "0s"}
    assert {name for name, rule in alerts.items() if rule["labels"]["severity"] == "critical"} == {
        "LBTrafficConcentrated"}


def test_changing_one_alert_keeps_the_others(tmp_path: Path) -> None:
    """An operator names only the alert to change; every other alert keeps its default."""
    changed = alert_rules(render(tmp_path / "out", '{"lb_monitoring_for": {"surge": "7m"}, '
                                                   '"lb_monitoring_severity": {"certificate_expiring": "critical"}}'))
    assert changed["LBTrafficSurge"]["for"] == "7m"
    assert changed["LBTrafficConcentrated"]["for"] == "2m"
    assert changed["LBCertificateExpiring"]["for"] == "0s"
    assert changed["LBCertificateExpiring"]["labels"]["severity"] == "critical"
    assert changed["LBTrafficSurge"]["labels"]["severity"] == "warning"


def test_an_unknown_alert_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="surgee"):
        render(tmp_path / "out", '{"lb_monitoring_for": {"surgee": "1m"}}')
    assert not (tmp_path / "out" / "lbguard-rules.yml").exists()


def test_promtool_check_rules(rendered: Path) -> None:
    result = run_promtool("check", "rules", str(rendered / "lbguard-rules.yml"))
    text = result.stdout + result.stderr
    assert result.returncode == 0, text
    assert "SUCCESS" in text, text


def test_promtool_check_config_with_scrape_snippet(rendered: Path, tmp_path: Path) -> None:
    scrape = load_yaml(rendered / "lbguard-scrape.yml")
    config = {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "rule_files": [str(rendered / "lbguard-rules.yml")],
        "scrape_configs": scrape["scrape_configs"],
    }
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = run_promtool("check", "config", str(path))
    text = result.stdout + result.stderr
    assert result.returncode == 0, text
    assert "SUCCESS" in text, text


def test_promtool_unit_tests_pass(rendered: Path) -> None:
    # The scenarios are really there (an emptied file would also "pass").
    names = [t["name"] for t in load_yaml(rendered / "lbguard_test.yml")["tests"]]
    assert len(names) >= 10 and "incident - one server takes everything" in names and "even surge x5" in names
    result = run_promtool("test", "rules", str(rendered / "lbguard_test.yml"))
    text = result.stdout + result.stderr
    assert result.returncode == 0, text
    assert "Unit Testing:" in text and "SUCCESS" in text, text
    assert "FAILED" not in text, text


@pytest.mark.parametrize(
    ("broken_setting", "missed_alerts"),
    [
        # A tolerance of 90 points misses the incident; the surge alert, no longer
        # blocked by the concentration, fires instead.
        ("lb_monitoring_share_tolerance=0.9", ["LBTrafficConcentrated", "LBTrafficSurge"]),
        # A maximum audit age of a day misses the stopped audit schedule.
        ("lb_monitoring_audit_max_age_seconds=86400", ["LBDriftAuditMissing"]),
        # Warning 5 days ahead misses the certificate with 9.9 days left.
        ("lb_monitoring_certificate_warn_days=5", ["LBCertificateExpiring"]),
    ],
)
def test_promtool_unit_tests_catch_a_broken_threshold(tmp_path: Path, broken_setting: str,
                                                      missed_alerts: list[str]) -> None:
    """Rules rendered with a broken threshold must fail the unit tests, naming the alerts that changed."""
    promtool()
    broken = render(tmp_path / "broken", broken_setting)
    result = run_promtool("test", "rules", str(broken / "lbguard_test.yml"))
    text = result.stdout + result.stderr
    assert result.returncode != 0, text
    assert "FAILED" in text
    for alert in missed_alerts:
        assert f"alertname: {alert}" in text, text


def test_monitoring_playbook_runs_with_its_default_folder() -> None:
    """monitoring.yml with no extra vars: the role's own default folder, named in the run's output (#26)."""
    default_dir = REPO_ROOT / "reports" / "prometheus"
    rules = default_dir / "lbguard-rules.yml"
    rules.unlink(missing_ok=True)
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0")
    result = subprocess.run(
        [ansible_playbook(), "-i", str(REPO_ROOT / "inventories/examples/good/hosts.yml"), "playbooks/monitoring.yml"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert rules.is_file() and (default_dir / "lbguard-scrape.yml").is_file()
    assert "rules: " in result.stdout and "/reports/prometheus/lbguard-rules.yml" in result.stdout, result.stdout
    assert "load balancers: stg-lb1, prod-lb1" in result.stdout
