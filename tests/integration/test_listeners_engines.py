"""Listeners and names against the real engines (#27): what validation accepts, HAProxy and nginx check and start
with the sockets lbguard says they are; what it refuses as one socket, the engines start silently (or, HAProxy
without SO_REUSEPORT, fail to bind).

``haproxy -c`` and ``nginx -t`` do not bind, so each rendered configuration is also started in the test image,
briefly, and its listening sockets are read from /proc/net/tcp and /proc/net/tcp6.
"""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

from test_engine_acceptance import IMAGE, build, engine_refusals

KEYWORDS = ["default", "hostnames", "include", "volatile"]  # nginx's map keywords
PORT = 8080

# Start each engine on each rendered file for a moment and print the listening TCP sockets (state 0A).
START_SCRIPT = """\
mkdir -p /run/haproxy /var/lib/haproxy
cd /models
for f in *.haproxy *.nginx; do
  [ -e "$f" ] || continue
  case "$f" in
    *.haproxy) haproxy -f "/models/$f" -db >/tmp/log 2>&1 & ;;
    *) nginx -c "/models/$f" -g 'daemon off;' >/tmp/log 2>&1 & ;;
  esac
  pid=$!; sleep 2
  awk -v f="$f" '$4 == "0A" {print "LISTEN", f, $2}' /proc/net/tcp /proc/net/tcp6
  kill $pid; wait $pid 2>/dev/null; sleep 1
done
echo STARTED
"""


def pool(name: str, first: int) -> dict[str, Any]:
    return {"name": name, "servers": [{"name": f"{name}{i}", "address": f"10.0.{first}.{i}", "port": 8080}
                                      for i in (1, 2, 3)]}


def dual_stack(engine: str) -> dict[str, Any]:
    """One frontend on every IPv4 and every IPv6 address, routing to pools named like nginx's map keywords."""
    routes = [{"hosts": [f"{name}.example.com"], "pool": name} for name in KEYWORDS[1:]]
    frontends = [{"name": "default", "binds": [{"port": PORT, "address": "0.0.0.0"}, {"port": PORT, "address": "::"}],
                  "routes": routes, "default_pool": "default"}]
    model, problems = build({"lb_engine": engine, "lb_frontends": frontends,
                             "lb_pools": [pool(name, i) for i, name in enumerate(KEYWORDS, start=1)]})
    assert model is not None, problems
    return model


def listening(models: list[dict[str, Any]], tmp_path: Path,
              edits: dict[int, tuple[str, str]] | None = None) -> dict[int, set[str]]:
    """Check and start each model (as ``index.engine`` in ``tmp_path/rendered``): index -> its listening sockets.

    ``edits`` replaces a text in a rendered file after the engines checked it, before it starts.
    """
    assert engine_refusals(models, tmp_path) == {}
    for index, (old, new) in (edits or {}).items():
        path = tmp_path / "rendered" / f"{index}.{models[index]['engine']}"
        assert old in path.read_text()
        path.write_text(path.read_text().replace(old, new))
    started = subprocess.run(["podman", "run", "--rm", "--network", "none", "-v",
                              f"{tmp_path / 'rendered'}:/models:ro,Z", IMAGE, "sh", "-c", START_SCRIPT],
                             capture_output=True, text=True, timeout=900, check=False)
    assert started.returncode == 0 and "STARTED" in started.stdout, started.stdout + started.stderr
    sockets: dict[int, set[str]] = {index: set() for index in range(len(models))}
    for line in started.stdout.splitlines():
        if line.startswith("LISTEN "):
            _, name, local = line.split()
            sockets[int(name.split(".")[0])].add(local)
    return sockets


def socket(address: str, port: int) -> str:
    """/proc/net's spelling of a listening socket: hex address, hex port."""
    hexed = {"0.0.0.0": "00000000", "127.0.0.1": "0100007F", "::": "0" * 32}[address]
    return f"{hexed}:{port:04X}"


def variant(model: dict[str, Any], overlap: bool = False, noreuseport: bool = False) -> dict[str, Any]:
    """``model`` with a bind validation refuses (127.0.0.1 beside every IPv4 address), or HAProxy's noreuseport."""
    changed = copy.deepcopy(model)
    if overlap:
        changed["frontends"][0]["binds"].append({"address": "127.0.0.1", "port": PORT, "tls": False})
    if noreuseport:  # without SO_REUSEPORT two sockets that take the same connections cannot both bind
        changed["global_directives"] = ["noreuseport"]
    return changed


def test_dual_stack_and_map_keyword_names_are_two_sockets_on_both_engines(tmp_path: Path) -> None:
    haproxy, nginx = dual_stack("haproxy"), dual_stack("nginx")
    models = [haproxy, nginx, variant(haproxy, noreuseport=True), variant(haproxy, noreuseport=True),
              variant(haproxy, overlap=True), variant(nginx, overlap=True),
              variant(haproxy, overlap=True, noreuseport=True)]
    # 7-10: nginx's configuration with one pool name as a map key without its escape.
    models += [nginx] * len(KEYWORDS)
    edits = {7 + i: (f"        \\{name} 1;", f"        {name} 1;") for i, name in enumerate(KEYWORDS)}
    # 3: the same configuration as 2 without v6only: HAProxy's [::] socket is then dual stack.
    sockets = listening(models, tmp_path, edits={3: (f"[::]:{PORT} v6only", f"[::]:{PORT}"), **edits})
    rendered = tmp_path / "rendered"
    assert f"bind [::]:{PORT} v6only\n" in (rendered / "0.haproxy").read_text()
    text = (rendered / "1.nginx").read_text()
    assert f"listen [::]:{PORT};" in text and f"listen {PORT};" in text
    assert all(f"        \\{name} 1;\n" in text for name in KEYWORDS)
    every = {socket("0.0.0.0", PORT), socket("::", PORT)}
    for index in (0, 1, 2):  # two sockets; with v6only even without SO_REUSEPORT
        assert every <= sockets[index], sockets
    assert not every & sockets[3], sockets  # dual stack [::] and 0.0.0.0: one port twice, HAProxy cannot start
    # Every IPv4 address and 127.0.0.1 on one port: both engines start silently; HAProxy binds a second socket
    # (SO_REUSEPORT) and fails without it; nginx serves both from 0.0.0.0.
    assert socket("127.0.0.1", PORT) in sockets[4] and every <= sockets[4], sockets
    assert every <= sockets[5] and socket("127.0.0.1", PORT) not in sockets[5], sockets
    assert not every & sockets[6], sockets
    # Unescaped, `default` (a second default) and `include` (of a file "1") stop nginx; `hostnames` and
    # `volatile` are keywords only without a value. The template escapes every key.
    assert [bool(every & sockets[7 + i]) for i in range(len(KEYWORDS))] == [False, True, False, True], sockets
    refused = build({"lb_engine": "haproxy", "lb_pools": [pool("shop", 1)], "lb_frontends": [
        {"name": "edge", "binds": [{"port": PORT}, {"port": PORT, "address": "::ffff:127.0.0.1"}],
         "default_pool": "shop"}]})[1]
    assert any(f"port {PORT} on 127.0.0.1 is already used by frontend edge" in p for p in refused), refused
