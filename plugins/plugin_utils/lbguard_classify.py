"""Tell a load-balancer misconfiguration from a traffic surge, from per-server counters.

Filter (filter_plugins/lbguard_classify.py)
===========================================

``model | lbguard_classify(counters, settings=None) -> dict``

``model`` is the validated model of one load balancer (``lbguard_validated_model``).
``counters`` holds what was measured on it, per service of the model::

    {
      "shop": {
        "web1": {"requests": 12400, "status": "UP", "weight": 1},
        "web2": {"requests": 0, "status": "UP", "weight": 1},
        "rate": 41.3,             # optional, requests per second now
        "baseline_rate": 40.0     # optional, requests per second usually
      }
    }

Mapping values are servers (``requests`` int >= 0, ``status`` as HAProxy prints it:
"UP", "UP 1/3", "DOWN", "MAINT", "DRAIN", "NOLB", "no check"..., ``weight`` the
running weight, int >= 0); the numeric keys ``rate`` and ``baseline_rate`` are the
service's request rates. A model server missing from the counters counts as "not
reported"; servers the model does not know are ignored (listed in the details).

Result::

    {"state": "healthy" | "internal_misconfiguration" | "external_surge" | "backends_down",
     "reason": str,       # the findings in words, most important first, "; "-joined
     "findings": [str],
     "services": {name: {"state", "requests", "shares", "expected",
                         "expected_in_rotation", "in_rotation", "concentrated", "down",
                         "surge_ratio", "judged", "unknown_servers", "findings"}}}

``shares`` and the expected shares are fractions 0..1 per model server, in model
order; ``judged`` says whether the split was judged (balance by weight and at
least ``min_requests`` requests).

Findings (the same rules as the LBTrafficConcentrated / LBTrafficSurge /
LBBackendDown alerts of the lb_monitoring role):

* internal_misconfiguration: a server's observed share exceeds its expected share
  by more than ``tolerance`` (default 0.2 = 20 points) while at least one other
  server of the service is in rotation (status UP, weight > 0, expected share > 0).
  The expected share is taken among the servers in rotation (the model's weights
  without the servers that are down), so two of four servers failing, the other
  two at 50% each, is not a misconfiguration.
  Judged only for services whose balance splits by weight (``share_balances``,
  default roundrobin, static-rr, leastconn, random) with at least ``min_requests``
  requests (default 20). Example: "misconfiguration: web1 took 100% of 12,400
  requests while web2 and web3 were UP with equal weight".
* backends_down: a server the model gives traffic (expected share > 0) is not UP.
  Example: "backends down: web2 (DOWN) in shop".
* external_surge: ``rate`` is more than ``surge_factor`` (default 3) times
  ``baseline_rate`` and the service shows no concentration (judged services only).
  Example: "surge: shop at 5.2x its baseline rate, split as the weights say
  (web1 34%, web2 33%, web3 33%)".
* healthy: none of these. Example: "healthy: shop web1 33%, web2 33%, web3 34% of
  1,200 requests".

Precedence when several apply (the state names the first; ``reason`` and
``findings`` list all): internal_misconfiguration > backends_down > external_surge
> healthy. A misconfiguration is the cause the incident teaches to rule out first
and is fixed by a rollback; servers that are down need attention whatever the
traffic does, and a surge explains load but is no fault of the load balancer.
Concentration and surge exclude each other per service, as in the alerts.

In the misconfiguration sentence, the service is named ("... requests in api
while ...") only when the model has more than one service.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_common import EPSILON, join_names, pct_label as pct
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_haproxy_api import is_up


STATES: tuple[str, ...] = ("internal_misconfiguration", "backends_down", "external_surge", "healthy")
DEFAULTS: dict[str, Any] = {
    "tolerance": 0.2,
    "surge_factor": 3.0,
    "min_requests": 20,
    "share_balances": ("roundrobin", "static-rr", "leastconn", "random"),
}
RATE_KEYS: tuple[str, ...] = ("rate", "baseline_rate")


# --------------------------------------------------------------------- formatting


def split_text(servers: Sequence[str], shares: Mapping[str, float]) -> str:
    """"web1 34%, web2 33%, web3 33%" for the given servers."""
    return ", ".join(f"{name} {pct(shares[name])}" for name in servers)


# ------------------------------------------------------------------ input checks


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def normalise_settings(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """Settings with defaults filled in; AnsibleFilterError for unknown keys or bad values."""
    if settings is None:
        settings = {}
    if not isinstance(settings, Mapping):
        raise AnsibleFilterError(f"lbguard_classify: settings must be a mapping, got {type(settings).__name__}")
    unknown = sorted(str(key) for key in settings if key not in DEFAULTS)
    if unknown:
        raise AnsibleFilterError(
            f"lbguard_classify: unknown settings {', '.join(unknown)}; known: {', '.join(DEFAULTS)}"
        )
    result = dict(DEFAULTS)
    result.update(settings)
    tolerance = result["tolerance"]
    if not _is_number(tolerance) or not 0 <= tolerance <= 1:
        raise AnsibleFilterError(
            f"lbguard_classify: settings.tolerance must be a number from 0 to 1, got {tolerance!r}"
        )
    factor = result["surge_factor"]
    if not _is_number(factor) or factor <= 1:
        raise AnsibleFilterError(f"lbguard_classify: settings.surge_factor must be a number above 1, got {factor!r}")
    minimum = result["min_requests"]
    if not _is_int(minimum) or minimum < 0:
        raise AnsibleFilterError(f"lbguard_classify: settings.min_requests must be an integer >= 0, got {minimum!r}")
    balances = result["share_balances"]
    if isinstance(balances, (str, bytes)) or not isinstance(balances, Sequence) or not all(
        isinstance(b, str) for b in balances
    ):
        raise AnsibleFilterError(
            f"lbguard_classify: settings.share_balances must be a list of balance names, got {balances!r}"
        )
    return {
        "tolerance": float(tolerance),
        "surge_factor": float(factor),
        "min_requests": int(minimum),
        "share_balances": tuple(balances),
    }


def _check_model(model: Any) -> list[Mapping[str, Any]]:
    """The services of a validated model; AnsibleFilterError when it is not one."""
    services = model.get("services") if isinstance(model, Mapping) else None
    if not isinstance(services, Sequence) or isinstance(services, (str, bytes)):
        raise AnsibleFilterError(
            "lbguard_classify expects the validated model of one load balancer "
            "(output of lbguard_validated_model) as its input"
        )
    for service in services:
        if not isinstance(service, Mapping) or not isinstance(service.get("servers"), Sequence):
            raise AnsibleFilterError("lbguard_classify: every model service needs name, balance and servers")
        for server in service["servers"]:
            if not isinstance(server, Mapping) or not _is_number(server.get("expected_share")):
                raise AnsibleFilterError(
                    f"lbguard_classify: service {service.get('name')}: every server needs name and expected_share"
                )
    return list(services)


def _service_counters(service: str, raw: Any) -> tuple[dict[str, dict[str, Any]], dict[str, float | None]]:
    """Split one service's counters into servers and rates, checking every value."""
    if not isinstance(raw, Mapping):
        raise AnsibleFilterError(
            f"lbguard_classify: counters of service {service} must be a mapping of servers, got {type(raw).__name__}"
        )
    servers: dict[str, dict[str, Any]] = {}
    rates: dict[str, float | None] = {key: None for key in RATE_KEYS}
    for key, value in raw.items():
        name = str(key)
        if name in RATE_KEYS and not isinstance(value, Mapping):
            if not _is_number(value) or value < 0:
                raise AnsibleFilterError(
                    f"lbguard_classify: service {service}: {name} must be a number >= 0 (requests per second), "
                    f"got {value!r}"
                )
            rates[name] = float(value)
            continue
        if not isinstance(value, Mapping):
            raise AnsibleFilterError(
                f"lbguard_classify: service {service}: server {name} must be a mapping with requests, status "
                f"and weight, got {value!r}"
            )
        requests, status, weight = value.get("requests"), value.get("status"), value.get("weight")
        if not _is_int(requests) or requests < 0:
            raise AnsibleFilterError(
                f"lbguard_classify: service {service}: server {name}: requests must be an integer >= 0, "
                f"got {requests!r}"
            )
        if not isinstance(status, str) or not status.strip():
            raise AnsibleFilterError(
                f"lbguard_classify: service {service}: server {name}: status must be a text such as UP or DOWN, "
                f"got {status!r}"
            )
        if not _is_int(weight) or weight < 0:
            raise AnsibleFilterError(
                f"lbguard_classify: service {service}: server {name}: weight must be an integer >= 0, got {weight!r}"
            )
        servers[name] = {"requests": int(requests), "status": status.strip(), "weight": int(weight)}
    return servers, rates


