#!/usr/bin/env python
"""Generate docs/model.md, the reference of lbguard's load-balancer model.

Sources, so that the document cannot drift from the code:

* roles/haproxy/meta/argument_specs.yml: the model options ``lb_engine``,
  ``lb_policy`` and ``lb_services`` with their suboptions (type, default,
  choices, required, description);
* filter_plugins/lbguard_model.py: the keys the validation filter accepts
  (``SERVICE_KEYS``, ``SERVER_KEYS``, ``HEALTH_KEYS``, ``POLICY_KEYS``, ``LB_VARS``,
  ``BACKEND_VARS``) and its rules and defaults (``ALGORITHMS``, ``WEIGHT_RANGE``,
  ``HEALTH_DEFAULTS``, ``BUILTIN_POLICY``...).

Where the argument spec has no suboptions for a key the filter accepts (servers,
health_check and a service's policy), the rows come from ``FALLBACK`` below, built
from the filter's constants; the document says so under the table. ``RULES``
states, for every key, what the filter checks. A key the filter accepts that
neither source documents or that has no rule, or a suboption in the spec that the
filter does not accept, stops the generator with an error (exit 2).

Usage (from anywhere; paths are relative to the project)::

    python scripts/gen_model_doc.py           # (re)write docs/model.md
    python scripts/gen_model_doc.py --check   # exit 1 if docs/model.md is not up to date

Needs PyYAML and ansible-core (the filter imports ``ansible.errors``): run it with
the project's .venv.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
SPEC_FILE = Path("roles/haproxy/meta/argument_specs.yml")
#: The other engine role states the same model; --check and every run hold it to SPEC_FILE's.
OTHER_SPEC_FILES = (Path("roles/nginx/meta/argument_specs.yml"),)
MODEL_FILE = Path("filter_plugins/lbguard_model.py")
DOC_FILE = Path("docs/model.md")

# The filter, imported as lbguard.core's (collections/ links the checkout in), like the code it shares.
if str(ROOT / "collections") not in sys.path:
    sys.path.insert(0, str(ROOT / "collections"))
from ansible_collections.lbguard.core.plugins.plugin_utils import lbguard_model_build  # noqa: E402  (needs the path above)
from ansible_collections.lbguard.core.plugins.plugin_utils import lbguard_model_frontends  # noqa: E402  (needs the path above)
from ansible_collections.lbguard.core.plugins.plugin_utils import lbguard_model_schema  # noqa: E402  (needs the path above)
from ansible_collections.lbguard.core.plugins.plugin_utils import lbguard_model_services  # noqa: E402  (needs the path above)
from ansible_collections.lbguard.core.plugins.plugin_utils import lbguard_edge_schema  # noqa: E402  (the same)


class SpecError(Exception):
    """The argument spec and the filter disagree, or a key is documented nowhere."""


# --------------------------------------------------------------------- rules from the filter


def _algorithms() -> str:
    return ", ".join(f"`{name}`" for name in lbguard_model_schema.ALGORITHMS)


def _no_equivalent(engine: str) -> list[str]:
    return [name for name, engines in lbguard_model_schema.ALGORITHMS.items() if engines.get(engine) is None]


def _weight_ranges() -> str:
    return ", ".join(f"{engine} {low}-{high}" for engine, (low, high) in lbguard_model_schema.WEIGHT_RANGE.items())


def _builtin(key: str) -> str:
    return "; ".join(f"{env}: {_value(lbguard_model_schema.BUILTIN_POLICY[env][key])}" for env in lbguard_model_services.ENVIRONMENTS)


def _value(value: Any) -> str:
    """A value as YAML spells it, in backticks."""
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    return f"`{value}`"


#: What the filter checks, per key, in words built from its constants. Appended to
#: the argument spec's description for keys the spec documents.
RULES: dict[tuple[str, str], str] = {
    ("lb", "lb_engine"): (
        f"one of {', '.join(f'`{e}`' for e in lbguard_model_build.ENGINES)}; decides the weight range and the algorithms allowed"
    ),
    ("lb", "lb_policy"): (
        "a mapping with the keys of [Policy keys](#policy-keys); built-in < `lb_policy` < a service's `policy`"
    ),
    ("lb", "lb_services"): (
        "a list of mappings with the keys of [Service keys](#service-keys); every problem is reported at once"
    ),
    ("lb", "lb_frontends"): (
        "a list of mappings with the keys of [Frontend keys](#frontend-keys); with it, `lb_services` may be left out"
    ),
    ("lb", "lb_pools"): (
        "a list of mappings with the keys of [Pool keys](#pool-keys); every pool must be used by a frontend"
    ),
    ("lb", "lb_environment"): (
        f"one of {', '.join(f'`{e}`' for e in lbguard_model_services.ENVIRONMENTS)}, and the environment group the LB is in "
        "(exactly one of " + " and ".join(f"`{e}`" for e in lbguard_model_services.ENVIRONMENTS) + ", or the groups "
        "`lbguard_group_names` maps them to); a contradiction is refused"
    ),
    ("service", "name"): (
        "required; 1-63 letters, digits, `_` or `-`, starting with a letter; unique per LB (with nginx, unique "
        f"ignoring case); names starting with `{lbguard_model_schema.RESERVED_SERVICE_PREFIX}` are reserved for lbguard's status listener"
    ),
    ("service", "mode"): f"one of {', '.join(f'`{x}`' for x in lbguard_model_schema.MODES)}; nginx: `http` only",
    ("service", "listen"): (
        "required; integer 1-65535, unique per LB, and not the port of lbguard's status listener "
        f"(`haproxy_status_bind` / `nginx_status_bind`, default `{lbguard_model_frontends.STATUS_BIND_DEFAULT}`)"
    ),
    ("service", "balance"): (
        f"one of {_algorithms()}; a typo gets the closest name; `first` needs `policy.allow_first` (and "
        f"`max_server_share: 1.0`); nginx has no {', '.join(f'`{a}`' for a in _no_equivalent('nginx'))}; "
        "`uri` needs mode `http`"
    ),
    ("service", "servers"): (
        "a non-empty list of mappings with the keys of [Server keys](#server-keys); not with `backend_group`"
    ),
    ("service", "backend_group"): (
        "an inventory group; its hosts that are in the LB's own environment become the servers, in inventory order "
        "(see [Backend host variables](#backend-host-variables)); not with `servers`"
    ),
    ("service", "backend_port"): "integer 1-65535; required with `backend_group`, only valid with it",
    ("service", "health_check"): "a mapping with the keys of [Health check keys](#health-check-keys)",
    ("service", "policy"): "a mapping with the keys of [Policy keys](#policy-keys); overrides `lb_policy` key by key",
    ("policy", "min_active_servers"): "integer >= 1; active: not disabled, not backup, weight above 0",
    ("policy", "max_server_share"): (
        "number greater than 0 and at most 1 (0.5 means 50%); each active server's weight / total weight of "
        "the active servers must not exceed it"
    ),
    ("policy", "allow_first"): "boolean; without it `balance: first` is refused",
    ("server", "name"): (
        "required; 1-63 letters, digits, `_`, `.` or `-`, starting with a letter or digit; unique in the service"
    ),
    ("server", "address"): (
        "required; IPv4, IPv6 or DNS host name, syntax only, never resolved; compared in canonical form "
        "(IPv4-mapped IPv6 as IPv4, names in lower case without the trailing dot): no two servers of a service on "
        "the same address and port; refused: loopback, `localhost`, unspecified, multicast and broadcast addresses, "
        "IPv6 zone ids, names libc reads as a number (`0x0a000001`), and the load balancer itself (its inventory "
        "name, `ansible_host` or `lb_address`)"
    ),
    ("server", "port"): "required; integer 1-65535",
    ("server", "weight"): (
        f"integer, {_weight_ranges()}; nginx refuses 0 (use `disabled`); the policy's share limits apply"
    ),
    ("server", "backup"): "boolean; a backup server needs a weight of at least 1 (else it never takes over); "
    "nginx cannot combine it with balance " + ", ".join(f"`{a}`" for a in sorted(lbguard_model_schema.NGINX_NO_BACKUP)),
    ("server", "disabled"): "boolean",
    ("health_check", "enabled"): "boolean",
    ("health_check", "path"): (
        "starts with `/`; printable ASCII only: letters, digits and `-._~!$&()*+,;=:@%/?` (an invisible or "
        "look-alike character is named with its code point); mode http only"
    ),
    ("health_check", "expect_status"): "integer 100-599; mode http only",
    ("health_check", "interval"): (
        "a duration: a number followed by `ms`, `s` or `m` (`2s`, `500ms`), or an integer of seconds; "
        f"from {lbguard_model_schema.INTERVAL_MIN_MS}ms to {lbguard_model_schema.INTERVAL_MAX_MS // 60000}m"
    ),
    ("health_check", "rise"): "integer 1-100",
    ("health_check", "fall"): "integer 1-100",
}

RULES.update({
    ("frontend", "name"): (
        "required; 1-63 letters, digits, `_` or `-`, starting with a letter; unique per LB and not the name of a "
        "service of `lb_services`; names starting with `lbguard` are reserved"
    ),
    ("frontend", "mode"): "`http` or `tcp`; a tcp frontend has only binds and `default_pool`; nginx: `http` only",
    ("frontend", "binds"): (
        "a non-empty list of mappings with the keys of [Bind keys](#bind-keys); no two listeners on one port of one "
        "address (an empty address is every address), services' `listen` included; not lbguard's status port"
    ),
    ("frontend", "tls"): (
        "a mapping with the keys of [TLS keys](#tls-keys); required when a bind has `tls: true`, refused without one"
    ),
    ("frontend", "redirect_to_https"): "boolean; needs a tls bind and a plain bind",
    ("frontend", "hsts"): "a mapping with the keys of [HSTS keys](#hsts-keys); needs a tls bind",
    ("frontend", "routes"): (
        "a list of mappings with the keys of [Route keys](#route-keys), tried in order; a route that an earlier "
        "route leaves no request to match (shadowed) is refused, naming the earlier routes; every host of a "
        "frontend with TLS must be covered by one of its certificates"
    ),
    ("frontend", "default_pool"): "required; a pool of `lb_pools` (a typo gets the closest name)",
    ("bind", "address"): "an IP address (not multicast, not unspecified); left out or empty: every address",
    ("bind", "port"): "required; integer 1-65535",
    ("bind", "tls"): "boolean",
    ("tls", "certificates"): (
        "a non-empty list of mappings with the keys of [Certificate keys](#certificate-keys); each certificate must "
        "be valid now (not expired, not before its start), have DNS names in subjectAltName, and match its key"
    ),
    ("tls", "min_version"): f"one of {', '.join(f'`{v}`' for v in lbguard_edge_schema.TLS_VERSIONS)}",
    ("tls", "alpn"): f"distinct protocols out of {', '.join(f'`{p}`' for p in lbguard_edge_schema.ALPN_PROTOCOLS)}",
    ("certificate", "name"): "1-63 letters, digits, `_`, `.` or `-`; unique in the frontend",
    ("certificate", "certificate"): "PEM text; exactly one of `certificate` and `certificate_file`",
    ("certificate", "key"): (
        "PEM text of an unencrypted private key matching the certificate; exactly one of `key` and `key_file`; "
        "never shown, never stored in the model"
    ),
    ("certificate", "certificate_file"): "a file readable on the controller",
    ("certificate", "key_file"): "a file readable on the controller",
    ("hsts", "max_age"): f"required; integer 1-{lbguard_edge_schema.HSTS_MAX_AGE}",
    ("hsts", "include_subdomains"): "boolean",
    ("route", "hosts"): (
        "a list of lower-case host names, exact or `*.` + name (every name that ends with `.` + name); no IP "
        "addresses; a route without hosts needs a `path_prefix` other than `/` (a route matching everything is refused)"
    ),
    ("route", "path_prefix"): "starts with `/`; letters, digits and `-._~%/` only",
    ("route", "pool"): "required; a pool of `lb_pools` (a typo gets the closest name)",
})
DIRECTIVE_RULE = (
    "a list of one-line printable ASCII strings, each one directive of the engine in use; nginx: without `{`, `}` "
    "or `;` (the template adds the `;`); refused: directives whose first word sets what the model owns (HAProxy: "
    + ", ".join(f"`{d}`" for d in sorted(lbguard_edge_schema.MODEL_OWNED_DIRECTIVES["haproxy"])) + "; nginx: "
    + ", ".join(f"`{d}`" for d in sorted(lbguard_edge_schema.MODEL_OWNED_DIRECTIVES["nginx"]))
    + ") and any mention of `weight`; the engine's check judges the rest, and the plan report lists them"
)
RULES[("frontend", "extra_directives")] = DIRECTIVE_RULE
RULES[("lb", "lb_stats")] = "a mapping with the keys of [Stats page keys](#stats-page-keys)"
RULES.update({
    ("stats", "address"): "required; one IP address, not unspecified or multicast (never every address)",
    ("stats", "port"): (
        "required; integer 1-65535; no service's `listen`, no frontend's bind on that address, not lbguard's status "
        "port"
    ),
    ("stats", "user"): "required; 1-32 letters, digits, `.`, `_` or `-`",
    ("stats", "password"): (
        f"required; at least {lbguard_edge_schema.STATS_PASSWORD_MIN} printable ASCII characters; never shown in a message; the "
        "model keeps only a digest of its hash (`stats.credentials`)"
    ),
})
RULES[("lb", "lb_global_directives")] = DIRECTIVE_RULE
RULES.update({("pool", key): RULES[("service", key)] for key in lbguard_model_schema.POOL_KEYS if key not in ("name", "extra_directives")})
RULES[("pool", "extra_directives")] = DIRECTIVE_RULE
RULES[("pool", "name")] = (
    "required; the rules of a service's name; unique among pools and the services of `lb_services`"
)

#: Defaults the filter applies where the argument spec states none.
DEFAULTS: dict[str, dict[str, str]] = {
    "lb": {"lb_policy": "built-in policy of the environment"},
    "service": {
        "health_check": "on, with every default of [Health check keys](#health-check-keys)",
        "policy": "`lb_policy`",
    },
    "server": {"weight": "`1`", "backup": "`false`", "disabled": "`false`"},
    "health_check": {key: _value(value) for key, value in lbguard_model_schema.HEALTH_DEFAULTS.items() if key in lbguard_model_schema.HEALTH_KEYS},
    "policy": {key: f"built-in ({_builtin(key)})" for key in lbguard_model_schema.POLICY_KEYS},
    "service_policy": {key: "from `lb_policy`" for key in lbguard_model_schema.POLICY_KEYS},
    "pool": {"health_check": "on, with every default of [Health check keys](#health-check-keys)",
             "policy": "`lb_policy`"},
    "bind": {"address": "every address"},
    "certificate": {"name": "`cert` + its index"},
}


#: Rows for keys the argument spec has no suboptions for, from the filter's
#: constants and code (filter_plugins/lbguard_model.py, ``_server``,
#: ``_health_check``, ``_merge_policy``).
FALLBACK: dict[str, dict[str, dict[str, Any]]] = {
    "lb": {
        "lb_environment": {
            "type": "str",
            "description": "Environment of the LB, stated again; the environment groups decide.",
        },
    },
    "server": {
        "name": {
            "type": "str",
            "required": True,
            "description": "Server name in the rendered config and in every report.",
        },
        "address": {"type": "str", "required": True, "description": "Where the server is reached."},
        "port": {"type": "int", "required": True, "description": "Port of the server."},
        "weight": {"type": "int", "description": "Relative share of load-balanced traffic."},
        "backup": {"type": "bool", "description": "Receives traffic only when the active servers are down."},
        "disabled": {
            "type": "bool",
            "description": "Out of rotation: rendered as `disabled` (HAProxy) or `down` (nginx), gets no traffic.",
        },
    },
    "health_check": {
        "enabled": {"type": "bool", "description": "Active health checks on or off."},
        "path": {"type": "str", "description": "HTTP path requested by the check (http services)."},
        "expect_status": {"type": "int", "description": "HTTP status a healthy server answers."},
        "interval": {"type": "str", "description": "Time between two checks."},
        "rise": {"type": "int", "description": "Consecutive successes that mark a server up."},
        "fall": {"type": "int", "description": "Consecutive failures that mark a server down."},
    },
    "policy": {
        "min_active_servers": {"type": "int", "description": "Fewest active servers a service may have."},
        "max_server_share": {
            "type": "float",
            "description": "Largest share of traffic any one server may receive, by weight.",
        },
        "allow_first": {
            "type": "bool",
            "description": "Permit `balance: first`, which fills one server before the next.",
        },
    },
}

#: Host variables of a backend_group's members (``BACKEND_VARS``) -> server key.
BACKEND_VAR_ROWS: dict[str, tuple[str, str]] = {
    "lb_address": ("address", "the address; else `ansible_host`, else the inventory hostname"),
    "ansible_host": ("address", "the address when `lb_address` is not set"),
    "lb_weight": ("weight", "the weight (default 1)"),
    "lb_backup": ("backup", "`backup` (default false)"),
    "lb_disabled": ("disabled", "`disabled` (default false)"),
}


# ----------------------------------------------------------------------- reading the spec


def load_spec(root: Path = ROOT, spec_file: Path = SPEC_FILE) -> dict[str, Any]:
    data = yaml.safe_load((root / spec_file).read_text())
    return data["argument_specs"]["main"]["options"]


def _structure(option: Any) -> Any:
    """An argument spec option without its descriptions: what Ansible checks."""
    if isinstance(option, Mapping):
        return {key: _structure(value) for key, value in option.items() if key != "description"}
    if isinstance(option, list):
        return [_structure(item) for item in option]
    return option


def check_engine_specs(root: Path = ROOT) -> None:
    """Every engine role's argument spec states the model exactly as SPEC_FILE does (descriptions aside)."""
    model = {key: _structure(value) for key, value in load_spec(root).items() if key in lbguard_model_schema.LB_VARS}
    for other in OTHER_SPEC_FILES:
        theirs = {key: _structure(value) for key, value in load_spec(root, other).items() if key in lbguard_model_schema.LB_VARS}
        for key in sorted(set(model) | set(theirs)):
            if model.get(key) != theirs.get(key):
                raise SpecError(f"{other} states {key} differently from {SPEC_FILE}; the model has one schema")


