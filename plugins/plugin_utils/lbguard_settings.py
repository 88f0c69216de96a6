"""The engine roles' settings that their templates write into a config, each checked by its class.

Templates render the validated model and, besides it, a few settings of their
own role (a timeout, a socket path, the status listener). Those are role
variables an operator may override, so they cross the same boundary as the
model: each is listed here with its class, and the role's render step refuses a
value its class does not allow before the template runs (``setting_problems``).
tests/unit/test_template_boundary.py walks every template and fails on a
rendered variable that is neither the model's nor listed here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ansible_collections.lbguard.core.plugins.module_utils.lbguard_common import kind
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_constants import STATUS_BIND
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_listeners import status_listener

#: An absolute path of the letters, digits and punctuation file names use: no space, quote or engine syntax.
PATH_RE = re.compile(r"/[A-Za-z0-9._/+-]*")
#: A duration both engines read: a number and an optional unit.
DURATION_RE = re.compile(r"[0-9]{1,9}(?:ms|s|m|h|d)?")
#: An HTTP header name (RFC 9110 token characters without the ones engines treat specially).
HEADER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
#: A crypt(3) hash as the stats page's password is stored: $id$[rounds=N$]salt$hash.
CRYPT_HASH_RE = re.compile(r"\$[0-9a-z]{1,4}\$(?:rounds=[0-9]{1,9}\$)?[./0-9A-Za-z]{1,16}\$[./0-9A-Za-z]{20,100}")
#: A Unix file mode in octal.
MODE_RE = re.compile(r"0?[0-7]{3}")


def _text(pattern: re.Pattern[str], words: str) -> Callable[[Any, str], str | None]:
    def check(value: Any, engine: str) -> str | None:  # pylint: disable=unused-argument
        if isinstance(value, str) and pattern.fullmatch(value):
            return None
        return f"must be {words}, got {kind(value) if not isinstance(value, str) else ascii(value[:80])}"
    return check


def _integer(low: int, high: int) -> Callable[[Any, str], str | None]:
    def check(value: Any, engine: str) -> str | None:  # pylint: disable=unused-argument
        # An extra var given as key=value arrives as text: ASCII digits render the same.
        number = int(value) if isinstance(value, str) and re.fullmatch(r"[0-9]{1,9}", value) else value
        if isinstance(number, int) and not isinstance(number, bool) and low <= number <= high:
            return None
        return f"must be an integer from {low} to {high}, got {value!r}"
    return check


def _listener(value: Any, engine: str) -> str | None:
    if isinstance(value, str) and status_listener(value, "status", engine) is not None:
        return None
    return f"must be address:port (such as {STATUS_BIND}), got {ascii(str(value)[:80])}"


def _password_hash(value: Any, engine: str) -> str | None:  # pylint: disable=unused-argument
    if value == "" or (isinstance(value, str) and CRYPT_HASH_RE.fullmatch(value)):
        return None
    return "must be a crypt(3) hash made by lbguard_stats_password_hash (its value is not shown)"


#: Each class: its check (None when the value is allowed, else why not).
CLASSES: dict[str, Callable[[Any, str], str | None]] = {
    "path": _text(PATH_RE, "an absolute path of letters, digits and . _ / + -"),
    "path_pattern": _text(re.compile(r"/[A-Za-z0-9._/+{}-]*"), "an absolute path, {service} allowed"),
    "duration": _text(DURATION_RE, "a duration such as 5s or 500ms"),
    "header": _text(HEADER_RE, "an HTTP header name (letters, digits and -)"),
    "file_mode": _text(MODE_RE, "an octal file mode such as 0660"),
    "connections": _integer(1, 10_000_000),
    "listener": _listener,
    "password_hash": _password_hash,
}

#: Each class in words, for docs/model.md (scripts/gen_model.py).
CLASS_RULES: dict[str, str] = {
    "path": "an absolute path of letters, digits and `. _ / + -`",
    "path_pattern": "an absolute path of letters, digits and `. _ / + -`, `{service}` allowed",
    "duration": "a number and an optional unit (`ms`, `s`, `m`, `h`, `d`)",
    "header": "an HTTP header name: letters, digits and `-`",
    "file_mode": "an octal file mode such as `0660`",
    "connections": "an integer from 1 to 10000000 (ASCII digits as text too)",
    "listener": "`address:port`, the address an IP address, `[IPv6]`, `*` or empty",
    "password_hash": "a crypt(3) hash, made by lbguard_stats_password_hash; never shown",
}

#: Rendered by Ansible's template module itself, from the project's ansible.cfg: no role variable.
ANSIBLE_RENDERED: tuple[str, ...] = ("ansible_managed",)

#: Per engine, every role setting a template renders, and its class.
RENDERED_SETTINGS: dict[str, dict[str, str]] = {
    "haproxy": {
        "haproxy_maxconn": "connections",
        "haproxy_served_by_header": "header",
        "haproxy_server_state_file": "path",
        "haproxy_state_saver": "path",
        "haproxy_stats_password_hash": "password_hash",
        "haproxy_stats_socket": "path",
        "haproxy_stats_socket_mode": "file_mode",
        "haproxy_status_bind": "listener",
        "haproxy_timeout_client": "duration",
        "haproxy_timeout_connect": "duration",
        "haproxy_timeout_server": "duration",
        "haproxy_tls_dir": "path",
    },
    "nginx": {
        "nginx_proxy_connect_timeout": "duration",
        "nginx_proxy_read_timeout": "duration",
        "nginx_served_by_header": "header",
        "nginx_split_log": "path_pattern",
        "nginx_status_bind": "listener",
        "nginx_status_users_dir": "path",
        "nginx_tls_dir": "path",
        "nginx_worker_connections": "connections",
    },
}


def rendered_settings(engine: str) -> list[str]:
    """The names of ``engine``'s role settings its templates render."""
    if engine not in RENDERED_SETTINGS:
        raise ValueError(f"no rendered settings are known for engine {engine!r}; known: {', '.join(RENDERED_SETTINGS)}")
    return list(RENDERED_SETTINGS[engine])


def setting_problems(engine: str, values: Mapping[str, Any]) -> list[str]:
    """One problem per rendered setting of ``engine`` whose value its class refuses, naming the variable."""
    problems = []
    for name in rendered_settings(engine):
        if name not in values:
            problems.append(f"{name} is not set: the {engine} template writes it into the config")
            continue
        why = CLASSES[RENDERED_SETTINGS[engine][name]](values[name], engine)
        if why:
            problems.append(f"{name} {why}: the {engine} template writes it into the config")
    return problems
