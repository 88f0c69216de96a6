"""The servers of a service: listed servers, servers from an inventory group, traffic distribution."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.lbguard.core.plugins.module_utils.lbguard_common import (
    closest as _closest,
    kind as _kind,
    pct_exact,
)
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_inventory import environments_of
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_policy import (
    over_share,
    too_few_active,
    weight_shares,
)
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_model_schema import (
    SERVER_NAME_RE,
    WEIGHT_RANGE,
)
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_model_values import (
    _Checker,
    _is_int,
    _MISSING,
    check_address,
    Unrenderable,
)
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_model_spec import (
    SERVER_KEYS,
)


def _server_label(label: str, index: int, name: Any, list_name: str = "servers") -> str:
    if isinstance(name, str) and SERVER_NAME_RE.fullmatch(name):
        return f"{label}: server {name}"
    return f"{label}: {list_name}[{index}]"


def _server(
    raw: Any, index: int, label: str, engine: str | None, check: _Checker, origin: Mapping[str, str] | None = None
) -> dict[str, Any] | None:
    """Validate one server; ``origin`` maps fields to the host variable they came from.

    Returns a server dict whose fields are None where invalid, or None if ``raw`` is
    not a mapping.
    """
    origin = origin or {}
    if isinstance(raw, Unrenderable):
        check.add(f"{label}: servers[{index}] cannot be rendered: {raw.reason}")
        return None
    if not isinstance(raw, Mapping):
        check.add(f"{label}: servers[{index}] must be a mapping with name, address and port, got {_kind(raw)}")
        return None

    def field(name: str) -> str:
        return f"{name} (from {origin[name]})" if name in origin else name

    name = raw.get("name", _MISSING)
    where = _server_label(label, index, name)
    if not origin:
        check.unknown_keys(where, raw, SERVER_KEYS)
    server: dict[str, Any] = {
        "name": None,
        "address": None,
        "port": None,
        "weight": None,
        "backup": None,
        "disabled": None,
        "valid_types": True,
    }

    if name is _MISSING:
        check.add(f"{where}: name is missing")
    elif check.rendered(where, "name", name):
        if isinstance(name, str) and SERVER_NAME_RE.fullmatch(name):
            server["name"] = str(name)
        else:
            check.add(
                f"{where}: server name {name!r} is invalid: use 1-63 letters, digits, '_', '.' or '-' "
                "starting with a letter or digit (no spaces, quotes or newlines)"
            )

    address = raw.get("address", _MISSING)
    if address is _MISSING:
        check.add(f"{where}: address is missing")
    elif check.rendered(where, field("address"), address):
        canonical, reason = check_address(address)
        if reason:
            check.add(f"{where}: {field('address')} {address!r} {reason}")
        server["address"] = canonical

    port = raw.get("port", _MISSING)
    if port is _MISSING:
        check.add(f"{where}: port is missing")
    elif port is not None or "port" not in origin:  # backend servers: backend_port is checked once
        server["port"] = check.declared("server", "port", where, port, field("port"))

    weight = raw.get("weight", 1)
    low, high = WEIGHT_RANGE.get(engine or "haproxy", WEIGHT_RANGE["haproxy"])
    if engine == "nginx" and _is_int(weight) and weight == 0:
        check.add(
            f"{where}: {field('weight')} 0 is rejected by nginx (weight must be 1..256); "
            "use `disabled: true` to take the server out of rotation"
        )
        server["weight"] = 0  # still a valid integer for the distribution rules
    else:
        hint = " (haproxy)" if engine == "haproxy" else " (nginx)" if engine == "nginx" else ""
        value = check.integer(where, field("weight"), weight, low, high, hint)
        if value is None and _is_int(weight):
            server["weight"] = int(weight)  # out of range, but usable to compute shares
        else:
            server["weight"] = value
    if not _is_int(weight):
        server["valid_types"] = False

    for flag in ("backup", "disabled"):
        value = check.declared("server", flag, where, raw.get(flag, False), field(flag))
        server[flag] = value
        if value is None:
            server["valid_types"] = False
    server["plain"] = {}
    check.plain_keys("server", where, raw, server["plain"])
    if server["backup"] and not server["disabled"] and server["weight"] == 0:
        check.add(
            f"{where}: a backup server with {field('weight')} 0 never takes over when the others fail; "
            "give it a weight of at least 1 (or disable it)"
        )
    return server


def _backend_servers(
    label: str,
    svc: Mapping[str, Any],
    environment: str | None,
    names: Mapping[str, str],
    group_members: Mapping[str, Sequence[str]],
    backend_hostvars: Mapping[str, Mapping[str, Any]],
    check: _Checker,
) -> list[tuple[Any, dict[str, str]]] | None:
    """Resolve backend_group into raw server mappings plus their variable origins."""
    group = svc["backend_group"]
    if not check.rendered(label, "backend_group", group):
        return None
    if not isinstance(group, str) or not group:
        check.add(f"{label}: backend_group must be a group name, got {group!r}")
        return None
    port: Any = None
    if "backend_port" not in svc:
        check.add(f"{label}: backend_port is missing: backend_group {group!r} needs the port its hosts listen on")
    else:
        port = check.declared("service", "backend_port", label, svc["backend_port"])
    if group not in group_members:
        close = _closest(group, [g for g in group_members if g not in ("all", "ungrouped")])
        hint = f"; did you mean {close!r}?" if close else ""
        check.add(f"{label}: backend_group {group!r} is not a group of the inventory{hint}")
        return None
    if environment is None:
        return None  # already reported: the environment decides which members count
    lb_hosts = set(group_members.get(names["loadbalancers"]) or ())
    members = []
    for host in group_members[group]:
        envs = environments_of(host, group_members, names)
        where = f"{label}: backend host {host} of group {group!r}"
        if not envs:
            check.add(
                f"{where} is in neither group {names['staging']} nor group {names['production']}: "
                "it would drop out silently; put it in exactly one of them"
            )
        elif len(envs) > 1:
            check.add(
                f"{where} is in both groups {names['staging']} and {names['production']}: "
                "a backend serves exactly one environment"
            )
        elif host in lb_hosts:
            check.add(
                f"{where} is a load balancer (group {names['loadbalancers']}): "
                "requests would loop back into a load balancer"
            )
        elif envs[0] == environment:
            members.append(host)
    if not members:
        check.add(f"{label}: backend_group {group!r} has no hosts in environment {environment}")
        return None
    resolved: list[tuple[Any, dict[str, str]]] = []
    for host in members:
        hvars = backend_hostvars.get(host) or {}
        origin = {"name": "inventory hostname", "port": "backend_port"}
        for var in ("lb_address", "ansible_host"):
            if var in hvars:
                address, origin["address"] = hvars[var], f"host var {var} of {host}"
                break
        else:
            address, origin["address"] = host, f"inventory hostname {host}"
        raw: dict[str, Any] = {"name": host, "address": address, "port": port}
        for key, var in (("weight", "lb_weight"), ("backup", "lb_backup"), ("disabled", "lb_disabled")):
            if var in hvars:
                raw[key] = hvars[var]
                origin[key] = f"host var {var} of {host}"
        resolved.append((raw, origin))
    return resolved


def _distribution(
    label: str, balance: str | None, policy: Mapping[str, Any], servers: list[dict[str, Any]], check: _Checker
) -> None:
    """Traffic-distribution rules; sets ``expected_share`` on every server."""
    for server in servers:
        server["expected_share"] = 0.0
    if not servers or not all(s["valid_types"] for s in servers):
        return  # type problems are already reported; shares would be meaningless

    def shown(server: dict[str, Any], index: int) -> str:
        return server["name"] or f"servers[{index}]"

    pool = [(i, s) for i, s in enumerate(servers) if not s["disabled"] and not s["backup"]]
    weights = ", ".join(f"{shown(s, i)}={s['weight']}" for i, s in pool)
    if not pool:
        check.add(
            f"{label}: no active server: every server is disabled or backup, so no server receives "
            "load-balanced traffic"
        )
        return
    total = sum(s["weight"] for _, s in pool)
    if total <= 0:
        check.add(
            f"{label}: the weights of the active servers add up to 0 ({weights}), so no server would "
            "receive load-balanced traffic; give at least one active server a weight >= 1"
        )
        return
    active = [(i, s) for i, s in pool if s["weight"] > 0]
    minimum = policy["min_active_servers"]
    if too_few_active(len(active), minimum):
        names = ", ".join(shown(s, i) for i, s in active)
        check.add(
            f"{label}: only {len(active)} active server{'s' if len(active) != 1 else ''} ({names}); "
            f"policy min_active_servers is {minimum} (active: not disabled, not backup, weight > 0)"
        )
    shares = weight_shares({i: s["weight"] for i, s in pool}, balance)
    for i, server in pool:
        server["expected_share"] = shares[i]
    limit = policy["max_server_share"]
    for i in over_share(shares, limit):
        extra = (
            " (balance 'first' sends all traffic to the first active server: allow_first also needs "
            "max_server_share: 1.0)"
            if balance == "first"
            else ""
        )
        check.add(
            f"{label}: server {shown(servers[i], i)} would receive {pct_exact(shares[i])} of traffic ({weights}); "
            f"policy max_server_share is {pct_exact(limit)}{extra}"
        )


def traffic_rule_problems(
    label: str, balance: str | None, policy: Mapping[str, Any], servers: Sequence[Mapping[str, Any]]
) -> tuple[list[str], dict[str, float]]:
    """The traffic-distribution rules of the model, on a whole set of servers as they would be.

    For states that are not in the inventory (a drain, a maintenance, a runtime
    weight): ``servers`` carry name, weight, disabled and backup. Returns the
    problems, worded as the model's, and each server's share.
    """
    check = _Checker()
    items = [{"name": str(s["name"]), "weight": int(s["weight"]), "disabled": bool(s["disabled"]),
              "backup": bool(s["backup"]), "valid_types": True} for s in servers]
    _distribution(label, balance, policy, items, check)
    return check.problems, {item["name"]: item["expected_share"] for item in items}


def _check_server_duplicates(label: str, servers: list[dict[str, Any]], check: _Checker) -> None:
    by_name: dict[str, int] = {}
    by_endpoint: dict[tuple[str, int], str] = {}
    for i, server in enumerate(servers):
        name = server["name"]
        shown = name or f"servers[{i}]"
        if name is not None:
            if name in by_name:
                check.add(f"{label}: duplicate server name {name!r} (servers[{by_name[name]}] and servers[{i}])")
            else:
                by_name[name] = i
        if server["address"] is not None and server["port"] is not None:
            endpoint = (server["address"], server["port"])
            if endpoint in by_endpoint:
                host = f"[{endpoint[0]}]" if ":" in endpoint[0] else endpoint[0]
                check.add(f"{label}: servers {by_endpoint[endpoint]} and {shown} both point to {host}:{endpoint[1]}")
            else:
                by_endpoint[endpoint] = shown
