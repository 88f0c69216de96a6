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

import hashlib
import ipaddress
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from ansible_collections.lbguard.core.plugins.module_utils.lbguard_common import closest, kind
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_secrets import page_password_hash
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_tls import covers, inspect_pair

FRONTEND_KEYS: tuple[str, ...] = ("name", "mode", "binds", "tls", "redirect_to_https", "hsts", "routes",
                                  "default_pool", "extra_directives")
BIND_KEYS: tuple[str, ...] = ("address", "port", "tls")
TLS_KEYS: tuple[str, ...] = ("certificates", "min_version", "alpn")
CERTIFICATE_KEYS: tuple[str, ...] = ("name", "certificate", "key", "certificate_file", "key_file")
HSTS_KEYS: tuple[str, ...] = ("max_age", "include_subdomains")
ROUTE_KEYS: tuple[str, ...] = ("hosts", "path_prefix", "pool")
STATS_KEYS: tuple[str, ...] = ("address", "port", "user", "password")
STATS_USER_RE = re.compile(r"[A-Za-z0-9._-]{1,32}")
STATS_PASSWORD_MIN = 12

TLS_VERSIONS: tuple[str, ...] = ("TLSv1.2", "TLSv1.3")
ALPN_PROTOCOLS: tuple[str, ...] = ("h2", "http/1.1")
TLS_DEFAULTS: dict[str, Any] = {"min_version": "TLSv1.2", "alpn": ["h2", "http/1.1"]}
#: Two years, the longest max-age browsers' preload lists ask for.
HSTS_MAX_AGE = 63_072_000
NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,62}")
CERTIFICATE_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
HOST_LABEL_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
#: Route path prefixes: the characters both engines match literally, no escaping needed.
ROUTE_PATH_RE = re.compile(r"/[A-Za-z0-9._~%/-]*")
#: The escape hatch (``extra_directives``) never sets what the model owns and the policy judges:
#: balance, servers and weights, routing, listeners. First words refused per engine:
MODEL_OWNED_DIRECTIVES: dict[str, frozenset[str]] = {
    "haproxy": frozenset({"balance", "hash-type", "hash-balance-factor", "server", "server-template",
                          "default-server", "use-server", "use_backend", "default_backend", "bind", "mode",
                          "global", "defaults", "frontend", "backend", "listen", "userlist", "peers"}),
    "nginx": frozenset({"upstream", "server", "least_conn", "ip_hash", "hash", "random", "zone", "proxy_pass",
                        "listen", "location", "map", "split_clients", "include", "server_name", "http",
                        "events", "stream"}),
}
DIRECTIVE_MAX_LENGTH = 500
#: The probe's stand-in for a wildcard host: ``*.shop.example.com`` -> ``lbguard-probe.shop.example.com``.
WILDCARD_PROBE_LABEL = "lbguard-probe"


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


def _read_text(check: Any, where: str, field: str, value: Any) -> str | None:
    if not check.rendered(where, field, value):
        return None
    if not isinstance(value, str) or not value.strip():
        got = "an empty string" if isinstance(value, str) else kind(value)
        check.add(f"{where}: {field} must be PEM text, got {got}")
        return None
    return str(value)


def _read_file(check: Any, where: str, field: str, value: Any, base_dir: str | None) -> str | None:
    if not check.rendered(where, field, value):
        return None
    if not isinstance(value, str) or not value:
        check.add(f"{where}: {field} must be a file path, got {kind(value)}")
        return None
    path = value if os.path.isabs(value) or not base_dir else os.path.join(base_dir, value)
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not PEM text"
        check.add(f"{where}: {field} {value!r} cannot be read on the controller ({reason}); relative paths "
                  "start at the inventory's directory")
        return None


def read_pem_pair(
    check: Any, where: str, raw: Mapping[str, Any], base_dir: str | None
) -> tuple[str | None, str | None]:
    """The PEM certificate and key of one ``tls.certificates`` item, from content or files."""
    pems: list[str | None] = []
    for field in ("certificate", "key"):
        content, path = raw.get(field), raw.get(f"{field}_file")
        if (content is None) == (path is None):
            check.add(f"{where}: set exactly one of {field} (PEM text, e.g. from Ansible Vault) and {field}_file")
            pems.append(None)
        elif content is not None:
            pems.append(_read_text(check, where, field, content))
        else:
            pems.append(_read_file(check, where, f"{field}_file", path, base_dir))
    return pems[0], pems[1]


