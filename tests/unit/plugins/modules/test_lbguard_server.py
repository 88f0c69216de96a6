"""Unit tests of the lbguard_server module against a small stand-in for HAProxy's runtime API.

The stand-in keeps each server's admin state, weight and sessions and answers
`show stat`, `get weight` and `set server` as HAProxy 2.6 does. The real engine
is exercised by molecule/default/tests/test_operations.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ansible_collections.lbguard.core.plugins.modules import lbguard_server as server_module
from lbguard_test_tools import module_env, serve_unix

HEADER = "# pxname,svname,scur,status,weight\n"


class FakeHaproxy:
    """Servers of backend shop: {name: {"admin", "weight", "sessions"}}."""

    def __init__(self) -> None:
        self.servers = {name: {"admin": "ready", "weight": 1, "sessions": 0} for name in ("web1", "web2", "web3")}
        self.commands: list[str] = []

    def answer(self, command: str) -> str:
        self.commands.append(command)
        words = command.split()
        if command == "show stat":
            rows = []
            for name, s in self.servers.items():
                status = {"maint": "MAINT", "drain": "DRAIN"}.get(s["admin"], "UP")
                # HAProxy 2.6 keeps showing a drained server's weight.
                rows.append(f"shop,{name},{s['sessions']},{status},{s['weight']}\n")
            return HEADER + "".join(rows) + "shop,BACKEND,0,UP,3\n\n"
        if words[:2] == ["get", "weight"]:
            name = words[2].split("/")[1]
            return f"{self.servers[name]['weight']} (initial 1)\n\n"
        if words[:2] == ["set", "server"]:
            name = words[2].split("/")[1]
            if name not in self.servers:
                return "No such server.\n\n"
            if words[3] == "state":
                self.servers[name]["admin"] = words[4]
                if words[4] == "drain":
                    self.servers[name]["sessions"] = 0  # the clients went away
            elif words[3] == "weight":
                self.servers[name]["weight"] = int(words[4])
            return "\n"
        return "Unknown command.\n\n"


@contextmanager
def haproxy() -> Iterator[tuple[str, FakeHaproxy]]:
    fake = FakeHaproxy()
    with serve_unix(fake.answer) as (path, _):
        yield path, fake


def run(tmp_path: Path, socket_path: str, check_mode: bool = False, **args: Any) -> dict[str, Any]:
    """Run the module file as Ansible would; return its JSON result."""
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {
        "root": str(tmp_path / "ledger"), "stats_socket": socket_path, "requested_by": "alice",
        "_ansible_check_mode": check_mode, **args}}))
    completed = subprocess.run([sys.executable, server_module.__file__, str(args_file)], env=module_env(),
                               capture_output=True, text=True, timeout=60, check=False)
    return json.loads(completed.stdout)


def holds_file(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "ledger" / "haproxy" / "holds.json"
    return json.loads(path.read_text()) if path.exists() else {}


def test_drain_changes_the_runtime_records_the_hold_and_waits_for_sessions(tmp_path: Path) -> None:
    with haproxy() as (path, fake):
        fake.servers["web2"]["sessions"] = 4
        result = run(tmp_path, path, action="drain", service="shop", servers=["web2"], reason="CHG-1",
                     hold_until="2099-01-01T00:00:00Z", operation="run-1")
    assert result["changed"] is True, result
    assert result["commands"] == ["set server shop/web2 state drain"]
    assert fake.servers["web2"]["admin"] == "drain"
    web2 = result["servers"]["web2"]
    assert web2["drained"] is True and web2["sessions_left"] == 0
    assert web2["after"]["status"] == "DRAIN"
    hold = holds_file(tmp_path)["shop/web2"]
    assert (hold["action"], hold["by"], hold["reason"], hold["until"], hold["operation"]) == \
        ("drain", "alice", "CHG-1", "2099-01-01T00:00:00Z", "run-1")
    assert result["previous"]["web2"] == {"admin": "ready", "weight": 1, "hold": None}
    history = (tmp_path / "ledger" / "haproxy" / "operations.jsonl").read_text().splitlines()
    assert json.loads(history[0])["action"] == "drain"


def test_the_same_request_twice_changes_nothing_the_second_time(tmp_path: Path) -> None:
    with haproxy() as (path, fake):
        run(tmp_path, path, action="maint", service="shop", servers=["web3"], reason="CHG-2")
        again = run(tmp_path, path, action="maint", service="shop", servers=["web3"], reason="CHG-2")
    assert again["changed"] is False and again["commands"] == [], again


def test_check_mode_sends_nothing_and_writes_nothing_but_shows_the_diff(tmp_path: Path) -> None:
    with haproxy() as (path, fake):
        result = run(tmp_path, path, check_mode=True, action="weight", service="shop", servers=["web1"],
                     weight=5, reason="canary")
    assert result["changed"] is True
    assert result["commands"] == ["set server shop/web1 weight 5"]
    assert fake.commands.count("set server shop/web1 weight 5") == 0
    assert fake.servers["web1"]["weight"] == 1
    assert not (tmp_path / "ledger").exists()
    assert '"action": "weight"' in result["diff"]["after"] and result["diff"]["before"] == ""


def test_restore_puts_back_state_weight_and_hold(tmp_path: Path) -> None:
    with haproxy() as (path, fake):
        run(tmp_path, path, action="maint", service="shop", servers=["web2"], reason="first")
        second = run(tmp_path, path, action="weight", service="shop", servers=["web2"], weight=7, reason="second")
        assert fake.servers["web2"]["weight"] == 7
        undone = run(tmp_path, path, action="restore", service="shop", previous=second["previous"])
    assert undone["changed"] is True
    assert fake.servers["web2"] == {"admin": "maint", "weight": 1, "sessions": 0}
    assert holds_file(tmp_path)["shop/web2"]["reason"] == "first"


def test_ready_goes_back_to_the_model_weight_and_ends_the_hold(tmp_path: Path) -> None:
    with haproxy() as (path, fake):
        run(tmp_path, path, action="weight", service="shop", servers=["web1"], weight=3, reason="x")
        run(tmp_path, path, action="drain", service="shop", servers=["web1"], reason="y", drain_timeout=0)
        result = run(tmp_path, path, action="ready", service="shop", servers=["web1"], model_weights={"web1": 2})
    assert fake.servers["web1"]["admin"] == "ready" and fake.servers["web1"]["weight"] == 2
    assert holds_file(tmp_path) == {} and result["changed"] is True


def test_converge_keeps_holds_and_resets_the_rest(tmp_path: Path) -> None:
    intent = {"shop": {name: {"admin": "ready", "weight": 1} for name in ("web1", "web2", "web3")}}
    with haproxy() as (path, fake):
        run(tmp_path, path, action="maint", service="shop", servers=["web2"], reason="patching")
        fake.servers["web3"]["admin"] = "maint"  # by hand, no hold
        fake.servers["web1"]["weight"] = 9       # by hand, no hold
        result = run(tmp_path, path, action="converge", intent=intent)
    assert fake.servers["web2"]["admin"] == "maint"
    assert fake.servers["web3"]["admin"] == "ready" and fake.servers["web1"]["weight"] == 1
    assert sorted(result["changes"]) == ["shop/web1: ready, weight 9 -> ready, weight 1",
                                         "shop/web3: maint, weight 1 -> ready, weight 1"]
    assert "shop/web2" in holds_file(tmp_path)


def test_unknown_server_and_bad_values_fail_with_a_reason(tmp_path: Path) -> None:
    with haproxy() as (path, fake):
        missing = run(tmp_path, path, action="drain", service="shop", servers=["web9"], reason="x")
        heavy = run(tmp_path, path, action="weight", service="shop", servers=["web1"], weight=1000, reason="x")
        until = run(tmp_path, path, action="maint", service="shop", servers=["web1"], reason="x",
                    hold_until="tomorrow")
    assert missing["failed"] and "server web9 is not in backend shop at runtime (servers: web1, web2, web3)" in \
        missing["msg"]
    assert heavy["failed"] and "weight must be 0..256" in heavy["msg"]
    assert until["failed"] and until["msg"].startswith("hold_until:")
    assert [c for c in fake.commands if c.startswith("set ")] == []


def test_nginx_records_holds_only_and_restore_puts_them_back(tmp_path: Path) -> None:
    weights = {"web1": 1, "web2": 3}
    first = run(tmp_path, "/nonexistent.sock", engine="nginx", action="drain", service="shop", servers=["web2"],
                reason="patching", model_weights=weights)
    assert first["changed"] is True and first["commands"] == [], first
    assert first["previous"]["web2"] == {"admin": "ready", "weight": 3, "hold": None}
    assert first["servers"]["web2"]["after"]["status"] == "DRAIN"
    assert (tmp_path / "ledger" / "nginx" / "holds.json").exists()
    undone = run(tmp_path, "/nonexistent.sock", engine="nginx", action="restore", service="shop",
                 previous=first["previous"], model_weights=weights)
    assert undone["changed"] is True and undone["holds"] == {}
    refused = run(tmp_path, "/nonexistent.sock", engine="nginx", action="converge", intent={})
    assert refused["failed"] and "nginx runs what its file says" in refused["msg"]
