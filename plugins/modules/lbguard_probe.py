"""Read-only probe of a load balancer: runtime state, live model digest, real traffic split."""

from __future__ import annotations

DOCUMENTATION = r"""
module: lbguard_probe
short_description: Measure what a load balancer really does, from the load balancer itself
description:
  - Runs on the load-balancer host and only reads; it never changes anything, so it
    also runs in check mode.
  - Reads the runtime state of every server from the HAProxy runtime API
    (C(show stat) over the unix stats socket, no socat needed). Nothing for nginx.
  - Reads the digest of the model the running process loaded from O(status_url),
    which proves which configuration is live.
  - Sends O(requests) requests to every HTTP service on O(address), each on a new
    connection (request header C(Connection) set to C(close)) so that the balancer
    picks a server per request, and counts the servers named in the
    O(served_by_header) response header. For TCP services it only opens and closes O(requests) connections.
  - Every network operation has a timeout and every loop is bounded, so the probe
    cannot hang. Probe traffic goes only to O(address) (loopback by default);
    O(status_url) is read once.
  - With O(settle_seconds) above 0 it first waits, polling every O(settle_interval)
    seconds, until the balancer has settled after a reload, that is until
    O(status_url) reports O(expected_running_model) and every server of
    O(expected_up) is UP in C(show stat) (HAProxy; nginx has no runtime API, so
    only the digest is awaited). Then, settled or not, it measures once. Waiting
    happens inside the module so that a run that succeeds prints no retries.
  - For HAProxy it also reads every server's cumulative counters (C(lbtot), the
    times HAProxy picked the server, and C(stot), its sessions) from C(show stat)
    right before and right after each service's traffic window, and returns their
    differences. They count all traffic the balancer sent in the window, real
    clients' and the probe's alike, which is the true split under load. A window
    whose counters went back (HAProxy reloaded or restarted during it), lost a
    server, or counted fewer requests than the probe's own answers is marked
    unusable with the reason; the filter then judges the probe's counts.
  - Open-source nginx has no per-server counters. With O(split_log) (the nginx
    role's per-service log of C($upstream_addr)) it counts the lines nginx
    appended to the service's log during the window instead, one per request,
    real clients' included, under the same rules (the log rotated or truncated
    during the window makes it unusable).
  - The module never fails because the load balancer misbehaves. It reports what it
    saw, errors included, and the lbguard_verify_problems filter judges it.
options:
  engine:
    description: Load-balancer engine.
    type: str
    required: true
    choices: [haproxy, nginx]
  services:
    description:
      - Services to probe. Each item needs C(name), C(listen) (port) and C(mode)
        (C(http) or C(tcp), default C(http)); other keys are ignored, so the
        C(services) list of the lbguard model can be passed as it is.
      - A pool of C(lb_pools) carries C(probe), the request that reaches it
        through its frontend, with C(address), C(host), C(path) and C(tls). The probe
        sends C(host) as Host header and SNI name, over TLS when C(tls) is true,
        to C(address) when set (else O(address)), and C(path) instead of O(path).
        The certificate is not checked here.
    type: list
    elements: dict
    required: true
  frontends:
    description:
      - The C(frontends) of the lbguard model. For each one with
        C(redirect_to_https), one plain request goes to its first plain bind
        (Host of its first exact route host) and its status and C(Location) are
        returned in RV(redirects).
      - Every route of every http frontend, and its default pool, is checked with
        a few requests of its own; see RV(routes).
    type: list
    elements: dict
    default: []
  requests:
    description: Requests (HTTP) or connections (TCP) per service, 0..10000.
    type: int
    default: 60
  address:
    description: Address the services are reached at (the probe's only traffic target).
    type: str
    default: 127.0.0.1
  path:
    description: Request path for HTTP services.
    type: str
    default: /
  served_by_header:
    description: Response header that names the server that answered.
    type: str
    default: X-Served-By
  served_by:
    description:
      - What the header holds. C(name) is the server's name (HAProxy's
        C(%[srv_name])); C(address) is the upstream's ip:port (nginx's
        C($upstream_addr)), turned into the server's name by resolving each
        server's address on this host.
    type: str
    choices: [name, address]
    default: name
  timeout:
    description:
      - Seconds allowed per network operation (connect, send, each read). A response
        body is read only while four times this value lasts from the start of its
        request; the runtime API answer likewise.
    type: float
    default: 2.0
  stats_socket:
    description: HAProxy runtime API socket (engine haproxy only).
    type: path
    default: /run/haproxy/admin.sock
  split_log:
    description:
      - nginx only. Path of each service's split log, C({service}) replaced by the
        service's name; each line is the C($upstream_addr) of one request (the
        nginx role's C(nginx_split_log)). Empty, nothing is read and only the
        probe's own answers are counted.
    type: str
    default: ""
  status_url:
    description: URL that returns the digest of the model the running process loaded.
    type: str
    default: http://127.0.0.1:8405/lbguard/model
  settle_seconds:
    description:
      - Longest wait, in seconds (0..600), for the balancer to settle before the
        measurement. C(0) measures at once.
    type: float
    default: 0
  counter_window_seconds:
    description:
      - Shortest counter window under load, in seconds (0..60). When the counters
        saw traffic besides the probe's own, the window is stretched to this
        length before it closes. Picks in a burst of a fraction of a second are not
        independent (a server that stalls for 100 ms gets nothing in that time,
        under leastconn most of all), so a longer window averages them out. On an
        idle balancer the window closes with the probe's last request.
    type: float
    default: 2.0
  settle_interval:
    description: Seconds between two looks at the balancer while waiting (0.1..10).
    type: float
    default: 1.0
  expected_running_model:
    description:
      - Digest that O(status_url) must report before the wait ends (the model just
        deployed). Empty or omitted, the running model is not awaited.
    type: str
  ledger_root:
    description:
      - Root folder of lbguard's ledger on this host. When set, the probe returns the
        ledger's holds (servers an operator put in maintenance, drain or a runtime
        weight through playbooks/server.yml) as RV(holds), and does not wait for a
        server held in maintenance or drain to be UP.
    type: path
  ledger_config_path:
    description:
      - With O(ledger_root), the load balancer's live file. The probe then also
        returns RV(ledger), read before anything is measured.
    type: path
  verified_model:
    description:
      - With O(ledger_config_path), a model digest. The probe measures only when the
        live release passed verification with this model and nothing changed it
        since (its file is the live file; no lock; no commit-confirm timer pending
        or expired). Otherwise it measures nothing and says why in
        RV(unverified_because). A deploy that changes nothing then needs this one
        call; any other deploy is not slowed by a measurement it would discard.
    type: str
  expected_up:
    description:
      - Per service (HAProxy backend), the servers that must be UP in C(show stat)
        before the wait ends, for example C(shop) mapped to C([web1, web2]). A status
        starting with C(UP) counts, and so does C(no check) (a server without health
        check is in rotation and waiting would not change it). Ignored for nginx.
    type: dict
    default: {}
  service:
    description:
      - The systemd unit of the load balancer. When set, its C(ActiveState) is read
        first and returned as RV(service_state); when it is not C(active) the probe
        measures nothing and returns only RV(holds) and RV(service_state), so the
        caller fails at once with the unit's state instead of waiting to settle.
    type: str
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: It only reads and sends probe requests, in check mode too.
  diff_mode:
    support: none
  platform:
    platforms: posix
author:
  - lbguard
"""

