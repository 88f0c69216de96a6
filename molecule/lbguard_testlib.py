"""Helpers shared by the Molecule scenarios' testinfra tests."""

from __future__ import annotations

import collections
import contextlib
import csv
import io
import json
import os
import subprocess
import time

PROJECT = os.environ.get("MOLECULE_PROJECT_DIRECTORY", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOCKET = "/run/haproxy/admin.sock"


def show_stat(host, backend: str = "shop") -> dict[str, dict]:
    """Server rows of HAProxy's `show stat` for one backend, keyed by server name."""
    out = host.check_output(f"echo 'show stat' | socat stdio {SOCKET}")
    rows = csv.DictReader(io.StringIO(out.lstrip("# ")))
    return {r["svname"]: r for r in rows if r["pxname"] == backend and r["svname"] not in ("FRONTEND", "BACKEND")}


def wait_for_status(host, expected: dict[str, str], timeout: float = 30) -> dict[str, str]:
    """Poll the runtime API until every server's status matches, or return the last view."""
    deadline = time.monotonic() + timeout
    while True:
        status = {name: row["status"] for name, row in show_stat(host).items()}
        if all(status.get(name) == state for name, state in expected.items()) or time.monotonic() > deadline:
            return status
        time.sleep(1)


def served_by(host, requests: int = 30, port: int = 8080, header: str = "X-Served-By") -> collections.Counter:
    """Send real requests through the load balancer and count the answering servers.

    X-Served-By is set by HAProxy; X-Backend by the lab web server itself.
    """
    script = (f"for i in $(seq {requests}); do curl -s -o /dev/null -D - http://127.0.0.1:{port}/ "
              f"| tr -d '\\r' | grep -i '^{header}:' | cut -d' ' -f2; done")
    return collections.Counter(host.check_output(script).split())


def ansible_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ANSIBLE_ROLES_PATH=f"{PROJECT}/roles",
        ANSIBLE_LIBRARY=f"{PROJECT}/plugins/modules",
        ANSIBLE_COLLECTIONS_PATH=f"{PROJECT}/collections:{PROJECT}/.collections",
        ANSIBLE_STDOUT_CALLBACK="default",
        ANSIBLE_CALLBACK_RESULT_FORMAT="yaml",
        ANSIBLE_FORCE_COLOR="0",
    )
    return env


def playbook_command(playbook: str, *args: str) -> list[str]:
    return ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], f"{PROJECT}/playbooks/{playbook}", *args]


def run_playbook(playbook: str, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """Run one of the project's playbooks against the scenario's hosts."""
    return subprocess.run(playbook_command(playbook, *args), env=ansible_env(), capture_output=True, text=True,
                          timeout=timeout, check=False)


def start_playbook(playbook: str, *args: str) -> subprocess.Popen:
    """Start a playbook in the background (for concurrency tests)."""
    return subprocess.Popen(playbook_command(playbook, *args), env=ansible_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def deploy(report_dir, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    """Run deploy.yml and return its result with the JSON report it wrote."""
    before = set(os.listdir(report_dir)) if os.path.isdir(report_dir) else set()
    result = run_playbook("deploy.yml", "-e", f"lbguard_report_dir={report_dir}", *args)
    new = sorted(set(os.listdir(report_dir)) - before) if os.path.isdir(report_dir) else []
    report = {}
    if new:
        with open(os.path.join(report_dir, new[-1]), encoding="utf-8") as handle:
            report = json.load(handle)
    return result, report


def problems(report: dict) -> str:
    """Every problem line and the production gate of a report, as one string to search."""
    lines = [p for host in report.get("hosts", {}).values() for p in host.get("problems") or []]
    lines.append((report.get("production_gate") or {}).get("reason", ""))
    return "\n".join(lines)


def lb(name: str):
    """A testinfra host for one of the scenario's containers."""
    import testinfra  # noqa: PLC0415  (only the testinfra run has it on the path)

    return testinfra.get_host(f"podman://{name}")


def snapshot(name: str, config: str, ledger: str) -> dict:
    """What must stay byte for byte: the live file's checksum and the ledger's state."""
    host = lb(name)
    return {
        "config": host.file(config).sha256sum,
        "current": host.file(f"{ledger}/current").content_string.strip(),
        "releases": sorted(host.check_output(f"ls {ledger}/releases").split()),
    }


# Clients that loop on new connections to an LB's shop frontend (127.0.0.1:8080),
# counting answers and errors into LOAD_STATS until LOAD_STOP exists
# (scripts/load_generator.py, shared with the gate benchmark). Each client sends
# LOAD_CLIENT_RATE requests a second, a steady load as production's clients
# send it. Flat out (thousands of requests a second here), they took much of
# the two cores the playbook under test and the scenario beside it need.
LOAD_CLIENT_RATE = 20
LOAD_STATS = "/tmp/lbguard-load.json"
LOAD_STOP = "/tmp/lbguard-load.stop"
with open(os.path.join(PROJECT, "scripts", "load_generator.py"), encoding="utf-8") as _script:
    LOAD_SCRIPT = _script.read()


def wait_for(condition, timeout: float):
    """Poll ``condition`` once a second until it holds or ``timeout`` seconds passed; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(1)


@contextlib.contextmanager
def load_generator(name: str, clients: int, limit_seconds: float, rate: float = LOAD_CLIENT_RATE):
    """Run the load generator inside LB ``name``; yield a reader of what it sent: {"requests", "errors", "pid"}.

    ``clients`` each send ``rate`` requests a second (0: as fast as they can).

    It is stopped whatever happens, and stops by itself after ``limit_seconds``.
    """
    host = lb(name)

    def stats() -> dict:
        result = host.run(f"cat {LOAD_STATS}")
        return json.loads(result.stdout) if result.rc == 0 and result.stdout.strip() else {}

    host.run(f"rm -f {LOAD_STATS} {LOAD_STOP}")
    subprocess.run(["podman", "exec", "-d", name, "python3", "-c", LOAD_SCRIPT, str(clients),
                    str(limit_seconds), LOAD_STATS, LOAD_STOP, str(rate)], check=True, capture_output=True, text=True,
                   timeout=60)
    try:
        started = wait_for(lambda: stats().get("requests", 0) > 100, timeout=60)
        assert started, f"the load generator sent nothing: {stats()}"
        yield stats
    finally:
        host.run(f"touch {LOAD_STOP}")
        pid = stats().get("pid")
        if pid and not wait_for(lambda: host.run(f"test -d /proc/{pid}").rc != 0, timeout=30):
            host.run(f"kill {pid}")
        host.run(f"rm -f {LOAD_STATS} {LOAD_STOP}")
