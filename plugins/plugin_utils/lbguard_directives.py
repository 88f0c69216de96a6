"""The escape hatch's allowlist: which raw engine directives ``extra_directives`` and
``lb_global_directives`` may pass through, per engine and per section, and their parser.

Policy. Raw directives are for what the model has no key for and that cannot change
what the policy judges: timeouts, connection limits, buffers, logging, compression and
response/request headers that route nothing. Each directive is one line; its first words
(HAProxy keywords are matched on their leading words: ``timeout server``,
``http-request set-header``, ``stats socket``) must be on the list of its section, and
its arguments must have the listed form. Everything else is refused, and these classes
with a reason of their own:

- listeners, admin sockets and status pages: HAProxy ``stats`` outside the global
  runtime socket on a unix path or loopback, nginx ``listen``/``stub_status``/``api``
  (the stats page is ``lb_stats``, listeners are the frontends' ``binds``);
- anything choosing a backend or rewriting a destination (HAProxy ``use_backend``,
  ``use-server``, ``redirect``, ``http-request set-dst``/``set-uri``/``set-path``/
  ``set-query``/``set-method``/``return``, a ``Host`` header; nginx ``proxy_pass``,
  ``rewrite``, ``return``, ``error_page``, ``set``, ``if``, ``try_files``, ``alias``,
  ``root``, ``map``...): routes belong to ``lb_frontends``;
- what the model owns: balance, servers and weights, health checks, TLS, sections;
- code in the engine (Lua, njs, Perl, modules);
- nginx ``add_header``/``proxy_set_header`` and the two proxy timeouts the template's
  location sets itself: nginx would silently ignore them above that location; and, in
  an HAProxy tcp frontend or pool, the HTTP-only keywords, which HAProxy ignores there.

Sections (where the templates render each key): HAProxy ``global``
(lb_global_directives), ``frontend`` (a frontend's), ``backend`` (a pool's); nginx
``http`` block (lb_global_directives), ``server`` block (a frontend's), ``upstream``
block (a pool's).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any

from ansible_collections.lbguard.core.plugins.module_utils.lbguard_common import kind

DIRECTIVE_MAX_LENGTH = 500
#: The model's keys of each section, and the label of its engine section in messages.
SECTION_KEYS: dict[str, str] = {"global": "lb_global_directives", "frontend": "extra_directives",
                                "pool": "extra_directives"}
SECTION_NAMES: dict[str, dict[str, str]] = {
    "haproxy": {"global": "the HAProxy global section", "frontend": "an HAProxy frontend",
                "pool": "an HAProxy backend (pool)"},
    "nginx": {"global": "the nginx http block", "frontend": "an nginx server block (frontend)",
              "pool": "an nginx upstream block (pool)"},
}

_TOKEN_RE = re.compile(r'"[^"]*"|\'[^\']*\'|\S+')
_INT_RE = re.compile(r"[0-9]{1,9}")
_DURATION_RE = {"haproxy": re.compile(r"[0-9]{1,9}(?:us|ms|s|m|h|d)?"),
                "nginx": re.compile(r"(?:[0-9]{1,9}(?:ms|s|m|h|d|w|M|y)?){1,3}")}
_SIZE_RE = re.compile(r"[0-9]{1,9}[kKmMgG]?")
_HEADER_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
#: A header value: one plain token or one double-quoted string, with no engine expression
#: (``%``, ``$``), comment, quote, escape, or nginx block/terminator character in it.
_HEADER_VALUE_RE = re.compile(r"[A-Za-z0-9_.,:/=+*@()!?&~^|-]{1,200}|\"[A-Za-z0-9_.,:/=+*@()!?&~^| -]{0,200}\"")
_MIME_RE = re.compile(r"[a-z0-9.+-]+/[a-z0-9.+*-]+")
_PATH_RE = re.compile(r"/[A-Za-z0-9._/-]{1,200}")
_WORD_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
#: Headers the model sets or routes by; an extra directive never touches them.
MODEL_HEADERS: dict[str, str] = {
    "host": "the Host header selects the route; routes belong to lb_frontends",
    "x-forwarded-for": "the model sets X-Forwarded-For (option forwardfor)",
    "x-forwarded-proto": "the model sets X-Forwarded-Proto from the bind's TLS",
    "strict-transport-security": "HSTS is the frontend's hsts key",
    "x-served-by": "the served-by header is verification's evidence of the split",
}
SYSLOG_FACILITIES = ("kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2",
                     "ftp", "ntp", "audit", "alert", "cron2", *(f"local{n}" for n in range(8)))
LOG_LEVELS = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
NGINX_LOG_LEVELS = ("emerg", "alert", "crit", "error", "warn", "notice", "info", "debug")

Check = Callable[[str, list[str]], "str | None"]


def _one(form: str, test: Callable[[str], bool]) -> Check:
    """Exactly one argument passing ``test``."""
    def check(_engine: str, args: list[str]) -> str | None:
        return None if len(args) == 1 and test(args[0]) else f"takes one {form}"
    return check


def _each(form: str, low: int, high: int, test: Callable[[str], bool]) -> Check:
    """``low`` to ``high`` arguments, each passing ``test``."""
    def check(_engine: str, args: list[str]) -> str | None:
        return None if low <= len(args) <= high and all(map(test, args)) else f"takes {form}"
    return check


def _duration(engine: str, args: list[str]) -> str | None:
    ok = len(args) == 1 and _DURATION_RE[engine].fullmatch(args[0]) is not None
    return None if ok else "takes one duration (a number with an optional unit, e.g. 30s)"


def _durations(engine: str, args: list[str]) -> str | None:
    ok = len(args) in (1, 2) and all(_DURATION_RE[engine].fullmatch(a) for a in args)
    return None if ok else "takes one or two durations (a number with an optional unit, e.g. 30s)"


def _choice(*choices: str, many: bool = False) -> Check:
    """One of ``choices`` (several, each once, when ``many``)."""
    form = ("one or more of " if many else "one of ") + ", ".join(choices)
    return _each(form, 1, len(choices) if many else 1, lambda a: a in choices)


def _address(text: str) -> bool:
    """An IP address with an optional port: ``10.0.0.5``, ``10.0.0.5:514``, ``[::1]:514``, HAProxy's ``::1:514``."""
    if text.startswith("["):
        host, _, port = text[1:].partition("]")
        port = port[1:] if port.startswith(":") else ("x" if port else "")
    else:
        host, port = text, ""
    for candidate in ((host, port), tuple(text.rpartition(":")[::2])):
        try:
            ipaddress.ip_address(candidate[0])
        except ValueError:
            continue
        if not candidate[1] or (candidate[1].isdigit() and 0 < int(candidate[1]) < 65536):
            return True
    return False


