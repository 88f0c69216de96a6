"""Verification under a steady load generator, as in production (issue 11).

Twenty concurrent clients, 20 requests a second each, send requests through
pl-lb-prod-1 while verify.yml runs against it. Under roundrobin, the probe's own requests land wherever real
traffic left the pointer; verification judges HAProxy's counters over the
probe's window instead, so a correct release must pass every time. The incident
splits, set at runtime (100/0/0 and 80/10/10), must fail, name the runtime
weights and show the concentration in the traffic. Then a correct change to
static-rr, leastconn, random and source is deployed under the same load with
deploy.yml, and must verify on the first try, and again with verify.yml.

Runs last (testinfra orders files by name). It restores the weights and stops
the load generator whatever happens, and leaves the scenario's release live.
"""

import json
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.environ.get("MOLECULE_PROJECT_DIRECTORY", "."), "molecule"))
from lbguard_testlib import (SOCKET, deploy, lb, load_generator, run_playbook, show_stat,  # noqa: E402  (path set just above)
                             wait_for_status)

LB = "pl-lb-prod-1"
WEB = ["pl-web-prod-1", "pl-web-prod-2", "pl-web-prod-3"]
CLIENTS = 20
VERIFY_RUNS = 5
# The generator stops by itself after this long, should the test never stop it;
# the module's tests take about 10 minutes alone, much longer on a busy machine.
LOAD_LIMIT_SECONDS = 3600
# Every algorithm but roundrobin (tested above) that production's policy allows;
# source is judged without the share (a hash: one client, one server).
OTHER_ALGORITHMS = ["static-rr", "leastconn", "random", "source"]
SERVICE = {"name": "shop", "listen": 8080, "backend_group": "webservers", "backend_port": 80,
           "health_check": {"path": "/health", "interval": "1s", "rise": 1, "fall": 2}}


@pytest.fixture(scope="module")
def steady_load():
    """Run the load generator inside pl-lb-prod-1 for the module's tests; yield a reader of its stats."""
    with load_generator(LB, CLIENTS, LOAD_LIMIT_SECONDS) as stats:
        yield stats


def verify(tmp_path, *args):
    """Run verify.yml on pl-lb-prod-1 alone; return the result and the host's part of its JSON report."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    result = run_playbook("verify.yml", "-e", f"lbguard_hosts={LB}", "-e", f"lbguard_report_dir={tmp_path}", *args)
    reports = sorted(tmp_path.glob("verify-*.json"))
    assert reports, result.stdout[-6000:]
    return result, json.loads(reports[-1].read_text())["hosts"][LB]


def set_weight(host, server, weight):
    """Set a shop server's weight through HAProxy's runtime API (runtime only, the file is untouched)."""
    host.check_output(f"echo 'set server shop/{server} weight {weight}' | socat stdio {SOCKET}")


def test_a_correct_release_passes_verification_every_time_under_load(tmp_path, steady_load):
    before = steady_load()["requests"]
    windows = []
    for run in range(VERIFY_RUNS):
        result, outcome = verify(tmp_path / f"run{run}")
        assert result.returncode == 0, f"run {run + 1}: {outcome.get('problems')}\n{result.stdout[-6000:]}"
        assert outcome["status"] == "verified", outcome
        windows.append(outcome["figures"]["shop"])
        assert windows[-1]["source"] == "counters", windows[-1]
    # The counters counted the real clients too, not only the probe's own requests (a window
    # of a fraction of a second can fall in a pause of the generator's 20 threads).
    assert any(shop["counted"] > shop["requests"] for shop in windows), windows
    load = steady_load()
    assert load["requests"] > before, load
    assert load["errors"] <= load["requests"] / 100, load


@pytest.mark.parametrize("split", [(1, 0, 0), (8, 1, 1)], ids=["100/0/0", "80/10/10"])
def test_the_incident_split_set_at_runtime_fails_under_load(tmp_path, steady_load, split):
    host = lb(LB)
    weights = {name: row["weight"] for name, row in show_stat(host).items()}
    assert {name: int(weight) for name, weight in weights.items()} == {name: 1 for name in WEB}, weights
    try:
        for name, weight in zip(WEB, split):
            set_weight(host, name, weight)
        result, report = verify(tmp_path, "-e", "lb_verify_settle_seconds=2")
    finally:
        for name, weight in weights.items():
            set_weight(host, name, weight)
    assert result.returncode != 0, result.stdout[-6000:]
    assert report["status"] == "failed", report
    problems = "\n".join(report["problems"])
    changed = ", ".join(f"{name} {weight} (model 1)" for name, weight in zip(WEB, split) if weight != 1)
    assert f"service shop: runtime weights differ from the model: {changed}" in problems, problems
    # The traffic shows it too, on HAProxy's counters of every client.
    assert "(HAProxy counters)" in problems, problems
    assert "pl-web-prod-1 exceeds max_server_share 50%" in problems, problems
    if split == (1, 0, 0):
        assert ("observed pl-web-prod-1 100%, pl-web-prod-2 0%, pl-web-prod-3 0%; expected 33/33/33 (+-10); "
                "counted all ") in problems, problems
        assert "pl-web-prod-2 and pl-web-prod-3 have weight but received nothing" in problems, problems

    assert {name: row["weight"] for name, row in show_stat(host).items()} == weights
    status = wait_for_status(host, {name: "UP" for name in WEB})
    assert status == {name: "UP" for name in WEB}, status


@pytest.fixture(scope="module")
def scenario_model_at_the_end(tmp_path_factory):
    """Deploy the scenario's own model once the algorithm tests are done."""
    yield
    result, report = deploy(tmp_path_factory.mktemp("scenario-model"))
    assert result.returncode == 0, result.stdout[-6000:]


def algorithm_overlay(tmp_path, balance):
    """A second inventory source that changes pl-lb-prod-1's shop service to ``balance``."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "overlay.yml"
    path.write_text(json.dumps({"all": {"hosts": {LB: {"lb_services": [dict(SERVICE, balance=balance)]}}}}))
    return ["-i", str(path)]


@pytest.mark.parametrize("balance", OTHER_ALGORITHMS)
def test_a_correct_change_of_algorithm_deploys_and_verifies_under_load(tmp_path, steady_load,
                                                                       scenario_model_at_the_end, balance):
    before = steady_load()
    overlay = algorithm_overlay(tmp_path, balance)
    result, report = deploy(tmp_path / "deploy", *overlay)
    assert result.returncode == 0, f"{balance}: {report.get('hosts', {}).get(LB)}\n{result.stdout[-6000:]}"
    outcome = report["hosts"][LB]
    assert outcome["status"] == "verified" and outcome["changed"], outcome
    assert f"balance {balance}" in lb(LB).file("/etc/haproxy/haproxy.cfg").content_string

    result, verified = verify(tmp_path / "verify", *overlay)
    assert result.returncode == 0, f"{balance}: {verified.get('problems')}\n{result.stdout[-6000:]}"
    assert steady_load()["requests"] > before["requests"], "the load generator stopped"
    windows = [outcome["figures"]["shop"], verified["figures"]["shop"]]
    # Judged on the counters, which counted the real clients too, not only the probe.
    assert all(shop["source"] == "counters" for shop in windows), windows
    assert any(shop["counted"] > shop["requests"] for shop in windows), windows
    load = steady_load()
    assert load["requests"] > before["requests"], load
    assert load["errors"] - before["errors"] <= (load["requests"] - before["requests"]) / 100, load
