"""The edge of the model, declared once as data: lb_frontends and lb_stats.

The sections follow lbguard_model_spec's format (its docstring says what each
field means); lbguard_model_spec.SECTIONS indexes them with the rest.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_edge_schema import (
    ALPN_PROTOCOLS,
    DNS_NAME_MAX,
    HSTS_MAX_AGE,
    MIN_KEY_BITS,
    STATS_PASSWORD_MIN,
    TLS_VERSIONS,
    WEAK_SIGNATURE_HASHES,
)
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_directives import directive_rule
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_model_schema import MODES, PORT_RANGE, PORT_RULE

Section = dict[str, dict[str, Any]]


FRONTEND: Section = {
    "name": {
        "type": "str", "required": True,
        "description": "Unique identifier (letters, digits, _ and -), names the frontend.",
        "rule": "required; 1-63 letters, digits, `_` or `-`, starting with a letter; unique per LB and not the name of a "
        "service of `lb_services` (both are HAProxy frontends; a pool may share it: backends are another namespace); "
        "names starting with `lbguard` are reserved; rendered unchanged (nginx names no frontend)",
    },
    "mode": {
        "type": "str", "default": MODES[0], "choices": list(MODES),
        "description": "Proxy mode; a tcp frontend only forwards to default_pool.",
        "rule": "`http` or `tcp`; a tcp frontend has only binds and `default_pool`; nginx: `http` only",
    },
    "binds": {
        "type": "list", "elements": "dict", "required": True,
        "description": "Where the frontend listens.",
        "options": "bind",
        "rule": "a non-empty list of mappings with the keys of [Bind keys](#bind-keys); addresses are compared in canonical "
        "form, per IP family: no two listeners on one port of one address, and none on a port another listener of its "
        "family holds on every address (services' `listen`, `lb_stats` and lbguard's status listener included); every "
        "IPv4 address and every IPv6 address (`::`) are two sockets, so `0.0.0.0:443` with `[::]:443` is accepted",
    },
    "tls": {
        "type": "dict",
        "description": "Certificates and protocol settings of the TLS binds.",
        "options": "tls",
        "rule": "a mapping with the keys of [TLS keys](#tls-keys); required when a bind has `tls: true`, refused without one",
    },
    "redirect_to_https": {
        "type": "bool", "default": False,
        "description": "Answer plain HTTP with a permanent redirect to the first TLS bind.",
        "rule": "boolean; needs a tls bind and a plain bind",
    },
    "hsts": {
        "type": "dict",
        "description": "Send Strict-Transport-Security over HTTPS (opt-in).",
        "options": "hsts",
        "rule": "a mapping with the keys of [HSTS keys](#hsts-keys); needs a tls bind",
    },
    "routes": {
        "type": "list", "elements": "dict",
        "description": "Routing rules, tried in order; the first match picks the pool.",
        "options": "route",
        "rule": "a list of mappings with the keys of [Route keys](#route-keys), tried in order; a route that an earlier "
        "route leaves no request to match (shadowed) is refused, naming the earlier routes; every host of a "
        "frontend with TLS must be covered by one of its certificates",
    },
    "default_pool": {
        "type": "str", "required": True,
        "description": "Pool of lb_pools for requests no route matches.",
        "rule": "required; a pool of `lb_pools` (a typo gets the closest name)",
    },
    "extra_directives": {
        "type": "list", "elements": "str",
        "description": (
            "Engine directives added to this section as written (the escape hatch), checked by the engine and "
            "listed in the plan report; only the allowlist of its section, never balance, servers, weights, "
            "routes or listeners."
        ),
        "rule": directive_rule("frontend"),
    },
}

BIND: Section = {
    "address": {
        "type": "str",
        "doc_default": "every address",
        "description": "One IP address of this host; left out (or `0.0.0.0`), every IPv4 address; `::`, every IPv6 "
        "address.",
        "rule": "an IP address, not multicast; left out, empty or `0.0.0.0`: every IPv4 address; `::` (any spelling): "
        "every IPv6 address only (nginx's `ipv6only` default; HAProxy is given `v6only`); an IPv4-mapped IPv6 address "
        "(`::ffff:10.0.0.1`) is its IPv4 address",
    },
    "port": {
        "type": "int", "required": True, "range": PORT_RANGE,
        "description": "Port (1-65535), unique per address on this load balancer.",
        "rule": f"required; {PORT_RULE}",
    },
    "tls": {
        "type": "bool", "default": False,
        "description": "Terminate TLS on this bind with the frontend's certificates.",
        "rule": "boolean",
    },
}

TLS: Section = {
    "certificates": {
        "type": "list", "elements": "dict", "required": True,
        "description": "Certificates with their keys; the first one also answers clients without SNI.",
        "options": "certificate",
        "rule": "a non-empty list of mappings with the keys of [Certificate keys](#certificate-keys); each certificate must "
        "be valid now (not expired, not before its start), have DNS names in subjectAltName, and match its key",
    },
    "min_version": {
        "type": "str", "default": TLS_VERSIONS[0], "choices": list(TLS_VERSIONS),
        "description": "Oldest TLS version offered.",
        "rule": f"one of {', '.join(f'`{v}`' for v in TLS_VERSIONS)}",
    },
    "alpn": {
        "type": "list", "elements": "str", "default": ["h2", "http/1.1"],
        "description": "Application protocols offered by ALPN (nginx offers http/1.1 always, h2 when listed).",
        "rule": f"distinct protocols out of {', '.join(f'`{p}`' for p in ALPN_PROTOCOLS)}",
    },
}

CERTIFICATE: Section = {
    "name": {
        "type": "str",
        "doc_default": "`cert` + its index",
        "description": "Identifier of the certificate in file names and reports.",
        "rule": "1-63 letters, digits, `_`, `.` or `-`; unique in the frontend",
    },
    "certificate": {
        "type": "str",
        "description": "PEM certificate, leaf first, then its chain.",
        "rule": "PEM text of CERTIFICATE blocks only (a private key here is refused, never quoted); exactly one of "
        "`certificate` and `certificate_file`; as OpenSSL's default security level on Debian loads it: "
        + ", ".join(f"{kind} keys of at least {bits} bits" for kind, bits in MIN_KEY_BITS.items()) + ", no "
        + " or ".join(sorted(h.upper().replace("SHA", "SHA-") for h in WEAK_SIGNATURE_HASHES)) + " signature except a self-signed "
        "certificate's own; every DNS subjectAltName and the common name a DNS name (letters, digits, `-`, dots, a "
        f"leading `*.`, at most {DNS_NAME_MAX} characters); valid now; in production not self-signed and valid for "
        "`lbguard_cert_min_days` more days (staging: a warning)",
    },
    "key": {
        "type": "str", "no_log": True,
        "description": "Unencrypted PEM private key, kept in Ansible Vault.",
        "rule": "PEM text of an unencrypted private key matching the certificate; exactly one of `key` and `key_file`; "
        "never shown, never stored in the model",
    },
    "certificate_file": {
        "type": "str",
        "description": "Controller path of the PEM certificate, relative to the inventory's directory.",
        "rule": "a file readable on the controller",
    },
    "key_file": {
        "type": "str",
        "description": "Controller path of the PEM private key, relative to the inventory's directory.",
        "rule": "a file readable on the controller",
    },
}

HSTS: Section = {
    "max_age": {
        "type": "int", "required": True, "range": (1, HSTS_MAX_AGE),
        "description": "Seconds browsers keep to HTTPS.",
        "rule": f"required; integer 1-{HSTS_MAX_AGE}",
    },
    "include_subdomains": {
        "type": "bool", "default": False,
        "description": "Extend the rule to every subdomain.",
        "rule": "boolean",
    },
}

ROUTE: Section = {
    "hosts": {
        "type": "list", "elements": "str",
        "description": "Host names (exact, or *.example.com for every subdomain); empty, any host.",
        "rule": "a list of lower-case host names, exact or `*.` + name (every name that ends with `.` + name); no IP "
        "addresses; a route without hosts needs a `path_prefix` other than `/` (a route matching everything is refused)",
    },
    "path_prefix": {
        "type": "str", "default": "/",
        "description": "Path the request starts with.",
        "rule": "starts with `/`; letters, digits and `-._~%/` only",
    },
    "pool": {
        "type": "str", "required": True,
        "description": "Pool of lb_pools the matching requests go to.",
        "rule": "required; a pool of `lb_pools` (a typo gets the closest name)",
    },
}

STATS: Section = {
    "address": {
        "type": "str", "required": True,
        "description": "One IP address of this host on a management network, or 127.0.0.1.",
        "rule": "required; one IP address, not unspecified or multicast (never every address); an IPv4-mapped IPv6 "
        "address is its IPv4 address",
    },
    "port": {
        "type": "int", "required": True, "range": PORT_RANGE,
        "description": "Port of the page.",
        "rule": f"required; {PORT_RULE}; no service's `listen` (every IPv4 address), no frontend's bind on that address "
        "or on every address of its family, not lbguard's status listener",
    },
    "user": {
        "type": "str", "required": True,
        "description": "User name asked by the page.",
        "rule": "required; 1-32 letters, digits, `.`, `_` or `-`",
    },
    "password": {
        "type": "str", "required": True, "no_log": True,
        "description": "Password asked by the page, from Ansible Vault.",
        "rule": f"required; at least {STATS_PASSWORD_MIN} printable ASCII characters; in production from Ansible Vault "
        "or a lookup, never plain text in the inventory; never shown in a message, nor a templating error about it; "
        "the model keeps only a digest of its hash (`stats.credentials`)",
    },
}