# ------------------------------------------------------------------- the judging


def classify_service(
    service: Mapping[str, Any],
    servers: Mapping[str, Mapping[str, Any]],
    rates: Mapping[str, float | None],
    settings: Mapping[str, Any],
    named: bool,
) -> dict[str, Any]:
    """Judge one service: its state, shares and findings (see the module docstring)."""
    name = str(service.get("name"))
    model_servers = list(service["servers"])
    order = [str(s["name"]) for s in model_servers]
    expected = {str(s["name"]): float(s["expected_share"]) for s in model_servers}
    missing = {"requests": 0, "status": "not reported", "weight": 0}
    measured = {n: dict(servers.get(n, missing)) for n in order}
    unknown = sorted(n for n in servers if n not in expected)

    total = sum(measured[n]["requests"] for n in order) + sum(servers[n]["requests"] for n in unknown)
    shares = {n: (measured[n]["requests"] / total if total else 0.0) for n in order}
    in_rotation = [
        n for n in order if expected[n] > 0 and is_up(measured[n]["status"]) and measured[n]["weight"] > 0
    ]
    # Expected share among the servers in rotation: when servers fail, the
    # others' higher share is expected, not a concentration.
    rotation_total = sum(expected[n] for n in in_rotation)
    expected_now = {n: (expected[n] / rotation_total if n in in_rotation else 0.0) for n in order}
    judged = str(service.get("balance")) in settings["share_balances"]
    findings: list[tuple[str, str]] = []

    # Concentration: the incident's signature.
    concentrated: list[str] = []
    if judged and total > 0 and total >= settings["min_requests"] and rotation_total > 0:
        concentrated = [
            n
            for n in order
            if shares[n] - expected_now[n] > settings["tolerance"] + EPSILON
            and any(other != n for other in in_rotation)
        ]
    if concentrated:
        # Never empty: the shares of the servers in rotation sum to at most 1, as
        # their expected shares do, so one above means another below.
        others = [n for n in in_rotation if n not in concentrated]
        weights = {measured[n]["weight"] for n in concentrated + others}
        took = (
            f"{concentrated[0]} took {pct(shares[concentrated[0]])}"
            if len(concentrated) == 1
            else f"{join_names(concentrated)} took {join_names([pct(shares[n]) for n in concentrated])}"
        )
        were = "was" if len(others) == 1 else "were"
        other_weights = [measured[n]["weight"] for n in others]
        if len(weights) == 1:
            weight_text = "with equal weight"
        elif len(others) == 1:
            weight_text = f"with weight {other_weights[0]}"
        elif len(set(other_weights)) == 1:
            weight_text = f"with weight {other_weights[0]} each"
        else:
            weight_text = f"with weights {join_names([str(w) for w in other_weights])}"
        where = f" in {name}" if named else ""
        findings.append((
            "internal_misconfiguration",
            f"{took} of {total:,} requests{where} while {join_names(others)} {were} UP {weight_text}",
        ))

    # Servers the model gives traffic to that are not UP.
    down = [n for n in order if expected[n] > 0 and not is_up(measured[n]["status"])]
    if down:
        listed = join_names([f"{n} ({measured[n]['status']})" for n in down])
        findings.append(("backends_down", f"{listed} in {name}"))

    # Surge: much more traffic than usual, split as the weights say.
    ratio: float | None = None
    rate, baseline = rates.get("rate"), rates.get("baseline_rate")
    if rate is not None and baseline is not None and baseline > 0:
        ratio = rate / baseline
    if judged and ratio is not None and ratio > settings["surge_factor"] and not concentrated:
        findings.append((
            "external_surge",
            f"{name} at {ratio:.1f}x its baseline rate, split as the weights say ({split_text(order, shares)})",
        ))

    state = min((kind for kind, _ in findings), key=STATES.index, default="healthy")
    if total:
        healthy_text = f"{name} {split_text(order, shares)} of {total:,} requests"
    else:
        healthy_text = f"{name} got no requests"
    return {
        "state": state,
        "requests": total,
        "shares": shares,
        "expected": expected,
        "expected_in_rotation": expected_now,
        "in_rotation": in_rotation,
        "concentrated": concentrated,
        "down": down,
        "surge_ratio": ratio,
        "judged": judged and total >= settings["min_requests"] and total > 0,
        "unknown_servers": unknown,
        "findings": findings,
        "healthy_text": healthy_text,
    }


