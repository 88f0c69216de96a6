#!/usr/bin/env python
"""Benchmark of the production gate, the verification after a reload (not a test: it prints figures).

Measures on lb-prod-1 of the lab, because the gate that guards production
judges with production's policy (max_server_share 0.5, min_active_servers 2,
three web-prod servers): its max_server_share rule is part of what can
false-alarm and of what detects. deploy.yml changes production only after
staging passed in the same run, so each algorithm's deploy is limited to
lb-stg-1 and lb-prod-1 (lb-prod-2 keeps its release). A load generator inside
the LB container sends traffic at several concurrencies (idle, 20, 100
clients, each on a new connection per request without pause, niced so that it
does not starve the gate of CPU on a small machine, see LOAD_NICE) while:

1. false alarms: per algorithm, a correct configuration is deployed once
   through playbooks/deploy.yml; then, per concurrency, it is reloaded
   gracefully (systemctl reload haproxy) and judged by the lb_verify role with
   the variables lb_deploy passes, RUNS times (50 by default). Every failed gate
   is a false alarm: a deploy would have rolled that correct release back;
2. detection: with the correct configuration live and the same load, the
   incident split is set through HAProxy's runtime API (100/0/0 = weights
   w,0,0 and 80/10/10 = weights 8,1,1) and the gate runs, without reload (a
   reload resets runtime weights) and without settle wait (nothing to settle),
   with fewer and fewer probe requests (lb_verify_requests 100 .. 5), TRIES
   times each. It prints the smallest probe request count that detected the
   split every time and what HAProxy's counters counted in those windows.

Each (algorithm, clients) cell is one ansible-playbook process that runs
benchmarks/gate_bench.yml once per step, so Ansible's start-up is paid once; the
playbook writes every step's verdict to a JSON file this script reads.

Algorithms: roundrobin, static-rr, leastconn, random and first (with the
service policy allow_first and max_server_share 1.0 the model requires). Not
measured, and the output says so: source and uri (the gate does not check the
share of hash algorithms), detection under first (its expected split is
100/0/0 already), and 80/10/10 under static-rr (HAProxy accepts only 0% and
100% runtime weights for static algorithms).

The targets of the tracker issue are printed last: under 1% false alarms,
detection within 100 requests. At the end the runtime weights are restored, the
load generator stopped, and deploy.yml puts the whole lab back on the
inventory's release.

Needs the lab's containers: `make lab-up` first (the script deploys what it
measures). Run with `make bench-gate` or, after `source scripts/env.sh`,
`python benchmarks/gate_bench.py`: the full measurement takes about 80 minutes
on two cores, most of it in gates under load, whose counter window lasts at
least 2 s. Quick try: `python benchmarks/gate_bench.py --runs 3 --algorithms
roundrobin --clients 0,20 --tries 1`.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
INVENTORY = ROOT / "inventories/lab/hosts.yml"
DEPLOY = ROOT / "playbooks/deploy.yml"
STEP_PLAYBOOK = ROOT / "benchmarks/gate_bench.yml"
VERIFY_DEFAULTS = ROOT / "roles/lb_verify/defaults/main.yml"
LAB_MODEL = ROOT / "inventories/lab/group_vars/loadbalancers.yml"
# The production gate: production policy, and the host deploy.yml changes first.
LB = "lb-prod-1"
# deploy.yml lets production proceed only after staging passed in the same run.
DEPLOY_LIMIT = f"lb-stg-1,{LB},localhost"
SOCKET = "/run/haproxy/admin.sock"

ALGORITHMS = ("roundrobin", "static-rr", "leastconn", "random", "first")
# The gate does not judge the share of hash algorithms (one client or URI always
# hashes to one server): neither false alarms of the share nor detection apply.
HASHED = ("source", "uri")
CLIENTS = (0, 20, 100)
RUNS = 50
DETECT_REQUESTS = (100, 60, 30, 20, 10, 5)
# Three tries per split and count: each costs a gate (at least 2 s under load,
# lb_verify_counter_window_seconds), and 8 loaded cells x 2 splits x 6 counts add up.
DETECT_TRIES = 3
# Incident splits, as weights of the backend's three servers in model order.
SPLITS = {"100/0/0": ("w", 0, 0), "80/10/10": (8, 1, 1)}
# HAProxy's runtime API accepts only 0% and 100% weights for static algorithms.
STATIC = ("static-rr",)
TARGET_FALSE_ALARMS = 0.01
TARGET_DETECT_REQUESTS = 100
# How many false alarms are printed in full.
SHOWN_FALSE_ALARMS = 10

LOAD_STATS = "/tmp/lbguard-gate-load.json"
LOAD_STOP = "/tmp/lbguard-gate-load.stop"
# The generator stops by itself after this long, should the script never stop it.
LOAD_LIMIT_SECONDS = 7200
# The generator runs on the LB host itself, which no production LB has, and its
# clients send without pause: at normal priority they take both cores and every
# Ansible task waits for CPU (a step took 8 s instead of 3 in a trial). Niced, it
# leaves the CPU to HAProxy, the web servers, the probe and Ansible when they
# need it and sends with the rest (about 3000 requests/s on two cores).
LOAD_NICE = 10
# Runs inside the LB container (sent with python3 -c): see its docstring.
LOAD_SCRIPT = (ROOT / "scripts" / "load_generator.py").read_text(encoding="utf-8")


# ----------------------------------------------------------------------- helpers


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=False, timeout=timeout)


def lb_shell(command: str) -> str:
    """Run a shell command inside the LB container; return its stdout."""
    return podman("exec", LB, "sh", "-c", command).stdout


def playbook(*args: str, timeout: float = 7200) -> tuple[int, float, str]:
    """Run ansible-playbook on the lab inventory; return (exit code, seconds, stdout and stderr)."""
    start = time.monotonic()
    result = subprocess.run(["ansible-playbook", "-i", str(INVENTORY), *args], capture_output=True, text=True,
                            check=False, cwd=ROOT, timeout=timeout)
    return result.returncode, time.monotonic() - start, result.stdout + result.stderr


def write_json(directory: Path, name: str, data: Any) -> Path:
    path = directory / name
    path.write_text(json.dumps(data))
    return path


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def backend_weights() -> dict[str, int]:
    """The shop backend's servers and runtime weights, in configuration order."""
    rows = csv.DictReader(io.StringIO(lb_shell(f"echo 'show stat' | socat stdio {SOCKET}").lstrip("# ")))
    return {r["svname"]: int(r["weight"]) for r in rows
            if r["pxname"] == "shop" and r["svname"] not in ("FRONTEND", "BACKEND")}


