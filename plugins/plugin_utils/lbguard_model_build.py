"""Validate and normalise the lbguard load-balancer model kept in the inventory.

Filters (filter_plugins/lbguard_model.py)
=========================================

``lbguard_model_problems(lb_host, hostvars, groups) -> list[str]``
    Every problem of the model of ``lb_host``, all at once (empty list: valid).
    Messages name the service, the server where relevant, and the rule, e.g.
    ``service shop: server web1 would receive 100% of traffic (web1=100, web2=0,
    web3=0); policy max_server_share is 50%``. They are not prefixed with the host.

``lbguard_validated_model(lb_host, hostvars, groups) -> dict``
    The normalised model described below. Raises ``AnsibleFilterError`` listing
    every problem, one per line, each prefixed with the host, when there is any.

``lbguard_share_summary(service) -> str``
    ``"web1=33%, web2=33%, web3=33%"`` for a *normalised* service (expected share
    of every server, rounded to whole percents).

Jinja usage::

    {{ inventory_hostname | lbguard.core.lbguard_validated_model(hostvars, groups) }}
    {{ item | lbguard.core.lbguard_model_problems(hostvars, groups) }}

Inputs (host variables of the load balancer)
============================================

``lb_engine``       "haproxy" (default) or "nginx".
``lb_environment``  optional; the environment stated again. The LB must be in
                    exactly one of the groups ``staging`` / ``production`` (or the
                    groups ``lbguard_group_names`` maps them to), and
                    ``lb_environment`` must agree with it.
``lb_policy``       optional mapping overriding the built-in policy of the
                    environment (keys ``min_active_servers``, ``max_server_share``,
                    ``allow_first``). Built-in: production 2 / 0.5 / false,
                    staging 1 / 1.0 / false. A service's own ``policy`` overrides
                    ``lb_policy`` (precedence: built-in < lb_policy < service policy).
``lb_services``     list of services: ``name``, ``mode`` (http|tcp), ``listen``,
                    ``balance``, ``servers`` or ``backend_group`` + ``backend_port``,
                    ``health_check``, ``policy``.

With ``backend_group``, the servers are the members of that group that are also in
the LB's environment group, in inventory order (every member must be in exactly one
environment group, and none may be a load balancer): name = inventory hostname, address
= host var ``lb_address``, else ``ansible_host``, else the inventory hostname; port
= ``backend_port``; weight / backup / disabled = host vars ``lb_weight`` (1),
``lb_backup`` (false), ``lb_disabled`` (false).

Normalised output (the only thing templates see)
================================================

::

    {
      "host": str,                      # the LB's inventory hostname
      "engine": "haproxy" | "nginx",
      "environment": "staging" | "production",
      "services": [
        {
          "name": str,
          "mode": "http" | "tcp",
          "listen": int,
          "balance": str,               # engine-neutral name (see ALGORITHMS)
          "haproxy_balance": str,       # value for HAProxy's `balance` keyword
          "nginx_method": str,          # nginx upstream directive, "" = round robin
          "health_check": {"enabled": bool, "path": str, "expect_status": int,
                           "interval": str, "interval_ms": int,
                           "rise": int, "fall": int},
          "policy": {"min_active_servers": int, "max_server_share": float,
                     "allow_first": bool},
          "servers": [
            {"name": str, "address": str, "port": int, "weight": int,
             "backup": bool, "disabled": bool, "expected_share": float}
          ]
        }
      ],
      "digest": str,                    # sha256 hex, see model_digest()
      "warnings": [str]                 # allowed but worth knowing (staging certificates); not in the digest
    }

Notes on the output:

* ``address`` is canonical: IP addresses as ``ipaddress`` prints them, host names
  in lower case without a trailing dot. Names are never resolved.
* ``expected_share`` is weight / total weight of the active servers (not disabled,
  not backup); 0.0 for backup and disabled servers. With ``balance: first`` the
  first active server (weight > 0) gets 1.0 and every other server 0.0.
* ``nginx_method``: roundrobin and static-rr both map to nginx's default weighted
  round robin (""), whose weights are fixed by the configuration, i.e. already
  static; leastconn -> ``least_conn``; source -> ``ip_hash``; uri ->
  ``hash $request_uri consistent``; random -> ``random``. ``first`` has no nginx
  equivalent: the model refuses it with lb_engine nginx, and its ``nginx_method``
  is "" (not applicable) when the engine is haproxy.
* ``haproxy_balance`` for ``uri`` is ``uri``; HAProxy hashes it with the
  map-based (static) hash-type unless the template adds ``hash-type consistent``.
* ``digest`` is the sha256 of the canonical JSON (sorted keys, no spaces, ASCII)
  of ``{"engine": ..., "services": ...}``: it is stable across runs and changes
  with any change that templates would render differently.

Limitation found with ansible-core 2.19: a host's variables read through
``hostvars`` are rendered without ``hostvars`` itself, so an LB variable such as
``address: "{{ hostvars['web1'].ansible_host }}"`` cannot be rendered (older
versions silently returned the raw template). The filters report such a value as a
problem instead of crashing; use ``backend_group`` for servers that are inventory
hosts.

The core (``build_model``, ``model_problems``, ``normalize_model``) works on plain
dicts and lists; the filter functions only convert Ansible's objects to plain data.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_common import (
    closest as _closest,
    kind as _kind,
    pct_label,
)
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_constants import ENGINES
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_inventory import group_names
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_directives import read_directives
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_edge_tls import read_stats
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_model_frontends import (
    _check_engine_limits,
    _check_self_references,
    _frontends_and_pools,
    _listeners,
    _stats_port_free,
)
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_model_schema import BUILTIN_POLICY, SERVICE_NAME_RE
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_model_services import (
    _environment,
    _merge_policy,
    _service,
)
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_model_values import (
    _Checker,
    _is_int,
    _is_number,
    _MISSING,
    ModelError,
)


def model_digest(
    engine: str,
    services: list[dict[str, Any]],
    frontends: list[dict[str, Any]] | None = None,
    global_directives: list[str] | None = None,
    stats: dict[str, Any] | None = None,
) -> str:
    """sha256 hex of the canonical JSON of ``{"engine": engine, "services": services}``.

    With frontends or global directives, ``"frontends"`` / ``"global_directives"``
    are part of it too; without, a model of lb_services keeps the digest it had
    before they existed (no reload on upgrade).
    """
    payload: dict[str, Any] = {"engine": engine, "services": services}
    if frontends:
        payload["frontends"] = frontends
    if global_directives:
        payload["global_directives"] = global_directives
    if stats:
        payload["stats"] = stats
    canonical = json.dumps(
        payload,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        allow_nan=False,
    )
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def build_model(
    lb_host: str,
    host_vars: Mapping[str, Any],
    group_members: Mapping[str, Sequence[str]],
    backend_hostvars: Mapping[str, Mapping[str, Any]],
    names: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any] | None, list[str]]:
    """Validate and normalise the model of one load balancer.

    :param lb_host: inventory hostname of the load balancer.
    :param host_vars: its variables (only ``LB_VARS`` and ``LB_IDENTITY_VARS`` are read), already rendered.
    :param group_members: group name -> list of inventory hostnames (Ansible's ``groups``).
    :param backend_hostvars: hostname -> that host's variables (only ``BACKEND_VARS``
        are read); looked up for the members of a service's backend_group.
    :param names: ``lbguard_group_names``, the inventory's names for lbguard's group
        roles (see ``group_names``); None for the defaults.
    :returns: ``(model, [])`` when valid, else ``(None, problems)``.
    """
    check = _Checker()
    groups_of, name_problems = group_names(names)
    for problem in name_problems:
        check.add(problem)
    engine_value = host_vars.get("lb_engine", "haproxy")
    engine: str | None = None
    if check.rendered("lb_engine", "", engine_value):
        if isinstance(engine_value, str) and engine_value in ENGINES:
            engine = str(engine_value)
        else:
            close = _closest(engine_value, ENGINES)
            hint = f"; did you mean {close!r}?" if close else ""
            check.add(f"lb_engine {engine_value!r} is not a known engine{hint} (known: {', '.join(ENGINES)})")

    environment = _environment(lb_host, host_vars, group_members, groups_of, check)
    # Unknown environment (already a problem): judge with the stricter production policy.
    base = BUILTIN_POLICY[environment or "production"]
    base_policy = _merge_policy(base, host_vars.get("lb_policy", _MISSING), "lb_policy", "", check)

    services: list[dict[str, Any]] = []
    raw_services = host_vars.get("lb_services", _MISSING)
    if raw_services is _MISSING and "lb_frontends" in host_vars:
        raw_services = []
    if raw_services is _MISSING:
        check.add("lb_services is not defined: list the services this load balancer serves (or lb_frontends "
                  "and lb_pools)")
    elif check.rendered("lb_services", "", raw_services):
        if not isinstance(raw_services, (list, tuple)):
            check.add(f"lb_services must be a list of services, got {_kind(raw_services)}")
        elif not raw_services and "lb_frontends" not in host_vars:
            check.add("lb_services is empty: a load balancer needs at least one service")
        else:
            names: dict[str, int] = {}
            ports: dict[int, str] = {}
            for index, raw in enumerate(raw_services):
                service = _service(
                    index, raw, engine, environment, base_policy, groups_of, group_members, backend_hostvars, check
                )
                name = raw.get("name") if isinstance(raw, Mapping) else None
                listen = raw.get("listen") if isinstance(raw, Mapping) else None
                if isinstance(name, str) and SERVICE_NAME_RE.fullmatch(name):
                    if name in names:
                        check.add(
                            f"service {name}: duplicate service name (lb_services[{names[name]}] and "
                            f"lb_services[{index}])"
                        )
                    else:
                        names[name] = index
                if _is_int(listen) and 1 <= listen <= 65535:
                    label = (
                        f"service {name}"
                        if isinstance(name, str) and SERVICE_NAME_RE.fullmatch(name)
                        else f"lb_services[{index}]"
                    )
                    if listen in ports:
                        check.add(f"{label}: listen port {listen} is already used by {ports[listen]}")
                    else:
                        ports[int(listen)] = label
                if service is not None:
                    services.append(service)

    frontends, pools = _frontends_and_pools(
        host_vars, engine, environment, base_policy, groups_of, group_members, backend_hostvars, check
    )
    if "lb_frontends" in host_vars and not frontends and not check.problems:
        check.add("lb_frontends is empty: remove it or list the frontends this load balancer serves")
    for pool in pools:
        if any(s["name"] == pool["name"] for s in services):
            check.add(f"pool {pool['name']}: a service of lb_services has this name; pools and services share "
                      "the engine's backend names")
    for frontend in frontends:
        if any(s["name"] == frontend["name"] for s in services):
            check.add(f"frontend {frontend['name']}: a service of lb_services has this name; frontends and "
                      "services share the engine's frontend names")
    _listeners(services, frontends, check)
    services += pools
    if engine is not None:
        _check_engine_limits(engine, host_vars, services, frontends, check)
    global_directives = read_directives(check, "lb_global_directives", host_vars.get("lb_global_directives", []),
                                        engine, "global")
    stats = read_stats(check, str(lb_host), host_vars["lb_stats"], environment) if "lb_stats" in host_vars else None
    if stats is not None:
        _stats_port_free(stats, services, frontends, engine, host_vars, check)
    _check_self_references(lb_host, host_vars, services, frontends, stats, engine, check)
    if check.problems or engine is None or environment is None:
        return None, check.problems
    model = {
        "host": str(lb_host),
        "engine": engine,
        "environment": environment,
        "services": services,
        "frontends": frontends,
        "global_directives": global_directives,
        "stats": stats,
    }
    model["digest"] = model_digest(engine, services, frontends, global_directives, stats)
    # Not part of the digest: a warning (a staging certificate near its expiry) changes with the date.
    model["warnings"] = check.warnings
    return model, []


def model_problems(
    lb_host: str,
    host_vars: Mapping[str, Any],
    group_members: Mapping[str, Sequence[str]],
    backend_hostvars: Mapping[str, Mapping[str, Any]],
    names: Mapping[str, Any] | None = None,
) -> list[str]:
    """Every problem of the model (see ``build_model``); empty when valid."""
    return build_model(lb_host, host_vars, group_members, backend_hostvars, names)[1]


def normalize_model(
    lb_host: str,
    host_vars: Mapping[str, Any],
    group_members: Mapping[str, Sequence[str]],
    backend_hostvars: Mapping[str, Mapping[str, Any]],
    names: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The normalised model (see module docstring); raises ``ModelError`` listing every problem."""
    model, problems = build_model(lb_host, host_vars, group_members, backend_hostvars, names)
    if model is None:
        raise ModelError(lb_host, problems)
    return model


def share_summary(service: Mapping[str, Any]) -> str:
    """``"web1=33%, web2=33%, web3=33%"`` from a normalised service's expected shares."""
    servers = service.get("servers") if isinstance(service, Mapping) else None
    if not isinstance(servers, (list, tuple)):
        raise AnsibleFilterError(
            "lbguard_share_summary expects a normalised service (from lbguard_validated_model) "
            f"with a list of servers, got {_kind(service)}"
        )
    parts = []
    for server in servers:
        if not isinstance(server, Mapping) or not _is_number(server.get("expected_share")):
            raise AnsibleFilterError(
                "lbguard_share_summary: every server needs name and expected_share; pass a "
                "service from lbguard_validated_model"
            )
        parts.append(f"{server.get('name')}={pct_label(server['expected_share'])}")
    return ", ".join(parts)
