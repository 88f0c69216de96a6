"""lbguard_probe's run: check the arguments, read the ledger and the unit, settle, then measure once.

The module (plugins/modules/lbguard_probe.py) builds the AnsibleModule and calls
``run_module``. Standard library only, Python 3.9 and later: it runs on the
load-balancer hosts.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Mapping

from ansible_collections.lbguard.core.plugins.module_utils._probe.common import describe
from ansible_collections.lbguard.core.plugins.module_utils._probe.counters import counter_window, read_stat_snapshot
from ansible_collections.lbguard.core.plugins.module_utils._probe.settle import not_held, settle
from ansible_collections.lbguard.core.plugins.module_utils._probe.split_log import (
    LOG_LATE_SECONDS,
    addresses_to_names,
    log_window,
    name_upstream_counts,
    read_log_mark,
)
from ansible_collections.lbguard.core.plugins.module_utils._probe.traffic import (
    ROUTE_CHECK_REQUESTS,
    check_redirects,
    check_routes,
    probe_http,
    probe_route,
    probe_tcp,
    read_running_model,
)
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_holds import holds_path, read_holds
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_ledger_store import ledger_info, unverified_because

MAX_REQUESTS = 10000
MAX_SETTLE_SECONDS = 600.0


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


def run_module(module: Any) -> None:
    """Check the module's arguments, read the ledger and the unit, run the probe; exit or fail the module."""
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
            module.fail_json(msg=f"cannot read the ledger: {describe(exc)}")
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
