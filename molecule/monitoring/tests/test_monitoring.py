"""lbguard's alerts end to end: a real Prometheus scraping a real HAProxy under real traffic.

Converge has deployed the good model (three equal weights) with the exporter on
the LB container's address. The module's fixtures, started once:

* a traffic generator on the host: requests to the LB's service port at a
  steady rate, a new connection each, started before Prometheus so that
  Prometheus never sees an idle service (the surge baseline is the steady rate);
* the rules and scrape config, rendered by playbooks/monitoring.yml with short
  windows (rate 20s, surge baseline 20s ending 35s ago, "for" 0-5s);
* the host's prometheus-node-exporter (textfile collector only) and prometheus,
  on free loopback ports, scraping every second; stopped at the end.

The tests then run in order: the audit's drift gauge through the textfile and
LBConfigDrift; an LB the audit cannot reach (success 0, LBDriftAuditMissing); even traffic without any traffic alert; the incident's weights
forced through the runtime API (LBTrafficConcentrated, not LBTrafficSurge);
an even surge (LBTrafficSurge, not LBTrafficConcentrated).
"""

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

import pytest
import yaml

sys.path.insert(0, os.path.join(os.environ.get("MOLECULE_PROJECT_DIRECTORY", "."), "molecule"))
from lbguard_testlib import PROJECT, SOCKET, lb, run_playbook  # noqa: E402  (path set just above)

LB = "mon-lb-1"
WEBS = ["mon-web-1", "mon-web-2", "mon-web-3"]
NETWORK = "lbguard-monitoring"
CONFIG = "/etc/haproxy/haproxy.cfg"
SERVICE_PORT = 8080
EXPORTER_PORT = 8405
# Test timing. The surge must fire before its own traffic enters the baseline
# (offset 35s). A fresh Prometheus underestimates rate() until it has a whole
# rate window of samples, which looks like a service starting from idle: the
# baseline is the steady rate only once that ramp has left the baseline window,
# SETTLE seconds after Prometheus started (rate window + offset + window + margin).
WINDOW = "20s"
TIMING = {
    "lb_monitoring_rate_window": WINDOW,
    "lb_monitoring_surge_baseline_window": "20s",
    "lb_monitoring_surge_baseline_offset": "35s",
    "lb_monitoring_for": {"concentrated": "5s", "surge": "5s", "backend_down": "5s", "config_drift": "0s",
                          "audit_missing": "0s"},
    "lb_monitoring_scrape_interval": "1s",
}
STEADY_RATE = 10  # requests per second
SURGE_RATE = 60  # six times the baseline; the surge factor is 3
SETTLE = 20 + 35 + 20 + 5
TRAFFIC_ALERTS = ("LBTrafficConcentrated", "LBTrafficSurge")