def _loopback(text: str) -> bool:
    """``text`` is a loopback address with a port, as HAProxy writes a listener (``ipv4@127.0.0.1:9999``)."""
    bare = text.split("@", 1)[1] if text.startswith(("ipv4@", "ipv6@")) else text
    host, _, port = bare.rpartition(":")
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback and port.isdigit()
    except ValueError:
        return False


def _header(_engine: str, args: list[str]) -> str | None:
    if not args or not _HEADER_NAME_RE.fullmatch(args[0]):
        return "takes a header name (letters, digits and '-') and, to set or add, one value"
    name = args[0].lower()
    if name in MODEL_HEADERS or name.startswith("x-lbguard"):
        return f"may not touch {args[0]}: " + MODEL_HEADERS.get(name, "X-Lbguard-* headers are verification's")
    return None


def _header_value(engine: str, args: list[str]) -> str | None:
    problem = _header(engine, args[:1])
    if problem:
        return problem
    if len(args) != 2 or not _HEADER_VALUE_RE.fullmatch(args[1]):
        return ("takes a header name and one value: a plain token or one double-quoted string, without engine "
                "expressions (%, $), conditions, quotes, ';', '#' or braces")
    return None


def _haproxy_log(_engine: str, args: list[str]) -> str | None:
    if args == ["global"]:
        return None
    form = ("takes `global` or a target (an absolute unix-socket path or an IP syslog address with an optional port) "
            "followed by a syslog facility and optionally a level")
    if not 2 <= len(args) <= 4 or not (_PATH_RE.fullmatch(args[0]) or _address(args[0])):
        return form
    if args[1] not in SYSLOG_FACILITIES or any(a not in LOG_LEVELS for a in args[2:]):
        return form
    return None