def _text(description: Any) -> str:
    if description is None:
        return ""
    if isinstance(description, str):
        return " ".join(description.split())
    return " ".join(" ".join(str(part).split()) for part in description)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip() or "-"


def _type(option: Mapping[str, Any]) -> str:
    kind = str(option.get("type", "str"))
    if kind == "list" and option.get("elements"):
        return f"list of {option['elements']}"
    return kind


def _default(option: Mapping[str, Any], fallback: str | None) -> str:
    if option.get("required"):
        return "required"
    if "default" in option:
        return _value(option["default"])
    return fallback or "-"


def rows(
    section: str,
    accepted: Sequence[str],
    spec_options: Mapping[str, Any] | None,
    defaults_of: str | None = None,
) -> tuple[list[list[str]], bool]:
    """Table rows for the ``accepted`` keys, in the filter's order; True if FALLBACK was used.

    ``defaults_of`` names the DEFAULTS entry to use (default: ``section``).
    """
    spec_options = spec_options or {}
    unknown = [key for key in spec_options if key not in accepted]
    if unknown:
        raise SpecError(f"{SPEC_FILE}: {section} documents {', '.join(unknown)}, which {MODEL_FILE} does not accept")
    defaults = DEFAULTS.get(defaults_of or section, {})
    used_fallback = False
    table = []
    for key in accepted:
        if key in spec_options:
            option = spec_options[key] or {}
            description = _text(option.get("description"))
            if option.get("choices"):
                description = f"{description} Choices: {', '.join(_value(c) for c in option['choices'])}.".strip()
        elif key in FALLBACK.get(section, {}):
            used_fallback = True
            option = FALLBACK[section][key]
            description = option["description"]
        else:
            raise SpecError(
                f"{MODEL_FILE} accepts {section} key {key!r}, but neither {SPEC_FILE} nor the generator's "
                "FALLBACK documents it"
            )
        rule = RULES.get((section, key))
        if rule is None:
            raise SpecError(f"the generator's RULES do not say how {MODEL_FILE} checks {section} key {key!r}")
        table.append([f"`{key}`", _type(option), _default(option, defaults.get(key)), _cell(description), _cell(rule)])
    return table, used_fallback


