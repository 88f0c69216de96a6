"""The load-balancer model, declared once: every key of every section, as data.

Each section (``lb``, the top-level variables of a load balancer, then
``service``, ``server``, ``pool``...) maps a key to its declaration:

``type``, ``elements``, ``required``, ``default``, ``choices``, ``no_log``
    Ansible's argument-spec words. The engine roles' argument specs are generated
    from them, and validation applies ``default`` where a key is left out.
``range``
    For an integer: ``(low, high)``, high ``None`` for no upper bound. Validation
    checks the value with it (``_Checker.declared``).
``options``
    The section the mapping (or each item of the list) follows.
``description``
    What the key means to an operator (argument spec and docs/model.md).
``rule``
    What validation checks, in words built from the rules' own constants
    (docs/model.md's "rule" column).
``doc_default``
    The default in words, where validation derives it (docs/model.md only).
``plain``
    True: the schema is the whole rule. Validation checks the type and range and
    copies the value into the model (``_Checker.plain_keys``); only the templates
    must learn a plain key. False or absent: code in lbguard_model_* reads it.

``scripts/gen_model.py`` writes docs/model.md and the model block of
roles/haproxy and roles/nginx meta/argument_specs.yml from this file; the unit
test tests/unit/test_model_doc.py fails when one of them is stale.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.lbguard.core.plugins.module_utils.lbguard_constants import ENGINES, STATUS_BIND
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_inventory import ENVIRONMENTS
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_directives import directive_rule
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_edge_spec import (
    BIND,
    CERTIFICATE,
    FRONTEND,
    HSTS,
    ROUTE,
    STATS,
    TLS,
    Section,
)
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_model_schema import (
    _INTERVAL_MS,
    ALGORITHMS,
    BUILTIN_POLICY,
    INTERVAL_MAX_MS,
    INTERVAL_MIN_MS,
    INTERVAL_RE,
    MODES,
    NGINX_NO_BACKUP,
    PORT_RANGE,
    PORT_RULE,
    RESERVED_SERVICE_PREFIX,
    WEIGHT_RANGE,
)


def _algorithms() -> str:
    return ", ".join(f"`{name}`" for name in ALGORITHMS)


def _no_equivalent(engine: str) -> list[str]:
    return [name for name, engines in ALGORITHMS.items() if engines.get(engine) is None]


def _weight_ranges() -> str:
    return ", ".join(f"{engine} {low}-{high}" for engine, (low, high) in WEIGHT_RANGE.items())


def _yaml_value(value: Any) -> str:
    """A value as YAML spells it, in backticks."""
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    return f"`{value}`"


def _builtin(key: str) -> str:
    return "; ".join(f"{env}: {_yaml_value(BUILTIN_POLICY[env][key])}" for env in ENVIRONMENTS)


LB: Section = {
    "lb_engine": {
        "type": "str", "default": ENGINES[0], "choices": list(ENGINES),
        "description": "Engine of this load balancer; this role renders only {engine}.",
        "rule": f"one of {', '.join(f'`{e}`' for e in ENGINES)}; decides the weight range and the algorithms allowed",
    },
    "lb_environment": {
        "type": "str",
        "description": (
            "staging or production, stated in the host's variables as well. The environment groups decide (the "
            "host must be in exactly one); a lb_environment that contradicts them is refused, never obeyed. No "
            "choices here, so the filter plugins can name the problem in their own words."
        ),
        "rule": f"one of {', '.join(f'`{e}`' for e in ENVIRONMENTS)}, and the environment group the LB is in "
        "(exactly one of " + " and ".join(f"`{e}`" for e in ENVIRONMENTS) + ", or the groups "
        "`lbguard_group_names` maps them to); a contradiction is refused",
    },
    "lb_policy": {
        "type": "dict",
        "doc_default": "built-in policy of the environment",
        "description": [
            "Environment-wide traffic policy, usually in group_vars of staging or production; a service's own "
            "policy overrides it.",
            "Built-in defaults are production min_active_servers 2 and max_server_share 0.5; staging 1 and 1.0; "
            "allow_first false.",
        ],
        "options": "policy",
        "rule": "a mapping with the keys of [Policy keys](#policy-keys); built-in < `lb_policy` < a service's `policy`",
    },
    "lb_services": {
        "type": "list", "elements": "dict",
        "description": (
            "The services this load balancer offers. See docs/model.md for every key and rule; the lbguard filter"
            " plugins validate all of them and report every problem at once before any host is touched."
        ),
        "options": "service",
        "rule": "a list of mappings with the keys of [Service keys](#service-keys); every problem is reported at once",
    },
    "lb_frontends": {
        "type": "list", "elements": "dict",
        "description": (
            "Frontends that route to lb_pools by host and path, with TLS termination. See docs/model.md for every"
            " key and rule. A service of lb_services is shorthand for one frontend with one pool."
        ),
        "options": "frontend",
        "rule": "a list of mappings with the keys of [Frontend keys](#frontend-keys); with it, `lb_services` may be left out",
    },
    "lb_pools": {
        "type": "list", "elements": "dict",
        "description": (
            "Named pools of servers that lb_frontends route to; each has the keys of a service of lb_services "
            "except mode and listen, under the same policy."
        ),
        "options": "pool",
        "rule": "a list of mappings with the keys of [Pool keys](#pool-keys); every pool must be used by a frontend",
    },
    "lb_global_directives": {
        "type": "list", "elements": "str",
        "description": (
            "Engine directives added to the global section (HAProxy) or the http block (nginx) as written, with "
            "the allowlist of that section (its rule lists it)."
        ),
        "rule": directive_rule("global"),
    },
    "lbguard_cert_min_days": {
        "type": "int", "range": (0, 365), "default": 14,
        "description": (
            "Days a TLS certificate must still be valid at validation: in production a certificate closer to its "
            "expiry (or self-signed) is refused, in staging it is a warning in the run's report."
        ),
        "rule": "integer 0-365; production refuses a certificate that expires sooner, and a self-signed one; "
        "staging warns",
    },
    "lb_stats": {
        "type": "dict",
        "description": (
            "The engine's stats page (HAProxy) or status page (nginx stub_status) on a management address, behind"
            " a password. The password belongs in Ansible Vault; the rendered files hold a salted SHA-512 crypt "
            "hash of it, the model and the ledger neither."
        ),
        "options": "stats",
        "rule": "a mapping with the keys of [Stats page keys](#stats-page-keys)",
    },
}

POLICY: Section = {
    "min_active_servers": {
        "type": "int", "range": (1, None),
        "doc_default": f"built-in ({_builtin('min_active_servers')})",
        "description": "Fewest servers (not backup, not disabled, weight above 0) a service may have.",
        "rule": "integer >= 1; active: not disabled, not backup, weight above 0",
    },
    "max_server_share": {
        "type": "float",
        "doc_default": f"built-in ({_builtin('max_server_share')})",
        "description": "Largest share of traffic (0 to 1, by weight) any one server may receive.",
        "rule": "number greater than 0 and at most 1 (0.5 means 50%); each active server's weight / total weight of "
        "the active servers must not exceed it",
    },
    "allow_first": {
        "type": "bool",
        "doc_default": f"built-in ({_builtin('allow_first')})",
        "description": "Permit balance first, which fills one server before the next.",
        "rule": "boolean; without it `balance: first` is refused",
    },
}

SERVICE: Section = {
    "name": {
        "type": "str", "required": True,
        "description": "Unique, safe identifier (letters, digits, _ and -), names the frontend and backend.",
        "rule": "required; 1-63 letters, digits, `_` or `-`, starting with a letter; unique per LB (with nginx, unique "
        f"ignoring case); names starting with `{RESERVED_SERVICE_PREFIX}` are reserved for lbguard's status listener; "
        "the engines' identifiers are the name unchanged (nothing is sanitised, so two names never meet in one), and "
        "nginx's map keywords (`default`, `hostnames`, `include`, `volatile`) are ordinary names: the template escapes "
        "map keys",
    },
    "mode": {
        "type": "str", "default": MODES[0], "choices": list(MODES),
        "description": "Proxy mode.",
        "rule": f"one of {', '.join(f'`{x}`' for x in MODES)}; nginx: `http` only",
    },
    "listen": {
        "type": "int", "required": True, "range": PORT_RANGE,
        "description": "Port the frontend listens on (1-65535), unique per load balancer.",
        "rule": f"required; {PORT_RULE}, unique per LB (a service listens on every IPv4 address), and not the port of "
        f"lbguard's status listener (`haproxy_status_bind` / `nginx_status_bind`, default `{STATUS_BIND}`) when that "
        "listens on an IPv4 address",
    },
    "balance": {
        "type": "str", "default": "roundrobin",
        "description": [
            "Engine-neutral algorithm, one of roundrobin, static-rr, leastconn, first, source, uri, random; first"
            " needs policy allow_first.",
            "Not listed as choices here so that the filter plugins can name the service and suggest the closest "
            "algorithm for a typo.",
        ],
        "rule": f"one of {_algorithms()}; a typo gets the closest name; `first` needs `policy.allow_first` (and "
        f"`max_server_share: 1.0`); nginx has no {', '.join(f'`{a}`' for a in _no_equivalent('nginx'))}; "
        "`uri` needs mode `http`",
    },
    "servers": {
        "type": "list", "elements": "dict",
        "description": "Explicit servers (name, address, port, weight, backup, disabled); or use backend_group.",
        "options": "server",
        "rule": "a non-empty list of mappings with the keys of [Server keys](#server-keys); not with `backend_group`",
    },
    "backend_group": {
        "type": "str",
        "description": "Inventory group whose hosts in this load balancer's environment are the servers.",
        "rule": "an inventory group; its hosts that are in the LB's own environment become the servers, in inventory order "
        "(see [Backend host variables](#backend-host-variables)); not with `servers`",
    },
    "backend_port": {
        "type": "int", "range": PORT_RANGE,
        "description": "Port of the servers taken from backend_group.",
        "rule": f"{PORT_RULE}; required with `backend_group`, only valid with it",
    },
    "health_check": {
        "type": "dict",
        "doc_default": "on, with every default of [Health check keys](#health-check-keys)",
        "description": "Active health check (enabled, path, expect_status, interval, rise, fall); on by default.",
        "options": "health_check",
        "rule": "a mapping with the keys of [Health check keys](#health-check-keys)",
    },
    "server_max_connections": {
        "type": "int", "range": (1, 100_000), "plain": True,
        "description": (
            "Most connections each server of this service handles at once, so that no server is pushed past "
            "what it can take. HAProxy queues the rest (up to its connect timeout); nginx sends them to another "
            "server, or answers 502 when every server is full. Left out: no limit."
        ),
        "rule": "integer 1-100000",
    },
    "policy": {
        "type": "dict",
        "doc_default": "`lb_policy`",
        "description": "This service's policy; overrides lb_policy key by key.",
        "options": "policy",
        "rule": "a mapping with the keys of [Policy keys](#policy-keys); overrides `lb_policy` key by key",
    },
}

SERVER: Section = {
    "name": {
        "type": "str", "required": True,
        "description": "Server name in the rendered config and in every report.",
        "rule": "required; 1-63 letters, digits, `_`, `.` or `-`, starting with a letter or digit; unique in the service",
    },
    "address": {
        "type": "str", "required": True,
        "description": "IPv4, IPv6 or DNS host name of the server; checked for syntax only, never resolved.",
        "rule": "required; IPv4, IPv6 or DNS host name, syntax only, never resolved; compared in canonical form "
        "(IPv4-mapped IPv6 as IPv4, names in lower case without the trailing dot): no two servers of a service on "
        "the same address and port; refused: loopback, `localhost`, unspecified, multicast and broadcast addresses, "
        "IPv6 zone ids, names libc reads as a number (`0x0a000001`), the load balancer itself (its inventory "
        "name, `ansible_host` or `lb_address`), and one of its listeners (the address of a bind, `lb_stats` or the "
        "status listener, on a port a listener of that address or of every address of its family holds)",
    },
    "port": {
        "type": "int", "required": True, "range": PORT_RANGE,
        "description": "Port of the server (1-65535).",
        "rule": f"required; {PORT_RULE}",
    },
    "weight": {
        "type": "int", "default": 1,
        "description": "Relative share of load-balanced traffic (HAProxy 0-256, nginx 1-256).",
        "rule": f"integer, {_weight_ranges()}; nginx refuses 0 (use `disabled`); the policy's share limits apply",
    },
    "backup": {
        "type": "bool", "default": False,
        "description": "Receives traffic only when the active servers are down.",
        "rule": "boolean; a backup server needs a weight of at least 1 (else it never takes over); "
    "nginx cannot combine it with balance " + ", ".join(f"`{a}`" for a in sorted(NGINX_NO_BACKUP)),
    },
    "disabled": {
        "type": "bool", "default": False,
        "description": "Out of rotation, rendered as disabled (HAProxy) or down (nginx); gets no traffic.",
        "rule": "boolean",
    },
}

HEALTH_CHECK: Section = {
    "enabled": {
        "type": "bool", "default": True,
        "description": "Active health checks on or off.",
        "rule": "boolean",
    },
    "path": {
        "type": "str", "default": "/health",
        "description": "HTTP path requested by the check (http services).",
        "rule": "starts with `/`; printable ASCII only: letters, digits and `-._~!$&()*+,;=:@%/?` (an invisible or "
        "look-alike character is named with its code point); mode http only",
    },
    "expect_status": {
        "type": "int", "default": 200, "range": (100, 599),
        "description": "HTTP status a healthy server answers (100-599).",
        "rule": "integer 100-599; mode http only",
    },
    "interval": {
        "type": "raw", "default": "2s",
        "description": "Time between two checks, such as 2s or 500ms, or an integer number of seconds.",
        "rule": "a duration: a number followed by `ms`, `s` or `m` (`2s`, `500ms`), or an integer of seconds; "
        f"from {INTERVAL_MIN_MS}ms to {INTERVAL_MAX_MS // 60000}m",
    },
    "rise": {
        "type": "int", "default": 2, "range": (1, 100),
        "description": "Consecutive successes that mark a server up (1-100).",
        "rule": "integer 1-100",
    },
    "fall": {
        "type": "int", "default": 3, "range": (1, 100),
        "description": "Consecutive failures that mark a server down (1-100).",
        "rule": "integer 1-100",
    },
}


#: A pool of lb_pools is a service without its own listener (lb_frontends route to it),
#: with the escape hatch of a frontend.
POOL: Section = {
    "name": {
        **SERVICE["name"],
        "description": (
            "Unique identifier (letters, digits, _ and -), names the backend (HAProxy) or upstream (nginx)."
        ),
        "rule": "required; the rules of a service's name; unique among pools and the services of `lb_services` (with "
        "nginx, ignoring case: upstream names and map keys are)",
    },
    **{key: value for key, value in SERVICE.items() if key not in ("name", "mode", "listen")},
    "extra_directives": {**FRONTEND["extra_directives"], "rule": directive_rule("pool")},
}

#: A backend host's variables, read when a service takes its servers from backend_group.
BACKEND: Section = {
    "lb_address": {
        "type": "str",
        "server_key": "address",
        "description": "the address; else `ansible_host`, else the inventory hostname",
    },
    "lb_weight": {"type": "int", "server_key": "weight", "description": "the weight (default 1)"},
    "lb_backup": {"type": "bool", "server_key": "backup", "description": "`backup` (default false)"},
    "lb_disabled": {"type": "bool", "server_key": "disabled", "description": "`disabled` (default false)"},
}

#: Every section by name: ``options`` refers to these names.
SECTIONS: dict[str, Section] = {
    "lb": LB,
    "service": SERVICE,
    "pool": POOL,
    "server": SERVER,
    "health_check": HEALTH_CHECK,
    "policy": POLICY,
    "frontend": FRONTEND,
    "bind": BIND,
    "tls": TLS,
    "certificate": CERTIFICATE,
    "hsts": HSTS,
    "route": ROUTE,
    "stats": STATS,
    "backend": BACKEND,
}


def keys(section: str) -> tuple[str, ...]:
    """The keys a section accepts, in their documented order."""
    return tuple(SECTIONS[section])


def defaults(section: str) -> dict[str, Any]:
    """The defaults validation applies to a section's keys that are left out."""
    return {key: spec["default"] for key, spec in SECTIONS[section].items() if "default" in spec}


