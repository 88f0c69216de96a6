#!/usr/bin/env python
"""Deploy cost on lab containers (not a test: it prints figures).

Brings up a benchmark fleet with the lab's image and network (lab/up.yml): 12
load balancers (bench-lb-01..12, staging), three web servers and one more LB
for the yardstick (bench-plain-1). Then, each figure the median and the spread
(min..max) of ``--runs`` runs:

1. side by side, runs alternated so both share the machine's noise: a no-change
   ``deploy.yml`` of one LB, and a no-change run of a plain HAProxy playbook
   (benchmarks/plain/plain_haproxy.yml: facts, package, template with
   ``haproxy -c``, service) on another; the ratio deploy / plain;
2. the cost curve: a no-change ``deploy.yml`` of 1, 3, 6 and 12 LBs (an
   inventory of that many), with the time per LB;
3. verification: ``verify.yml`` of 1 and 12 LBs, and the time per LB.

Each figure also gives the control node's CPU seconds per LB (user and system
time of ansible-playbook and its workers), which sizes forks and execution
nodes for a fleet (docs/fleet.md).

The fleet is removed at the end (``--keep`` leaves it). Needs the project's
image and SSH key (``make bootstrap``); `make bench` runs it.

    python benchmarks/deploy_bench.py [--runs 5] [--sizes 1,3,6,12] [--keep]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from ansible.release import __version__ as ansible_version

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / ".cache" / "bench"
WEB = ["bench-web-1", "bench-web-2", "bench-web-3"]
PLAIN = "bench-plain-1"
DEPLOY_ONE = "deploy.yml (validate, deploy, verify, report)"
PLAIN_ONE = "plain playbook (facts, apt, template, service)"
SERVICE = {"name": "shop", "mode": "http", "listen": 8080, "balance": "roundrobin", "backend_group": "webservers",
           "backend_port": 80, "health_check": {"path": "/health", "interval": "1s", "rise": 1, "fall": 2}}


def lbs(count: int) -> list[str]:
    return [f"bench-lb-{i:02d}" for i in range(1, count + 1)]


def inventory(count: int, plain: bool = False) -> Path:
    """An inventory of ``count`` benchmark LBs (staging) and the web servers; JSON is YAML."""
    ssh = {"ansible_connection": "ssh", "ansible_user": "deploy", "ansible_python_interpreter": "/usr/bin/python3",
           "ansible_ssh_private_key_file": str(ROOT / ".cache" / "ssh" / "id_ed25519"),
           "ansible_ssh_common_args": '-o ProxyCommand="podman exec -i %h socat - TCP:127.0.0.1:22" '
                                      "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"}
    names = lbs(count)
    children = {
        "loadbalancers": {"hosts": dict.fromkeys(names, {}),
                          "vars": {"lb_engine": "haproxy", "lb_services": [SERVICE]}},
        "webservers": {"hosts": dict.fromkeys(WEB, {})},
        "staging": {"hosts": dict.fromkeys(names + WEB, {}),
                    "vars": {"lb_policy": {"min_active_servers": 1, "max_server_share": 1.0}}},
        "production": {"hosts": {}},
    }
    if plain:
        children["plain"] = {"hosts": {PLAIN: {}}}
    path = WORK / f"fleet-{count}{'-plain' if plain else ''}.yml"
    path.write_text(json.dumps({"all": {"vars": ssh, "children": children}}, indent=1), encoding="utf-8")
    return path


# CPU seconds (user + system) the control node spent on each run, by label: what
# sizes forks and execution nodes (docs/fleet.md).
CPU: dict[str, list[float]] = {}


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(playbook: str | Path, inventory_path: Path, *args: str, label: str = "") -> float:
    """Wall seconds of one ansible-playbook run; exits when it fails. With ``label``, its CPU goes to CPU[label]."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    start, cpu = time.perf_counter(), children_cpu()
    result = subprocess.run(["ansible-playbook", "-i", str(inventory_path), str(playbook), *args], cwd=ROOT,
                            env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{playbook} failed (exit {result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}")
    if label:
        CPU.setdefault(label, []).append(children_cpu() - cpu)
    return seconds


def figure(label: str, samples: list[float], per: int = 1) -> str:
    median = statistics.median(samples)
    text = f"  {label:44s} median {median:6.2f} s  (min {min(samples):6.2f}, max {max(samples):6.2f}, n={len(samples)})"
    text += f"  {median / per:5.2f} s per LB" if per > 1 else ""
    if label in CPU:
        text += f"; control node CPU {statistics.median(CPU[label]) / per:5.2f} s per LB"
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default="1,3,6,12")
    parser.add_argument("--keep", action="store_true", help="leave the benchmark containers running")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    WORK.mkdir(parents=True, exist_ok=True)
    reports = WORK / "reports"
    largest = inventory(max(sizes), plain=True)
    print(f"{datetime.date.today()}, {os.cpu_count()} cores, {os.getloadavg()[0]:.1f} load before the run, "
          f"ansible-core {ansible_version}", flush=True)
    print(f"fleet: {max(sizes)} LBs, {len(WEB)} web servers, 1 plain LB; {args.runs} runs per figure", flush=True)
    try:
        run(ROOT / "lab" / "up.yml", largest)
        run(ROOT / "playbooks" / "deploy.yml", inventory(max(sizes)), "-e", f"lbguard_report_dir={reports}")
        run(ROOT / "benchmarks" / "plain" / "plain_haproxy.yml", largest)

        print("1. no-change run of one LB, side by side:", flush=True)
        one, plain = inventory(1), inventory(0, plain=True)
        deploy_times, plain_times = [], []
        for _ in range(args.runs):
            deploy_times.append(run(ROOT / "playbooks" / "deploy.yml", one, "-e", f"lbguard_report_dir={reports}",
                                    label=DEPLOY_ONE))
            plain_times.append(run(ROOT / "benchmarks" / "plain" / "plain_haproxy.yml", plain, label=PLAIN_ONE))
        print(figure(DEPLOY_ONE, deploy_times))
        print(figure(PLAIN_ONE, plain_times))
        print(f"  ratio deploy / plain: {statistics.median(deploy_times) / statistics.median(plain_times):.2f}x")

        print("2. no-change deploy.yml by fleet size:", flush=True)
        for size in sizes:
            label = f"deploy.yml, {size} LB(s)"
            samples = [run(ROOT / "playbooks" / "deploy.yml", inventory(size), "-e", f"lbguard_report_dir={reports}",
                           label=label) for _ in range(args.runs)]
            print(figure(label, samples, per=size), flush=True)

        print("3. verify.yml:", flush=True)
        for size in sorted({min(sizes), max(sizes)}):
            label = f"verify.yml, {size} LB(s)"
            samples = [run(ROOT / "playbooks" / "verify.yml", inventory(size), "-e", f"lbguard_report_dir={reports}",
                           label=label) for _ in range(args.runs)]
            print(figure(label, samples, per=size), flush=True)
    finally:
        if not args.keep:
            names = lbs(max(sizes)) + WEB + [PLAIN]
            subprocess.run(["podman", "rm", "-f", "-t", "0", *names], capture_output=True, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
