"""Frontends, pools and listeners of the model, and the checks across services
(stats port, duplicate servers, engine limits, self references)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.lbguard.core.plugins.module_utils.lbguard_common import kind as _kind
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_constants import STATUS_BIND as STATUS_BIND_DEFAULT
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_edge import probe_targets, read_frontend
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_directives import read_directives
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_edge_tls import CertificatePolicy
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_listeners import (
    EVERY_IPV4,
    EVERY_IPV6,
    Listener,
    listener,
    loop_listener,
    overlap,
    shown,
    status_listener,
)
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_model_schema import (
    LB_IDENTITY_VARS,
    STATUS_BIND_VARS,
)
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_model_services import _service
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_model_values import _Checker, check_address


def _raw_list(host_vars: Mapping[str, Any], var: str, check: _Checker) -> list[Any]:
    """The items of an optional list variable (empty when absent or invalid, reported)."""
    value = host_vars.get(var, [])
    if not check.rendered(var, "", value):
        return []
    if not isinstance(value, (list, tuple)):
        check.add(f"{var} must be a list, got {_kind(value)}")
        return []
    return list(value)


def _frontends_and_pools(
    host_vars: Mapping[str, Any],
    engine: str | None,
    environment: str | None,
    base_policy: dict[str, Any],
    names: Mapping[str, str],
    group_members: Mapping[str, Sequence[str]],
    backend_hostvars: Mapping[str, Mapping[str, Any]],
    check: _Checker,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``lb_frontends`` and the ``lb_pools`` they route to; each pool carries its probe target."""
    raw_frontends = _raw_list(host_vars, "lb_frontends", check)
    raw_pools = _raw_list(host_vars, "lb_pools", check)
    if raw_pools and not raw_frontends:
        check.add("lb_pools is set but lb_frontends is not: pools take traffic only through a frontend's routes")
    pool_names = [p.get("name") for p in raw_pools if isinstance(p, Mapping) and isinstance(p.get("name"), str)]
    base_dir = host_vars.get("inventory_dir")
    certificate_policy = CertificatePolicy(environment)
    if "lbguard_cert_min_days" in host_vars:
        min_days = check.declared("lb", "lbguard_cert_min_days", "lbguard_cert_min_days",
                                  host_vars["lbguard_cert_min_days"], "value")
        if min_days is not None:
            certificate_policy = CertificatePolicy(environment, min_days)
    frontends = []
    for index, raw in enumerate(raw_frontends):
        frontend = read_frontend(check, index, raw, pool_names, base_dir if isinstance(base_dir, str) else None,
                                 engine=engine, certificate_policy=certificate_policy)
        if frontend is not None:
            frontends.append(frontend)
    seen: dict[str, int] = {}
    for index, frontend in enumerate(frontends):
        if frontend["name"] in seen:
            check.add(f"frontend {frontend['name']}: duplicate frontend name")
        seen[frontend["name"]] = index
    modes: dict[str, set[str]] = {}
    for frontend in frontends:
        for pool in frontend["pools"]:
            modes.setdefault(pool, set()).add(frontend["mode"])
    targets = probe_targets(frontends)
    # Pools named anywhere in lb_frontends, valid or not: an invalid frontend's pools are not "unused".
    referenced: set[str] = set()
    for raw in raw_frontends:
        if isinstance(raw, Mapping):
            routes = raw.get("routes") if isinstance(raw.get("routes"), list) else []
            named = [raw.get("default_pool")] + [r.get("pool") for r in routes if isinstance(r, Mapping)]
            referenced.update(value for value in named if isinstance(value, str))
    pools: list[dict[str, Any]] = []
    first_index: dict[str, int] = {}
    for index, raw in enumerate(raw_pools):
        name = raw.get("name") if isinstance(raw, Mapping) else None
        if isinstance(name, str) and name in first_index:
            check.add(f"pool {name}: duplicate pool name (lb_pools[{first_index[name]}] and lb_pools[{index}])")
        elif isinstance(name, str):
            first_index[name] = index
        used = modes.get(name, set()) if isinstance(name, str) else set()
        if len(used) > 1:
            check.add(f"pool {name}: both http and tcp frontends send to it; give each mode its own pool")
        elif raw_frontends and isinstance(name, str) and name not in referenced:
            check.add(f"pool {name}: no frontend routes to it; remove it or add a route")
        pool = _service(index, raw, engine, environment, base_policy, names, group_members, backend_hostvars,
                        check, pool_mode=min(used) if used else "http")
        directives = []
        if isinstance(raw, Mapping):
            directives = read_directives(check, f"pool {name}", raw.get("extra_directives", []), engine,
                                         "pool", min(used) if used else "http")
        if pool is not None and pool["name"] in targets:
            target = targets[pool["name"]]
            pools.append({**pool, "listen": target["port"], "probe": target, "extra_directives": directives})
    return frontends, pools