def read_directives(check: Any, where: str, raw: Any, engine: str | None) -> list[str]:
    """``extra_directives``: engine directives passed through as written, one per line.

    Printable ASCII, one line each; for nginx without ``{``, ``}`` or ``;`` (the
    template ends each with ``;``, so no directive opens a block or chains another);
    never a directive whose first word sets what the model owns, nor one that
    mentions ``weight``.
    """
    if not check.rendered(where, "extra_directives", raw):
        return []
    if not isinstance(raw, (list, tuple)):
        check.add(f"{where}: extra_directives must be a list of directives (strings), got {kind(raw)}")
        return []
    directives = []
    for index, item in enumerate(raw):
        field = f"extra_directives[{index}]"
        if not isinstance(item, str) or not item.strip():
            check.add(f"{where}: {field} must be a non-empty string, got {kind(item)}")
            continue
        text = item.strip()
        words = text.split()
        bad = next((f"U+{ord(c):04X}" for c in text if not " " <= c <= "~"), None)
        if bad:
            check.add(f"{where}: {field} contains {bad}: a directive is one line of printable ASCII")
        elif len(text) > DIRECTIVE_MAX_LENGTH:
            check.add(f"{where}: {field} is longer than {DIRECTIVE_MAX_LENGTH} characters")
        elif engine == "nginx" and any(c in text for c in "{};"):
            check.add(f"{where}: {field} {text!r} contains '{{', '}}' or ';': write one nginx directive without "
                      "its ';' (the template adds it); blocks belong to the model")
        elif engine in MODEL_OWNED_DIRECTIVES and words[0].lower() in MODEL_OWNED_DIRECTIVES[engine]:
            check.add(f"{where}: {field} {text!r} sets {words[0]}, which the model owns (balance, servers, weights, "
                      "routes and listeners are validated and judged by policy); use the model's keys")
        elif "weight" in text.lower():
            check.add(f"{where}: {field} {text!r} mentions weight: server weights belong to the model, where the "
                      "policy judges them")
        else:
            directives.append(text)
    return directives


def own_address(value: Any) -> str | None:
    """``value`` as one IP address a listener of this host can bind, canonical; None if it is not one.

    Not the unspecified address (every address is written by leaving it out) nor a multicast one.
    """
    try:
        parsed = ipaddress.ip_address(value) if isinstance(value, str) else None
    except ValueError:
        return None
    if parsed is None or parsed.is_unspecified or parsed.is_multicast:
        return None
    return str(parsed)


def read_stats(check: Any, host: str, raw: Any) -> dict[str, Any] | None:
    """``lb_stats``: the engine's stats (HAProxy) or status (nginx) page behind a password.

    Returns ``{"address", "port", "user", "credentials"}``: ``credentials`` names
    the password's hash (sha256 of it, 16 hex digits) so a new password is a new
    model digest, and the model holds neither the password nor its hash.
    """
    data = check.mapping("lb_stats", "", raw)
    if data is None:
        return None
    before = len(check.problems)
    check.unknown_keys("lb_stats", data, STATS_KEYS)
    for key in STATS_KEYS:
        if key not in data:
            check.add(f"lb_stats: {key} is missing")
    address = data.get("address")
    if "address" in data and check.rendered("lb_stats", "address", address):
        if own_address(address) is None:
            check.add(f"lb_stats: address {address!r} must be one IP address of this host on a management network "
                      "(or 127.0.0.1); the page never listens on every address")
        else:
            address = own_address(address)
    port = check.integer("lb_stats", "port", data["port"], 1, 65535) if "port" in data else None
    user = data.get("user")
    if "user" in data and check.rendered("lb_stats", "user", user) and not (
            isinstance(user, str) and STATS_USER_RE.fullmatch(user)):
        check.add(f"lb_stats: user {user!r} must be 1-32 letters, digits, '.', '_' or '-'")
    password = data.get("password")
    if "password" in data and check.rendered("lb_stats", "password", password):
        if not isinstance(password, str) or len(password) < STATS_PASSWORD_MIN or any(
                not " " <= c <= "~" for c in password):
            check.add(f"lb_stats: password must be at least {STATS_PASSWORD_MIN} printable ASCII characters (keep "
                      "it in Ansible Vault); its value is not shown")
    if len(check.problems) > before:
        return None
    digest = page_password_hash(host, str(user), str(password))
    return {"address": address, "port": port, "user": str(user),
            "credentials": hashlib.sha256(digest.encode()).hexdigest()[:16]}


def _entries(
    check: Any, label: str, field: str, raw: Sequence[Any], keys: Sequence[str]
) -> Iterator[tuple[int, str, Mapping[str, Any]]]:
    """``(index, where, item)`` for each item of a list that is a mapping; the others and unknown keys reported."""
    for index, item in enumerate(raw):
        data = check.mapping(label, f"{field}[{index}]", item)
        if data is not None:
            where = f"{label}: {field}[{index}]"
            check.unknown_keys(where, data, keys)
            yield index, where, data


def _binds(check: Any, label: str, raw: Any) -> list[dict[str, Any]]:
    if not check.rendered(label, "binds", raw):
        return []
    if not isinstance(raw, (list, tuple)) or not raw:
        check.add(f"{label}: binds must be a non-empty list of {{port, address, tls}}, got {kind(raw)}")
        return []
    binds = []
    for _index, where, data in _entries(check, label, "binds", raw, BIND_KEYS):
        port = check.integer(where, "port", data.get("port"), 1, 65535) if "port" in data else None
        if "port" not in data:
            check.add(f"{where}: port is missing")
        tls = check.boolean(where, "tls", data.get("tls", False))
        address = data.get("address", "")
        if check.rendered(where, "address", address) and address not in ("", None):
            if own_address(address) is None:
                check.add(f"{where}: address {address!r} must be one IP address of this host; leave it out "
                          "to listen on every address")
                address = None
            else:
                address = own_address(address)
        if port is not None and tls is not None and address is not None:
            binds.append({"address": address or "", "port": port, "tls": tls})
    return binds


