"""Frontends of the lbguard model: binds, TLS, redirects and routing to pools.

The rules for ``lb_frontends``, in one place. ``lbguard_model`` calls
``read_frontends`` with its problem collector (``check``: ``add``, ``rendered``,
``integer``, ``boolean``, ``mapping``, ``unknown_keys``) and turns its pools into
the model's services. Routing semantics, the same on both engines: the routes of
a frontend are tried in order and the first that matches picks the pool, else
``default_pool``. A route matches when the request's host (the Host header
without its port, lower case) is one of ``hosts`` (``*.example.com``: any name
ending in ``.example.com``) or ``hosts`` is empty, and its path starts with
``path_prefix`` (default ``/``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from ansible_collections.lbguard.core.plugins.module_utils.lbguard_common import closest, kind
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_edge_schema import (
    HOST_LABEL_RE,
    NAME_RE,
    ROUTE_PATH_RE,
    WILDCARD_PROBE_LABEL,
)
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_edge_tls import (
    CertificatePolicy,
    _entries,
    _hsts,
    _tls,
)
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_directives import read_directives
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_listeners import EVERY_IPV6, bind_address
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_tls import covers
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_model_spec import (
    BIND_KEYS,
    FRONTEND_KEYS,
    ROUTE_KEYS,
)


def host_pattern_problem(value: Any) -> str | None:
    """Why ``value`` is not a route host (``shop.example.com`` or ``*.example.com``), or None."""
    if not isinstance(value, str):
        return f"is {kind(value)}, not a host name"
    name = value[2:] if value.startswith("*.") else value
    if not name or name != name.lower():
        return "must be a lower-case host name, optionally starting with '*.'"
    labels = name.split(".")
    if any(not HOST_LABEL_RE.fullmatch(label) for label in labels):
        return "is not a host name: labels are 1-63 letters, digits or '-' ('*.' only as the first label)"
    if labels[-1].isdigit():
        return "is an IP address or ends in a number: routes match host names"
    return None


def host_matches(pattern: str, host: str) -> bool:
    """Whether a route host pattern matches a request host (both lower case)."""
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return host == pattern


def _pattern_covers(earlier: str, later: str) -> bool:
    """Whether every host ``later`` matches is matched by ``earlier`` too."""
    if later.startswith("*."):
        return earlier.startswith("*.") and later[1:].endswith(earlier[1:])
    return host_matches(earlier, later)


def first_route(routes: Sequence[Mapping[str, Any]], host: str, path: str) -> int | None:
    """Index of the route a request for ``host`` and ``path`` takes, None for the default pool."""
    for index, route in enumerate(routes):
        hosts = route["hosts"]
        if (not hosts or any(host_matches(p, host) for p in hosts)) and path.startswith(route["path_prefix"]):
            return index
    return None


def _probe_host(pattern: str) -> str:
    return WILDCARD_PROBE_LABEL + pattern[1:] if pattern.startswith("*.") else pattern


def _shadowing(routes: list[dict[str, Any]], index: int) -> list[int] | None:
    """Which earlier routes leave route ``index`` no request to match; None if it can match."""
    route = routes[index]
    earlier = routes[:index]
    by: set[int] = set()
    for pattern in route["hosts"] or [None]:
        for i, other in enumerate(earlier):
            host_taken = not other["hosts"] or (
                pattern is not None and any(_pattern_covers(p, pattern) for p in other["hosts"])
            )
            if host_taken and route["path_prefix"].startswith(other["path_prefix"]):
                by.add(i)
                break
        else:
            return None
    return sorted(by)


def _binds(check: Any, label: str, raw: Any) -> list[dict[str, Any]]:
    if not check.rendered(label, "binds", raw):
        return []
    if not isinstance(raw, (list, tuple)) or not raw:
        check.add(f"{label}: binds must be a non-empty list of {{port, address, tls}}, got {kind(raw)}")
        return []
    binds = []
    for _index, where, data in _entries(check, label, "binds", raw, BIND_KEYS):
        port = check.declared("bind", "port", where, data.get("port")) if "port" in data else None
        if "port" not in data:
            check.add(f"{where}: port is missing")
        tls = check.declared("bind", "tls", where, data.get("tls", False))
        address = data.get("address", "")
        if check.rendered(where, "address", address):
            address = bind_address(address)
            if address is None:
                check.add(f"{where}: address {data.get('address')!r} must be one IP address of this host; leave it "
                          "out (or write 0.0.0.0) for every IPv4 address, write '::' for every IPv6 address")
        else:
            address = None
        if port is not None and tls is not None and address is not None:
            binds.append({"address": address or "", "port": port, "tls": tls})
    return binds


def _routes(
    check: Any, label: str, raw: Any, pools: Sequence[str]
) -> tuple[list[dict[str, Any]], list[int]]:
    """The valid routes, and each one's index in ``raw``: messages name a route by where the operator wrote it."""
    if not check.rendered(label, "routes", raw):
        return [], []
    if not isinstance(raw, (list, tuple)):
        check.add(f"{label}: routes must be a list of {{hosts, path_prefix, pool}}, got {kind(raw)}")
        return [], []
    routes: list[dict[str, Any]] = []
    positions: list[int] = []  # each valid route's index in the raw list, for messages
    for index, where, data in _entries(check, label, "routes", raw, ROUTE_KEYS):
        ok = True
        hosts = data.get("hosts", [])
        if not check.rendered(where, "hosts", hosts):
            ok = False
        elif not isinstance(hosts, (list, tuple)):
            check.add(f"{where}: hosts must be a list of host names, got {kind(hosts)}")
            ok = False
        else:
            for host in hosts:
                problem = host_pattern_problem(host)
                if problem:
                    check.add(f"{where}: host {host!r} {problem}")
                    ok = False
        prefix = data.get("path_prefix", "/")
        if check.rendered(where, "path_prefix", prefix) and not (isinstance(prefix, str)
                                                                 and ROUTE_PATH_RE.fullmatch(prefix)):
            check.add(f"{where}: path_prefix {prefix!r} must start with '/' and use only letters, digits and "
                      "-._~%/")
            ok = False
        pool = data.get("pool")
        if pool is None:
            check.add(f"{where}: pool is missing: name the pool this route sends to")
            ok = False
        elif pool not in pools:
            near = closest(pool, list(pools))
            hint = f"; did you mean {near!r}?" if near else ""
            check.add(f"{where}: pool {pool!r} is not defined in lb_pools{hint}")
            ok = False
        if ok and not hosts and prefix == "/":
            check.add(f"{where}: the route matches every request, so default_pool would never be used; give it "
                      "hosts or a path_prefix, or make its pool the default_pool")
            ok = False
        if ok:
            routes.append({"hosts": list(dict.fromkeys(str(h) for h in hosts)),
                           "path_prefix": str(prefix), "pool": str(pool)})
            positions.append(index)
            shadowed_by = _shadowing(routes, len(routes) - 1)
            if shadowed_by:
                earlier = ", ".join(f"routes[{positions[i]}]" for i in shadowed_by)
                check.add(f"{where} (pool {pool}) is shadowed by {earlier}: every request it matches is "
                          "taken earlier; put the more specific route first")
    return routes, positions


