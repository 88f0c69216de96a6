"""nginx's split log around a traffic window: the lines appended, one per request, per upstream.

Open-source nginx has no per-server counters; its per-service log of
``$upstream_addr`` stands in for them. Part of lbguard_probe
(plugins/modules/lbguard_probe.py). Standard library only, Python 3.9 and
later: it runs on the load-balancer hosts.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any, Iterable, Mapping

from ansible_collections.lbguard.core.plugins.module_utils._probe.common import describe

# Most bytes read from a split log for one window (about 500,000 requests).
MAX_LOG_BYTES = 16 * 1024 * 1024
# nginx writes a request's log line when it finalises the request, which can be
# a moment after the client read the answer: one late look for the last lines.
LOG_LATE_SECONDS = 0.2


def read_log_mark(path: str) -> dict[str, Any]:
    """Where a split log ends now: {"at" (monotonic), "inode", "size", "error"}."""
    mark: dict[str, Any] = {"at": time.monotonic(), "inode": None, "size": 0, "error": None}
    try:
        info = os.stat(path)
    except OSError as exc:
        mark["error"] = f"cannot read the split log {path}: {describe(exc)}"
        return mark
    mark["inode"], mark["size"] = (info.st_dev, info.st_ino), info.st_size
    return mark


def upstream_of(value: str) -> str:
    """The upstream that answered, from one $upstream_addr: the last one tried ("a:80, b:80" -> "b:80")."""
    return value.replace(" : ", ",").split(",")[-1].strip()


def log_window(path: str, before: Mapping[str, Any], after: Mapping[str, Any], names: Mapping[str, str],
               probe_answers: int | None = None) -> dict[str, Any]:
    """What a split log counted between two ``read_log_mark`` marks, in the shape of ``counter_window``.

    Each line nginx appended is one request and names the upstream that answered
    ("-" when nginx answered itself: not counted). ``names`` maps ip:port to
    server names; unknown upstreams are counted under their address.
    """
    window: dict[str, Any] = {"window_seconds": round(max(float(after["at"]) - float(before["at"]), 0.0), 3),
                              "lbtot": {}, "stot": {}, "usable": False, "unusable_reason": None,
                              "origin": "nginx split log"}
    for mark, when in ((before, "before"), (after, "after")):
        if mark.get("error"):
            window["unusable_reason"] = f"{mark['error']} ({when} the window)"
            return window
    if after["inode"] != before["inode"] or after["size"] < before["size"]:
        window["unusable_reason"] = f"the split log {path} was rotated or truncated during the window"
        return window
    length = int(after["size"]) - int(before["size"])
    if length > MAX_LOG_BYTES:
        window["unusable_reason"] = f"the split log grew by {length} bytes, more than the {MAX_LOG_BYTES} read"
        return window
    try:
        with open(path, "rb") as log:
            if (os.fstat(log.fileno()).st_dev, os.fstat(log.fileno()).st_ino) != after["inode"]:
                window["unusable_reason"] = f"the split log {path} was rotated during the window"
                return window
            log.seek(int(before["size"]))
            data = log.read(length)
    except OSError as exc:
        window["unusable_reason"] = f"cannot read the split log {path}: {describe(exc)}"
        return window
    counts: dict[str, int] = {}
    # Only whole lines: nginx writes each line in one write().
    for line in data.decode("utf-8", "replace").split("\n")[:-1]:
        upstream = upstream_of(line)
        if upstream and upstream != "-":
            name = names.get(upstream, upstream)
            counts[name] = counts.get(name, 0) + 1
    window["lbtot"], window["stot"] = counts, dict(counts)
    counted = sum(counts.values())
    if probe_answers is not None and counted < probe_answers:
        window["unusable_reason"] = (f"the split log counted {counted} requests, fewer than the probe's own "
                                     f"{probe_answers} answers")
        return window
    window["usable"] = True
    return window



def addresses_to_names(servers: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Map "ip:port" (as nginx's $upstream_addr prints it) to server names.

    Names are resolved here, on the load balancer, with the resolver nginx used.
    """
    names: dict[str, str] = {}
    for server in servers:
        try:
            infos = socket.getaddrinfo(str(server.get("address")), int(server.get("port", 0)), type=socket.SOCK_STREAM)
        except (OSError, ValueError):
            continue
        for family, _, _, _, sockaddr in infos:
            host = f"[{sockaddr[0]}]" if family == socket.AF_INET6 else sockaddr[0]
            names[f"{host}:{sockaddr[1]}"] = str(server.get("name"))
    return names


def name_upstream_counts(traffic: dict[str, Any], names: Mapping[str, str]) -> None:
    """Replace upstream addresses in counts with server names, in place.

    When nginx retried another server, $upstream_addr lists every attempt
    ("a:80, b:80"); the last one answered.
    """
    counts: dict[str, int] = {}
    for value, count in traffic["counts"].items():
        last = upstream_of(value)
        name = names.get(last, last)
        counts[name] = counts.get(name, 0) + count
    traffic["counts"] = counts