def _stats_socket(_engine: str, args: list[str]) -> str | None:
    if not args:
        return "takes a unix path or 127.0.0.1/::1 with a port"
    target = args[0]
    loopback = _loopback(target)
    if not (loopback or _PATH_RE.fullmatch(target)):
        return (f"listens on {target}: a runtime API on a network address lets whoever reaches it drain, "
                "disable and re-weight servers; use a unix path or 127.0.0.1/::1 (lbguard's own socket is "
                "haproxy_stats_socket)")
    options = dict(zip(args[1::2], args[2::2]))
    if len(args) % 2 == 0 or set(options) - {"mode", "level", "user", "group"}:
        return "takes a target then only mode, level, user or group options"
    if loopback and options.get("level", "user") not in ("user", "operator"):
        return "on a loopback address takes level user or operator: every local process can connect to it"
    if options.get("level", "user") not in ("user", "operator", "admin") or not re.fullmatch(
            r"[0-7]{3,4}", options.get("mode", "600")):
        return "takes level user, operator or admin and an octal mode"
    return None


def _nginx_log(_engine: str, args: list[str], levels: bool = False) -> str | None:
    form = ("takes `off`, an absolute file path or syslog:server=IP[:port] (with optional facility=, tag=, "
            "severity=), then " + ("a level" if levels else "a log_format name"))
    if args == ["off"] and not levels:
        return None
    if not 1 <= len(args) <= 2 or (len(args) == 2 and not (args[1] in NGINX_LOG_LEVELS if levels else
                                                          _WORD_RE.fullmatch(args[1]))):
        return form
    target = args[0]
    if _PATH_RE.fullmatch(target):
        return None
    if not target.startswith("syslog:"):
        return form
    params = dict(p.partition("=")[::2] for p in target[len("syslog:"):].split(","))
    server = params.pop("server", "")
    if not (_address(server) or _PATH_RE.fullmatch(server[5:] if server.startswith("unix:") else server)) or any(
            k not in ("facility", "tag", "severity", "nohostname") or (v and not _WORD_RE.fullmatch(v))
            for k, v in params.items()):
        return form
    return None


def _log_format(engine: str, args: list[str]) -> str | None:
    strings = args[1:] if engine == "nginx" else args
    if engine == "nginx" and (not args or not _WORD_RE.fullmatch(args[0])):
        return "takes a name then quoted format strings"
    if not strings or any(len(s) < 2 or s[0] not in "\"'" or s[-1] != s[0] for s in strings):
        return "takes quoted format strings"
    return None


def _capture(_engine: str, args: list[str]) -> str | None:
    ok = (len(args) == 3 and _HEADER_NAME_RE.fullmatch(args[0]) and args[1] == "len"
          and _INT_RE.fullmatch(args[2]) is not None)
    return None if ok else "takes a header name, `len` and a number"


def _no_args(_engine: str, args: list[str]) -> str | None:
    return "takes no argument" if args else None


NUMBER = _one("number", lambda a: _INT_RE.fullmatch(a) is not None)
SIZE = _one("size (a number with an optional k, m or g)", lambda a: _SIZE_RE.fullmatch(a) is not None)
ON_OFF = _choice("on", "off")
MIMES = _each("MIME types (type/subtype)", 1, 20, lambda a: _MIME_RE.fullmatch(a) is not None)
BUFFERS = _each("a number and a size", 2, 2, lambda a: _SIZE_RE.fullmatch(a) is not None)

#: What each section allows: keyword -> its argument check. A pool's directives (backend) are
#: also those of a service rendered from lb_pools.
_HAPROXY_HEADERS: dict[str, Check] = {
    f"{phase} {action}": (_header if action == "del-header" else _header_value)
    for phase in ("http-request", "http-response") for action in ("set-header", "add-header", "del-header")
}
_HAPROXY_COMPRESSION: dict[str, Check] = {"compression algo": _choice("gzip", "deflate", "raw-deflate", "identity", many=True),
                                          "compression type": MIMES, "compression offload": _no_args}
_HAPROXY_HTTP_OPTIONS: dict[str, Check] = {f"option {o}": _no_args for o in (
    "http-server-close", "http-keep-alive", "httpclose", "forwardfor", "http-buffer-request")}
