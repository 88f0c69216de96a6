"""HAProxy's server counters around a traffic window: ``show stat`` readings and their differences.

Part of lbguard_probe (plugins/modules/lbguard_probe.py). Standard library only,
Python 3.9 and later: it runs on the load-balancer hosts.
"""

from __future__ import annotations

import time
from typing import Any, Mapping

from ansible_collections.lbguard.core.plugins.module_utils._probe.common import describe
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_haproxy_api import parse_show_stat, read_unix_socket

# Cumulative per-server counters read around each traffic window: lbtot counts the
# times the balancer picked the server, stot its sessions (both in `show stat`).
COUNTERS = ("lbtot", "stot")


def read_runtime(stats_socket: str, timeout: float) -> tuple[dict[str, dict[str, dict[str, Any]]], str | None]:
    """Return (runtime, error) from HAProxy's ``show stat``; runtime is {} on error."""
    try:
        return parse_show_stat(read_unix_socket(stats_socket, "show stat", timeout)), None
    except (OSError, ValueError, UnicodeError) as exc:
        return {}, f"cannot read 'show stat' from {stats_socket}: {describe(exc)}"


def read_stat_snapshot(stats_socket: str, timeout: float) -> dict[str, Any]:
    """One reading of ``show stat``: runtime state, counters, when it was read, or the errors.

    Returns {"runtime", "counters", "at" (monotonic seconds, taken when the answer
    was complete), "error", "counters_error"}. ``error`` (socket unreadable, not a
    ``show stat`` answer) empties both; ``counters_error`` (no counter columns) only
    the counters, so the runtime state is still judged.
    """
    reading: dict[str, Any] = {"runtime": {}, "counters": {}, "at": 0.0, "error": None, "counters_error": None}
    try:
        text = read_unix_socket(stats_socket, "show stat", timeout)
        reading["runtime"] = parse_show_stat(text)
    except (OSError, ValueError, UnicodeError) as exc:
        reading["error"] = reading["counters_error"] = (f"cannot read 'show stat' from {stats_socket}: "
                                                         f"{describe(exc)}")
        reading["at"] = time.monotonic()
        return reading
    reading["at"] = time.monotonic()
    try:
        reading["counters"] = parse_show_stat(text, counters=COUNTERS)
    except ValueError as exc:
        reading["counters_error"] = f"no counters in 'show stat' from {stats_socket}: {exc}"
    return reading


def counter_window(backend: str, before: Mapping[str, Any], after: Mapping[str, Any],
                   probe_answers: int | None = None) -> dict[str, Any]:
    """What the counters of one backend counted between two ``read_stat_snapshot`` readings.

    Returns {"window_seconds", "lbtot", "stot", "usable", "unusable_reason"}; the
    differences are filled whenever both readings list the backend, even when the
    window is unusable, so that the reason can be checked. ``probe_answers`` (the
    probe's successful HTTP answers in the window) must not exceed the counted
    picks: each of them was a pick of this backend.
    """
    window: dict[str, Any] = {"window_seconds": round(max(float(after["at"]) - float(before["at"]), 0.0), 3),
                              "lbtot": {}, "stot": {}, "usable": False, "unusable_reason": None,
                              "origin": "HAProxy counters"}
    for reading, when in ((before, "before"), (after, "after")):
        if reading.get("counters_error"):
            window["unusable_reason"] = f"{reading['counters_error']} ({when} the window)"
            return window
        if backend not in reading["counters"]:
            window["unusable_reason"] = f"backend {backend} is not in 'show stat' ({when} the window)"
            return window
    old, new = before["counters"][backend], after["counters"][backend]
    problems: list[str] = []
    gone = [server for server in old if server not in new]
    if gone:
        problems.append(f"{', '.join(gone)} left the backend")
    went_back: list[str] = []
    for server, values in new.items():
        for counter in COUNTERS:
            # A server added during the window started counting at 0.
            start = (old.get(server) or {}).get(counter, 0)
            end = values.get(counter)
            if start is None or end is None:
                problems.append(f"{server} has no {counter} value")
                continue
            window[counter][server] = end - start
            if end < start:
                went_back.append(f"{server} {counter} {start} -> {end}")
    if went_back:
        problems.append(f"counters went back ({', '.join(went_back)}): HAProxy reloaded or restarted")
    counted = sum(window["lbtot"].values())
    if not problems and probe_answers is not None and counted < probe_answers:
        problems.append(f"the counters saw {counted} picks, fewer than the probe's own {probe_answers} answers")
    window["usable"] = not problems
    window["unusable_reason"] = "; ".join(problems) or None
    return window
