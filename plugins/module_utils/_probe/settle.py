"""Waiting for a load balancer to settle after a reload: the running model, the servers UP.

Part of lbguard_probe (plugins/modules/lbguard_probe.py). Standard library only,
Python 3.9 and later: it runs on the load-balancer hosts.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Mapping

from ansible_collections.lbguard.core.plugins.module_utils._probe.counters import read_runtime
from ansible_collections.lbguard.core.plugins.module_utils._probe.traffic import read_running_model
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_haproxy_api import is_up
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_holds import hold_key

# Digests are shown by their first characters, like git's short ids.
SHORT_DIGEST = 12


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