def _certificates(check: Any, label: str, raw: Any, base_dir: str | None, now: datetime) -> list[dict[str, Any]]:
    if not check.rendered(label, "tls.certificates", raw):
        return []
    if not isinstance(raw, (list, tuple)) or not raw:
        check.add(f"{label}: tls.certificates must be a non-empty list of certificates with their keys")
        return []
    result: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, where, data in _entries(check, label, "tls.certificates", raw, CERTIFICATE_KEYS):
        name = data.get("name", f"cert{index}")
        if not (isinstance(name, str) and CERTIFICATE_NAME_RE.fullmatch(name)):
            check.add(f"{where}: name {name!r} must be 1-63 letters, digits, '_', '.' or '-'")
            continue
        where = f"{label}: certificate {name}"
        if name in seen:
            check.add(f"{where}: the name is used twice in this frontend")
            continue
        seen.add(name)
        certificate, key = read_pem_pair(check, where, data, base_dir)
        if certificate is None or key is None:
            continue
        info, problems = inspect_pair(certificate, key, now)
        for problem in problems:
            check.add(f"{where}: {problem}")
        if info is not None and not problems:
            result.append({
                "name": name,
                "file": f"{label.split()[-1]}-{name}-{info.fingerprint[:16]}",
                "fingerprint": info.fingerprint,
                "names": list(info.names),
                "not_after": info.not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "not_after_timestamp": int(info.not_after.timestamp()),
            })
    return result


def _tls(check: Any, label: str, raw: Any, base_dir: str | None, now: datetime) -> dict[str, Any] | None:
    data = check.mapping(label, "tls", raw)
    if data is None:
        return None
    check.unknown_keys(f"{label}: tls", data, TLS_KEYS)
    tls: dict[str, Any] = {**TLS_DEFAULTS, "certificates": []}
    if "certificates" not in data:
        check.add(f"{label}: tls.certificates is missing: a TLS bind needs a certificate and its key")
    else:
        tls["certificates"] = _certificates(check, label, data["certificates"], base_dir, now)
    version = data.get("min_version", TLS_DEFAULTS["min_version"])
    if not check.rendered(label, "tls.min_version", version):
        pass
    elif version not in TLS_VERSIONS:
        check.add(f"{label}: tls.min_version {version!r} is not offered; use one of {', '.join(TLS_VERSIONS)}")
    else:
        tls["min_version"] = version
    alpn = data.get("alpn", TLS_DEFAULTS["alpn"])
    if check.rendered(label, "tls.alpn", alpn):
        if (not isinstance(alpn, (list, tuple)) or not alpn or len(set(map(str, alpn))) != len(alpn)
                or any(p not in ALPN_PROTOCOLS for p in alpn)):
            check.add(f"{label}: tls.alpn {alpn!r} must list distinct protocols out of {', '.join(ALPN_PROTOCOLS)}")
        else:
            tls["alpn"] = [str(p) for p in alpn]
    return tls


def _hsts(check: Any, label: str, raw: Any) -> dict[str, Any] | None:
    data = check.mapping(label, "hsts", raw)
    if data is None:
        return None
    check.unknown_keys(f"{label}: hsts", data, HSTS_KEYS)
    if "max_age" not in data:
        check.add(f"{label}: hsts.max_age is missing: seconds browsers keep to HTTPS (e.g. 31536000)")
        return None
    max_age = check.integer(label, "hsts.max_age", data["max_age"], 1, HSTS_MAX_AGE)
    subdomains = check.boolean(label, "hsts.include_subdomains", data.get("include_subdomains", False))
    if max_age is None or subdomains is None:
        return None
    return {"max_age": max_age, "include_subdomains": subdomains}


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
) -> dict[str, Any] | None:
    """Validate one item of ``lb_frontends``; the normalised frontend, or None when it has problems."""
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
    mode = data.get("mode", "http")
    if mode not in ("http", "tcp"):
        check.add(f"{label}: mode {mode!r} is not valid; use 'http' or 'tcp'")
    binds = _binds(check, label, data.get("binds"))
    has_tls = any(b["tls"] for b in binds)
    tls = None
    if "tls" in data:
        tls = _tls(check, label, data["tls"], base_dir, now)
        if not has_tls:
            check.add(f"{label}: tls is set but no bind has tls: true")
    elif has_tls:
        check.add(f"{label}: a bind has tls: true but tls (certificates) is missing")
    redirect = check.boolean(label, "redirect_to_https", data.get("redirect_to_https", False))
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
    directives = read_directives(check, label, data.get("extra_directives", []), engine)
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
        base = {"port": bind["port"], "address": bind["address"], "tls": bind["tls"]}
        for route in frontend["routes"]:
            targets.setdefault(route["pool"], {**base, **route["probe"]})
        targets.setdefault(frontend["default_pool"], {**base, **frontend["default_probe"]})
    return targets