_NGINX_COMMON: dict[str, Check] = {
    **{k: _duration for k in ("client_body_timeout", "client_header_timeout", "send_timeout", "proxy_send_timeout")},
    "keepalive_timeout": _durations,
    **{k: SIZE for k in ("client_max_body_size", "client_body_buffer_size", "client_header_buffer_size",
                         "proxy_buffer_size", "proxy_busy_buffers_size", "proxy_max_temp_file_size",
                         "gzip_min_length")},
    "keepalive_requests": NUMBER, "large_client_header_buffers": BUFFERS, "proxy_buffers": BUFFERS,
    **{k: ON_OFF for k in ("proxy_buffering", "proxy_request_buffering", "proxy_ignore_client_abort", "gzip",
                           "gzip_vary", "tcp_nodelay", "reset_timedout_connection")},
    "proxy_http_version": _choice("1.0", "1.1"), "gzip_types": MIMES, "gzip_comp_level": NUMBER,
    "gzip_proxied": _choice("off", "expired", "no-cache", "no-store", "private", "no_last_modified", "no_etag",
                            "auth", "any", many=True),
    "proxy_hide_header": lambda e, a: _header(e, a) if len(a) == 1 else "takes one header name",
    "access_log": _nginx_log, "error_log": lambda e, a: _nginx_log(e, a, levels=True),
}
ALLOWED: dict[str, dict[str, dict[str, Check]]] = {
    "haproxy": {
        "global": {
            **{k: NUMBER for k in ("maxconnrate", "maxsessrate", "maxsslconn", "maxsslrate", "nbthread",
                                   "spread-checks", "tune.bufsize", "tune.maxrewrite", "tune.http.maxhdr",
                                   "tune.ssl.cachesize", "stats maxconn")},
            "hard-stop-after": _duration, "stats timeout": _duration, "stats socket": _stats_socket,
            "log": _haproxy_log, "log-send-hostname": _no_args,
            "log-tag": _one("word", lambda a: _WORD_RE.fullmatch(a) is not None),
        },
        "frontend": {
            **{f"timeout {t}": _duration for t in ("client", "client-fin", "http-request", "http-keep-alive",
                                                   "tarpit")},
            "maxconn": NUMBER, "rate-limit sessions": NUMBER, "backlog": NUMBER,
            "log": _haproxy_log, "log-format": _log_format,
            **{f"option {o}": _no_args for o in ("httplog", "dontlognull", "logasap", "dontlog-normal",
                                                 "log-separate-errors")},
            **_HAPROXY_HTTP_OPTIONS, **_HAPROXY_HEADERS, **_HAPROXY_COMPRESSION,
            "capture request header": _capture, "capture response header": _capture,
        },
        "pool": {
            **{f"timeout {t}": _duration for t in ("server", "connect", "queue", "tunnel", "server-fin",
                                                   "http-keep-alive", "http-request")},
            "retries": NUMBER, "fullconn": NUMBER, "option redispatch": _no_args, "option abortonclose": _no_args,
            "retry-on": _choice("none", "conn-failure", "empty-response", "junk-response", "response-timeout",
                                "0rtt-rejected", "404", "408", "425", "500", "501", "502", "503", "504",
                                "all-retryable-errors", many=True),
            "http-reuse": _choice("never", "safe", "aggressive", "always"),
            **_HAPROXY_HTTP_OPTIONS, **_HAPROXY_HEADERS, **_HAPROXY_COMPRESSION,
        },
    },
    "nginx": {
        "global": {**_NGINX_COMMON, "log_format": _log_format, "tcp_nopush": ON_OFF, "sendfile": ON_OFF,
                   **{k: NUMBER for k in ("server_names_hash_max_size", "types_hash_max_size",
                                          "variables_hash_max_size")}},
        "frontend": dict(_NGINX_COMMON),
        "pool": {"keepalive": NUMBER, "keepalive_requests": NUMBER, "keepalive_timeout": _duration,
                 "keepalive_time": _duration},
    },
}

