"""The escape hatch's allowlist (plugins/plugin_utils/lbguard_directives.py): per engine and section."""

from __future__ import annotations

import pytest

from ansible_collections.lbguard.core.plugins.plugin_utils import lbguard_directives as directives
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_model_values import _Checker
from lbguard_directive_examples import EXAMPLES

ENGINES = ("haproxy", "nginx")
SECTIONS = ("global", "frontend", "pool")
EVERYWHERE = [(e, s) for e in ENGINES for s in SECTIONS]


def problem(engine: str, section: str, text: str) -> str:
    found = directives.directive_problem(engine, section, text)
    assert found is not None, f"{text!r} passed in {engine} {section}"
    return found


@pytest.mark.parametrize(("engine", "section", "text"),
                         [(e, s, t) for e, by in EXAMPLES.items() for s, texts in by.items() for t in texts])
def test_every_example_passes_where_it_is_listed(engine: str, section: str, text: str) -> None:
    assert directives.directive_problem(engine, section, text) is None


@pytest.mark.parametrize(("engine", "section"), EVERYWHERE)
def test_every_allowlisted_keyword_has_an_example(engine: str, section: str) -> None:
    # The engine test renders the examples: a keyword without one would go unchecked by the engine.
    missing = [key for key in directives.ALLOWED[engine][section]
               if not any(t.lower().split()[:len(key.split())] == key.split() for t in EXAMPLES[engine][section])]
    assert missing == []


# ------------------------------------------------------------------ always refused, each class, every section

REFUSED_EVERYWHERE = {
    "haproxy": [
        ("stats admin if TRUE", "the stats page is the model's lb_stats"),
        ("stats enable", "the stats page is the model's lb_stats"),
        ("use_backend api if TRUE", "outside the model's routes"),
        ("default_backend api", "outside the model's routes"),
        ("use-server web1 if TRUE", "outside the model's routes"),
        ("redirect location https://evil.example", "outside the model's routes"),
        ("http-request redirect location https://evil.example", "outside the model's routes"),
        ("http-request set-dst ipv4(10.9.9.9)", "outside the model's routes"),
        ("http-request set-uri /x", "outside the model's routes"),
        ("http-request set-path /x", "outside the model's routes"),
        ("http-request set-var(txn.x) str(1)", "outside the model's routes"),
        ("http-request return status 200", "outside the model's routes"),
        ("balance first", "the model owns balance"),
        ("server x 10.0.0.9:80 weight 200", "the model owns balance, servers, weights"),
        ("bind :9999", "the model owns balance, servers, weights, routes and listeners"),
        ("option httpchk GET /", "health checks are the model's health_check"),
        ("http-check expect status 200", "health checks are the model's health_check"),
        ("ssl-default-bind-ciphers ALL", "TLS is the frontend's tls key"),
        ("lua-load /tmp/x.lua", "runs code inside the engine"),
        ("external-check", "runs code inside the engine"),
        ("listen sneaky", "opens another section"),
        ("backend other", "opens another section"),
    ],
    "nginx": [
        ("listen 8081", "listeners are the frontends' binds and lb_stats"),
        ("stub_status", "the status page is the model's lb_stats"),
        ("api write=on", "the status page is the model's lb_stats"),
        ("proxy_pass http://10.9.9.9", "outside the model's routes"),
        ("rewrite ^ https://evil.example permanent", "outside the model's routes"),
        ("return 301 https://evil.example", "outside the model's routes"),
        ("error_page 404 =301 https://evil.example", "outside the model's routes"),
        ("set $pool evil", "outside the model's routes"),
        ("if ($host)", "outside the model's routes"),
        ("try_files $uri /x", "outside the model's routes"),
        ("alias /etc", "outside the model's routes"),
        ("root /etc", "outside the model's routes"),
        ("internal", "outside the model's routes"),
        ("map $host $x", "outside the model's routes"),
        ("least_conn", "the model owns balance"),
        ("server 10.0.0.9:80 weight=100", "the model owns balance, servers"),
        ("include /etc/passwd", "opens another section"),
        ("js_import /tmp/x.js", "runs code inside the engine"),
        ("perl_modules /tmp", "runs code inside the engine"),
        ("load_module /tmp/x.so", "runs code inside the engine"),
        ("ssl_protocols TLSv1", "TLS is the frontend's tls key"),
        ("add_header X-A 1 always", "nginx would ignore it"),
        ("proxy_set_header Host evil.example", "nginx would ignore it"),
        ("proxy_read_timeout 1s", "nginx_proxy_read_timeout"),
        ("proxy_connect_timeout 1s", "nginx_proxy_connect_timeout"),
    ],
}