def read_frontend(
    check: Any,
    index: int,
    raw: Any,
    pools: Sequence[str],
    base_dir: str | None,
    now: datetime | None = None,
    engine: str | None = None,
    certificate_policy: CertificatePolicy | None = None,
) -> dict[str, Any] | None:
    """Validate one item of ``lb_frontends``; the normalised frontend, or None when it has problems.

    ``certificate_policy``: the environment's rules for certificates (default: production's).
    """
    now = now or datetime.now(timezone.utc)
    before = len(check.problems)
    data = check.mapping("lb_frontends", f"[{index}]", raw)
    if data is None:
        return None
    name = data.get("name")
    valid_name = isinstance(name, str) and NAME_RE.fullmatch(name) is not None
    label = f"frontend {name}" if valid_name else f"lb_frontends[{index}]"
    if not valid_name:
        check.add(f"{label}: name {name!r} must be 1-63 letters, digits, '_' or '-' starting with a letter")
    elif name.lower().startswith("lbguard"):
        check.add(f"{label}: names starting with 'lbguard' belong to lbguard's own status listener")
    check.unknown_keys(label, data, FRONTEND_KEYS)
    plain: dict[str, Any] = {}
    check.plain_keys("frontend", label, data, plain)
    mode = data.get("mode", "http")
    if mode not in ("http", "tcp"):
        check.add(f"{label}: mode {mode!r} is not valid; use 'http' or 'tcp'")
    binds = _binds(check, label, data.get("binds"))
    has_tls = any(b["tls"] for b in binds)
    tls = None
    if "tls" in data:
        tls = _tls(check, label, data["tls"], base_dir, now, certificate_policy or CertificatePolicy())
        if not has_tls:
            check.add(f"{label}: tls is set but no bind has tls: true")
    elif has_tls:
        check.add(f"{label}: a bind has tls: true but tls (certificates) is missing")
    redirect = check.declared("frontend", "redirect_to_https", label, data.get("redirect_to_https", False))
    if redirect and (not has_tls or all(b["tls"] for b in binds)):
        check.add(f"{label}: redirect_to_https needs a tls bind to send clients to and a plain bind to redirect")
    hsts = _hsts(check, label, data["hsts"]) if "hsts" in data else None
    if hsts is not None and not has_tls:
        check.add(f"{label}: hsts needs a tls bind (browsers ignore the header over plain HTTP)")
    routes, route_positions = _routes(check, label, data.get("routes", []), pools)
    default_pool = data.get("default_pool")
    if default_pool is None:
        check.add(f"{label}: default_pool is missing: the pool for requests no route matches")
    elif default_pool not in pools:
        near = closest(default_pool, list(pools))
        hint = f"; did you mean {near!r}?" if near else ""
        check.add(f"{label}: default_pool {default_pool!r} is not defined in lb_pools{hint}")
    directives = read_directives(check, label, data.get("extra_directives", []), engine, "frontend", mode)
    if mode == "tcp":
        for key in ("routes", "tls", "redirect_to_https", "hsts"):
            if key in data:
                check.add(f"{label}: {key} applies only to mode http; a tcp frontend forwards to default_pool")
    if tls is not None:
        owner: dict[str, str] = {}
        for certificate in tls["certificates"]:
            for dns_name in certificate["names"]:
                if dns_name in owner:
                    check.add(f"{label}: certificate {certificate['name']}: name {dns_name} is also in certificate "
                              f"{owner[dns_name]}; the engines would choose between them differently")
                owner.setdefault(dns_name, certificate["name"])
        for position, route in zip(route_positions, routes):
            for host in route["hosts"]:
                if not any(covers(c["names"], host) for c in tls["certificates"]):
                    names = "; ".join(f"{c['name']}: {', '.join(c['names'])}" for c in tls["certificates"])
                    check.add(f"{label}: routes[{position}] host {host} is not covered by any certificate of "
                              f"this frontend ({names or 'none valid'})")
    if len(check.problems) > before:
        return None
    used = list(dict.fromkeys([r["pool"] for r in routes] + [default_pool]))
    certificates = tls["certificates"] if tls else []
    for route_index, route in enumerate(routes):
        route["probe"] = _route_probe(routes, route_index, certificates)
    return {
        "name": name,
        "mode": mode,
        "binds": binds,
        "tls": tls,
        "https_port": next((b["port"] for b in binds if b["tls"]), None),
        "redirect_to_https": bool(redirect),
        "hsts": hsts,
        "routes": routes,
        "default_pool": default_pool,
        "pools": used,
        "extra_directives": directives,
        # A request no route matches: to the address without a Host name, at "/".
        "default_probe": {"host": "", "path": "/",
                          "certificate": served_certificate(certificates, "") if certificates else ""},
        **plain,
    }


