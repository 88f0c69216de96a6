"""A service of the model: its environment, policy, health check and whole service entry."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible_collections.lbguard.core.plugins.module_utils.lbguard_common import closest as _closest, kind as _kind
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_inventory import ENVIRONMENTS, environments_of
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_model_schema import (
    ALGORITHMS,
    HTTP_HEALTH_KEYS,
    INTERVAL_MAX_MS,
    INTERVAL_MIN_MS,
    MODES,
    NGINX_NO_BACKUP,
    PATH_RE,
    RESERVED_SERVICE_PREFIX,
    SERVICE_NAME_RE,
)
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_model_servers import (
    _backend_servers,
    _check_server_duplicates,
    _distribution,
    _server,
)
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_model_values import (
    _Checker,
    _is_number,
    _MISSING,
    parse_interval,
    Unrenderable,
)
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_model_spec import (
    HEALTH_DEFAULTS,
    HEALTH_KEYS,
    POLICY_KEYS,
    POOL_KEYS,
    SERVICE_KEYS,
)


# ----------------------------------------------------------------------- the core


def _environment(
    lb_host: str,
    host_vars: Mapping[str, Any],
    group_members: Mapping[str, Sequence[str]],
    names: Mapping[str, str],
    check: _Checker,
) -> str | None:
    """An LB's environment: its one environment group, the one deploy.yml deploys it with.

    ``lb_environment`` may state it too, and must then agree with the groups.
    """
    staging, production = names["staging"], names["production"]
    if lb_host not in (group_members.get(names["loadbalancers"]) or ()):
        check.add(
            f"{lb_host} is not in group {names['loadbalancers']}: deploy.yml never deploys it; "
            "add it to that group"
        )
    declared = host_vars.get("lb_environment", _MISSING)
    if declared is not _MISSING and check.rendered("lb_environment", "", declared):
        if not (isinstance(declared, str) and declared in ENVIRONMENTS):
            check.add(
                f"lb_environment {declared!r} is not valid; use 'staging' or 'production' (or remove it: "
                f"the groups {staging} and {production} decide)"
            )
            declared = _MISSING
    found = environments_of(lb_host, group_members, names)
    if not found:
        check.add(
            f"{lb_host} is in neither group {staging} nor group {production}: deploy.yml deploys only the "
            "load balancers of those groups; put it in exactly one of them"
        )
        return None
    if len(found) > 1:
        check.add(f"{lb_host} is in both groups {staging} and {production}: put it in exactly one of them")
        return None
    if isinstance(declared, str) and declared != found[0]:
        check.add(
            f"lb_environment is {declared!r} but {lb_host} is in group {names[found[0]]}, so deploy.yml "
            f"deploys it with {found[0]}: remove lb_environment or move the host"
        )
        return None
    return found[0]


def _merge_policy(base: dict[str, Any], raw: Any, where: str, prefix: str, check: _Checker) -> dict[str, Any]:
    """Overlay a policy mapping on ``base``; invalid values keep the base value.

    ``where``/``prefix`` name it in messages: ("lb_policy", "") or ("service shop", "policy.").
    """
    policy = dict(base)
    if raw is _MISSING:
        return policy
    container = f"{where}: {prefix[:-1]}" if prefix else where
    if not check.rendered(container, "", raw):
        return policy
    if not isinstance(raw, Mapping):
        check.add(
            f"{container} must be a mapping (min_active_servers, max_server_share, allow_first), " f"got {_kind(raw)}"
        )
        return policy
    check.unknown_keys(container, raw, POLICY_KEYS)
    if "min_active_servers" in raw:
        value = check.declared("policy", "min_active_servers", where, raw["min_active_servers"], f"{prefix}min_active_servers")
        if value is not None:
            policy["min_active_servers"] = value
    if "max_server_share" in raw:
        value = raw["max_server_share"]
        if check.rendered(where, f"{prefix}max_server_share", value):
            if _is_number(value) and 0 < value <= 1:
                policy["max_server_share"] = float(value)
            else:
                hint = f"; did you mean {value / 100:g}?" if _is_number(value) and 1 < value <= 100 else ""
                check.add(
                    f"{where}: {prefix}max_server_share {value!r} must be a number greater than 0 and at "
                    f"most 1 (a fraction: 0.5 means 50%){hint}"
                )
    if "allow_first" in raw:
        value = check.declared("policy", "allow_first", where, raw["allow_first"], f"{prefix}allow_first")
        if value is not None:
            policy["allow_first"] = value
    return policy


def _invisible(value: str) -> str | None:
    """The first character of ``value`` that is not printable ASCII, described, or None."""
    for position, char in enumerate(value):
        if not " " <= char <= "~":
            return f"U+{ord(char):04X} at position {position}"
    return None


def _health_check(raw: Any, label: str, mode: Any, check: _Checker) -> dict[str, Any]:
    health = dict(HEALTH_DEFAULTS)
    if raw is _MISSING:
        return health
    data = check.mapping(label, "health_check", raw)
    if data is None:
        return health
    where = f"{label}: health_check"
    check.unknown_keys(where, data, HEALTH_KEYS)
    if mode == "tcp":
        for key in HTTP_HEALTH_KEYS:
            if key in data:
                check.add(
                    f"{where}.{key} applies only to mode http: a tcp service's health check is a TCP connect; "
                    f"remove {key}"
                )
    if "enabled" in data:
        value = check.declared("health_check", "enabled", label, data["enabled"], "health_check.enabled")
        if value is not None:
            health["enabled"] = value
    if "path" in data:
        value = data["path"]
        if check.rendered(label, "health_check.path", value):
            if isinstance(value, str) and PATH_RE.fullmatch(value):
                health["path"] = str(value)
            elif isinstance(value, str) and _invisible(value):
                check.add(
                    f"{label}: health_check.path {value!r} contains a character that is not printable ASCII "
                    f"({_invisible(value)}): the engine would send it as written and every check would fail"
                )
            else:
                check.add(
                    f"{label}: health_check.path {value!r} is not valid: it must start with '/' and use only "
                    "letters, digits and the URL characters -._~!$&()*+,;=:@%/? (no spaces, quotes, "
                    "backslashes or '#')"
                )
    if "expect_status" in data:
        value = check.declared("health_check", "expect_status", label, data["expect_status"], "health_check.expect_status")
        if value is not None:
            health["expect_status"] = value
    if "interval" in data:
        value = data["interval"]
        if check.rendered(label, "health_check.interval", value):
            text, millis = parse_interval(value)
            if text is None or millis is None:
                check.add(
                    f"{label}: health_check.interval {value!r} is not a positive duration; use a number "
                    "followed by ms, s or m (e.g. '2s', '500ms') or an integer number of seconds"
                )
            elif not INTERVAL_MIN_MS <= millis <= INTERVAL_MAX_MS:
                check.add(
                    f"{label}: health_check.interval {value!r} is out of range; expected from "
                    f"{INTERVAL_MIN_MS}ms to {INTERVAL_MAX_MS // 60000}m"
                )
            else:
                health["interval"], health["interval_ms"] = text, millis
    for field in ("rise", "fall"):
        if field in data:
            value = check.declared("health_check", field, label, data[field], f"health_check.{field}")
            if value is not None:
                health[field] = value
    return health


def _service(
    index: int,
    raw: Any,
    engine: str | None,
    environment: str | None,
    base_policy: dict[str, Any],
    names: Mapping[str, str],
    group_members: Mapping[str, Sequence[str]],
    backend_hostvars: Mapping[str, Mapping[str, Any]],
    check: _Checker,
    pool_mode: str | None = None,
) -> dict[str, Any] | None:
    """One item of lb_services, or with ``pool_mode`` (the mode of the frontends using it) of lb_pools."""
    noun, list_name = ("pool", "lb_pools") if pool_mode else ("service", "lb_services")
    if isinstance(raw, Unrenderable):
        check.add(f"{list_name}[{index}] cannot be rendered: {raw.reason}")
        return None
    if not isinstance(raw, Mapping):
        check.add(
            f"{list_name}[{index}] must be a mapping (a {noun} with name, servers...), got {_kind(raw)}"
        )
        return None
    name = raw.get("name", _MISSING)
    valid_name = isinstance(name, str) and SERVICE_NAME_RE.fullmatch(name) is not None
    label = f"{noun} {name}" if valid_name else f"{list_name}[{index}]"
    if name is _MISSING:
        check.add(f"{label}: name is missing")
    elif check.rendered(label, "name", name) and not valid_name:
        check.add(
            f"{label}: {noun} name {name!r} is invalid: use 1-63 letters, digits, '_' or '-' starting "
            "with a letter (no spaces, dots, quotes or newlines)"
        )
    elif valid_name and name.lower().startswith(RESERVED_SERVICE_PREFIX):
        check.add(
            f"{label}: {noun} name {name!r} is reserved: names starting with '{RESERVED_SERVICE_PREFIX}' "
            "belong to lbguard's own status listener"
        )
    check.unknown_keys(label, raw, POOL_KEYS if pool_mode else SERVICE_KEYS)
    plain: dict[str, Any] = {}
    check.plain_keys("pool" if pool_mode else "service", label, raw, plain)

    mode = pool_mode or raw.get("mode", "http")
    if check.rendered(label, "mode", mode) and not (isinstance(mode, str) and mode in MODES):
        check.add(f"{label}: mode {mode!r} is not valid; use 'http' or 'tcp'")
        mode = None

    listen = None
    if pool_mode:
        listen = 0  # set from the frontend that reaches the pool (its probe target)
    elif "listen" not in raw:
        check.add(f"{label}: listen is missing: set the port this service listens on (1-65535)")
    else:
        listen = check.declared("service", "listen", label, raw["listen"])

    policy = _merge_policy(base_policy, raw.get("policy", _MISSING), label, "policy.", check)

    balance = raw.get("balance", "roundrobin")
    if not check.rendered(label, "balance", balance):
        balance = None
    elif not (isinstance(balance, str) and balance in ALGORITHMS):
        close = _closest(balance, list(ALGORITHMS))
        hint = f"; did you mean {close!r}?" if close else ""
        check.add(f"{label}: balance {balance!r} is not a known algorithm{hint} (known: {', '.join(ALGORITHMS)})")
        balance = None
    else:
        balance = str(balance)
        if engine is not None and ALGORITHMS[balance][engine] is None:
            check.add(
                f"{label}: balance {balance!r} is not available with {engine} ({engine} has no equivalent of "
                f"HAProxy's {balance}); choose another algorithm or lb_engine haproxy"
            )
        if balance == "first" and not policy["allow_first"]:
            check.add(
                f"{label}: balance 'first' sends all traffic to the first available server until it reaches "
                "its maxconn (it concentrates load by design); set policy allow_first: true (with "
                "max_server_share: 1.0) if that is really intended"
            )
        if balance == "uri" and mode == "tcp":
            check.add(f"{label}: balance 'uri' needs mode http (a tcp service has no URI to hash)")

    health = _health_check(raw.get("health_check", _MISSING), label, mode, check)

    # servers: explicit list or backend_group
    raw_servers: list[tuple[Any, dict[str, str] | None]] | None = None
    has_servers, has_group = "servers" in raw, "backend_group" in raw
    if has_servers and has_group:
        check.add(f"{label}: set either servers or backend_group (with backend_port), not both")
    if has_servers:
        if "backend_port" in raw and not has_group:
            check.add(f"{label}: backend_port only applies to backend_group; give each server its port")
        value = raw["servers"]
        if check.rendered(label, "servers", value):
            if not isinstance(value, (list, tuple)):
                check.add(f"{label}: servers must be a list of servers, got {_kind(value)}")
            elif not value:
                check.add(f"{label}: servers is empty: a service needs at least one server")
            else:
                raw_servers = [(s, None) for s in value]
    elif has_group:
        resolved = _backend_servers(label, raw, environment, names, group_members, backend_hostvars, check)
        if resolved is not None:
            raw_servers = list(resolved)
    else:
        check.add(f"{label}: no servers: set servers (a list) or backend_group and backend_port")

    servers: list[dict[str, Any]] = []
    if raw_servers is not None:
        for i, (item, origin) in enumerate(raw_servers):
            server = _server(item, i, label, engine, check, origin)
            if server is not None:
                servers.append(server)
        if len(servers) != len(raw_servers):
            servers = []  # a server could not be read at all: skip distribution rules
        _check_server_duplicates(label, servers, check)
        if engine == "nginx" and balance in NGINX_NO_BACKUP:
            backups = [s["name"] or "?" for s in servers if s["backup"]]
            if backups:
                check.add(
                    f"{label}: nginx cannot combine backup servers with balance {balance!r} "
                    f"({ALGORITHMS[balance]['nginx']}); backup: {', '.join(backups)}; remove backup or use "
                    "roundrobin, static-rr or leastconn"
                )
        _distribution(label, balance, policy, servers, check)

    if not valid_name or mode is None or listen is None or balance is None:
        return None
    return {
        "name": str(name),
        "mode": mode,
        "listen": listen,
        "balance": balance,
        "haproxy_balance": ALGORITHMS[balance]["haproxy"] or "",
        "nginx_method": ALGORITHMS[balance]["nginx"] or "",
        "health_check": health,
        "policy": {
            "min_active_servers": int(policy["min_active_servers"]),
            "max_server_share": float(policy["max_server_share"]),
            "allow_first": bool(policy["allow_first"]),
        },
        "servers": [
            {
                "name": s["name"],
                "address": s["address"],
                "port": s["port"],
                "weight": s["weight"],
                "backup": s["backup"],
                "disabled": s["disabled"],
                "expected_share": s["expected_share"],
                **s["plain"],
            }
            for s in servers
        ],
        **plain,
    }