@pytest.mark.parametrize(("engine", "section", "text", "why"),
                         [(e, s, t, w) for e, s in EVERYWHERE for t, w in REFUSED_EVERYWHERE[e]])
def test_always_refused_with_its_reason(engine: str, section: str, text: str, why: str) -> None:
    found = problem(engine, section, text)
    assert "is refused in " + directives.SECTION_NAMES[engine][section] in found
    assert why in found


@pytest.mark.parametrize("target", ["ipv4@0.0.0.0:9999", "0.0.0.0:9999", "10.0.0.5:9999", "ipv6@:::9999",
                                    "abns@lbguard", "fd@3"])
def test_a_runtime_socket_on_the_network_is_refused(target: str) -> None:
    found = problem("haproxy", "global", f"stats socket {target} level admin")
    assert f"stats socket listens on {target}: a runtime API on a network address" in found
    assert "use a unix path or 127.0.0.1/::1" in found


@pytest.mark.parametrize(("text", "why"), [
    ("stats socket ipv4@127.0.0.1:9999 level admin", "on a loopback address takes level user or operator"),
    ("stats socket /run/x.sock level root", "takes level user, operator or admin"),
    ("stats socket /run/x.sock mode 600 expose-fd listeners", "takes a target then only mode, level"),
])
def test_a_runtime_socket_keeps_to_its_options(text: str, why: str) -> None:
    assert why in problem("haproxy", "global", text)


@pytest.mark.parametrize("text", ["stats socket ipv4@127.0.0.1:9999 level operator",
                                  "stats socket ipv6@::1:9999 level user", "stats socket /run/x.sock level admin"])
def test_a_runtime_socket_on_a_unix_path_or_loopback_passes(text: str) -> None:
    assert directives.directive_problem("haproxy", "global", text) is None


@pytest.mark.parametrize("section", ["frontend", "pool"])
def test_the_runtime_socket_is_refused_outside_the_global_section(section: str) -> None:
    assert "stats socket is refused in" in problem("haproxy", section, "stats socket /run/x.sock")


def test_maxconn_in_the_global_section_points_at_the_role_variable() -> None:
    assert "sets it from the role variable haproxy_maxconn" in problem("haproxy", "global", "maxconn 100000")


def test_the_server_names_bucket_belongs_to_the_template() -> None:
    assert "the template sets it to hold every name" in problem("nginx", "global", "server_names_hash_bucket_size 64")


# ------------------------------------------------------------------ unknown directives


@pytest.mark.parametrize(("engine", "section", "text", "name"), [
    ("haproxy", "global", "daemon", "daemon"),
    ("haproxy", "frontend", "option foo", "option foo"),
    ("haproxy", "frontend", "http-request deny", "http-request deny"),
    ("haproxy", "pool", "timeout client 5s", "timeout client"),
    ("nginx", "global", "server_tokens on", "server_tokens"),
    ("nginx", "frontend", "log_format x '$host'", "log_format"),
    ("nginx", "pool", "gzip on", "gzip"),
])
def test_an_unknown_directive_gets_the_sections_allowlist(engine: str, section: str, text: str, name: str) -> None:
    found = problem(engine, section, text)
    place = directives.SECTION_NAMES[engine][section]
    assert found.startswith(f"{name} is not on the allowlist for {place}; allowed: ")
    assert all(key in found for key in directives.ALLOWED[engine][section])


# ------------------------------------------------------------------ argument holes


@pytest.mark.parametrize("value", ["%[req.hdr(host)]", "%[src]", "$host", "a;b", "{x}", "\"a;b\"", "a#b",
                                   "\"a\"b\"", "a\\nb", "1 if TRUE", "\"%[src]\""])
@pytest.mark.parametrize("section", ["frontend", "pool"])
def test_a_header_value_is_one_plain_value(section: str, value: str) -> None:
    found = problem("haproxy", section, f"http-request set-header X-A {value}")
    assert "takes a header name and one value" in found


@pytest.mark.parametrize("header", ["Host", "host", "X-Forwarded-For", "X-Forwarded-Proto", "X-Served-By",
                                    "X-Lbguard-Pool", "Strict-Transport-Security"])
@pytest.mark.parametrize("action", ["http-request set-header", "http-request del-header",
                                    "http-response add-header"])
def test_the_models_headers_are_not_touched(header: str, action: str) -> None:
    value = "" if action.endswith("del-header") else " x"
    assert f"may not touch {header}" in problem("haproxy", "frontend", f"{action} {header}{value}")