def set_weights(weights: dict[str, int]) -> None:
    """Set runtime weights (the configuration file is untouched; a reload resets them)."""
    commands = "; ".join(f"set server shop/{name} weight {weight}" for name, weight in weights.items())
    lb_shell(f"echo '{commands}' | socat stdio {SOCKET}")


def split_weights(split: Sequence[Any], good: dict[str, int]) -> dict[str, int]:
    """Runtime weights of an incident split; "w" keeps the server's configured weight."""
    return {name: (good[name] if weight == "w" else int(weight)) for name, weight in zip(good, split)}


def service_for(algorithm: str) -> dict[str, Any]:
    """The lab's shop service with another algorithm; first needs a policy that allows it."""
    service = dict(yaml.safe_load(LAB_MODEL.read_text())["lb_services"][0], balance=algorithm)
    if algorithm == "first":
        # The model refuses first unless allow_first and max_server_share 1.0 (first sends everything to one server).
        service["policy"] = {"allow_first": True, "max_server_share": 1.0}
    return service


def verify_default(name: str) -> Any:
    """A default of the lb_verify role (None when the role has no such variable)."""
    return yaml.safe_load(VERIFY_DEFAULTS.read_text()).get(name)


# ---------------------------------------------------------------- load generator


def load_stats() -> dict[str, int]:
    """What the load generator has sent so far: {"requests", "errors", "pid"}, or {} before it wrote."""
    text = lb_shell(f"cat {LOAD_STATS} 2>/dev/null")
    return json.loads(text) if text.strip() else {}


