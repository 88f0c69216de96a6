"""Validate and normalise the lbguard load-balancer model kept in the inventory.

Filters
=======

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
      "digest": str                     # sha256 hex, see model_digest()
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
import ipaddress
import json
import re
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_common import closest as _closest
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_common import kind as _kind
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_common import pct_exact, pct_label
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_constants import ENGINES
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_constants import STATUS_BIND as STATUS_BIND_DEFAULT
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_inventory import (
    ENVIRONMENTS,
    complete_group_names,
    environments_of,
    group_names,
)
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_policy import (
    over_share,
    too_few_active,
    weight_shares,
)
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_edge import (
    probe_targets,
    read_directives,
    read_frontend,
    read_pem_pair,
    read_stats,
)
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_filter_errors import guarded_filters
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_secrets import page_password_hash
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_tls import inspect_pair

try:  # jinja2 is always present with Ansible; keep the core importable without it
    from jinja2 import Undefined as _JinjaUndefined
except ImportError:  # pragma: no cover
    _JinjaUndefined = ()  # type: ignore[assignment,misc]

# --------------------------------------------------------------------------- rules

MODES: tuple[str, ...] = ("http", "tcp")

BUILTIN_POLICY: dict[str, dict[str, Any]] = {
    "production": {"min_active_servers": 2, "max_server_share": 0.5, "allow_first": False},
    "staging": {"min_active_servers": 1, "max_server_share": 1.0, "allow_first": False},
}

#: engine-neutral name -> HAProxy `balance` value and nginx upstream directive
#: (None: the engine has no equivalent).
ALGORITHMS: dict[str, dict[str, str | None]] = {
    "roundrobin": {"haproxy": "roundrobin", "nginx": ""},
    "static-rr": {"haproxy": "static-rr", "nginx": ""},
    "leastconn": {"haproxy": "leastconn", "nginx": "least_conn"},
    "first": {"haproxy": "first", "nginx": None},
    "source": {"haproxy": "source", "nginx": "ip_hash"},
    "uri": {"haproxy": "uri", "nginx": "hash $request_uri consistent"},
    "random": {"haproxy": "random", "nginx": "random"},
}
#: nginx refuses `backup` servers together with these methods.
NGINX_NO_BACKUP: frozenset[str] = frozenset({"source", "uri", "random"})

WEIGHT_RANGE: dict[str, tuple[int, int]] = {"haproxy": (0, 256), "nginx": (1, 256)}

LB_VARS: tuple[str, ...] = (
    "lb_engine",
    "lb_environment",
    "lb_policy",
    "lb_services",
    "lb_frontends",
    "lb_pools",
    "lb_global_directives",
    "lb_stats",
)
#: Where the LB itself is reached: no server may point there (requests would loop back into it).
LB_IDENTITY_VARS: tuple[str, ...] = ("ansible_host", "lb_address")
#: lbguard's own status listener on the LB (the engine role's variable, and its default):
#: verification reads it, so no service may listen on its port.
STATUS_BIND_VARS: dict[str, str] = {"haproxy": "haproxy_status_bind", "nginx": "nginx_status_bind"}
BACKEND_VARS: tuple[str, ...] = ("lb_address", "ansible_host", "lb_weight", "lb_backup", "lb_disabled")

SERVICE_KEYS: tuple[str, ...] = (
    "name",
    "mode",
    "listen",
    "balance",
    "servers",
    "backend_group",
    "backend_port",
    "health_check",
    "policy",
)
#: A pool of lb_pools is a service without its own frontend: lb_frontends route to it.
POOL_KEYS: tuple[str, ...] = tuple(k for k in SERVICE_KEYS if k not in ("mode", "listen")) + ("extra_directives",)
SERVER_KEYS: tuple[str, ...] = ("name", "address", "port", "weight", "backup", "disabled")
HEALTH_KEYS: tuple[str, ...] = ("enabled", "path", "expect_status", "interval", "rise", "fall")
POLICY_KEYS: tuple[str, ...] = ("min_active_servers", "max_server_share", "allow_first")

HEALTH_DEFAULTS: dict[str, Any] = {
    "enabled": True,
    "path": "/health",
    "expect_status": 200,
    "interval": "2s",
    "interval_ms": 2000,
    "rise": 2,
    "fall": 3,
}

SERVICE_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,62}")
#: The engine roles name their status listener lbguard_status.
RESERVED_SERVICE_PREFIX = "lbguard"
SERVER_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
INTERVAL_RE = re.compile(r"([0-9]+)(ms|s|m)")
#: Printable ASCII URL characters only: an invisible or look-alike character passes the engine's
#: check and then fails every health check.
PATH_RE = re.compile(r"/[A-Za-z0-9._~!$&()*+,;=:@%/?-]*")
#: Health-check interval: from INTERVAL_MIN_MS (more often floods the servers with checks)
#: to INTERVAL_MAX_MS (an hour without a check is no health check).
INTERVAL_MIN_MS = 100
INTERVAL_MAX_MS = 3_600_000
#: Health-check keys only mode http uses: a tcp service's check is a TCP connect.
HTTP_HEALTH_KEYS: tuple[str, ...] = ("path", "expect_status")
HOST_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_IPV4_CHARS = frozenset("0123456789.")
_INTERVAL_MS = {"ms": 1, "s": 1000, "m": 60000}



class Unrenderable:
    """A value Ansible could not render (undefined variable, failing lookup...).

    The filter adapters put it where the value would be; the core reports it as a
    problem at that place instead of crashing the play.
    """

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"<unrenderable: {self.reason}>"


class ModelError(AnsibleFilterError):
    """The model of a load balancer has problems; ``problems`` lists them all."""

    def __init__(self, host: str, problems: list[str]) -> None:
        self.host = host
        self.problems = list(problems)
        count = len(self.problems)
        lines = [f"{host}: {p}" for p in self.problems]
        super().__init__(
            f"lbguard: the load-balancer model of {host} has {count} problem{'s' if count != 1 else ''}:\n"
            + "\n".join(lines)
        )


_MISSING: Any = object()

# ------------------------------------------------------------------ small helpers


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _int_not_valid(field: str, value: Any) -> str:
    """`field VALUE is ...` explaining why VALUE is not an integer."""
    if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]+\s*", value):
        return f"{field} {value!r} is a string, not an integer: write {value.strip()} without quotes"
    if value is None:
        return f"{field} is empty (null), not an integer"
    return f"{field} {value!r} is {_kind(value)}, not an integer"


class _Checker:
    """Collects problems; small typed checks that report and return a clean value."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, message: str) -> None:
        self.problems.append(message)

    def rendered(self, where: str, field: str, value: Any) -> bool:
        """False (and a problem) if ``value`` could not be rendered by Ansible."""
        if isinstance(value, Unrenderable):
            self.add(
                f"{where}: {field} cannot be rendered: {value.reason}"
                if field
                else f"{where} cannot be rendered: {value.reason}"
            )
            return False
        return True

    def integer(self, where: str, field: str, value: Any, low: int, high: int | None, hint: str = "") -> int | None:
        if not self.rendered(where, field, value):
            return None
        expected = f"an integer from {low} to {high}" if high is not None else f"an integer >= {low}"
        if not _is_int(value):
            self.add(f"{where}: {_int_not_valid(field, value)}; expected {expected}{hint}")
            return None
        if value < low or (high is not None and value > high):
            self.add(f"{where}: {field} {value} is out of range; expected {expected}{hint}")
            return None
        return int(value)

    def boolean(self, where: str, field: str, value: Any) -> bool | None:
        if not self.rendered(where, field, value):
            return None
        if not isinstance(value, bool):
            self.add(f"{where}: {field} {value!r} is {_kind(value)}, not a boolean; use true or false (unquoted)")
            return None
        return value

    def mapping(self, where: str, field: str, value: Any) -> Mapping[str, Any] | None:
        if not self.rendered(where, field, value):
            return None
        if not isinstance(value, Mapping):
            self.add(f"{where}: {field} must be a mapping, got {_kind(value)}")
            return None
        return value

    def unknown_keys(self, where: str, data: Mapping[Any, Any], known: Sequence[str]) -> None:
        for key in data:
            if key in known:
                continue
            close = _closest(key, known)
            if close:
                self.add(f"{where}: unknown key {key!r}; did you mean {close!r}?")
            else:
                self.add(f"{where}: unknown key {key!r} (valid keys: {', '.join(known)})")