def free_port():
    """A free TCP port on loopback (never the packages' 9090/9100 services: the kernel picks)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def container_ip(name):
    fmt = "{{(index .NetworkSettings.Networks \"%s\").IPAddress}}" % NETWORK
    return subprocess.run(["podman", "inspect", "--format", fmt, name], capture_output=True, text=True,
                          check=True).stdout.strip()


def runtime_api(command):
    """One HAProxy runtime API command on the LB, bypassing the pipeline."""
    return lb(LB).check_output(f"echo '{command}' | socat stdio {SOCKET}")


def tool(name):
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} not found: scripts/bootstrap.sh installs it from Debian's packages", pytrace=False)
    return found


class Traffic:
    """Sends requests to the LB at a set rate from a thread; counts answering servers and errors."""

    def __init__(self, address, port):
        self.address, self.port = address, port
        self.rate = STEADY_RATE
        self.sent = 0
        self.errors = 0
        self.served = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _one(self):
        conn = http.client.HTTPConnection(self.address, self.port, timeout=2)
        try:
            conn.request("GET", "/", headers={"Connection": "close"})
            answer = conn.getresponse()
            answer.read()
            server = answer.getheader("X-Served-By", "?")
            self.served[server] = self.served.get(server, 0) + 1
            if answer.status >= 500:
                self.errors += 1
        except OSError:
            self.errors += 1
        finally:
            conn.close()
            self.sent += 1

    def _run(self):
        due = time.monotonic()
        while not self._stop.is_set():
            self._one()
            due = max(due + 1.0 / self.rate, time.monotonic() - 1.0)  # never burst more than 1 s behind
            self._stop.wait(max(0.0, due - time.monotonic()))

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=5)


class Prometheus:
    """The HTTP API of the test's Prometheus."""

    def __init__(self, url, log):
        self.url, self.log = url, log
        self.started = time.monotonic()

    def get(self, path, **params):
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=5) as answer:
            body = json.load(answer)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr):
        """Instant vector as [(labels, value)]."""
        return [(r["metric"], float(r["value"][1])) for r in self.get("/api/v1/query", query=expr)["result"]]

    def alerts(self, name=None):
        """Pending and firing alerts: [(state, labels)]."""
        found = [(a["state"], a["labels"]) for a in self.get("/api/v1/alerts")["alerts"]]
        return [(s, labels) for s, labels in found if name is None or labels["alertname"] == name]

    def state(self):
        """Everything needed to understand a failure, as text."""
        lines = [f"alerts: {json.dumps(self.alerts(), sort_keys=True)}"]
        for expr in ("up", f"lbguard:observed_share:rate{WINDOW}", "lbguard:expected_share:in_rotation",
                     f"lbguard:proxy_requests:rate{WINDOW}", "lbguard:proxy_requests:baseline",
                     "lbguard:proxy_requests:surge_ratio", "haproxy_server_weight", 'haproxy_server_status == 1',
                     "lbguard_config_drift", "lbguard_audit_success"):
            try:
                values = sorted((json.dumps(m, sort_keys=True), round(v, 3)) for m, v in self.query(expr))
            except OSError as error:
                values = [str(error)]
            lines.append(f"{expr}: {values}")
        with open(self.log, encoding="utf-8", errors="replace") as handle:
            lines.append("prometheus log (tail):\n" + "".join(handle.readlines()[-15:]))
        return "\n".join(lines)

    def wait_for(self, what, check, timeout, traffic=None):
        """Poll check() (truthy when done) every second until timeout; fail with Prometheus's state."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                result = check()
            except (OSError, KeyError, ValueError):
                result = None
            if result:
                return result
            if time.monotonic() > deadline:
                extra = f"\ntraffic: sent {traffic.sent}, errors {traffic.errors}, served {traffic.served}" if traffic else ""
                pytest.fail(f"after {timeout}s still waiting for: {what}\n{self.state()}{extra}", pytrace=False)
            time.sleep(1)

    def hold(self, what, check, seconds, traffic=None):
        """check() must stay truthy at every poll for `seconds`; fail with Prometheus's state at the first miss."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            problem = check()
            if problem is not True:
                extra = f"\ntraffic: sent {traffic.sent}, errors {traffic.errors}, served {traffic.served}" if traffic else ""
                pytest.fail(f"{what}: {problem}\n{self.state()}{extra}", pytrace=False)
            time.sleep(1)


def start(command, log_path):
    log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115  (closed with the process in stop())
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT), log


def stop(process, log):
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
    log.close()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("monitoring")


@pytest.fixture(scope="module")
def lb_address():
    return container_ip(LB)


@pytest.fixture(scope="module")
def traffic(lb_address):
    generator = Traffic(lb_address, SERVICE_PORT)
    generator.start()
    yield generator
    generator.stop()


@pytest.fixture(scope="module")
def rendered(workdir, lb_address):
    """The role's files for this scenario's inventory, through the user-facing playbook."""
    out = workdir / "prometheus"
    overlay = workdir / "overlay.yml"
    overlay.write_text(json.dumps({"all": {"hosts": {LB: {"lb_monitoring_exporter_address": f"{lb_address}:{EXPORTER_PORT}"}}}}))
    result = run_playbook("monitoring.yml", "-i", str(overlay), "-e", json.dumps(dict(TIMING, lb_monitoring_output_dir=str(out))))
    assert result.returncode == 0, result.stdout + result.stderr
    return out


@pytest.fixture(scope="module")
def textfile_dir(workdir):
    folder = workdir / "textfile"
    folder.mkdir()
    return folder