def wait_for(condition: Any, timeout: float) -> Any:
    """Poll ``condition`` every half second until it holds or ``timeout`` seconds passed; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.5)


def stop_load() -> dict[str, int]:
    """Stop the load generator (if any) and return its final counts."""
    lb_shell(f"touch {LOAD_STOP}")
    pid = load_stats().get("pid")
    if pid and not wait_for(lambda: lb_shell(f"test -d /proc/{pid} || echo gone").strip() == "gone", 30):
        lb_shell(f"kill {pid}")
    stats = load_stats()
    lb_shell(f"rm -f {LOAD_STATS} {LOAD_STOP}")
    return stats


@contextmanager
def load(clients: int, nice: int = LOAD_NICE) -> Iterator[dict[str, int]]:
    """Steady load through the LB for the with-block; the dict gets the generator's final counts."""
    result: dict[str, int] = {"requests": 0, "errors": 0}
    if clients <= 0:
        yield result
        return
    lb_shell(f"rm -f {LOAD_STATS} {LOAD_STOP}")
    podman("exec", "-d", LB, "nice", "-n", str(nice), "python3", "-c", LOAD_SCRIPT, str(clients),
           str(LOAD_LIMIT_SECONDS), LOAD_STATS, LOAD_STOP)
    try:
        # Measure a steady state, not the generator's start.
        if not wait_for(lambda: load_stats().get("requests", 0) > 5 * clients, 60):
            raise RuntimeError(f"the load generator sent nothing: {load_stats()}")
        yield result
    finally:
        result.update(stop_load())


# ------------------------------------------------------------------- one cell


@dataclass
class Cell:
    """The gates of one (algorithm, clients) cell."""

    algorithm: str
    clients: int
    records: list[dict[str, Any]] = field(default_factory=list)
    load: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    error: str = ""

    @property
    def deploys(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r["kind"] == "deploy"]

    @property
    def false_alarms(self) -> list[dict[str, Any]]:
        return [r for r in self.deploys if not r["passed"]]

    def detects(self, split: str, requests: int) -> list[dict[str, Any]]:
        return [r for r in self.records if r["kind"] == "detect" and r["split"] == split
                and r["requests"] == requests]


def runtime_splits(algorithm: str) -> list[str]:
    """The incident splits that can be set at runtime under an algorithm."""
    if algorithm == "first":
        return []
    return [split for split, weights in SPLITS.items()
            if algorithm not in STATIC or all(weight in ("w", 0) for weight in weights)]


def plan_for(algorithm: str, runs: int, tries: int, good: dict[str, int], settle: float,
             requests: int) -> list[dict[str, Any]]:
    """The steps of one cell: correct deploys, then each incident split with fewer and fewer probe requests."""
    steps: list[dict[str, Any]] = [{"kind": "deploy", "run": run, "requests": requests, "settle_seconds": settle,
                                    "weights": {}} for run in range(runs)]
    if not runtime_splits(algorithm) or tries <= 0:
        return steps
    for split in runtime_splits(algorithm):
        weights = SPLITS[split]
        for count in DETECT_REQUESTS:
            for attempt in range(tries):
                # Weights are set on a split's first step only; they stay until the restore step.
                first = count == DETECT_REQUESTS[0] and attempt == 0
                steps.append({"kind": "detect", "split": split, "try": attempt, "requests": count,
                              "settle_seconds": 0, "weights": split_weights(weights, good) if first else {}})
    steps.append({"kind": "restore", "requests": 0, "settle_seconds": 0, "weights": good})
    return steps


def run_cell(algorithm: str, clients: int, plan: list[dict[str, Any]], workdir: Path, nice: int) -> Cell:
    """Run one cell's plan in one ansible-playbook process under load; return its verdicts."""
    cell = Cell(algorithm, clients)
    results = workdir / f"results-{algorithm}-{clients}.json"
    extra = write_json(workdir, f"vars-{algorithm}-{clients}.json", {
        "gate_bench_host": LB, "gate_bench_plan": plan, "gate_bench_results": str(results),
        "lb_services": [service_for(algorithm)]})
    start = time.monotonic()
    with load(clients, nice) as counts:
        rc, _, out = playbook("-e", f"@{extra}", *[str(STEP_PLAYBOOK)] * len(plan))
    cell.seconds = time.monotonic() - start
    cell.load = counts
    # A step that could not be prepared stops the cell; the verdicts before it are kept.
    if results.exists():
        cell.records = json.loads(results.read_text())
    if rc != 0 or not results.exists():
        cell.error = f"gate_bench.yml exit {rc}:\n{out[-3000:]}"
    return cell