EXAMPLES = r"""
- name: Measure the live traffic split
  lbguard_probe:
    engine: "{{ lb_model.engine }}"
    services: "{{ lb_model.services }}"
    requests: 60
  register: lb_probe

- name: Fail on any difference between the model and reality
  ansible.builtin.assert:
    that: problems | length == 0
    fail_msg: "{{ problems | join('\n') }}"
  vars:
    problems: "{{ lb_model | lbguard.core.lbguard_verify_problems(lb_probe, {'label': 'staging ' ~ inventory_hostname}) }}"

- name: Wait up to 12 s for the new model and its servers, then measure
  lbguard_probe:
    engine: haproxy
    services: "{{ lb_model.services }}"
    settle_seconds: 12
    expected_running_model: "{{ lb_model.digest }}"
    expected_up: "{{ lb_model | lbguard.core.lbguard_verify_expected_up }}"
  register: lb_probe
"""

RETURN = r"""
holds:
  description:
    - The ledger's holds, keyed C(SERVICE/SERVER), when O(ledger_root) is set
      (see M(lbguard.core.lbguard_server)); empty otherwise.
  returned: always
  type: dict
  sample: {shop/web2: {action: drain, by: alice, at: "2026-12-03T09:00:00Z", reason: kernel update}}
ledger:
  description:
    - What M(lbguard.core.lbguard_ledger_info) returns with O(ledger_root),
      C(releases=false) and C(config_path=ledger_config_path).
  returned: when O(ledger_config_path) is set
  type: dict
  sample: {current: "20261203T090000Z-1a2b3c", last_verified: "20261203T090000Z-1a2b3c", live_sha256: "9f86d0...",
           current_release: {model_digest: "c0ffee...", verification: {status: passed}}, lock: null,
           pending: null, expired: null, holds: {}}
unverified_because:
  description:
    - With O(verified_model), why the live release is not that model, verified and
      untouched (nothing was measured then); null when it is.
  returned: when O(verified_model) is set
  type: str
  sample: the live file is no longer release 20261203T090000Z-1a2b3c's file
service_state:
  description:
    - The C(ActiveState) of O(service) (C(active), C(failed), C(inactive), ...),
      or C(unknown) when systemd could not tell.
  returned: when O(service) is set
  type: str
  sample: active
runtime:
  description:
    - Per service (HAProxy backend) and server, the runtime status (C(UP),
      C(UP 1/2), C(DOWN), C(MAINT), C(DRAIN), C(no check), ...) and weight read
      from C(show stat). Empty for nginx or when the socket could not be read.
  returned: unless O(service) is set and not active
  type: dict
  sample: {"shop": {"web1": {"status": "UP", "weight": 1}, "web2": {"status": "DOWN", "weight": 1}}}
runtime_error:
  description: Why the runtime state could not be read, else null.
  returned: unless O(service) is set and not active
  type: str
running_model:
  description: Body (stripped) of O(status_url), the digest of the live model; null on error.
  returned: unless O(service) is set and not active
  type: str
running_model_error:
  description: Why O(status_url) could not be read, else null.
  returned: unless O(service) is set and not active
  type: str
traffic:
  description:
    - Per service, what the probe traffic saw. C(counts) maps server names from
      O(served_by_header) to successful (2xx/3xx) responses; C(status_5xx),
      C(other_errors) (any other status, 4xx included), C(connection_errors)
      (refused, reset, timeout, malformed response) and C(missing_header) (2xx/3xx
      without the header) count failed requests. TCP services only fill
      C(requests) and C(connection_errors).
    - A pool of C(lb_pools) also has C(pools), answers per value of the
      C(X-Lbguard-Pool) response header (the pool that answered, empty when
      absent), and C(certificates), TLS handshakes per sha256 fingerprint of the
      certificate the load balancer presented.
  returned: unless O(service) is set and not active
  type: dict
  sample:
    shop: {"mode": "http", "requests": 60, "counts": {"web1": 20, "web2": 20, "web3": 20},
           "status_5xx": 0, "other_errors": 0, "connection_errors": 0, "missing_header": 0}
routes:
  description:
    - Per http frontend of O(frontends), one item per route in order and a last
      one for its default pool. Each has C(route), which is V(routes[N]) or
      V(default), and counts what answered three requests of the route's own
      C(probe) (Host, SNI and path, computed by the model). C(pool) is the pool the model expects,
      C(pools) counts the answers per C(X-Lbguard-Pool) value, C(certificates)
      the TLS handshakes per certificate fingerprint, C(errors) the requests
      without an answer or with a 5xx.
  returned: unless O(service) is set and not active
  type: dict
  sample:
    edge: [{"route": "routes[0]", "pool": "api", "host": "api.example.com", "path": "/",
            "pools": {"api": 3}, "certificates": {"55ab4a42...": 3}, "errors": 0}]
redirects:
  description:
    - Per frontend with C(redirect_to_https), the plain request's C(status),
      C(location) (the Location header, null without one) and the C(expected)
      Location.
  returned: unless O(service) is set and not active
  type: dict
  sample:
    edge: {"status": 301, "location": "https://shop.example.com/lbguard/redirect-check",
           "expected": "https://shop.example.com/lbguard/redirect-check"}
counters:
  description:
    - Per service, what the server counters of C(show stat) (HAProxy) or the
      service's split log (nginx with O(split_log); C(lbtot) and C(stot) are then
      the log's lines per server) counted during the service's traffic window;
      C(origin) says which. C(window_seconds) is the time
      between the two readings; C(lbtot) and C(stot) map each server to the
      difference of its counters (load-balanced picks, sessions), real traffic
      included. C(usable) is false when the window cannot be judged, and
      C(unusable_reason) says why (a counter went back because HAProxy reloaded,
      a server or the backend is missing, C(show stat) could not be read, or the
      counters saw fewer requests than the probe's own answers); the differences
      are still shown. Empty for nginx without O(split_log).
  returned: unless O(service) is set and not active
  type: dict
  sample:
    shop: {"window_seconds": 1.24, "lbtot": {"web1": 812, "web2": 810, "web3": 809},
           "stot": {"web1": 812, "web2": 810, "web3": 809}, "usable": true, "unusable_reason": null,
           "origin": "HAProxy counters"}
settled:
  description:
    - Whether everything awaited (O(expected_running_model), O(expected_up)) was
      there when the measurement started. True when nothing was awaited. Without a
      wait (O(settle_seconds) 0) it is still looked at once.
  returned: unless O(service) is set and not active
  type: bool
settle_waited:
  description: Seconds spent waiting before the measurement, one decimal.
  returned: unless O(service) is set and not active
  type: float
  sample: 3.1
settle_missing:
  description: What was still missing when the wait ended; empty when settled.
  returned: unless O(service) is set and not active
  type: list
  elements: str
  sample: ["the running model 0f0f0f0f0f0f (it reports 1a1a1a1a1a1a)", "web2 UP in shop (DOWN)"]
"""