# The key lists validation checks against, generated from the sections above.
MODEL_VARIABLES = keys("lb")
BACKEND_VARIABLES = keys("backend")
SERVICE_KEYS = keys("service")
POOL_KEYS = keys("pool")
SERVER_KEYS = keys("server")
HEALTH_KEYS = keys("health_check")
POLICY_KEYS = keys("policy")
FRONTEND_KEYS = keys("frontend")
BIND_KEYS = keys("bind")
TLS_KEYS = keys("tls")
CERTIFICATE_KEYS = keys("certificate")
HSTS_KEYS = keys("hsts")
ROUTE_KEYS = keys("route")
STATS_KEYS = keys("stats")
#: Keys whose value is a secret (declared no_log): a message names the field, never the value or an error about it.
SECRET_KEYS: frozenset[str] = frozenset(key for section in SECTIONS.values() for key, spec in section.items()
                                        if spec.get("no_log"))

_INTERVAL = INTERVAL_RE.fullmatch(HEALTH_CHECK["interval"]["default"])
#: A health check's defaults, with the interval also in milliseconds (what the templates render).
HEALTH_DEFAULTS: dict[str, Any] = {
    **defaults("health_check"),
    "interval_ms": int(_INTERVAL.group(1)) * _INTERVAL_MS[_INTERVAL.group(2)] if _INTERVAL else 0,
}
TLS_DEFAULTS: dict[str, Any] = defaults("tls")
#: The model's variables on a load balancer, under the name validation uses.
LB_VARS = MODEL_VARIABLES
#: A backend host's variables, with ansible_host right after lb_address: the address's fallback.
BACKEND_VARS: tuple[str, ...] = (BACKEND_VARIABLES[0], "ansible_host", *BACKEND_VARIABLES[1:])