def _table(header: Sequence[str], body: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return lines


HEADER = ["key", "type", "default", "description", "rule (validation filter)"]


def _fallback_note(what: str, spec_path: str) -> list[str]:
    return [
        "",
        f"> {what[0].upper()}{what[1:]} come from `{MODEL_FILE}` (its key list and defaults):",
        f"> `{SPEC_FILE}` has no suboptions for `{spec_path}` yet.",
    ]


def _key_table(
    section: str,
    accepted: Sequence[str],
    spec_options: Mapping[str, Any] | None,
    note_what: str,
    spec_path: str,
    defaults_of: str | None = None,
) -> list[str]:
    """The table of one group of keys, and the fallback note when the spec lacks them."""
    table, fallback = rows(section, accepted, spec_options, defaults_of)
    return _table(HEADER, table) + (_fallback_note(note_what, spec_path) if fallback else [])


# ---------------------------------------------------------------------------- the document

INTRO = """\
<!-- Generated by scripts/gen_model_doc.py from roles/haproxy/meta/argument_specs.yml
     and filter_plugins/lbguard_model.py. Do not edit: change those files and run
     `python scripts/gen_model_doc.py`; `--check` fails when this file is stale. -->

# The lbguard model

The load-balancer model is the public contract of lbguard: variables in the
inventory that describe what every load balancer (LB) serves. The validation
filter (`filter_plugins/lbguard_model.py`) checks all of it before any host is
touched and reports every problem at once, each naming the service, the server
and the rule. `playbooks/validate.yml` runs it, on the control node only:

<!-- run: unit -->
```sh
ansible-playbook -i INVENTORY playbooks/validate.yml
```

Inventory groups: `loadbalancers` holds the LB hosts; `staging` and `production`
each hold the LBs and the backends of that environment; backends are listed in
`servers` or taken from a group (`backend_group`, for example `webservers`).
`inventories/examples/` holds three example inventories: `good`, `incident` and
`typos`.

The engine roles (`haproxy`, `nginx`) also check the variables' types at role
start (`meta/argument_specs.yml`, which `ansible-doc` shows: see docs/pipeline.md, "Roles").

An unknown key in a service, a server, a health check or a policy is an error, with
the closest valid key suggested, so a typo such as `wieght` is caught. The
"description" column comes from the argument spec where it has the key; the "rule"
column is what the filter enforces."""

OUTRO = """\
## Precedence and defaults

- Policy: the built-in policy of the LB's environment, overridden key by key by
  `lb_policy`, overridden key by key by the service's `policy`.
- A service without `health_check` gets every default of the health check table.
- Expected share of a server: its weight / the total weight of the active servers
  (not disabled, not backup); backup and disabled servers expect 0. With
  `balance: first` the first active server expects everything.

## Variable names

Every variable of a load balancer whose name starts with `lb_` or `lbguard_`
must be one lbguard knows: a model variable above, a backend host's variable,
an option of one of the collection's roles (`ansible-doc -t role
lbguard.core.ROLE`), or a variable an operator passes to a playbook. Any other
is refused before any host is touched, with the closest known name
(`lb_polcy`: did you mean `lb_policy`?): its value would be ignored while a
default applies. The lists live in `plugins/plugin_utils/lbguard_variables.py`.
`lbguard_group_names` is refused when it is set in the inventory rather than
as an extra var: plays choose their hosts before they read inventory variables.

## Changing the model

A change to the model goes through review (`.github/pull_request_template.md`):
validate, plan (`playbooks/plan.yml` reports the config diff and the traffic shares
before and after), deploy staging, then production. A new key needs three edits: the filter (`filter_plugins/lbguard_model.py`
and its tests), the argument specs of the engine roles, and this document
(`python scripts/gen_model_doc.py`). `tests/unit/test_model_doc.py` fails until all
three agree."""


def render(root: Path = ROOT) -> str:
    check_engine_specs(root)
    spec = load_spec(root)
    services_spec = (spec.get("lb_services") or {}).get("options") or {}

    def sub(name: str) -> Mapping[str, Any] | None:
        return (services_spec.get(name) or {}).get("options")

    out: list[str] = [INTRO, ""]

    out += ["## Load balancer variables", "", "Host or group variables of each host in the group `loadbalancers`.", ""]
    table, fallback = rows("lb", lbguard_model_schema.LB_VARS, {key: spec[key] for key in lbguard_model_schema.LB_VARS if key in spec})
    out += _table(HEADER, table)
    if fallback:
        missing = [f"`{key}`" for key in lbguard_model_schema.LB_VARS if key not in spec]
        out += ["", f"> Read by the filter, not in `{SPEC_FILE}`: {', '.join(missing)}."]

    out += ["", "## Service keys", "", "Each item of `lb_services`.", ""]
    out += _key_table("service", lbguard_model_schema.SERVICE_KEYS, services_spec, "some rows", "lb_services")

    out += ["", "## Server keys", "", "Each item of a service's `servers`.", ""]
    out += _key_table("server", lbguard_model_schema.SERVER_KEYS, sub("servers"), "these rows", "lb_services.servers")

    out += [
        "",
        "## Backend host variables",
        "",
        "With `backend_group` + `backend_port`, each host of the group that is also in the",
        "LB's environment group is a server: name = inventory hostname, port =",
        "`backend_port`, and these host variables of the backend host give the rest, with",
        "the rules of the server keys.",
        "",
    ]
    undocumented = [var for var in lbguard_model_schema.BACKEND_VARS if var not in BACKEND_VAR_ROWS]
    if undocumented:
        raise SpecError(f"{MODEL_FILE} reads backend host variables the generator does not document: {undocumented}")
    out += _table(
        ["host variable", "server key", "gives"],
        [[f"`{var}`", f"`{BACKEND_VAR_ROWS[var][0]}`", BACKEND_VAR_ROWS[var][1]] for var in lbguard_model_schema.BACKEND_VARS],
    )

    frontends_spec = (spec.get("lb_frontends") or {}).get("options") or {}
    tls_spec = (frontends_spec.get("tls") or {}).get("options") or {}

    def front(name: str) -> Mapping[str, Any] | None:
        return (frontends_spec.get(name) or {}).get("options")

    out += ["", "## Frontend keys", "", "Each item of `lb_frontends`. "
            "Routes are tried in order and the first match picks the pool, else `default_pool`, on both engines. "
            "A route matches when the request's host (the Host header without its port, in lower case) is one of "
            "`hosts` (or `hosts` is empty) and its path starts with `path_prefix`.", ""]
    out += _key_table("frontend", lbguard_edge_schema.FRONTEND_KEYS, frontends_spec, "some rows", "lb_frontends")
    out += ["", "## Bind keys", "", "Each item of a frontend's `binds`.", ""]
    out += _key_table("bind", lbguard_edge_schema.BIND_KEYS, front("binds"), "these rows", "lb_frontends.binds")
    out += ["", "## TLS keys", "", "A frontend's `tls` mapping.", ""]
    out += _key_table("tls", lbguard_edge_schema.TLS_KEYS, tls_spec, "these rows", "lb_frontends.tls")
    out += ["", "## Certificate keys", "", "Each item of `tls.certificates`. The model keeps only public facts "
            "(fingerprint, names, expiry); the engine roles install each certificate in a file named by its "
            "fingerprint, so releases in the ledger keep theirs.", ""]
    out += _key_table("certificate", lbguard_edge_schema.CERTIFICATE_KEYS, (tls_spec.get("certificates") or {}).get("options"),
                      "these rows", "lb_frontends.tls.certificates")
    out += ["", "## HSTS keys", "", "A frontend's `hsts` mapping.", ""]
    out += _key_table("hsts", lbguard_edge_schema.HSTS_KEYS, front("hsts"), "these rows", "lb_frontends.hsts")
    out += ["", "## Route keys", "", "Each item of a frontend's `routes`.", ""]
    out += _key_table("route", lbguard_edge_schema.ROUTE_KEYS, front("routes"), "these rows", "lb_frontends.routes")
    out += ["", "## Stats page keys", "", "The `lb_stats` mapping: HAProxy's stats page or nginx's `stub_status` "
            "behind a password. The engine roles render a salted SHA-512 crypt hash of the password "
            "(`lbguard_stats_password_hash`), never the password.", ""]
    out += _key_table("stats", lbguard_edge_schema.STATS_KEYS, (spec.get("lb_stats") or {}).get("options"), "these rows",
                      "lb_stats")
    out += ["", "## Pool keys", "", "Each item of `lb_pools`: a service without `mode` and `listen` (the frontends "
            "that use it decide its mode), under the same server, health-check and policy rules.", ""]
    out += _key_table("pool", lbguard_model_schema.POOL_KEYS, (spec.get("lb_pools") or {}).get("options"), "some rows", "lb_pools")

    out += ["", "## Health check keys", "", "A service's `health_check` mapping.", ""]
    out += _key_table("health_check", lbguard_model_schema.HEALTH_KEYS, sub("health_check"), "these rows", "lb_services.health_check")

    out += [
        "",
        "## Policy keys",
        "",
        "`lb_policy` (environment-wide) and a service's `policy` take the same keys. The",
        "default is the built-in policy of the LB's environment:",
        "",
    ]
    out += _table(
        ["environment", *[f"`{key}`" for key in lbguard_model_schema.POLICY_KEYS]],
        [[f"`{env}`", *[_value(lbguard_model_schema.BUILTIN_POLICY[env][key]) for key in lbguard_model_schema.POLICY_KEYS]] for env in lbguard_model_services.ENVIRONMENTS],
    )
    out += ["", "### `lb_policy`", ""]
    out += _key_table("policy", lbguard_model_schema.POLICY_KEYS, (spec.get("lb_policy") or {}).get("options"), "some rows", "lb_policy")
    out += ["", "### A service's `policy`", ""]
    out += _key_table("policy", lbguard_model_schema.POLICY_KEYS, sub("policy"), "these rows", "lb_services.policy", "service_policy")

    out += ["", OUTRO, ""]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the document differs from what would be generated"
    )
    parser.add_argument(
        "--doc", type=Path, default=ROOT / DOC_FILE, help=f"document to write or check (default: {DOC_FILE})"
    )
    args = parser.parse_args(argv)
    try:
        text = render()
    except SpecError as exc:
        print(f"gen_model_doc: {exc}", file=sys.stderr)
        return 2
    target: Path = args.doc
    shown = DOC_FILE if target.resolve() == (ROOT / DOC_FILE).resolve() else target
    if args.check:
        current = target.read_text() if target.exists() else ""
        if current == text:
            return 0
        diff = difflib.unified_diff(
            current.splitlines(keepends=True), text.splitlines(keepends=True), str(shown), f"{shown} (generated)"
        )
        sys.stderr.writelines(diff)
        print(f"gen_model_doc: {shown} is out of date; run: python scripts/gen_model_doc.py", file=sys.stderr)
        return 1
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    print(f"wrote {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