import hashlib
import http.client
import os
import socket
import ssl
import time
import urllib.parse
from typing import Any, Callable, Iterable, Mapping

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lbguard.core.plugins.module_utils.lbguard_constants import ADMIN_SOCKET, ENGINES, STATUS_URL
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_haproxy_api import (
    is_up,
    parse_show_stat,
    read_unix_socket,
)
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_holds import hold_key, holds_path, read_holds
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_ledger_store import ledger_info, unverified_because

MAX_REQUESTS = 10000
MAX_BODY_BYTES = 1024 * 1024
MAX_STATUS_BYTES = 64 * 1024
READ_CHUNK = 65536
# A request may take at most this many times the per-operation timeout in total.
REQUEST_BUDGET_FACTOR = 4.0
MAX_SETTLE_SECONDS = 600.0
# Digests are shown by their first characters, like git's short ids.
SHORT_DIGEST = 12
# The engine roles name the pool of lb_pools that answered in this response header.
POOL_HEADER = "X-Lbguard-Pool"
# The plain request that checks a frontend's redirect to HTTPS.
REDIRECT_CHECK_HOST = "lbguard-probe.invalid"
REDIRECT_CHECK_PATH = "/lbguard/redirect-check"
# Requests per route (and per frontend's default) that check which pool answers.
ROUTE_CHECK_REQUESTS = 3


