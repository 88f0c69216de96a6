"""Routes, redirects and answers checked by the probe; lbguard_verify_problems' whole
list of problems, the per-service summary and the notes around the wait for UP."""

from __future__ import annotations

import math
from typing import Any, Mapping

from ansible_collections.lbguard.core.plugins.module_utils.lbguard_common import is_active, pct
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_verify_rules import (
    error_problem,
    running_model_problems,
    runtime_problems,
    traffic_problem,
)
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_verify_shares import (
    error_count,
    judged_sample,
    normalise_settings,
    observed_shares,
    SHORT,
)


def _route_text(target: Mapping[str, Any]) -> str:
    host = target.get("host") or "no Host name"
    return f"{'https' if target.get('tls') else 'http'} port {target.get('port')}, {host}, path {target.get('path')}"


def answer_problems(where: str, pool: Any, pools: Mapping[str, int], certificate: Any,
                    certificates: Mapping[str, int]) -> list[str]:
    """Answers of one route's requests that came from another pool, or with another certificate.

    ``pools``: answers per pool header value; ``certificates``: TLS handshakes per
    fingerprint; ``certificate``: the fingerprint the model expects ("" without TLS).
    """
    problems = []
    others = {seen: count for seen, count in pools.items() if seen != pool}
    if others:
        shown = ", ".join(f"{f'pool {seen}' if seen else 'no pool header'} {count}" for seen, count in others.items())
        problems.append(f"{where}: {sum(others.values())} of {sum(pools.values())} answers came from elsewhere "
                        f"({shown}); the model sends them to pool {pool}")
    wrong = {fingerprint: count for fingerprint, count in certificates.items() if fingerprint != certificate}
    if certificate and wrong:
        shown = ", ".join(f"{fingerprint[:SHORT]} ({count})" for fingerprint, count in wrong.items())
        problems.append(f"{where}: the load balancer presented certificate {shown}, not {certificate[:SHORT]} "
                        "of the model")
    return problems


def route_problems(service: Mapping[str, Any], traffic: Mapping[str, Any] | None, label: str) -> list[str]:
    """A pool of lb_pools: its route's answers came from another pool, or with the wrong certificate."""
    target = service.get("probe")
    if not isinstance(target, Mapping) or not traffic:
        return []
    name = service.get("name")
    return answer_problems(f"{label} pool {name}, measured through its route ({_route_text(target)})", name,
                           traffic.get("pools") or {}, target.get("certificate") if target.get("tls") else "",
                           traffic.get("certificates") or {})


def route_check_problems(model: Mapping[str, Any], probe: Mapping[str, Any], label: str) -> list[str]:
    """Every route (and default) of every http frontend answered by its own pool, with the model's certificate."""
    problems = []
    checked = probe.get("routes") or {}
    for frontend in model.get("frontends") or []:
        if frontend.get("mode", "http") != "http":
            continue
        name = frontend.get("name")
        items = checked.get(name)
        if not isinstance(items, list):
            problems.append(f"{label} frontend {name}: the probe did not check its routes")
            continue
        expected = [(f"routes[{i}]", r.get("probe") or {}) for i, r in enumerate(frontend.get("routes") or [])]
        expected.append(("default", frontend.get("default_probe") or {}))
        for item, (route, target) in zip(items, expected):
            where = f"{label} frontend {name} {route} (host {item.get('host') or 'none'}, path {item.get('path')})"
            if not item.get("pools"):
                problems.append(f"{where}: no answer ({item.get('errors')} failed requests)")
            problems += answer_problems(where, item.get("pool"), item.get("pools") or {},
                                        target.get("certificate") or "", item.get("certificates") or {})
    return problems


def redirect_problems(model: Mapping[str, Any], probe: Mapping[str, Any], label: str) -> list[str]:
    """A frontend with redirect_to_https whose plain request was not redirected where it should be."""
    problems = []
    redirects = probe.get("redirects") or {}
    for frontend in model.get("frontends") or []:
        if not frontend.get("redirect_to_https"):
            continue
        name = frontend.get("name")
        seen = redirects.get(name)
        if not isinstance(seen, Mapping):
            problems.append(f"{label} frontend {name}: the probe did not check its redirect to HTTPS")
        elif seen.get("status") not in (301, 308) or seen.get("location") != seen.get("expected"):
            problems.append(f"{label} frontend {name}: plain HTTP is not redirected to HTTPS: status "
                            f"{seen.get('status')}, Location {seen.get('location')}; expected 301 to "
                            f"{seen.get('expected')}")
    return problems