def _status(engine: str | None, host_vars: Mapping[str, Any]) -> tuple[Listener | None, str]:
    """lbguard's status listener (None when its bind has no port) and how to name it in messages."""
    var = STATUS_BIND_VARS.get(engine or "haproxy", STATUS_BIND_VARS["haproxy"])
    text = str(host_vars.get(var, STATUS_BIND_DEFAULT))
    found = status_listener(text, "lbguard's status listener", engine)
    port = text.rsplit(":", 1)[-1]
    if found is None and port.isdigit():  # a host name: any address of this host, both families
        found = Listener(EVERY_IPV4, int(port), frozenset({4, 6}), "lbguard's status listener")
    return found, f"{var} {text}"


def _service_listeners(services: list[dict[str, Any]]) -> list[Listener]:
    """lb_services listen on every IPv4 address (HAProxy's ``bind :port``, nginx's ``listen port``)."""
    return [listener(EVERY_IPV4, s["listen"], f"service {s['name']}") for s in services if "probe" not in s]


def _bind_listeners(frontends: list[dict[str, Any]]) -> list[Listener]:
    """Every bind of every frontend, canonical already (lbguard_edge's _binds)."""
    return [listener(b["address"], b["port"], f"frontend {f['name']}") for f in frontends for b in f["binds"]]


def _listeners(services: list[dict[str, Any]], frontends: list[dict[str, Any]], check: _Checker) -> None:
    """No two listeners take the same connections (canonical addresses, per family: lbguard_listeners)."""
    taken = _service_listeners(services)
    checked_from = len(taken)  # services among themselves are checked with lb_services
    taken += _bind_listeners(frontends)
    for i, item in enumerate(taken):
        if i < checked_from:
            continue
        for other in taken[:i]:
            if overlap(item, other):
                check.add(f"{item.owner}: port {item.port}{_on(item.address)} is already used by {other.owner}"
                          f"{_why(item, other)}")
                break


def _on(address: str) -> str:
    """`` on <address>`` for a message, nothing for every IPv4 address."""
    return f" on {shown(address, 0)[:-2]}" if address else ""


def _why(item: Listener, other: Listener) -> str:
    """Why two overlapping listeners of different addresses are one: the other listens on every address."""
    if item.address == other.address:
        return ""
    every, one = (item, other) if item.address in (EVERY_IPV4, EVERY_IPV6) else (other, item)
    return (f" ({shown(every.address, every.port)} is every IPv{min(every.families)} address, {one.address} among "
            "them: the engines would split the port's connections by address); use another port, or one address each")