def deploy_algorithm(algorithm: str, workdir: Path) -> str:
    """Deploy the algorithm's correct configuration through deploy.yml; return '' or what went wrong."""
    report_dir = workdir / f"reports-{algorithm}"
    extra = write_json(workdir, f"deploy-{algorithm}.json", {"lb_services": [service_for(algorithm)],
                                                             "lbguard_report_dir": str(report_dir)})
    # Exit 2 is expected: lb-prod-2 is outside the limit and reports no result.
    _, _, out = playbook(str(DEPLOY), "--limit", DEPLOY_LIMIT, "-e", f"@{extra}")
    reports = sorted(report_dir.glob("deploy-*.json"))
    host = json.loads(reports[-1].read_text())["hosts"].get(LB, {}) if reports else {}
    if host.get("status") != "verified":
        return f"deploy of {algorithm} on {LB}: {host.get('status')} {host.get('problems')}\n{out[-3000:]}"
    return ""


# -------------------------------------------------------------------- printing


def reason_tags(problems: Sequence[str]) -> str:
    """Which rules of the gate fired, in short."""
    text = "\n".join(problems)
    tags = [tag for tag, needle in (("nothing", "received nothing"), ("max-share", "exceeds max_server_share"),
                                    ("off", "off the expected share"), ("errors", "failed ("),
                                    ("DOWN", "servers DOWN"), ("model", "not the new release"),
                                    ("weights", "runtime weights differ")) if needle in text]
    return "+".join(tags) or ("other" if problems else "-")