_ROUTES = "it chooses the destination outside the model's routes; routes and pools belong to lb_frontends"
_OWNED = "the model owns balance, servers, weights, routes and listeners; use the model's keys"
_CODE = "it runs code inside the engine, which no review of the model can judge"
_SECTION = "it opens another section or block; sections and blocks belong to the model"
#: Always refused, with why: keyword (a trailing ``*`` matches any keyword it starts) -> reason.
REFUSED: dict[str, dict[str, str]] = {
    "haproxy": {
        "stats": "the stats page is the model's lb_stats (a password on a management address); of the "
                 "stats directives only the global section's stats socket (unix path or loopback), stats timeout "
                 "and stats maxconn pass",
        **{k: _ROUTES for k in (
            "use_backend", "default_backend", "use-server", "force-persist", "redirect", "http-request redirect",
            "http-request set-dst", "http-request set-dst-port", "http-request set-uri", "http-request set-path",
            "http-request set-pathq", "http-request set-query", "http-request replace-uri",
            "http-request replace-path", "http-request set-method", "http-request return",
            "http-request use-service", "http-request set-var*", "http-request do-resolve", "tcp-request",
            "http-response redirect", "http-response return", "errorloc", "errorloc302", "errorloc303",
            "errorfile", "monitor-uri")},
        **{k: _OWNED for k in ("balance", "hash-type", "hash-balance-factor", "server", "server-template",
                               "default-server", "bind", "mode", "dispatch", "cookie")},
        **{k: "health checks are the model's health_check key" for k in ("option httpchk", "http-check",
                                                                          "option tcp-check", "tcp-check")},
        **{k: "TLS is the frontend's tls key (certificates, min_version, alpn)" for k in ("ssl-*", "crt-base",
                                                                                          "ca-base")},
        **{k: _CODE for k in ("lua-*", "http-request lua.*", "external-check", "option external-check",
                              "insecure-fork-wanted", "setenv", "presetenv")},
        **{k: _SECTION for k in ("global", "defaults", "frontend", "backend", "listen", "userlist", "peers",
                                 "resolvers", "program", "cache", "ring", "mailers", "http-errors")},
    },
    "nginx": {
        "listen": "listeners are the frontends' binds and lb_stats; a listener added here escapes both",
        **{k: "the status page is the model's lb_stats (behind a password on a management address)"
           for k in ("stub_status", "api", "status_zone")},
        **{k: _ROUTES for k in (
            "proxy_pass", "fastcgi_pass", "uwsgi_pass", "scgi_pass", "grpc_pass", "memcached_pass", "rewrite",
            "return", "error_page", "set", "if", "try_files", "alias", "root", "internal", "map", "split_clients",
            "geo", "mirror", "auth_request", "proxy_redirect", "proxy_next_upstream", "sub_filter*")},
        **{k: _OWNED for k in ("least_conn", "ip_hash", "hash", "random", "zone", "server", "server_name")},
        **{k: _SECTION for k in ("upstream", "location", "http", "events", "stream", "include", "limit_except")},
        **{k: _CODE for k in ("js_*", "perl*", "load_module", "lua_*", "content_by_lua*", "ssi")},
        **{k: "TLS is the frontend's tls key (certificates, min_version, alpn)" for k in ("ssl_*",)},
        **{k: "nginx would ignore it: the template's location sets its own, and nginx inherits these only into "
              "a level that sets none (the served-by and pool headers are there)"
           for k in ("add_header", "add_trailer", "proxy_set_header")},
        "proxy_connect_timeout": "the location sets it; use the role variable nginx_proxy_connect_timeout",
        "proxy_read_timeout": "the location sets it; use the role variable nginx_proxy_read_timeout",
    },
}


#: HAProxy keywords that act on HTTP only: in a tcp frontend or pool HAProxy ignores them (a warning, no error).
HTTP_ONLY: tuple[str, ...] = ("http-request", "http-response", "option http", "option forwardfor", "compression",
                              "capture", "http-reuse", "timeout http-")
#: Refused in one section only, where the template already sets the directive from a role variable.
REFUSED_IN: dict[tuple[str, str], dict[str, str]] = {
    ("haproxy", "global"): {"maxconn": "the template sets it from the role variable haproxy_maxconn; set that"},
    ("nginx", "global"): {"server_names_hash_bucket_size": "the template sets it to hold every name a certificate "
                          "may carry (up to 253 characters)"},
}
#: First words of multi-word keywords: an unknown directive is named by its first two words.
_FAMILIES: frozenset[str] = frozenset(
    key.split()[0] for table in (*(s for e in ALLOWED.values() for s in e.values()), *REFUSED.values())
    for key in table if " " in key)


def _match(words: list[str], keys: Mapping[str, Any]) -> str | None:
    """The longest keyword of ``keys`` that ``words`` start with (``*`` ends a prefix keyword)."""
    best = None
    for key in keys:
        parts = key.split()
        head = [w.lower() for w in words[:len(parts)]]
        if len(head) < len(parts):
            continue
        if parts[-1].endswith("*"):
            hit = head[:-1] == parts[:-1] and head[-1].startswith(parts[-1][:-1])
        else:
            hit = head == parts
        if hit and (best is None or len(parts) > len(best.split())):
            best = key
    return best