# --------------------------------------------------------------------------- runtime


# Cumulative per-server counters read around each traffic window: lbtot counts the
# times the balancer picked the server, stot its sessions (both in `show stat`).
COUNTERS = ("lbtot", "stot")


def read_runtime(stats_socket: str, timeout: float) -> tuple[dict[str, dict[str, dict[str, Any]]], str | None]:
    """Return (runtime, error) from HAProxy's ``show stat``; runtime is {} on error."""
    try:
        return parse_show_stat(read_unix_socket(stats_socket, "show stat", timeout)), None
    except (OSError, ValueError, UnicodeError) as exc:
        return {}, f"cannot read 'show stat' from {stats_socket}: {_describe(exc)}"


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
                                                         f"{_describe(exc)}")
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


# ------------------------------------------------------------------ nginx split log

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
        mark["error"] = f"cannot read the split log {path}: {_describe(exc)}"
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
        window["unusable_reason"] = f"cannot read the split log {path}: {_describe(exc)}"
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


# ------------------------------------------------------------------- running model


def read_running_model(url: str, timeout: float) -> tuple[str | None, str | None]:
    """GET ``url`` and return (stripped body, None), or (None, error text)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None, f"status_url {url!r} is not an http(s) URL"
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    conn_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    try:
        port = parts.port
    except ValueError as exc:
        return None, f"status_url {url!r}: {exc}"
    conn = conn_class(parts.hostname, port, timeout=timeout)
    try:
        conn.request("GET", target, headers={"Connection": "close", "User-Agent": "lbguard-probe"})
        response = conn.getresponse()
        body = response.read(MAX_STATUS_BYTES)
        if response.status != 200:
            return None, f"{url} answered HTTP {response.status} {response.reason}"
        text = body.decode("utf-8", errors="replace").strip()
        if not text:
            return None, f"{url} answered an empty body"
        return text, None
    except (OSError, http.client.HTTPException) as exc:
        return None, f"cannot read {url}: {_describe(exc)}"
    finally:
        conn.close()


# ------------------------------------------------------------------------ settle


def short_digest(digest: str | None) -> str:
    """First characters of a digest, enough to tell releases apart."""
    return str(digest or "")[:SHORT_DIGEST]


def missing_for_settle(expected_model: str | None, running_model: str | None, running_model_error: str | None,
                       expected_up: Mapping[str, Iterable[str]],
                       runtime: Mapping[str, Mapping[str, Mapping[str, Any]]] | None,
                       runtime_error: str | None) -> list[str]:
    """What the balancer does not show yet: the expected running model, servers not UP.

    ``runtime`` is None when the runtime state is not awaited (nginx). Each item
    names the thing awaited and, in brackets, what was seen instead.
    """
    missing: list[str] = []
    if expected_model:
        if running_model is None:
            missing.append(f"the running model {short_digest(expected_model)} "
                           f"({running_model_error or 'no answer'})")
        elif running_model != expected_model:
            missing.append(f"the running model {short_digest(expected_model)} "
                           f"(it reports {short_digest(running_model)})")
    if runtime is None:
        return missing
    for service, servers in expected_up.items():
        names = [str(name) for name in servers]
        if not names:
            continue
        if runtime_error:
            missing.append(f"{', '.join(names)} UP in {service} ({runtime_error})")
            continue
        backend = runtime.get(service) or {}
        for name in names:
            entry = backend.get(name)
            if entry is None:
                missing.append(f"{name} UP in {service} (not in the runtime state)")
            elif not is_up(str(entry.get("status", ""))):
                missing.append(f"{name} UP in {service} ({str(entry.get('status', '')).strip() or 'no status'})")
    return missing


def wait_until_settled(look: Callable[[], list[str]], seconds: float, interval: float,
                       clock: Callable[[], float] = time.monotonic,
                       sleep: Callable[[float], None] = time.sleep) -> tuple[bool, float, list[str]]:
    """Call ``look`` until it returns nothing missing or ``seconds`` have passed.

    ``look`` returns what is still missing. It is called at once, then every
    ``interval`` seconds while time is left; no look starts after the deadline.
    Returns (settled, seconds waited, what was missing at the last look).
    """
    start = clock()
    deadline = start + max(seconds, 0.0)
    missing = look()
    while missing:
        remaining = deadline - clock()
        if remaining <= 0:
            break
        sleep(min(interval, remaining))
        missing = look()
    return not missing, round(clock() - start, 1), missing


def not_held(expected_up: Mapping[str, Iterable[str]], holds: Mapping[str, Any]) -> dict[str, list[str]]:
    """``expected_up`` without the servers a hold keeps out of rotation (maintenance or drain)."""
    return {service: [server for server in servers
                      if (holds.get(hold_key(service, server)) or {}).get("action") not in ("maint", "drain")]
            for service, servers in expected_up.items()}


def settle(params: Mapping[str, Any]) -> dict[str, Any]:
    """Wait for the running model and the servers awaited by ``params``; return settled, settle_waited, settle_missing."""
    timeout = float(params["timeout"])
    expected_model = (params.get("expected_running_model") or "").strip() or None
    expected_up = dict(params.get("expected_up") or {}) if params["engine"] == "haproxy" else {}
    awaits_runtime = any(expected_up.values())

    def look() -> list[str]:
        """One look at what is awaited."""
        running_model, running_model_error = (read_running_model(params["status_url"], timeout)
                                              if expected_model else (None, None))
        runtime, runtime_error = (read_runtime(params["stats_socket"], timeout)
                                  if awaits_runtime else ({}, None))
        return missing_for_settle(expected_model, running_model, running_model_error, expected_up,
                                  runtime if awaits_runtime else None, runtime_error)

    settled, waited, missing = wait_until_settled(look, float(params.get("settle_seconds") or 0),
                                                  float(params.get("settle_interval") or 1.0))
    return {"settled": settled, "settle_waited": waited, "settle_missing": missing}


# ------------------------------------------------------------------------ traffic


def empty_traffic(mode: str, requests: int) -> dict[str, Any]:
    """Counters of one service before any request."""
    return {"mode": mode, "requests": requests, "counts": {}, "status_5xx": 0, "other_errors": 0,
            "connection_errors": 0, "missing_header": 0}


def classify(status: int | None, served_by: str | None) -> str:
    """Classify one request outcome.

    Returns "ok" (2xx/3xx naming a server), "missing_header", "status_5xx",
    "other_errors" or "connection_errors" (``status`` None: no HTTP response).
    """
    if status is None:
        return "connection_errors"
    if 500 <= status <= 599:
        return "status_5xx"
    if 200 <= status <= 399:
        return "ok" if served_by else "missing_header"
    return "other_errors"


def record(traffic: dict[str, Any], status: int | None, served_by: str | None) -> None:
    """Add one request outcome to a service's counters."""
    kind = classify(status, served_by)
    if kind == "ok":
        name = str(served_by).strip()
        traffic["counts"][name] = traffic["counts"].get(name, 0) + 1
    else:
        traffic[kind] += 1