def served_certificate(certificates: Sequence[Mapping[str, Any]], host: str) -> str:
    """Fingerprint of the certificate both engines present for SNI ``host``.

    An exact name first, then a wildcard name, else the first certificate (also
    for clients without SNI, ``host`` "").
    """
    exact = [c for c in certificates if host and host in c["names"]]
    wildcard = [c for c in certificates if host and covers(c["names"], host)]
    chosen = (exact or wildcard or list(certificates))[0]
    return str(chosen["fingerprint"])


def _route_probe(routes: list[dict[str, Any]], index: int, certificates: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """One request that route ``index`` takes: its first host that no earlier route takes, its path prefix.

    ``{"host", "path", "certificate"}``; ``host`` is also the SNI name, and
    ``certificate`` the fingerprint the engine must present for it ("" without TLS).
    Validation has refused shadowed routes, so one of its hosts always qualifies.
    """
    route = routes[index]
    hosts = [_probe_host(pattern) for pattern in route["hosts"] or [""]]
    host = next((h for h in hosts if first_route(routes, h, route["path_prefix"]) == index), hosts[0])
    return {"host": host, "path": route["path_prefix"],
            "certificate": served_certificate(certificates, host) if certificates else ""}


def probe_targets(frontends: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per pool, one request that reaches it: the first route to it in frontend order, else a default.

    ``{"port", "address", "tls", "host", "path", "certificate"}``: TLS binds are
    preferred, since a redirecting frontend answers plain requests itself; ``host``
    is also the SNI name ("" for none); ``certificate`` is the fingerprint of the
    certificate the engine must present for it ("" without TLS).
    """
    targets: dict[str, dict[str, Any]] = {}
    for frontend in frontends:
        bind = next((b for b in frontend["binds"] if b["tls"]), frontend["binds"][0])
        # Every IPv6 address includes ::1, which the probe can reach; "" is the probe's default address.
        address = "::1" if bind["address"] == EVERY_IPV6 else bind["address"]
        base = {"port": bind["port"], "address": address, "tls": bind["tls"]}
        for route in frontend["routes"]:
            targets.setdefault(route["pool"], {**base, **route["probe"]})
        targets.setdefault(frontend["default_pool"], {**base, **frontend["default_probe"]})
    return targets