def _stats_port_free(
    stats: dict[str, Any],
    services: list[dict[str, Any]],
    frontends: list[dict[str, Any]],
    engine: str | None,
    host_vars: Mapping[str, Any],
    check: _Checker,
) -> None:
    """The stats page's port is no service's, no bind's (on its address) and not lbguard's status port."""
    port, address = stats["port"], stats["address"]
    page = listener(address, port, "lb_stats")
    for other in _service_listeners(services):
        if overlap(page, other):
            check.add(f"lb_stats: port {port} is already used by {other.owner} (every IPv4 address)")
    for other in _bind_listeners(frontends):
        if overlap(page, other):
            check.add(f"lb_stats: port {port} on {address} is already used by {other.owner} "
                      f"({shown(other.address, other.port)})")
    status, named = _status(engine, host_vars)
    if status is not None and overlap(page, status):
        check.add(f"lb_stats: port {port} is lbguard's status listener ({named}); choose another")


def _check_engine_limits(
    engine: str,
    host_vars: Mapping[str, Any],
    services: list[dict[str, Any]],
    frontends: list[dict[str, Any]],
    check: _Checker,
) -> None:
    """What the engine or lbguard's own listener would refuse on the host, refused here, before any host."""
    status, named = _status(engine, host_vars)
    for frontend in frontends:
        label = f"frontend {frontend['name']}"
        if status is not None and any(overlap(item, status) for item in _bind_listeners([frontend])):
            check.add(f"{label}: port {status.port} is lbguard's status listener ({named}), "
                      "which verification reads; choose another port")
        if engine == "nginx" and frontend["mode"] == "tcp":
            check.add(f"{label}: mode tcp is not available with nginx (lbguard renders nginx's http module only); "
                      "use mode http or lb_engine haproxy")
    seen: dict[str, str] = {}
    for service in services:
        label = f"pool {service['name']}" if "probe" in service else f"service {service['name']}"
        if "probe" in service:
            pass  # reached through a frontend, whose binds are checked above
        elif status is not None and any(overlap(item, status) for item in _service_listeners([service])):
            check.add(
                f"{label}: listen port {service['listen']} is lbguard's status listener ({named}), "
                "which verification reads; choose another port"
            )
        if engine == "nginx":
            if service["mode"] == "tcp" and "probe" not in service:
                check.add(
                    f"{label}: mode tcp is not available with nginx (lbguard renders nginx's http module only); "
                    "use mode http or lb_engine haproxy"
                )
            folded = service["name"].lower()
            if folded in seen:
                check.add(
                    f"{label}: nginx names upstreams case-insensitively, so it collides with {seen[folded]}; "
                    "rename one of them"
                )
            else:
                seen[folded] = label


def _check_self_references(
    lb_host: str,
    host_vars: Mapping[str, Any],
    services: list[dict[str, Any]],
    frontends: list[dict[str, Any]],
    stats: dict[str, Any] | None,
    engine: str | None,
    check: _Checker,
) -> None:
    """No server may be the load balancer itself: by its name or its addresses, or one of its listeners."""
    own: dict[str, str] = {}
    for origin, value in [("inventory hostname", lb_host)] + [
        (f"host var {var}", host_vars[var]) for var in LB_IDENTITY_VARS if var in host_vars
    ]:
        canonical, _ = check_address(value)
        if canonical is not None:
            own.setdefault(canonical, origin)
    listeners = _service_listeners(services) + _bind_listeners(frontends)
    if stats is not None:
        listeners.append(listener(stats["address"], stats["port"], "lb_stats"))
    status, _named = _status(engine, host_vars)
    listeners += [status] if status is not None else []
    for service in services:
        label = f"pool {service['name']}" if "probe" in service else f"service {service['name']}"
        for server in service["servers"]:
            if server["address"] in own:
                check.add(
                    f"{label}: server {server['name']} points to this load balancer itself "
                    f"({server['address']}, its {own[server['address']]}): requests would loop back into it"
                )
                continue
            looped = loop_listener(server["address"], server["port"], listeners, own)
            if looped is not None:
                check.add(
                    f"{label}: server {server['name']} ({shown(server['address'], server['port'])}) is "
                    f"{looped.owner}'s listener ({shown(looped.address, looped.port)}) on this load balancer: "
                    "requests would loop back into it; point the server at a backend"
                )