def verify_problems(model: Mapping[str, Any], probe: Mapping[str, Any],
                    settings: Mapping[str, Any] | None = None) -> list[str]:
    """All problems of one load balancer; empty list when it does what the model says."""
    conf = normalise_settings(model, settings)
    label = conf["label"]
    probe = probe or {}
    if probe.get("failed"):
        return [f"{label}: the probe failed ({probe.get('msg') or 'no message'}): nothing could be verified"]
    if probe.get("skipped"):
        return [f"{label}: the probe was skipped: nothing could be verified"]

    problems = running_model_problems(model, probe, label)
    services = list(model.get("services") or [])

    if conf["check_runtime"] and model.get("engine") == "haproxy":
        runtime = probe.get("runtime") or {}
        if probe.get("runtime_error"):
            problems.append(f"{label}: cannot verify the HAProxy runtime state: {probe['runtime_error']}")
        else:
            for service in services:
                problems += runtime_problems(service, runtime.get(service.get("name")), label)

    traffic_all = probe.get("traffic") or {}
    for service in services:
        traffic = traffic_all.get(service.get("name"))
        if traffic is not None and service.get("mode", "http") == "http":
            message = traffic_problem(service, traffic, conf["tolerance"], label, conf["random_sigmas"],
                                      judged_sample(model, service, probe), conf["alpha"], model.get("engine"))
            if message:
                problems.append(message)
    for service in services:
        message = error_problem(service, traffic_all.get(service.get("name")), conf["max_error_rate"], label)
        if message:
            problems.append(message)
        problems += route_problems(service, traffic_all.get(service.get("name")), label)
    return problems + route_check_problems(model, probe, label) + redirect_problems(model, probe, label)


def verify_summary(model: Mapping[str, Any], probe: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per service: the probe's requests and failed requests, what rule c judged and its shares.

    {"requests": probe requests, "errors": failed probe requests, "source":
    "counters" or "probe", "counted": requests judged, "window_seconds": the
    counters' window (None for the probe), "note": why the probe was judged,
    "observed": shares of the judged requests (3 decimals), "expected": shares}.
    TCP services have no observed shares and count the probe's connections.
    """
    traffic_all = (probe or {}).get("traffic") or {}
    summary: dict[str, dict[str, Any]] = {}
    for service in model.get("services") or []:
        servers = list(service.get("servers") or [])
        traffic = traffic_all.get(service.get("name")) or {}
        http = service.get("mode", "http") == "http"
        sample = judged_sample(model, service, probe or {}) if http else {
            "counts": {}, "source": "probe", "counted": int(traffic.get("requests") or 0), "window_seconds": None,
            "note": "tcp: connections only"}
        observed = ({server_name: round(share, 3)
                     for server_name, share in observed_shares(servers, sample["counts"]).items()} if http else {})
        summary[str(service.get("name"))] = {
            "requests": int(traffic.get("requests") or 0),
            "source": sample["source"],
            "counted": int(sample["counted"]),
            "window_seconds": sample["window_seconds"],
            "note": sample["note"],
            "observed": observed,
            "expected": {str(s["name"]): round(float(s.get("expected_share") or 0), 3) for s in servers},
            "errors": error_count(traffic),
        }
    return summary


def share_table(service_summary: Mapping[str, Any]) -> str:
    """"web1 34%, web2 33%, web3 33%" from a service summary (or a {server: share} mapping)."""
    shares = service_summary.get("observed", service_summary) if service_summary else {}
    if not shares or not sum(float(share) for share in shares.values()):
        return "no responses"
    return ", ".join(f"{server_name} {pct(float(share))}%" for server_name, share in shares.items())


def expected_up(model: Mapping[str, Any]) -> dict[str, list[str]]:
    """Per service, the servers rule b expects UP (``is_active``); {} without a runtime API (nginx)."""
    if model.get("engine", "haproxy") != "haproxy":
        return {}
    return {str(service.get("name")): [str(server["name"]) for server in service.get("servers") or []
                                       if is_active(server)]
            for service in model.get("services") or []}


def settle_note(model: Mapping[str, Any], seconds: Any, label: str) -> str:
    """What the wait after a reload awaits and for how long, in one line.

    "staging lb-stg-1: waiting up to 12 s for the running model 0f0f0f0f0f0f… and
    web1, web2, web3 UP"; a server of several services is named once.
    """
    waited = float(seconds)
    if math.isnan(waited) or waited < 0:
        raise ValueError(f"settle seconds must be 0 or more, got {seconds!r}")
    digest = str(model.get("digest") or "")
    awaited = [f"the running model {digest[:12]}…" if digest else "the running model (the model has no digest)"]
    names: list[str] = []
    for servers in expected_up(model).values():
        names += [name for name in servers if name not in names]
    if names:
        awaited.append(f"{', '.join(names)} UP")
    return f"{label}: waiting up to {waited:g} s for {' and '.join(awaited)}"