def exchange(address: str, port: int, path: str, timeout: float, host: str = "", tls: bool = False,
             wanted: Iterable[str] = ()) -> dict[str, Any]:
    """Send one GET on a new connection: ``{"status", "headers", "certificate"}``.

    ``status`` is None when no HTTP response came; ``headers`` holds the ``wanted``
    response headers that were present (stripped); ``certificate`` is the sha256
    hex of the certificate the server presented over TLS, else None. ``host`` is
    sent as the Host header and, with ``tls``, as the SNI name. The certificate is
    recorded, not judged, so any certificate is accepted here.

    Each socket operation has ``timeout`` seconds. The body is read (so the load
    balancer logs a complete exchange, not a client abort) in chunks, up to
    ``MAX_BODY_BYTES`` and while the request's budget (4x ``timeout``) lasts;
    then the connection is closed whatever is left.
    """
    start = time.monotonic()
    result: dict[str, Any] = {"status": None, "headers": {}, "certificate": None}
    conn = http.client.HTTPConnection(address, port, timeout=timeout)
    headers = {"Connection": "close", "User-Agent": "lbguard-probe", "Accept": "*/*"}
    if host:
        headers["Host"] = host
    try:
        if tls:  # http.client connects only when it has no socket yet
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            conn.sock = context.wrap_socket(socket.create_connection((address, port), timeout=timeout),
                                            server_hostname=host or None)
            der = conn.sock.getpeercert(binary_form=True)
            result["certificate"] = hashlib.sha256(der).hexdigest() if der else None
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        for name in wanted:
            value = response.getheader(name)
            if value and value.strip():
                result["headers"][name] = value.strip()
        deadline = start + timeout * REQUEST_BUDGET_FACTOR
        read = 0
        while read < MAX_BODY_BYTES and time.monotonic() < deadline:
            chunk = response.read(READ_CHUNK)
            if not chunk:
                break
            read += len(chunk)
        result["status"] = response.status
    except (OSError, http.client.HTTPException):
        result["status"] = None
    finally:
        conn.close()
    return result


def http_request(address: str, port: int, path: str, header: str, timeout: float) -> tuple[int | None, str | None]:
    """Send one GET on a new connection; return (status, served_by header) or (None, None)."""
    result = exchange(address, port, path, timeout, wanted=(header,))
    return result["status"], result["headers"].get(header)