@pytest.fixture(scope="module")
def prometheus(workdir, rendered, textfile_dir, traffic):
    node_port, prom_port = free_port(), free_port()
    node, node_log = start([tool("prometheus-node-exporter"), f"--web.listen-address=127.0.0.1:{node_port}",
                            "--collector.disable-defaults", "--collector.textfile",
                            f"--collector.textfile.directory={textfile_dir}"], workdir / "node-exporter.log")
    scrape = yaml.safe_load((rendered / "lbguard-scrape.yml").read_text())
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rendered / "lbguard-rules.yml")],
        "scrape_configs": scrape["scrape_configs"] + [
            {"job_name": "node", "static_configs": [{"targets": [f"127.0.0.1:{node_port}"]}]}],
    }
    config_file = workdir / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config))
    checked = subprocess.run([tool("promtool"), "check", "config", str(config_file)], capture_output=True, text=True,
                             check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    server, server_log = start([tool("prometheus"), f"--config.file={config_file}",
                                f"--storage.tsdb.path={workdir / 'tsdb'}",
                                f"--web.listen-address=127.0.0.1:{prom_port}"], workdir / "prometheus.log")
    api = Prometheus(f"http://127.0.0.1:{prom_port}", workdir / "prometheus.log")
    try:
        api.wait_for("Prometheus ready", lambda: urllib.request.urlopen(f"{api.url}/-/ready", timeout=2).status == 200, 30)
        yield api
    finally:
        stop(server, server_log)
        stop(node, node_log)


def firing(api, name, **labels):
    return [lab for state, lab in api.alerts(name) if state == "firing"
            and all(lab.get(k) == v for k, v in labels.items())]


def one_value(api, expr):
    values = api.query(expr)
    return values[0][1] if len(values) == 1 else None


def test_rules_are_rendered_from_the_model_and_pass_promtool(rendered, lb_address):
    rules = rendered / "lbguard-rules.yml"
    checked = subprocess.run([tool("promtool"), "check", "rules", str(rules)], capture_output=True, text=True,
                             check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    text = rules.read_text()
    for web in WEBS:
        assert f'server: "{web}"' in text
    assert "lbguard:server_requests:rate20s" in text
    assert "offset 35s" in text
    scrape = yaml.safe_load((rendered / "lbguard-scrape.yml").read_text())["scrape_configs"][0]
    assert scrape["static_configs"] == [{"targets": [f"{lb_address}:{EXPORTER_PORT}"],
                                         "labels": {"lb_host": LB, "environment": "staging"}}]


def test_prometheus_scrapes_the_exporter_and_evaluates_the_model(prometheus, traffic):
    prometheus.wait_for("both targets up", lambda: sorted(m["job"] for m, v in prometheus.query("up == 1"))
                        == ["lbguard_haproxy", "node"], 30)
    expected = prometheus.wait_for("expected shares recorded", lambda: prometheus.query("lbguard:expected_share"), 30)
    assert sorted((m["server"], round(v, 3)) for m, v in expected) == [(web, 0.333) for web in WEBS]
    prometheus.wait_for("every server UP in the exporter", lambda: len(prometheus.query(
        f'haproxy_server_status{{lb_host="{LB}", proxy="shop", state="UP"}} == 1')) == 3, 30)


def audit(workdir, textfile):
    result = run_playbook("audit.yml", "-e", f"lbguard_report_dir={workdir / 'reports'}",
                          "-e", f"lbguard_audit_textfile={textfile}")
    return result, textfile.read_text() if textfile.exists() else ""


def test_audit_writes_the_drift_gauge_and_lbconfigdrift_fires_on_a_hand_edit(prometheus, workdir, textfile_dir,
                                                                            traffic):
    textfile = textfile_dir / "lbguard_audit.prom"
    drift = f'lbguard_config_drift{{lb_host="{LB}"}}'

    result, text = audit(workdir, textfile)
    assert result.returncode == 0, result.stdout
    assert f"{drift} 0" in text.splitlines(), text
    assert f'lbguard_audit_success{{lb_host="{LB}"}} 1' in text.splitlines(), text
    checked = subprocess.run([tool("promtool"), "check", "metrics"], input=text, capture_output=True, text=True,
                             check=False)
    assert checked.returncode == 0 and not checked.stdout.strip(), checked.stdout + checked.stderr
    prometheus.wait_for("lbguard_config_drift 0 scraped from node_exporter", lambda: one_value(prometheus, drift) == 0, 30)
    assert prometheus.alerts("LBConfigDrift") == []

    host = lb(LB)
    host.check_output(f"cp -p {CONFIG} {CONFIG}.monitoring-test")
    try:
        host.check_output(f"echo '# hand edit' >> {CONFIG}")
        result, text = audit(workdir, textfile)
        assert result.returncode != 0, result.stdout
        assert f"{drift} 1" in text.splitlines(), text
        alert = prometheus.wait_for("LBConfigDrift firing for the LB",
                                    lambda: firing(prometheus, "LBConfigDrift", lb_host=LB), 30)
        assert alert[0]["cause"] == "config_drift", alert
    finally:
        host.check_output(f"mv {CONFIG}.monitoring-test {CONFIG}")

    # The hand edit undone: the next audit writes 0 and the alert resolves.
    result, text = audit(workdir, textfile)
    assert result.returncode == 0, result.stdout
    assert f"{drift} 0" in text.splitlines(), text
    prometheus.wait_for("LBConfigDrift resolved", lambda: prometheus.alerts("LBConfigDrift") == [], 30)


GONE = "mon-lb-gone"


def unreachable_inventory(workdir):
    """A second inventory source with one more LB, whose container does not exist."""
    gone = GONE
    overlay = workdir / "unreachable.yml"
    overlay.write_text(json.dumps({"all": {"children": {
        "loadbalancers": {"hosts": {gone: {
            "ansible_connection": "ssh", "ansible_user": "root",
            "ansible_ssh_private_key_file": f"{PROJECT}/.cache/ssh/id_ed25519",
            "ansible_ssh_common_args": f'-o ProxyCommand="podman exec -i {gone} socat - TCP:127.0.0.1:22" '
                                       "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"}}},
        "staging": {"hosts": {gone: {}}}}}}))
    return overlay


def test_an_lb_the_audit_cannot_reach_is_not_reported_clean(workdir, textfile_dir):
    """A second LB in the inventory whose container does not exist: unreachable."""
    gone = GONE
    overlay = unreachable_inventory(workdir)
    textfile = workdir / "unreachable.prom"  # not in the collector's folder: Prometheus never sees this LB
    result = run_playbook("audit.yml", "-i", str(overlay), "-e", f"lbguard_report_dir={workdir / 'reports'}",
                          "-e", f"lbguard_audit_textfile={textfile}")
    assert result.returncode != 0, result.stdout
    lines = textfile.read_text().splitlines()
    assert f'lbguard_audit_success{{lb_host="{gone}"}} 0' in lines, lines
    assert not any(line.startswith(f'lbguard_config_drift{{lb_host="{gone}"}}') for line in lines), lines
    # The reachable LB is still audited and clean.
    assert f'lbguard_audit_success{{lb_host="{LB}"}} 1' in lines, lines
    assert f'lbguard_config_drift{{lb_host="{LB}"}} 0' in lines, lines


def test_lbdriftauditmissing_fires_for_an_lb_the_audit_cannot_reach(prometheus, workdir, textfile_dir):
    textfile = textfile_dir / "lbguard_audit.prom"
    try:
        result = run_playbook("audit.yml", "-i", str(unreachable_inventory(workdir)),
                              "-e", f"lbguard_report_dir={workdir / 'reports'}", "-e", f"lbguard_audit_textfile={textfile}")
        assert result.returncode != 0, result.stdout
        alert = prometheus.wait_for("LBDriftAuditMissing firing for the unreachable LB",
                                    lambda: firing(prometheus, "LBDriftAuditMissing", lb_host=GONE), 30)
        assert alert[0]["cause"] == "audit_missing", alert
        assert not firing(prometheus, "LBDriftAuditMissing", lb_host=LB)
    finally:
        # The next audit of the real inventory no longer lists the LB.
        result, _ = audit(workdir, textfile)
        assert result.returncode == 0, result.stdout
    prometheus.wait_for("LBDriftAuditMissing resolved", lambda: prometheus.alerts("LBDriftAuditMissing") == [], 30)


def traffic_alerts(api):
    return [(state, labels) for state, labels in api.alerts() if labels["alertname"] in TRAFFIC_ALERTS]


def test_even_traffic_fires_no_traffic_alert(prometheus, traffic):
    ratio = f'lbguard:proxy_requests:surge_ratio{{lb_host="{LB}", proxy="shop"}}'

    def settled():
        value = one_value(prometheus, ratio)
        return time.monotonic() - prometheus.started > SETTLE and value is not None and 0.5 < value < 2

    prometheus.wait_for("the surge baseline settled on the steady rate", settled, SETTLE + 30, traffic)

    def even():
        shares = {m["server"]: v for m, v in prometheus.query(f'lbguard:observed_share:rate{WINDOW}{{lb_host="{LB}"}}')}
        if sorted(shares) != WEBS or any(abs(v - 1 / 3) > 0.1 for v in shares.values()):
            return f"shares not even: {shares}"
        value = one_value(prometheus, ratio)
        if value is None or not 0.5 < value < 2:
            return f"surge ratio not about 1: {value}"
        found = traffic_alerts(prometheus)
        return f"traffic alert while traffic is even: {found}" if found else True

    # Longer than every "for" and a third of the rate window: a pending alert would show.
    prometheus.hold("even traffic", even, 15, traffic)
    assert traffic.errors == 0, traffic.served


def test_incident_weights_fire_concentrated_and_not_surge(prometheus, traffic):
    """The incident's weights (web1=100, web2=0, web3=0) forced through the runtime API, same request rate."""
    ratio = f'lbguard:proxy_requests:surge_ratio{{lb_host="{LB}", proxy="shop"}}'
    runtime_api(f"set weight shop/{WEBS[0]} 100")
    for web in WEBS[1:]:
        runtime_api(f"set weight shop/{web} 0")
    try:
        def concentrated():
            # Checked at every poll until it fires: never a surge, and the ratio stays about 1.
            surge = prometheus.alerts("LBTrafficSurge")
            assert surge == [], f"LBTrafficSurge during the incident: {surge}\n{prometheus.state()}"
            return firing(prometheus, "LBTrafficConcentrated", lb_host=LB, proxy="shop")

        alert = prometheus.wait_for("LBTrafficConcentrated firing", concentrated, 60, traffic)
        assert [(a["server"], a["cause"]) for a in alert] == [(WEBS[0], "internal_misconfiguration")], alert
        value = one_value(prometheus, ratio)
        assert value is not None and 0.5 < value < 2, f"surge ratio {value}\n{prometheus.state()}"
        assert prometheus.alerts("LBTrafficSurge") == [], prometheus.state()
        assert prometheus.alerts("LBBackendDown") == [], prometheus.state()
    finally:
        for web in WEBS:
            runtime_api(f"set weight shop/{web} 1")


def test_even_surge_fires_surge_and_not_concentrated(prometheus, traffic):
    """Positive control: several times the rate, split as the weights say."""
    prometheus.wait_for("the incident's alert resolved after the weights were restored",
                        lambda: traffic_alerts(prometheus) == [], 60, traffic)
    traffic.rate = SURGE_RATE
    try:
        def surge():
            concentrated = prometheus.alerts("LBTrafficConcentrated")
            assert concentrated == [], f"LBTrafficConcentrated during an even surge: {concentrated}\n{prometheus.state()}"
            return firing(prometheus, "LBTrafficSurge", lb_host=LB, proxy="shop")

        # Must fire before the surge enters the baseline (35 s).
        alert = prometheus.wait_for("LBTrafficSurge firing", surge, 30, traffic)
        assert alert[0]["cause"] == "external_traffic", alert
        shares = {m["server"]: v for m, v in prometheus.query(f'lbguard:observed_share:rate{WINDOW}{{lb_host="{LB}"}}')}
        assert sorted(shares) == WEBS and all(abs(v - 1 / 3) < 0.1 for v in shares.values()), shares
    finally:
        traffic.rate = STEADY_RATE
    assert traffic.errors == 0, traffic.served
