#!/usr/bin/env python
"""Benchmark `playbooks/validate.yml` against an empty play on a large inventory.

Not a test. Generates, in a temporary directory, an inventory of N load balancers
(default 100) each with S services (20) of M explicit servers (50), all valid, in
group production. Then times, median of R runs (3) each:

* baseline: a generated play `hosts: localhost`, `gather_facts: false`, one debug
  task, on the same inventory (inventory parsing and start-up cost);
* validate: `ansible-playbook playbooks/validate.yml` on that inventory.

Prints both wall times (and the CPU times of the ansible-playbook processes,
steadier on a busy machine), the ratio validate / baseline and the overhead (the
difference), and exits 0 (1 if a run fails).

    .venv/bin/python benchmarks/validate_bench.py [--lbs 100 --services 20 --servers 50 --runs 3]

``--layout host_vars`` writes each LB's variables to host_vars/LB.yml instead of
inline in hosts.yml. Ansible then reads those files only when a play asks for the
host's variables, so the baseline no longer pays for parsing them and the
"overhead" includes parsing the model.

Then, in this process, where validate's time goes: Ansible's YAML loader
(DataLoader, what the inventory and host_vars plugins use) on the files of the
model, the model filter's own work (``lbguard_model_problems`` on the parsed
variables as plain dicts, no Ansible around it), and the rest of validate.yml's
wall time: ansible-playbook's start, the inventory, variable access and
templating. Figures are the median of ``--runs``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PLAYBOOK = REPO_ROOT / "playbooks" / "validate.yml"

BASELINE_PLAY = """\
- name: Baseline, no validation
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Do nothing
      ansible.builtin.debug:
        msg: baseline