def print_header(args: argparse.Namespace, settle: float, requests: int) -> None:
    haproxy = lb_shell("haproxy -v | head -n1").strip()
    print(f"gate benchmark  {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    print(f"machine         {os.cpu_count()} cpus, {platform.system()} {platform.release()} {platform.machine()}")
    print(f"load balancer   {LB} (production policy), {haproxy}")
    window = verify_default("lb_verify_counter_window_seconds")
    print(f"gate            lb_verify as lb_deploy runs it: {requests} probe requests, settle up to {settle:g} s, "
          f"tolerance {verify_default('lb_verify_tolerance')}, alpha {verify_default('lb_verify_alpha')}"
          + (f", counter window under load at least {window} s" if window is not None else ""))
    print(f"false alarms    {args.runs} graceful reloads of a correct release + gate per algorithm and clients")
    print(f"detection       incident split set at runtime, gate without reload, probe requests "
          f"{'/'.join(map(str, DETECT_REQUESTS))}, {args.tries} tries each")
    print(f"load            python clients inside {LB} on 127.0.0.1:8080, new connection per request, no pause, "
          f"nice {args.nice}; clients {', '.join(map(str, args.clients))}")
    print()


def print_false_alarms(cells: list[Cell]) -> tuple[int, int]:
    """Print the false-alarm table; return (false alarms, runs) in total."""
    print("False alarms: correct release, graceful reload, gate (a failed gate = a rollback of a correct release)")
    print(f"{'algorithm':<11}{'clients':>8}{'runs':>6}{'false':>7}{'false %':>9}{'counted med':>13}{'min':>7}"
          f"{'max':>8}{'probe-only':>12}{'off med':>9}{'off max':>9}{'settle med s':>14}{'gate med s':>12}"
          f"{'load req/s':>12}")
    total = alarms = 0
    for cell in cells:
        deploys = cell.deploys
        if not deploys:
            reason = cell.error.splitlines()[0] if cell.error else ""
            print(f"{cell.algorithm:<11}{cell.clients:>8}  not measured: {reason}")
            continue
        measured = [r for r in deploys if shop_figures(r)]
        counted = [int(shop_figures(r).get("counted", 0)) for r in measured]
        # Windows judged on the probe's own answers because the counters were unusable.
        probe_only = sum(1 for r in measured if shop_figures(r).get("source") != "counters")
        off = [worst_off(r) for r in measured]
        settle = [float(r["settle_waited"]) for r in deploys if r.get("settle_waited") is not None]
        rate = cell.load.get("requests", 0) / cell.seconds if cell.clients and cell.seconds else 0
        false = len(cell.false_alarms)
        total, alarms = total + len(deploys), alarms + false
        print(f"{cell.algorithm:<11}{cell.clients:>8}{len(deploys):>6}{false:>7}{100 * false / len(deploys):>8.1f}%"
              f"{median(counted):>13.0f}{min(counted, default=0):>7}{max(counted, default=0):>8}{probe_only:>12}"
              f"{median(off):>9.1f}{max(off, default=0):>9.1f}{median(settle):>14.1f}"
              f"{median([float(r['seconds']) for r in deploys]):>12.2f}{rate:>12.0f}")
    print("  (counted: requests judged, HAProxy's counters over the probe's window; probe-only: gates judged on the "
          "probe's own answers, counters unusable; off: the largest distance of a server's observed share from its "
          "weight share, in points; settle: the probe's wait after the reload; gate: wall time of the lb_verify "
          "role)")
    print()
    return alarms, total


def print_false_alarm_problems(cells: list[Cell]) -> None:
    shown = [(cell, r) for cell in cells for r in cell.false_alarms]
    if not shown:
        print("No false alarm: every correct release passed its gate.")
        print()
        return
    print(f"False alarms' problems (first {min(len(shown), SHOWN_FALSE_ALARMS)} of {len(shown)}):")
    for cell, record in shown[:SHOWN_FALSE_ALARMS]:
        shop = shop_figures(record)
        print(f"- {cell.algorithm}, {cell.clients} clients, run {record['run'] + 1}: source {shop.get('source')}, "
              f"counted {shop.get('counted')}, settle waited {record.get('settle_waited')} s"
              + (f", note: {shop['note']}" if shop.get("note") else ""))
        for problem in record["problems"][:3]:
            print(f"    {problem}")
    print()


def shop_figures(record: dict[str, Any]) -> dict[str, Any]:
    """What the gate measured for the shop service in one step ({} when it stopped with an error)."""
    return (record.get("figures") or {}).get("shop") or {}


def median_shares(records: Sequence[dict[str, Any]]) -> list[float]:
    """Per server, in model order, the median observed share over some steps."""
    shares = [list(shop_figures(r).get("observed", {}).values()) for r in records if shop_figures(r)]
    return [median([row[i] for row in shares]) for i in range(len(shares[0]))] if shares else []


def worst_off(record: dict[str, Any]) -> float:
    """The largest difference, in points, between a server's observed share and its weight share."""
    shop = shop_figures(record)
    expected = shop.get("expected", {})
    return max((abs(share - expected.get(name, 0.0)) * 100 for name, share in shop.get("observed", {}).items()),
               default=0.0)


#: The gate's rules that judge the traffic itself (reason_tags), as opposed to the runtime state.
TRAFFIC_RULES = ("nothing", "max-share", "off")


def smallest_detecting(records_at: dict[int, list[dict[str, Any]]], detected: Any) -> int | None:
    """The fewest probe requests from which every try detected the split, with every larger count too."""
    smallest = None
    for n in DETECT_REQUESTS:
        if not records_at[n] or not all(detected(r) for r in records_at[n]):
            break
        smallest = n
    return smallest


def by_traffic(record: dict[str, Any]) -> bool:
    """Whether a rule that judges the traffic failed the gate (not only the runtime weights)."""
    return any(tag in TRAFFIC_RULES for tag in reason_tags(record["problems"]).split("+"))


def print_detection(cells: list[Cell], tolerance: float) -> tuple[int, int, int, int]:
    """Print the detection table.

    The gate detects a split set at runtime twice over: HAProxy reports the
    weights (rule b), and the traffic shows them (rule c). The table gives the
    gate's verdict and, apart, from how many probe requests the traffic rules
    alone detected it. Returns (cases detected every time within the target,
    cases, worst smallest count of the gate, cases whose traffic did not show
    the split).
    """
    print("Detection: incident split set at runtime, gate without reload; detected/tries per probe request count")
    header = "  ".join(f"{n:>5}" for n in DETECT_REQUESTS)
    print(f"{'algorithm':<11}{'split':<10}{'clients':>7}   {header}   {'traffic':>9}{'smallest':>9}"
          f"{'by traffic':>11}{'counted med':>13}  rules at smallest")
    met = cases = worst = no_split = 0
    for cell in cells:
        for split in SPLITS:
            records_at = {n: cell.detects(split, n) for n in DETECT_REQUESTS}
            if not any(records_at.values()):
                continue
            cases += 1
            hits = {n: sum(1 for r in records_at[n] if not r["passed"]) for n in DETECT_REQUESTS}
            smallest = smallest_detecting(records_at, lambda r: not r["passed"])
            traffic_smallest = smallest_detecting(records_at, by_traffic)
            # What the traffic really did with the weights, at the largest window.
            shares = median_shares(records_at[DETECT_REQUESTS[0]])
            traffic = "/".join(f"{100 * share:.0f}" for share in shares)
            # Not concentrated: leastconn on an idle LB takes turns whatever the weights.
            if not (shares and shares[0] - 1 / len(shares) > tolerance):
                no_split += 1
            cols = "  ".join(f"{hits[n]:>2}/{len(records_at[n]):<2}" for n in DETECT_REQUESTS)
            line = f"{cell.algorithm:<11}{split:<10}{cell.clients:>7}   {cols}   {traffic:>9}"
            traffic_text = "-" if traffic_smallest is None else str(traffic_smallest)
            if smallest is None:
                print(f"{line}{'missed':>9}{traffic_text:>11}")
                continue
            met += smallest <= TARGET_DETECT_REQUESTS
            worst = max(worst, smallest)
            at = records_at[smallest]
            counted = median([int(shop_figures(r).get("counted", 0)) for r in at])
            rules = sorted({reason_tags(r["problems"]) for r in at})
            print(f"{line}{smallest:>9}{traffic_text:>11}{counted:>13.0f}  {', '.join(rules)}")
    print("  (traffic: median shares HAProxy's counters saw at 100 probe requests; smallest: fewest probe requests "
          "that detected the split every time, with every larger count too; by traffic: the same for the rules "
          "that judge the traffic (nothing, max-share, off), '-' when the traffic did not show the split every "
          "time; counted: requests the counters judged at the smallest; rules: weights = runtime weights differ "
          "from the model)")
    print()
    return met, cases, worst, no_split


def print_skipped(algorithms: Sequence[str]) -> None:
    for algorithm in algorithms:
        missing = [split for split in SPLITS if split not in runtime_splits(algorithm)]
        if algorithm in STATIC and missing:
            print(f"{algorithm}: {', '.join(missing)} not measured: HAProxy's runtime API accepts only weights 0% "
                  "and 100% for a static algorithm, so that split cannot be set at runtime.")
    if "first" in algorithms:
        print("first: measured with the service policy allow_first and max_server_share 1.0, which the model "
              "requires; detection not measured: its expected split is already 100/0/0 (everything to the first "
              "server), and weights 8,1,1 do not change whom first picks.")
    print(f"{', '.join(HASHED)}: not measured: the gate does not check the share of hash algorithms "
          "('balance source: share not checked'), so there is no split to false-alarm on or to detect.")
    print()


# ------------------------------------------------------------------------ main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS, help=f"correct deploys per algorithm and clients ({RUNS})")
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS),
                        help=f"comma-separated, of {', '.join(ALGORITHMS)} (all)")
    parser.add_argument("--clients", default=",".join(map(str, CLIENTS)),
                        help=f"comma-separated concurrencies, 0 = idle ({','.join(map(str, CLIENTS))})")
    parser.add_argument("--nice", type=int, default=LOAD_NICE,
                        help=f"niceness of the load generator inside the LB, 0 = normal priority ({LOAD_NICE})")
    parser.add_argument("--tries", type=int, default=DETECT_TRIES,
                        help=f"detection tries per split and probe request count, 0 = no detection ({DETECT_TRIES})")
    args = parser.parse_args(argv)
    args.algorithms = [a.strip() for a in args.algorithms.split(",") if a.strip()]
    unknown = [a for a in args.algorithms if a not in ALGORITHMS]
    if unknown:
        parser.error(f"unknown or unmeasured algorithms {', '.join(unknown)} (measured: {', '.join(ALGORITHMS)}; "
                     f"{', '.join(HASHED)}: share not checked)")
    args.clients = [int(c) for c in args.clients.split(",") if c.strip()]
    if args.runs < 1 or args.tries < 0 or any(c < 0 for c in args.clients):
        parser.error("--runs must be at least 1, --tries and --clients at least 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if podman("container", "exists", LB).returncode != 0:
        print(f"{LB} is not running: run `make lab-up` first", file=sys.stderr)
        return 1
    started = time.monotonic()
    settle, requests = float(verify_default("lb_verify_settle_seconds")), int(verify_default("lb_verify_requests"))
    print_header(args, settle, requests)
    workdir = Path(tempfile.mkdtemp(prefix="lbguard-gate-bench-"))
    cells: list[Cell] = []
    good: dict[str, int] = {}
    try:
        total = len(args.algorithms) * len(args.clients)
        for algorithm in args.algorithms:
            problem = deploy_algorithm(algorithm, workdir)
            if problem:
                print(problem, file=sys.stderr)
                cells += [Cell(algorithm, clients, error="deploy failed") for clients in args.clients]
                continue
            good = backend_weights()
            for clients in args.clients:
                cell = run_cell(algorithm, clients, plan_for(algorithm, args.runs, args.tries, good, settle, requests),
                                workdir, args.nice)
                cells.append(cell)
                detected = sum(1 for r in cell.records if r["kind"] == "detect" and not r["passed"])
                detects = sum(1 for r in cell.records if r["kind"] == "detect")
                print(f"[{len(cells)}/{total}] {algorithm:<10} {clients:>3} clients: {len(cell.deploys)} gates, "
                      f"{len(cell.false_alarms)} false alarms; {detected}/{detects} incident gates failed; load "
                      f"{cell.load.get('requests', 0)} requests, {cell.load.get('errors', 0)} errors; "
                      f"{cell.seconds:.0f} s", flush=True)
                if cell.error:
                    print(cell.error, file=sys.stderr)
    finally:
        # Leave the lab as it was: no generator, the file's weights, the inventory's release.
        stop_load()
        if good:
            set_weights(good)
        rc, _, _ = playbook(str(DEPLOY), "-e", f"lbguard_report_dir={workdir / 'restore'}")
        print(f"lab restored to the inventory's release by deploy.yml (exit {rc})")
        print()

    alarms, runs = print_false_alarms(cells)
    print_false_alarm_problems(cells)
    tolerance = float(verify_default("lb_verify_tolerance"))
    met, cases, worst, no_split = print_detection(cells, tolerance) if args.tries else (0, 0, 0, 0)
    print_skipped(args.algorithms)
    rate = alarms / runs if runs else float("nan")
    false_ok = "met" if runs and rate < TARGET_FALSE_ALARMS else "NOT met"
    detect_ok = "met" if cases and met == cases else ("not measured" if not cases else "NOT met")
    print(f"targets: false alarms {alarms} of {runs} correct deploys = {100 * rate:.2f}% (target < "
          f"{100 * TARGET_FALSE_ALARMS:g}%: {false_ok}); incident split detected every time within "
          f"{TARGET_DETECT_REQUESTS} probe requests in {met} of {cases} cases, at worst from {worst} (target: "
          f"{detect_ok})" + (f"; in {no_split} cases the traffic was not concentrated (the runtime weights "
                             "were the only sign)" if no_split else ""))
    print(f"total wall time {time.monotonic() - started:.0f} s")
    return 0 if all(not cell.error for cell in cells) else 1


if __name__ == "__main__":
    sys.exit(main())