PREFIX: dict[str, str] = {
    "internal_misconfiguration": "misconfiguration",
    "backends_down": "backends down",
    "external_surge": "surge",
}


def classify(
    model: Mapping[str, Any], counters: Mapping[str, Any], settings: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Classify one load balancer's traffic; see the module docstring for shapes and rules."""
    services = _check_model(model)
    options = normalise_settings(settings)
    if not isinstance(counters, Mapping):
        raise AnsibleFilterError(
            f"lbguard_classify: counters must be a mapping of service -> servers, got {type(counters).__name__}"
        )
    missing = [str(s.get("name")) for s in services if str(s.get("name")) not in counters]
    if missing:
        raise AnsibleFilterError(
            f"lbguard_classify: the counters have no entry for service{'s' if len(missing) > 1 else ''} "
            f"{join_names(missing)} of the model"
        )

    named = len(services) > 1
    details: dict[str, dict[str, Any]] = {}
    for service in services:
        name = str(service.get("name"))
        servers, rates = _service_counters(name, counters[name])
        details[name] = classify_service(service, servers, rates, options, named)

    # Findings grouped by kind, in precedence order; one sentence per kind.
    findings: list[str] = []
    for kind in STATES[:-1]:
        texts = [text for d in details.values() for k, text in d["findings"] if k == kind]
        if texts:
            findings.append(f"{PREFIX[kind]}: {'; '.join(texts)}")
    state = min((d["state"] for d in details.values()), key=STATES.index, default="healthy")
    if not findings:
        findings.append("healthy: " + "; ".join(d["healthy_text"] for d in details.values()))

    result_services: dict[str, dict[str, Any]] = {}
    for name, d in details.items():
        result_services[name] = {
            "state": d["state"],
            "requests": d["requests"],
            "shares": d["shares"],
            "expected": d["expected"],
            "expected_in_rotation": d["expected_in_rotation"],
            "in_rotation": d["in_rotation"],
            "concentrated": d["concentrated"],
            "down": d["down"],
            "surge_ratio": d["surge_ratio"],
            "judged": d["judged"],
            "unknown_servers": d["unknown_servers"],
            "findings": [f"{PREFIX[k]}: {text}" for k, text in d["findings"]],
        }
    return {"state": state, "reason": "; ".join(findings), "findings": findings, "services": result_services}


def probe_counters(model: Mapping[str, Any], probe: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Counters for ``lbguard_classify`` from one run of the lbguard_probe module.

    Requests come from HAProxy's counters over the probe's window when it is
    usable (all traffic the LB sent, real clients' included: the true split under
    load), else from the probe's own answers; status and weight from HAProxy's
    runtime API. nginx has no runtime API: its servers count as UP with the
    model's weight, and the traffic split tells the rest.
    """
    counters: dict[str, dict[str, Any]] = {}
    for service in model.get("services", []):
        window = (probe.get("counters") or {}).get(service["name"]) or {}
        counts = (window.get("lbtot") if window.get("usable") else None) or \
            ((probe.get("traffic") or {}).get(service["name"]) or {}).get("counts") or {}
        runtime = (probe.get("runtime") or {}).get(service["name"]) or {}
        counters[service["name"]] = {
            server["name"]: {
                "requests": int(counts.get(server["name"], 0)),
                "status": str((runtime.get(server["name"]) or {}).get("status", "UP")),
                "weight": int((runtime.get(server["name"]) or {}).get("weight", server["weight"])),
            }
            for server in service["servers"]
        }
    return counters