"""


def ansible_playbook() -> str:
    for candidate in (
        Path(sys.executable).parent / "ansible-playbook",
        REPO_ROOT / ".venv" / "bin" / "ansible-playbook",
    ):
        if candidate.exists():
            return str(candidate)
    sys.exit("ansible-playbook not found next to this Python nor in .venv/bin")


def lb_vars_yaml(lb_index: int, services: int, servers: int, indent: str) -> str:
    """The lb_services of one LB as YAML lines (flow style per server)."""
    lines = [f"{indent}lb_services:"]
    for s in range(services):
        lines += [
            f"{indent}  - name: svc{s}",
            f"{indent}    mode: http",
            f"{indent}    listen: {8000 + s}",
            f"{indent}    balance: {'leastconn' if s % 2 else 'roundrobin'}",
            f"{indent}    health_check: {{path: /health, interval: 2s}}",
            f"{indent}    servers:",
        ]
        for n in range(servers):
            address = f"10.{lb_index % 250}.{s}.{n + 1}"
            lines.append(f"{indent}      - {{name: srv{n}, address: {address}, port: 8080, weight: {1 + n % 3}}}")
    return "\n".join(lines) + "\n"


def generate(root: Path, lbs: int, services: int, servers: int, layout: str) -> Path:
    names = [f"lb{i:03d}" for i in range(lbs)]
    out = ["all:", "  children:", "    loadbalancers:", "      hosts:"]
    for i, name in enumerate(names):
        out.append(f"        {name}:")
        out.append(f"          ansible_host: 192.0.2.{1 + i % 250}")
        if layout == "inline":
            out.append(lb_vars_yaml(i, services, servers, " " * 10).rstrip("\n"))
    out += ["    production:", "      hosts:"] + [f"        {name}:" for name in names]
    inventory = root / "hosts.yml"
    inventory.write_text("\n".join(out) + "\n", encoding="utf-8")
    if layout == "host_vars":
        host_vars = root / "host_vars"
        host_vars.mkdir()
        for i, name in enumerate(names):
            (host_vars / f"{name}.yml").write_text(lb_vars_yaml(i, services, servers, ""), encoding="utf-8")
    return inventory


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Wall time and CPU time (user + system of the child processes) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, result


def breakdown(root: Path, runs: int) -> dict[str, float]:
    """Median seconds of Ansible's YAML loading of the model's files and of the filter's own work on them."""
    sys.path.insert(0, str(REPO_ROOT / "collections"))
    from ansible.parsing.dataloader import DataLoader  # noqa: PLC0415  (the venv's ansible-core)
    from ansible_collections.lbguard.core.plugins.filter import lbguard_model  # noqa: PLC0415

    files = sorted((root / "host_vars").glob("*.yml")) or [root / "hosts.yml"]
    parse, check = [], []
    for _ in range(runs):
        start = time.perf_counter()
        loaded = [DataLoader().load_from_file(str(path)) for path in files]
        parse.append(time.perf_counter() - start)
    if files[0].name == "hosts.yml":
        hosts = loaded[0]["all"]["children"]["loadbalancers"]["hosts"]
        hostvars = {name: dict(values) for name, values in hosts.items()}
    else:
        hostvars = {path.stem: dict(values) for path, values in zip(files, loaded)}
    names = sorted(hostvars)
    for name in names:
        hostvars[name].update(inventory_hostname=name, group_names=["loadbalancers", "production"])
    groups = {"all": names, "loadbalancers": names, "production": names, "staging": []}
    for _ in range(runs):
        start = time.perf_counter()
        for name in names:
            problems = lbguard_model.lbguard_model_problems(name, hostvars, groups)
            if problems:
                sys.exit(f"the filter found problems in the generated model of {name}: {problems[:3]}")
        check.append(time.perf_counter() - start)
    return {"parse": statistics.median(parse), "filter": statistics.median(check)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lbs", type=int, default=100)
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--servers", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--layout", choices=("inline", "host_vars"), default="inline")
    args = parser.parse_args()

    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    for name in ("ANSIBLE_STDOUT_CALLBACK", "ANSIBLE_FILTER_PLUGINS", "ANSIBLE_INVENTORY"):
        env.pop(name, None)
    playbook_cmd = ansible_playbook()

    with tempfile.TemporaryDirectory(prefix="lbguard-bench-") as tmp:
        root = Path(tmp)
        inventory = generate(root, args.lbs, args.services, args.servers, args.layout)
        baseline = root / "baseline.yml"
        baseline.write_text(BASELINE_PLAY, encoding="utf-8")
        size_mb = sum(p.stat().st_size for p in root.rglob("*.yml")) / 1e6
        total_servers = args.lbs * args.services * args.servers
        print(
            f"inventory: {args.lbs} LBs x {args.services} services x {args.servers} servers = "
            f"{total_servers} servers, {size_mb:.1f} MB YAML, layout {args.layout}"
        )

        times: dict[str, list[float]] = {"baseline": [], "validate": []}
        cpu: dict[str, list[float]] = {"baseline": [], "validate": []}
        for run in range(args.runs):
            for label, play in (("baseline", baseline), ("validate", PLAYBOOK)):
                seconds, cpu_seconds, result = timed([playbook_cmd, "-i", str(inventory), str(play)], env)
                if result.returncode != 0:
                    print(
                        f"{label} run {run + 1} failed (exit {result.returncode}):\n{result.stdout[-3000:]}"
                        f"\n{result.stderr[-3000:]}"
                    )
                    return 1
                if label == "validate":
                    ok_lines = result.stdout.count(": OK'")
                    if ok_lines != args.lbs:
                        print(f"validate printed {ok_lines} OK lines, expected {args.lbs}")
                        return 1
                times[label].append(seconds)
                cpu[label].append(cpu_seconds)
                print(f"  run {run + 1} {label:8s} wall {seconds:7.2f} s  cpu {cpu_seconds:7.2f} s", flush=True)
        parts = breakdown(root, args.runs)

    base, valid = statistics.median(times["baseline"]), statistics.median(times["validate"])
    base_cpu, valid_cpu = statistics.median(cpu["baseline"]), statistics.median(cpu["validate"])
    def spread(samples: list[float]) -> str:
        return f"(min {min(samples):.2f}, max {max(samples):.2f}, n={len(samples)})"

    print(f"baseline (empty play)  median wall {base:7.2f} s   cpu {base_cpu:7.2f} s  {spread(times['baseline'])}")
    print(f"validate.yml           median wall {valid:7.2f} s   cpu {valid_cpu:7.2f} s  {spread(times['validate'])}")
    print(f"validate.yml per server       wall {valid / total_servers * 1000:7.3f} ms")
    print(f"ratio validate/baseline       wall {valid / base:7.2f}x    cpu {valid_cpu / base_cpu:7.2f}x")
    print(
        f"overhead                      wall {valid - base:7.2f} s   cpu {valid_cpu - base_cpu:7.2f} s "
        f"({(valid - base) / args.lbs * 1000:.0f} ms wall per LB)"
    )
    rest = valid - parts["parse"] - parts["filter"]
    print(f"where validate.yml's {valid:.2f} s go (median of {args.runs}):")
    print(f"  Ansible's YAML loader on the model's files    {parts['parse']:7.2f} s")
    print(f"  the model filter's own work                  {parts['filter']:7.2f} s  "
          f"({parts['filter'] / total_servers * 1e6:.1f} us per server)")
    if rest >= 0:
        print(f"  the rest: start, inventory, variable access  {rest:7.2f} s")
    else:
        # Measured alone, in one process, the loading can take longer than inside
        # ansible-playbook: it is then an upper bound of that part, not a share.
        print("  the rest: less than the two parts' noise (the loader, timed alone, took longer than the whole run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