def tcp_connect(address: str, port: int, timeout: float) -> bool:
    """Open and close one TCP connection; True when the connect succeeded."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def probe_http(address: str, port: int, requests: int, path: str, header: str, timeout: float,
               send: Callable[[str, int, str, str, float], tuple[int | None, str | None]] = http_request,
               ) -> dict[str, Any]:
    """Send ``requests`` sequential requests to one HTTP service and count the outcomes."""
    traffic = empty_traffic("http", requests)
    for _ in range(requests):
        status, served_by = send(address, port, path, header, timeout)
        record(traffic, status, served_by)
    return traffic


def probe_route(service: Mapping[str, Any], address: str, requests: int, header: str, timeout: float,
                send: Callable[..., dict[str, Any]] = exchange) -> dict[str, Any]:
    """Send ``requests`` requests of a pool's route (its Host, path, TLS) and count the outcomes.

    Besides a service's counters: ``pools``, answers per value of POOL_HEADER (the
    pool that answered, "" when absent), and ``certificates``, TLS handshakes per
    certificate fingerprint presented.
    """
    traffic = {**empty_traffic("http", requests), "pools": {}, "certificates": {}}
    for _ in range(requests):
        answer = send(address, service["listen"], service["path"], timeout, service["host"], service["tls"],
                      (header, POOL_HEADER))
        record(traffic, answer["status"], answer["headers"].get(header))
        if answer["status"] is not None:
            pool = answer["headers"].get(POOL_HEADER, "")
            traffic["pools"][pool] = traffic["pools"].get(pool, 0) + 1
        if answer["certificate"]:
            traffic["certificates"][answer["certificate"]] = traffic["certificates"].get(answer["certificate"], 0) + 1
    return traffic


def check_routes(frontends: Iterable[Any], default_address: str, requests: int, timeout: float,
                 send: Callable[..., dict[str, Any]] = exchange) -> dict[str, list[dict[str, Any]]]:
    """Every route of every http frontend, and its default: ``requests`` requests each, what answered.

    Per frontend, one item per route in order and a last one for the default pool:
    ``{"route", "pool", "host", "path", "pools", "certificates", "errors"}``, where
    ``pool`` is the pool the model expects, ``pools`` counts the answers per
    POOL_HEADER value and ``certificates`` the handshakes per fingerprint.
    """
    results: dict[str, list[dict[str, Any]]] = {}
    for frontend in frontends:
        if not isinstance(frontend, Mapping) or frontend.get("mode", "http") != "http" or not frontend.get("binds"):
            continue
        bind = next((b for b in frontend["binds"] if b.get("tls")), frontend["binds"][0])
        checks = [(f"routes[{i}]", route.get("pool"), route.get("probe") or {})
                  for i, route in enumerate(frontend.get("routes") or [])]
        checks.append(("default", frontend.get("default_pool"), frontend.get("default_probe") or {}))
        items = []
        for label, pool, probe in checks:
            item = {"route": label, "pool": pool, "host": probe.get("host", ""), "path": probe.get("path", "/"),
                    "pools": {}, "certificates": {}, "errors": 0}
            for _ in range(requests):
                answer = send(bind.get("address") or default_address, int(bind["port"]), item["path"], timeout,
                              item["host"], bool(bind.get("tls")), (POOL_HEADER,))
                if answer["status"] is None or answer["status"] >= 500:
                    item["errors"] += 1
                else:
                    seen = answer["headers"].get(POOL_HEADER, "")
                    item["pools"][seen] = item["pools"].get(seen, 0) + 1
                if answer["certificate"]:
                    item["certificates"][answer["certificate"]] = item["certificates"].get(answer["certificate"], 0) + 1
            items.append(item)
        results[str(frontend.get("name"))] = items
    return results


def check_redirects(frontends: Iterable[Any], default_address: str, timeout: float,
                    send: Callable[..., dict[str, Any]] = exchange) -> dict[str, dict[str, Any]]:
    """One plain request per frontend with redirect_to_https: its status and Location, and the Location expected."""
    results: dict[str, dict[str, Any]] = {}
    for frontend in frontends:
        if not isinstance(frontend, Mapping) or not frontend.get("redirect_to_https"):
            continue
        plain = next((b for b in frontend.get("binds") or [] if not b.get("tls")), None)
        if plain is None:
            continue
        hosts = [h for route in frontend.get("routes") or [] for h in route.get("hosts") or [] if "*" not in h]
        host = hosts[0] if hosts else REDIRECT_CHECK_HOST
        port = int(frontend.get("https_port") or 443)
        answer = send(plain.get("address") or default_address, int(plain["port"]), REDIRECT_CHECK_PATH, timeout,
                      host, False, ("Location",))
        results[str(frontend.get("name"))] = {
            "status": answer["status"],
            "location": answer["headers"].get("Location"),
            "expected": f"https://{host}{'' if port == 443 else f':{port}'}{REDIRECT_CHECK_PATH}",
        }
    return results


def probe_tcp(address: str, port: int, requests: int, timeout: float,
              connect: Callable[[str, int, float], bool] = tcp_connect) -> dict[str, Any]:
    """Open ``requests`` TCP connections to one service and count the failures."""
    traffic = empty_traffic("tcp", requests)
    for _ in range(requests):
        if not connect(address, port, timeout):
            traffic["connection_errors"] += 1
    return traffic


def normalise_services(services: Iterable[Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """Keep name/listen/mode of each service; return (services, problems)."""
    result: list[dict[str, Any]] = []
    problems: list[str] = []
    for index, raw in enumerate(services):
        where = f"services[{index}]"
        if not isinstance(raw, Mapping):
            problems.append(f"{where} must be a mapping with name, listen and mode")
            continue
        name = raw.get("name")
        listen = raw.get("listen")
        mode = raw.get("mode", "http")
        if not isinstance(name, str) or not name:
            problems.append(f"{where}: name must be a non-empty string")
            continue
        if isinstance(listen, str) and listen.isdigit():
            listen = int(listen)
        if isinstance(listen, bool) or not isinstance(listen, int) or not 1 <= listen <= 65535:
            problems.append(f"{where} ({name}): listen must be a port 1..65535, got {listen!r}")
            continue
        if mode not in ("http", "tcp"):
            problems.append(f"{where} ({name}): mode must be http or tcp, got {mode!r}")
            continue
        servers = [s for s in raw.get("servers") or [] if isinstance(s, Mapping)]
        # A pool behind lb_frontends: the request that reaches it (its route's host, path, TLS).
        probe = raw.get("probe") if isinstance(raw.get("probe"), Mapping) else {}
        result.append({"name": name, "listen": listen, "mode": mode, "servers": servers,
                       "routed": bool(probe), "address": str(probe.get("address") or ""),
                       "host": str(probe.get("host") or ""), "path": str(probe.get("path") or "/"),
                       "tls": probe.get("tls") is True})
    return result, problems


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


def stretched(measure: Callable[[], dict[str, Any]], answers: int | None, minimum: float) -> dict[str, Any]:
    """A counter window, measured again after a sleep when real traffic shares a window shorter than ``minimum``."""
    window = measure()
    short_by = minimum - window["window_seconds"]
    if window["usable"] and sum(window["lbtot"].values()) > (answers or 0) and short_by > 0:
        # Real traffic shares the window: stretch it so bursts average out.
        time.sleep(short_by)
        window = measure()
    return window


def run_probe(params: Mapping[str, Any]) -> dict[str, Any]:
    """Run the whole probe with module parameters; return the module result (without changed).

    Waits first when ``settle_seconds`` is above 0 (see ``settle``), then measures once.
    For HAProxy, ``show stat`` is read before the first service's traffic (the
    runtime state and the first window's start) and after each service's traffic
    (that window's end and the next one's start). For nginx with a split log, the
    log's end is marked before and after each service's traffic.
    """
    settled = settle(params)
    services, _ = normalise_services(params["services"])
    timeout = float(params["timeout"])
    requests = int(params["requests"])
    minimum = float(params.get("counter_window_seconds", 0))
    haproxy = params["engine"] == "haproxy"
    split_log = "" if haproxy else str(params.get("split_log") or "")
    running_model, running_model_error = read_running_model(params["status_url"], timeout)
    reading = read_stat_snapshot(params["stats_socket"], timeout) if haproxy else None
    runtime, runtime_error = (reading["runtime"], reading["error"]) if reading else ({}, None)
    traffic: dict[str, Any] = {}
    counters: dict[str, Any] = {}
    for service in services:
        name = service["name"]
        names = addresses_to_names(service["servers"]) if not haproxy else {}
        log_path = split_log.replace("{service}", name) if split_log else ""
        log_before = read_log_mark(log_path) if log_path else None
        address = service["address"] or params["address"]
        if service["mode"] == "http" and service["routed"]:
            traffic[name] = probe_route(service, address, requests, params["served_by_header"], timeout)
            if params.get("served_by", "name") == "address":
                name_upstream_counts(traffic[name], names)
        elif service["mode"] == "http":
            traffic[name] = probe_http(address, service["listen"], requests, params["path"],
                                       params["served_by_header"], timeout)
            if params.get("served_by", "name") == "address":
                name_upstream_counts(traffic[name], names)
        else:
            traffic[name] = probe_tcp(address, service["listen"], requests, timeout)
        # A TCP connect that closes at once may end before the balancer picks a server.
        answers = sum(traffic[name]["counts"].values()) if service["mode"] == "http" else None
        if reading is not None:
            last: dict[str, Any] = {}

            def haproxy_window(start: Mapping[str, Any] = reading, backend: str = name) -> dict[str, Any]:
                last["after"] = read_stat_snapshot(params["stats_socket"], timeout)
                return counter_window(backend, start, last["after"], answers)

            counters[name] = stretched(haproxy_window, answers, minimum)
            reading = last["after"]
        elif log_before is not None:
            def nginx_window(path: str = log_path, start: Mapping[str, Any] = log_before) -> dict[str, Any]:
                return log_window(path, start, read_log_mark(path), names, answers)

            window = stretched(nginx_window, answers, minimum)
            if not window["usable"] and window["unusable_reason"].startswith("the split log counted"):
                time.sleep(LOG_LATE_SECONDS)
                window = nginx_window()
            counters[name] = window
    # After every counter window, so these requests are in none of them.
    frontends = params.get("frontends") or []
    redirects = check_redirects(frontends, params["address"], timeout)
    routes = check_routes(frontends, params["address"], ROUTE_CHECK_REQUESTS if requests else 0, timeout)
    return {"runtime": runtime, "runtime_error": runtime_error, "running_model": running_model,
            "running_model_error": running_model_error, "traffic": traffic, "counters": counters,
            "redirects": redirects, "routes": routes, **settled}


def _describe(exc: BaseException) -> str:
    """Short text of an exception, never empty."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def main() -> None:
    """Ansible entry point."""
    module = AnsibleModule(
        argument_spec={
            "engine": {"type": "str", "required": True, "choices": list(ENGINES)},
            "services": {"type": "list", "elements": "dict", "required": True},
            "frontends": {"type": "list", "elements": "dict", "default": []},
            "requests": {"type": "int", "default": 60},
            "address": {"type": "str", "default": "127.0.0.1"},
            "path": {"type": "str", "default": "/"},
            "served_by_header": {"type": "str", "default": "X-Served-By"},
            "served_by": {"type": "str", "default": "name", "choices": ["name", "address"]},
            "timeout": {"type": "float", "default": 2.0},
            "stats_socket": {"type": "path", "default": ADMIN_SOCKET},
            "status_url": {"type": "str", "default": STATUS_URL},
            "split_log": {"type": "str", "default": ""},
            "settle_seconds": {"type": "float", "default": 0},
            "settle_interval": {"type": "float", "default": 1.0},
            "counter_window_seconds": {"type": "float", "default": 2.0},
            "expected_running_model": {"type": "str"},
            "expected_up": {"type": "dict", "default": {}},
            "ledger_root": {"type": "path"},
            "ledger_config_path": {"type": "path"},
            "verified_model": {"type": "str"},
            "service": {"type": "str"},
        },
        required_by={"ledger_config_path": "ledger_root", "verified_model": "ledger_config_path"},
        supports_check_mode=True,
    )
    params = module.params
    if not 0 <= params["requests"] <= MAX_REQUESTS:
        module.fail_json(msg=f"requests must be 0..{MAX_REQUESTS}, got {params['requests']}")
    if not 0 < params["timeout"] <= 60:
        module.fail_json(msg=f"timeout must be more than 0 and at most 60 seconds, got {params['timeout']}")
    if not params["path"].startswith("/"):
        module.fail_json(msg=f"path must start with '/', got {params['path']!r}")
    if not params["served_by_header"].strip():
        module.fail_json(msg="served_by_header must not be empty")
    if not 0 <= params["settle_seconds"] <= MAX_SETTLE_SECONDS:
        module.fail_json(msg=f"settle_seconds must be 0..{MAX_SETTLE_SECONDS:g}, got {params['settle_seconds']}")
    if not 0 <= params["counter_window_seconds"] <= 60:
        module.fail_json(msg=f"counter_window_seconds must be 0..60, got {params['counter_window_seconds']}")
    if not 0.1 <= params["settle_interval"] <= 10:
        module.fail_json(msg=f"settle_interval must be 0.1..10 seconds, got {params['settle_interval']}")
    bad_up = [str(service) for service, servers in params["expected_up"].items()
              if not isinstance(servers, list) or not all(isinstance(name, str) for name in servers)]
    if bad_up:
        module.fail_json(msg="expected_up must map each service to a list of server names; not: " + ", ".join(bad_up))
    _, problems = normalise_services(params["services"])
    if problems:
        module.fail_json(msg="invalid services: " + "; ".join(problems))
    holds: dict[str, Any] = {}
    ledger: dict[str, Any] = {}
    if params["ledger_root"]:
        try:
            if params["ledger_config_path"]:
                ledger["ledger"] = ledger_info(params["ledger_root"], params["engine"], releases=False,
                                               config_path=params["ledger_config_path"])
                holds = ledger["ledger"]["holds"]
            else:
                holds = read_holds(holds_path(params["ledger_root"], params["engine"]))
        except (OSError, ValueError) as exc:
            module.fail_json(msg=f"cannot read the ledger: {_describe(exc)}")
        params["expected_up"] = not_held(params["expected_up"], holds)
    service: dict[str, str] = {}
    if params["service"]:
        # One call instead of a systemd task before the probe: a round trip less per verification.
        systemctl = module.get_bin_path("systemctl")
        rc, out, _ = module.run_command([systemctl, "show", "--property=ActiveState", "--value", params["service"]]) \
            if systemctl else (1, "", "")
        service["service_state"] = out.strip() if rc == 0 and out.strip() else "unknown"
        if service["service_state"] != "active":
            module.exit_json(changed=False, holds=holds, **service, **ledger)
    if params["verified_model"]:
        ledger["unverified_because"] = unverified_because(ledger["ledger"], params["verified_model"])
        if ledger["unverified_because"]:
            module.exit_json(changed=False, holds=holds, **service, **ledger)
    result = run_probe(params)
    module.exit_json(changed=False, holds=holds, **service, **ledger, **result)


if __name__ == "__main__":
    main()
