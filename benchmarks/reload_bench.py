#!/usr/bin/env python
"""Zero-downtime benchmark on the lab (not a test: it prints figures).

Drives steady HTTP load through lb-stg-1 (from inside the container, to
127.0.0.1:8080, one new connection per request) while:

1. deploy.yml applies a change to staging (graceful reload),
2. deploy.yml applies the incident's change, verification fails and the
   previous release is restored (reload again),
3. the same change as in 1 is applied the way most existing roles do it:
   copy the file and `systemctl restart haproxy`;
4. ten reloads and then ten restarts in a row, one second apart.

For each it prints requests sent and failed; for 2 also the time from the
failed verification to the restored, verified release. It also prints the wall
time of a full no-change run of deploy.yml on the lab.

Needs the lab: `make lab` first. Run with `make bench` or, after
`source scripts/env.sh`, `python benchmarks/reload_bench.py`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INVENTORY = ROOT / "inventories/lab/hosts.yml"
LB = "lb-stg-1"
REPEATS = 10
GOOD = {"name": "shop", "mode": "http", "listen": 8080, "balance": "roundrobin", "backend_group": "webservers",
        "backend_port": 80, "health_check": {"path": "/health", "expect_status": 200, "interval": "1s", "rise": 1,
                                             "fall": 2}}
CHANGED = dict(GOOD, health_check=dict(GOOD["health_check"], interval="2s"))
INCIDENT = dict(GOOD, policy={"min_active_servers": 1, "max_server_share": 1.0})

# Runs inside the container: sequential requests until the stop file appears
# (at most 300 s), then one JSON line with the counts.
LOAD_SCRIPT = r"""
import http.client, json, os, time
stop, deadline = "/tmp/lbguard-load.stop", time.monotonic() + 300
sent = failed = 0
errors = {}
while not os.path.exists(stop) and time.monotonic() < deadline:
    sent += 1
    try:
        conn = http.client.HTTPConnection("127.0.0.1", 8080, timeout=2)
        conn.request("GET", "/", headers={"Connection": "close"})
        status = conn.getresponse().status
        conn.close()
        if status >= 500:
            failed += 1
            errors[str(status)] = errors.get(str(status), 0) + 1
    except Exception as exc:
        failed += 1
        errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
print(json.dumps({"sent": sent, "failed": failed, "errors": errors}))
"""


def podman(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=False, **kwargs)


def playbook(*args: str) -> tuple[int, float, str]:
    start = time.monotonic()
    result = subprocess.run(["ansible-playbook", "-i", str(INVENTORY), *args], capture_output=True, text=True,
                            check=False, cwd=ROOT)
    return result.returncode, time.monotonic() - start, result.stdout


class Load:
    """Steady load through the LB for the duration of a with-block."""

    def __enter__(self) -> Load:
        podman("exec", LB, "rm", "-f", "/tmp/lbguard-load.stop")
        self.proc = subprocess.Popen(["podman", "exec", LB, "python3", "-c", LOAD_SCRIPT], stdout=subprocess.PIPE,
                                     text=True)
        time.sleep(2)
        return self

    def __exit__(self, *exc) -> None:
        time.sleep(1)
        podman("exec", LB, "touch", "/tmp/lbguard-load.stop")
        out, _ = self.proc.communicate(timeout=60)
        self.result = json.loads(out.strip().splitlines()[-1])


def deploy_staging(service: dict, report_dir: str, *extra: str) -> tuple[int, float, str]:
    return playbook(str(ROOT / "playbooks/deploy.yml"), "-e", json.dumps(
        {"lbguard_stages": ["staging"], "lb_services": [service], "lbguard_report_dir": report_dir}), *extra)


def last_report(report_dir: str) -> dict:
    newest = max(Path(report_dir).glob("deploy-*.json"), key=os.path.getmtime)
    return json.loads(newest.read_text())


def wait_all_up(timeout: float = 30) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        out = podman("exec", LB, "sh", "-c", "echo 'show stat' | socat stdio /run/haproxy/admin.sock").stdout
        rows = [r.split(",") for r in out.splitlines() if r.startswith("shop,web-")]
        if rows and all(r[17] == "UP" for r in rows):
            return time.monotonic() - start
        time.sleep(0.2)
    return float("nan")


def line(label: str, load: dict, extra: str = "") -> None:
    print(f"{label:<34} sent {load['sent']:>6}  failed {load['failed']:>5}  {load['errors'] or ''} {extra}")


def main() -> int:
    if podman("container", "exists", LB).returncode != 0:
        print(f"{LB} is not running: run `make lab` first", file=sys.stderr)
        return 1
    report_dir = tempfile.mkdtemp(prefix="lbguard-bench-")

    # Start from the good release everywhere, then time a run that changes nothing.
    rc, _, out = playbook(str(ROOT / "playbooks/deploy.yml"), "-e", f"lbguard_report_dir={report_dir}")
    if rc != 0:
        print(out[-3000:], file=sys.stderr)
        return 1
    rc, no_change_seconds, _ = playbook(str(ROOT / "playbooks/deploy.yml"), "-e", f"lbguard_report_dir={report_dir}")
    print(f"deploy.yml, full lab, no change:  {no_change_seconds:.1f} s wall (exit {rc})")

    with Load() as reload_load:
        rc, seconds, _ = deploy_staging(CHANGED, report_dir)
    line("deploy by graceful reload:", reload_load.result, f"(deploy {seconds:.1f} s, exit {rc})")

    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as overlay:
        overlay.write(json.dumps({"all": {"hosts": {"web-stg-1": {"lb_weight": 256}}}}))
    with Load() as rollback_load:
        rc, seconds, _ = deploy_staging(INCIDENT, report_dir, "-i", overlay.name)
    os.unlink(overlay.name)
    host = last_report(report_dir)["hosts"].get(LB, {})
    line("incident, verify fails, rollback:", rollback_load.result,
         f"(status {host.get('status')}, failed verification -> restored and verified "
         f"{host.get('rollback_seconds')} s, exit {rc})")

    # The same change as the reload case, applied by copy + restart.
    changed_release = podman("exec", LB, "sh", "-c",
                             "grep -l 'inter 2s' /var/lib/lbguard/releases/*/config | tail -n1").stdout.strip()
    with Load() as restart_load:
        podman("exec", LB, "sh", "-c", f"cp {changed_release} /etc/haproxy/haproxy.cfg && systemctl restart haproxy")
        up_after = wait_all_up()
    line("same change by restart:", restart_load.result, f"(all servers UP {up_after:.1f} s after restart)")

    # One restart is a short window: repeat both ways, same load, same count.
    for verb in ("reload", "restart"):
        with Load() as repeated:
            for _ in range(REPEATS):
                podman("exec", LB, "systemctl", verb, "haproxy")
                time.sleep(1)
        line(f"{REPEATS} x systemctl {verb} haproxy:", repeated.result)

    # Leave the lab on its good release.
    rc, _, _ = playbook(str(ROOT / "playbooks/deploy.yml"), "-e", f"lbguard_report_dir={report_dir}")
    print(f"lab restored to its good release (exit {rc})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
