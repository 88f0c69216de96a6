"""The constants of the model's rules: algorithms, ranges, patterns, the built-in policy.
The keys themselves are declared in lbguard_model_spec."""

from __future__ import annotations

import re
from typing import Any


# --------------------------------------------------------------------------- rules

MODES: tuple[str, ...] = ("http", "tcp")
#: Every port of the model: a listener, a server, a stats page.
PORT_RANGE: tuple[int, int] = (1, 65535)
#: The port rule in words, for the rule texts of the declaration.
PORT_RULE = f"integer {PORT_RANGE[0]}-{PORT_RANGE[1]}"

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

#: Where the LB itself is reached: no server may point there (requests would loop back into it).
LB_IDENTITY_VARS: tuple[str, ...] = ("ansible_host", "lb_address")
#: lbguard's own status listener on the LB (the engine role's variable, and its default):
#: verification reads it, so no service may listen on its port.
STATUS_BIND_VARS: dict[str, str] = {"haproxy": "haproxy_status_bind", "nginx": "nginx_status_bind"}

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