def directive_problem(engine: str, section: str, text: str, mode: str = "http") -> str | None:
    """Why ``text`` may not stand in ``section`` of ``engine``'s configuration; None when it may.

    ``mode`` is the frontend's or pool's: HTTP-only keywords in a tcp one would be ignored.
    A refused keyword wins over an allowed one unless the allowed one is longer (``stats socket``
    in the global section against ``stats``).
    """
    words = _TOKEN_RE.findall(text)
    place = SECTION_NAMES[engine][section]
    allowed = ALLOWED[engine][section]
    refusals = {**REFUSED[engine], **REFUSED_IN.get((engine, section), {})}
    key = _match(words, allowed)
    refused = _match(words, refusals)
    if refused and (key is None or len(refused.split()) >= len(key.split())):
        size = max(len(refused.split()), 2 if words[0].lower() in _FAMILIES else 1)
        return f"{' '.join(words[:size])} is refused in {place}: {refusals[refused]}"
    if key is None:
        name = " ".join(words[:2]) if words[0].lower() in _FAMILIES and len(words) > 1 else words[0]
        return (f"{name} is not on the allowlist for {place}; allowed: {', '.join(sorted(allowed))} "
                "(docs/model.md lists them)")
    args = words[len(key.split()):]
    if engine == "haproxy" and mode == "tcp" and section != "global" and key.startswith(HTTP_ONLY):
        return f"{key} acts on HTTP only, and this is a tcp {section}: HAProxy would ignore it"
    if engine == "haproxy" and "${" in text:
        return f"{key} may not expand environment variables (${{...}}) in {place}"
    if engine == "nginx" and key != "log_format" and any("$" in a for a in args):
        return f"{key} may not use nginx variables ($) in {place}"
    why = allowed[key](engine, args)
    return f"{key} {why}" if why else None


def read_directives(check: Any, where: str, raw: Any, engine: str | None, section: str,
                    mode: str = "http") -> list[str]:
    """``extra_directives`` (section ``frontend`` or ``pool``, of ``mode``) or ``lb_global_directives`` (``global``).

    Printable ASCII, one line each; for nginx without ``{``, ``}`` or ``;`` (the template ends
    each with ``;``); each on the allowlist of its engine and section, with its arguments.
    Returns the accepted directives, stripped; every refusal is a problem naming the place.
    """
    key = SECTION_KEYS[section]
    if not check.rendered(where, key, raw):
        return []
    if not isinstance(raw, (list, tuple)):
        check.add(f"{where}: {key} must be a list of directives (strings), got {kind(raw)}")
        return []
    directives = []
    for index, item in enumerate(raw):
        field = f"{where}: {key}[{index}]" if section != "global" else f"{key}[{index}]"
        if not isinstance(item, str) or not item.strip():
            check.add(f"{field} must be a non-empty string, got {kind(item)}")
            continue
        text = item.strip()
        bad = next((f"U+{ord(c):04X}" for c in text if not " " <= c <= "~"), None)
        if bad:
            check.add(f"{field} contains {bad}: a directive is one line of printable ASCII")
        elif len(text) > DIRECTIVE_MAX_LENGTH:
            check.add(f"{field} is longer than {DIRECTIVE_MAX_LENGTH} characters")
        elif engine == "nginx" and any(c in text for c in "{};"):
            check.add(f"{field} {text!r} contains '{{', '}}' or ';': write one nginx directive without "
                      "its ';' (the template adds it); blocks belong to the model")
        elif engine in ALLOWED and (why := directive_problem(engine, section, text, mode)):
            check.add(f"{field} {text!r}: {why}")
        else:
            directives.append(text)
    return directives


def directive_rule(section: str) -> str:
    """The rule text of one section's key for docs/model.md, generated from the lists above."""
    parts = []
    for engine, label in (("haproxy", "HAProxy"), ("nginx", "nginx")):
        names = ", ".join(f"`{k}`" for k in sorted(ALLOWED[engine][section]))
        parts.append(f"{label}, {SECTION_NAMES[engine][section].split(' ', 2)[-1]}: {names}")
    return (
        "a list of one-line printable ASCII strings, each one directive of the engine in use; nginx: without `{`, "
        "`}` or `;` (the template adds the `;`). Only these keywords, each with arguments of its form (numbers, "
        "durations, sizes; a header value is one token or one double-quoted string without `%`, `$`, `;` or "
        "braces; log targets are a file path or an IP syslog address): " + "; ".join(parts) + ". Always refused, "
        "each with its reason: listeners, admin sockets and stats/status pages (the runtime socket only on a unix "
        "path or loopback), routing and destination rewrites, balance/servers/health checks/TLS, code in the engine, "
        "the Host, X-Forwarded-*, Strict-Transport-Security, served-by and X-Lbguard-* headers; in an HAProxy tcp "
        "frontend or pool, the HTTP-only keywords (those starting with " + ", ".join(f"`{k}`" for k in HTTP_ONLY)
        + "). The plan "
        "report lists what passes"
    )