# ---------------------------------------------------------------- value validators


def _ip_problem(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why no load-balanced server can have this IP address, or None."""
    if address.is_unspecified:
        return "is the unspecified address: it means any address, not a server"
    if address.is_loopback:
        return "is a loopback address: the load balancer would send requests to itself"
    if address.is_multicast:
        return "is a multicast address, not a server"
    if isinstance(address, ipaddress.IPv4Address) and address == ipaddress.IPv4Address("255.255.255.255"):
        return "is the broadcast address, not a server"
    return None


def check_address(value: Any) -> tuple[str | None, str | None]:
    """Check an IPv4/IPv6 address or DNS host name (syntax only, never resolved).

    Returns ``(canonical_address, None)`` or ``(None, reason)``. The canonical
    form is what two spellings of one endpoint share: IPv4 for an IPv4-mapped
    IPv6 address, IPv6 compressed and lower case, names lower case without the
    trailing dot. Loopback, unspecified, multicast and broadcast addresses, IPv6
    zone ids, and names that libc would read as a number are refused.
    """
    if not isinstance(value, str):
        return None, f"is {_kind(value)}, not an IP address or host name"
    if not value or value != value.strip() or any(c.isspace() for c in value):
        return None, "must be an IP address or host name without spaces"
    if ":" in value:
        if value.count(":") == 1:
            return None, "looks like host:port; put the port in `port`"
        text = value[1:-1] if value.startswith("[") and value.endswith("]") else value
        if "%" in text:
            return None, (
                "has an IPv6 zone id (after '%'): HAProxy disables such a server with only a warning; "
                "use a global address"
            )
        try:
            address6 = ipaddress.IPv6Address(text)
        except ValueError:
            return None, "is not a valid IPv6 address"
        if text != value:
            return None, f"write the IPv6 address without brackets ({text})"
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = address6.ipv4_mapped or address6
        problem = _ip_problem(ip)
        return (None, problem) if problem else (str(ip), None)
    if set(value) <= _IPV4_CHARS:
        try:
            address4 = ipaddress.IPv4Address(value)
        except ValueError:
            return None, "is not a valid IPv4 address"
        problem = _ip_problem(address4)
        return (None, problem) if problem else (str(address4), None)
    name = value[:-1] if value.endswith(".") else value
    if len(name) > 253:
        return None, "is longer than 253 characters"
    labels = name.split(".")
    for label in labels:
        if not HOST_LABEL_RE.fullmatch(label):
            return None, (
                f"is not a valid host name: label {label!r} must be 1-63 letters, digits or '-', "
                "not starting or ending with '-'"
            )
    if labels[-1].isdigit():
        return None, "is not a valid host name (its last label is numeric) nor a valid IP address"
    try:  # inet_aton reads hex, octal and shortened forms as an address: 0x0a000001 is 10.0.0.1
        numeric = socket.inet_ntoa(socket.inet_aton(name))
    except OSError:
        numeric = None
    if numeric is not None:
        return None, f"is a numeric address libc reads as {numeric}; write it as {numeric}"
    if name.lower() == "localhost" or name.lower().endswith(".localhost"):
        return None, "is a loopback name: the load balancer would send requests to itself"
    return name.lower(), None


def parse_interval(value: Any) -> tuple[str | None, int | None]:
    """``"2s"``/``"500ms"``/``"1m"`` or an int of seconds -> (text, milliseconds)."""
    if _is_int(value):
        return (f"{value}s", value * 1000) if value > 0 else (None, None)
    if isinstance(value, str):
        match = INTERVAL_RE.fullmatch(value)
        if match and int(match.group(1)) > 0:
            return value, int(match.group(1)) * _INTERVAL_MS[match.group(2)]
    return None, None


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
        value = check.integer(where, f"{prefix}min_active_servers", raw["min_active_servers"], 1, None)
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
        value = check.boolean(where, f"{prefix}allow_first", raw["allow_first"])
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
        value = check.boolean(label, "health_check.enabled", data["enabled"])
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
        value = check.integer(label, "health_check.expect_status", data["expect_status"], 100, 599)
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
            value = check.integer(label, f"health_check.{field}", data[field], 1, 100)
            if value is not None:
                health[field] = value
    return health


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
        server["port"] = check.integer(where, field("port"), port, 1, 65535)

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
        value = check.boolean(where, field(flag), raw.get(flag, False))
        server[flag] = value
        if value is None:
            server["valid_types"] = False
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
        port = check.integer(label, "backend_port", svc["backend_port"], 1, 65535)
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
        listen = check.integer(label, "listen", raw["listen"], 1, 65535)

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
            }
            for s in servers
        ],
    }


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
    frontends = []
    for index, raw in enumerate(raw_frontends):
        frontend = read_frontend(check, index, raw, pool_names, base_dir if isinstance(base_dir, str) else None,
                                 engine=engine)
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
            directives = read_directives(check, f"pool {name}", raw.get("extra_directives", []), engine)
        if pool is not None and pool["name"] in targets:
            target = targets[pool["name"]]
            pools.append({**pool, "listen": target["port"], "probe": target, "extra_directives": directives})
    return frontends, pools


def _listeners(services: list[dict[str, Any]], frontends: list[dict[str, Any]], check: _Checker) -> None:
    """No two listeners on one port of one address (an empty address is every address)."""
    taken: list[tuple[str, int, str]] = [("", s["listen"], f"service {s['name']}")
                                         for s in services if "probe" not in s]
    checked_from = len(taken)  # services among themselves are checked with lb_services
    for frontend in frontends:
        taken += [(b["address"], b["port"], f"frontend {frontend['name']}") for b in frontend["binds"]]
    for i, (address, port, owner) in enumerate(taken):
        if i < checked_from:
            continue
        for other_address, other_port, other in taken[:i]:
            if port == other_port and (not address or not other_address or address == other_address):
                check.add(f"{owner}: port {port}{' on ' + address if address else ''} is already used by {other}")
                break


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
    for service in services:
        if "probe" not in service and service["listen"] == port:
            check.add(f"lb_stats: port {port} is already used by service {service['name']}")
    for frontend in frontends:
        if any(b["port"] == port and b["address"] in ("", address) for b in frontend["binds"]):
            check.add(f"lb_stats: port {port} on {address} is already used by frontend {frontend['name']}")
    status_var = STATUS_BIND_VARS.get(engine or "haproxy", STATUS_BIND_VARS["haproxy"])
    status_bind = str(host_vars.get(status_var, STATUS_BIND_DEFAULT))
    if status_bind.rsplit(":", 1)[-1] == str(port):
        check.add(f"lb_stats: port {port} is lbguard's status listener ({status_var} {status_bind}); choose another")


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


def _check_engine_limits(
    engine: str,
    host_vars: Mapping[str, Any],
    services: list[dict[str, Any]],
    frontends: list[dict[str, Any]],
    check: _Checker,
) -> None:
    """What the engine or lbguard's own listener would refuse on the host, refused here, before any host."""
    status_var = STATUS_BIND_VARS[engine]
    status_bind = host_vars.get(status_var, STATUS_BIND_DEFAULT)
    status_port = str(status_bind).rsplit(":", 1)[-1]
    for frontend in frontends:
        label = f"frontend {frontend['name']}"
        if any(str(b["port"]) == status_port for b in frontend["binds"]):
            check.add(f"{label}: port {status_port} is lbguard's status listener ({status_var} {status_bind}), "
                      "which verification reads; choose another port")
        if engine == "nginx" and frontend["mode"] == "tcp":
            check.add(f"{label}: mode tcp is not available with nginx (lbguard renders nginx's http module only); "
                      "use mode http or lb_engine haproxy")
    seen: dict[str, str] = {}
    for service in services:
        label = f"pool {service['name']}" if "probe" in service else f"service {service['name']}"
        if "probe" in service:
            pass  # reached through a frontend, whose binds are checked above
        elif str(service["listen"]) == status_port:
            check.add(
                f"{label}: listen port {service['listen']} is lbguard's status listener ({status_var} "
                f"{status_bind}), which verification reads; choose another port"
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
    lb_host: str, host_vars: Mapping[str, Any], services: list[dict[str, Any]], check: _Checker
) -> None:
    """No server may be the load balancer itself, by its name or its addresses."""
    own: dict[str, str] = {}
    for origin, value in [("inventory hostname", lb_host)] + [
        (f"host var {var}", host_vars[var]) for var in LB_IDENTITY_VARS if var in host_vars
    ]:
        canonical, _ = check_address(value)
        if canonical is not None:
            own.setdefault(canonical, origin)
    for service in services:
        for server in service["servers"]:
            if server["address"] in own:
                check.add(
                    f"service {service['name']}: server {server['name']} points to this load balancer itself "
                    f"({server['address']}, its {own[server['address']]}): requests would loop back into it"
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
    _check_self_references(lb_host, host_vars, services, check)
    if engine is not None:
        _check_engine_limits(engine, host_vars, services, frontends, check)
    global_directives = read_directives(check, "lb_global_directives", host_vars.get("lb_global_directives", []),
                                        engine)
    stats = read_stats(check, str(lb_host), host_vars["lb_stats"]) if "lb_stats" in host_vars else None
    if stats is not None:
        _stats_port_free(stats, services, frontends, engine, host_vars, check)
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


# ------------------------------------------------- Ansible objects -> plain data

_OMIT: Any = object()


def _is_omit(value: Any) -> bool:
    # ansible-core 2.19 hands `omit` placeholders to plugins; it drops them from
    # finalized results, so do the same. There is no public name to compare with.
    return type(value).__name__ == "_OmitType"


def _render_reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if len(text) > 300:
        text = text[:297] + "..."
    if "'hostvars' is undefined" in text:
        text += (
            " (ansible-core 2.19+ renders a host's variables read through hostvars without hostvars; "
            "do not reference hostvars in lb_* variables: use backend_group for inventory hosts)"
        )
    return text


def _fetch(container: Any, key: Any) -> Any:
    """``container[key]`` rendered and converted to plain data; Unrenderable on failure."""
    try:
        value = container[key]
    except Exception as exc:  # noqa: BLE001 - templating errors of any kind become model problems
        return Unrenderable(_render_reason(exc))
    return to_plain(value)


def to_plain(value: Any) -> Any:
    """Convert Ansible's lazy/tagged containers and scalars to plain Python data.

    Values that fail to render become ``Unrenderable``; ``omit`` placeholders are
    dropped from containers, as Ansible does when it finalises a template.
    """
    kind = type(value)
    if value is None or kind is str or kind is int or kind is bool or kind is float:
        return value
    if isinstance(value, _JinjaUndefined):
        return Unrenderable("undefined value")
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if _is_omit(value):
        return _OMIT
    if isinstance(value, Mapping):
        result: dict[Any, Any] = {}
        for key in list(value.keys()):
            item = _fetch(value, key)
            if item is not _OMIT:
                result[str(key) if isinstance(key, str) else key] = item
        return result
    if isinstance(value, (list, tuple)):
        items = []
        for index in range(len(value)):
            item = _fetch(value, index)
            if item is not _OMIT:
                items.append(item)
        return items
    return value


class _BackendVarsView(Mapping[str, Mapping[str, Any]]):
    """Reads the few BACKEND_VARS of a host from Ansible's hostvars, once per host."""

    def __init__(self, hostvars: Mapping[str, Any]) -> None:
        self._hostvars = hostvars
        self._cache: dict[str, dict[str, Any]] = {}

    def __getitem__(self, host: str) -> Mapping[str, Any]:
        cached = self._cache.get(host)
        if cached is None:
            if host not in self._hostvars:
                raise KeyError(host)
            cached = _read_vars(self._hostvars[host], BACKEND_VARS)
            self._cache[host] = cached
        return cached

    def __iter__(self) -> Iterator[str]:
        return iter(self._hostvars)

    def __len__(self) -> int:
        return len(self._hostvars)


class _GroupsView(Mapping[str, list[str]]):
    """Ansible's ``groups`` as group -> list of hostnames, converting a group only when asked."""

    def __init__(self, groups: Mapping[str, Any]) -> None:
        self._groups = groups
        self._cache: dict[str, list[str]] = {}

    def __getitem__(self, name: str) -> list[str]:
        cached = self._cache.get(name)
        if cached is None:
            if name not in self._groups:
                raise KeyError(name)
            members = _fetch(self._groups, name)
            cached = [str(h) for h in members if isinstance(h, str)] if isinstance(members, list) else []
            self._cache[name] = cached
        return cached

    def __contains__(self, name: object) -> bool:
        return name in self._groups

    def __iter__(self) -> Iterator[str]:
        return (str(name) for name in self._groups)

    def __len__(self) -> int:
        return len(self._groups)


def _read_vars(host_vars: Any, names: Sequence[str]) -> dict[str, Any]:
    if not isinstance(host_vars, Mapping):
        return {}
    return {name: _fetch(host_vars, name) for name in names if name in host_vars}


def _adapt(
    lb_host: Any, hostvars: Any, groups: Any, filter_name: str
) -> tuple[str, dict[str, Any] | None, _GroupsView, _BackendVarsView]:
    """Check the filter arguments and wrap Ansible's objects for the plain-data core."""
    if not isinstance(lb_host, str) or not lb_host:
        raise AnsibleFilterError(
            f"{filter_name}: the input must be an inventory hostname, got {_kind(lb_host)}; "
            f"use {{{{ inventory_hostname | {filter_name}(hostvars, groups) }}}}"
        )
    if not isinstance(hostvars, Mapping):
        raise AnsibleFilterError(f"{filter_name}: the first argument must be Ansible's hostvars, got {_kind(hostvars)}")
    if not isinstance(groups, Mapping):
        raise AnsibleFilterError(f"{filter_name}: the second argument must be Ansible's groups, got {_kind(groups)}")
    host = str(lb_host)
    host_vars = (
        _read_vars(hostvars[host], LB_VARS + LB_IDENTITY_VARS + tuple(STATUS_BIND_VARS.values()) + ("inventory_dir",))
        if host in hostvars
        else None
    )
    return host, host_vars, _GroupsView(groups), _BackendVarsView(hostvars)


def lbguard_model_problems(
    lb_host: str, hostvars: Mapping[str, Any], groups: Mapping[str, Any], names: Mapping[str, Any] | None = None
) -> list[str]:
    """Filter: every problem of the model of ``lb_host`` (empty list when valid)."""
    host, host_vars, group_members, backends = _adapt(lb_host, hostvars, groups, "lbguard_model_problems")
    if host_vars is None:
        return [f"{host} is not a host of the inventory"]
    return model_problems(host, host_vars, group_members, backends, names)


def lbguard_validated_model(
    lb_host: str, hostvars: Mapping[str, Any], groups: Mapping[str, Any], names: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Filter: the normalised model of ``lb_host``; raises AnsibleFilterError listing every problem."""
    host, host_vars, group_members, backends = _adapt(lb_host, hostvars, groups, "lbguard_validated_model")
    if host_vars is None:
        raise ModelError(host, [f"{host} is not a host of the inventory"])
    return normalize_model(host, host_vars, group_members, backends, names)


def lbguard_inventory_groups(names: Mapping[str, Any] | None) -> dict[str, str]:
    """Filter: ``lbguard_group_names`` completed with lbguard's default group names.

    Raises ValueError naming every problem of the mapping (AnsibleFilterError through Ansible).
    """
    return complete_group_names(names)


def lbguard_environment(
    host: str, groups: Mapping[str, Any], names: Mapping[str, Any] | None = None, unknown: str | None = None
) -> str:
    """Filter: the environment of ``host`` by its groups, as the model derives it.

    For a host whose model cannot be built (plan, manual rollback). When the
    host is in no environment group or in both: ``unknown`` when given, else
    AnsibleFilterError.
    """
    groups_of = complete_group_names(names)
    if not isinstance(groups, Mapping):
        raise AnsibleFilterError(f"lbguard_environment: the argument must be Ansible's groups, got {_kind(groups)}")
    found = environments_of(str(host), _GroupsView(groups), groups_of)
    if len(found) != 1 and unknown is not None:
        return unknown
    if len(found) != 1:
        raise AnsibleFilterError(
            f"lbguard_environment: {host} is in {'both' if found else 'neither'} of the groups "
            f"{groups_of['staging']} and {groups_of['production']}; put it in exactly one of them"
        )
    return found[0]


def lbguard_change_id(
    lb_hosts: Sequence[str], hostvars: Mapping[str, Any], groups: Mapping[str, Any], names: Mapping[str, Any] | None = None
) -> str:
    """Filter: the id of the change the inventory describes, for every LB at once.

    The sha256 of each load balancer's model digest (or of its name and
    "invalid" when its model has problems), so any change to any model gives a
    new id. Staging's ledger stores the id its releases were verified for.
    """
    parts = []
    for lb_host in lb_hosts:
        host, host_vars, group_members, backends = _adapt(lb_host, hostvars, groups, "lbguard_change_id")
        model, problems = build_model(host, host_vars or {}, group_members, backends, names)
        parts.append(model["digest"] if model is not None and not problems else f"{host}:invalid")
    return hashlib.sha256(" ".join(parts).encode()).hexdigest()


def lbguard_tls_files(model: Mapping[str, Any], hostvars: Mapping[str, Any]) -> list[dict[str, str]]:
    """Filter: the PEM text of every certificate of a validated model, to install on its LB.

    ``[{"file": basename, "certificate": PEM chain, "key": PEM key}]``, in frontend
    order. The text is read again from the LB's ``lb_frontends`` and must be the
    certificate the model validated (same fingerprint). Secret: use with no_log.
    """
    host = model["host"]
    host_vars = _read_vars(hostvars[host], ("lb_frontends", "inventory_dir"))
    raw_frontends = {f.get("name"): f for f in host_vars.get("lb_frontends") or [] if isinstance(f, Mapping)}
    base_dir = host_vars.get("inventory_dir") if isinstance(host_vars.get("inventory_dir"), str) else None
    files = []
    for frontend in model["frontends"]:
        if not frontend["tls"]:
            continue
        raw_items = raw_frontends[frontend["name"]]["tls"]["certificates"]
        raw_by_name = {item.get("name", f"cert{i}"): item for i, item in enumerate(raw_items)}
        for certificate in frontend["tls"]["certificates"]:
            check = _Checker()
            pem, key = read_pem_pair(check, f"frontend {frontend['name']}", raw_by_name[certificate["name"]],
                                     base_dir)
            info = inspect_pair(pem, key)[0] if pem and key else None
            if info is None or info.fingerprint != certificate["fingerprint"]:
                raise AnsibleFilterError(
                    f"lbguard_tls_files: {host}: frontend {frontend['name']}: certificate {certificate['name']} is "
                    "no longer the one the model validated; validate the model again"
                )
            files.append({"file": certificate["file"], "certificate": pem.strip() + "\n", "key": key.strip() + "\n"})
    return files


def lbguard_stats_password_hash(model: Mapping[str, Any], hostvars: Mapping[str, Any]) -> str:
    """Filter: the SHA-512 crypt hash of the stats page's password, for the engine's user list.

    Read again from the LB's ``lb_stats`` and checked against the model's
    ``stats.credentials``. Derived from a secret: use with no_log.
    """
    host, stats = model["host"], model.get("stats")
    if not stats:
        raise AnsibleFilterError(f"lbguard_stats_password_hash: the model of {host} has no lb_stats")
    raw = _read_vars(hostvars[host], ("lb_stats",)).get("lb_stats") or {}
    password = raw.get("password") if isinstance(raw, Mapping) else None
    digest = page_password_hash(host, stats["user"], password) if isinstance(password, str) else ""
    if hashlib.sha256(digest.encode()).hexdigest()[:16] != stats["credentials"]:
        raise AnsibleFilterError(f"lbguard_stats_password_hash: {host}: lb_stats changed since the model was "
                                 "validated; validate it again")
    return digest


def lbguard_share_summary(service: Mapping[str, Any]) -> str:
    """Filter: ``"web1=33%, web2=33%, web3=33%"`` for a normalised service."""
    return share_summary(service)


class FilterModule:
    """lbguard model filters."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return guarded_filters({
            "lbguard_model_problems": lbguard_model_problems,
            "lbguard_validated_model": lbguard_validated_model,
            "lbguard_share_summary": lbguard_share_summary,
            "lbguard_tls_files": lbguard_tls_files,
            "lbguard_stats_password_hash": lbguard_stats_password_hash,
            "lbguard_change_id": lbguard_change_id,
            "lbguard_environment": lbguard_environment,
            "lbguard_inventory_groups": lbguard_inventory_groups,
        })