def test_nginx_never_hides_the_served_by_header() -> None:
    assert "may not touch X-Served-By" in problem("nginx", "frontend", "proxy_hide_header X-Served-By")


@pytest.mark.parametrize(("engine", "section", "text", "why"), [
    ("haproxy", "frontend", "timeout client forever", "takes one duration"),
    ("haproxy", "pool", "retries -1", "takes one number"),
    ("haproxy", "pool", "retries 5 6", "takes one number"),
    ("haproxy", "global", "log evil.example:514 local0", "takes `global` or a target"),
    ("haproxy", "global", "log 10.0.0.5:514 nofacility", "takes `global` or a target"),
    ("haproxy", "global", "log relative/path local0", "takes `global` or a target"),
    ("haproxy", "frontend", "log-format %ci", "takes quoted format strings"),
    ("haproxy", "pool", "http-reuse sometimes", "takes one of never"),
    ("haproxy", "pool", "http-reuse safe always", "takes one of never"),
    ("haproxy", "frontend", "log-format \"${HOME} %ci\"", "may not expand environment variables"),
    ("nginx", "frontend", "gzip on off", "takes one of on, off"),
    ("nginx", "global", "client_max_body_size lots", "takes one size"),
    ("nginx", "global", "access_log /var/log/$host.log", "may not use nginx variables"),
    ("nginx", "frontend", "access_log syslog:server=evil.example:514", "takes `off`, an absolute file path"),
    ("nginx", "frontend", "access_log /var/log/x.log main if=$loggable", "may not use nginx variables"),
    ("nginx", "frontend", "error_log /var/log/x.log chatty", "then a level"),
    ("nginx", "frontend", "gzip_types text/html $x", "may not use nginx variables"),
    ("nginx", "pool", "keepalive_timeout 60s 30s", "takes one duration"),
])
def test_arguments_have_their_form(engine: str, section: str, text: str, why: str) -> None:
    assert why in problem(engine, section, text)


@pytest.mark.parametrize("section", SECTIONS)
@pytest.mark.parametrize("text", ["client_max_body_size 1m; include /tmp/x", "gzip {", "gzip on}"])
def test_nginx_directives_never_open_or_chain(section: str, text: str) -> None:
    check = _Checker()
    assert directives.read_directives(check, "frontend edge", [text], "nginx", section) == []
    assert len(check.problems) == 1 and "contains '{', '}' or ';'" in check.problems[0]


def test_read_directives_names_the_place_and_collects_every_problem() -> None:
    check = _Checker()
    raw = ["timeout server 30s", "stats enable", "option httplog\nbalance first", "", "x" * 501, "use-server a"]
    assert directives.read_directives(check, "pool shop", raw, "haproxy", "pool") == ["timeout server 30s"]
    assert [p.split(" ")[2] for p in check.problems] == ["extra_directives[1]", "extra_directives[2]",
                                                         "extra_directives[3]", "extra_directives[4]",
                                                         "extra_directives[5]"]
    assert all(p.startswith("pool shop: ") for p in check.problems)
    check = _Checker()
    assert directives.read_directives(check, "lb_global_directives", ["daemon"], "haproxy", "global") == []
    assert check.problems[0].startswith("lb_global_directives[0] 'daemon': daemon is not on the allowlist")


def test_the_rule_text_lists_each_sections_allowlist() -> None:
    rule = directives.directive_rule("pool")
    assert all(f"`{key}`" in rule for engine in ENGINES for key in directives.ALLOWED[engine]["pool"])
    assert "`keepalive_time`" in rule and "`stats socket`" not in rule
    assert "`stats socket`" in directives.directive_rule("global")


@pytest.mark.parametrize("section", ["frontend", "pool"])
@pytest.mark.parametrize("text", ["http-request set-header X-A 1", "option forwardfor", "option http-server-close",
                                  "compression algo gzip", "timeout http-request 5s", "option http-keep-alive"])
def test_http_only_directives_are_refused_in_a_tcp_frontend_or_pool(section: str, text: str) -> None:
    assert directives.directive_problem("haproxy", section, text) is None
    found = directives.directive_problem("haproxy", section, text, "tcp")
    assert found is not None and f"acts on HTTP only, and this is a tcp {section}: HAProxy would ignore it" in found


@pytest.mark.parametrize("section", ["frontend", "pool"])
def test_a_tcp_frontend_or_pool_keeps_its_timeouts(section: str) -> None:
    text = "timeout client 30s" if section == "frontend" else "timeout server 30s"
    assert directives.directive_problem("haproxy", section, text, "tcp") is None
