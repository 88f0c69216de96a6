"""Random load-balancer models for the engine-acceptance property test, and mutations of them.

``valid_model`` draws a model that follows every documented rule (docs/model.md);
``mutate`` changes one thing in it, often into something an engine refuses. The
test renders what validation accepts with the roles' real templates and asks
HAProxy (``haproxy -c``) and nginx (``nginx -t``) in the project's test image.

Addresses are IP addresses only: a host name's resolution is a fact of the
network the engine runs in, which validation cannot know.
"""

from __future__ import annotations

import copy
import ipaddress
import random
from typing import Any, Callable

from ansible_collections.lbguard.core.plugins.plugin_utils import lbguard_edge_schema, lbguard_model_schema, lbguard_model_spec

NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
PATH_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-._~!$&()*+,;=:@%/?"


def _name(rng: random.Random, length: int = 8) -> str:
    return rng.choice("abcdefghijklmnopqrstuvwxyz") + "".join(rng.choice(NAME_CHARS) for _ in range(length - 1))


def _interval(rng: random.Random) -> str | int:
    return rng.choice([f"{rng.randint(lbguard_model_schema.INTERVAL_MIN_MS, 60000)}ms", f"{rng.randint(1, 3600)}s",
                       f"{rng.randint(1, 60)}m", rng.randint(1, 3600)])


def valid_model(rng: random.Random, engine: str) -> dict[str, Any]:
    """Host variables of one LB (lb_engine, lb_policy, lb_services) that validation must accept."""
    algorithms = [a for a, engines in lbguard_model_schema.ALGORITHMS.items() if engines[engine] is not None]
    low, high = lbguard_model_schema.WEIGHT_RANGE[engine]
    services, names, ports = [], set(), set()
    for _ in range(rng.randint(1, 4)):
        name = _name(rng, rng.randint(1, 20))
        while name.lower() in names or name.lower().startswith(lbguard_model_schema.RESERVED_SERVICE_PREFIX):
            name = _name(rng, rng.randint(1, 20))
        names.add(name.lower())
        port = rng.randint(1, 65535)
        while port in ports or port == 8405:
            port = rng.randint(1, 65535)
        ports.add(port)
        mode = "http" if engine == "nginx" else rng.choice(lbguard_model_schema.MODES)
        balance = rng.choice([a for a in algorithms if not (a == "uri" and mode == "tcp")])
        servers = []
        for index in range(rng.randint(1, 6)):
            servers.append({"name": f"{_name(rng, rng.randint(1, 12))}{index}",
                            "address": f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{index + 1}",
                            "port": rng.randint(1, 65535), "weight": rng.randint(max(low, 1), high)})
        if len(servers) > 1 and rng.random() < 0.3 and not (engine == "nginx" and balance in lbguard_model_schema.NGINX_NO_BACKUP):
            servers[-1]["backup"] = True
        health: dict[str, Any] = {"interval": _interval(rng), "rise": rng.randint(1, 100),
                                  "fall": rng.randint(1, 100), "enabled": rng.random() < 0.9}
        if mode == "http":
            health["path"] = "/" + "".join(rng.choice(PATH_CHARS) for _ in range(rng.randint(0, 40)))
            health["expect_status"] = rng.randint(100, 599)
        services.append({"name": name, "mode": mode, "listen": port, "balance": balance,
                         "servers": servers, "health_check": health})
    _plain_keys(rng, services)
    # A permissive policy: these models test the engines, not the share rules.
    return {"lb_engine": engine, "lb_services": services,
            "lb_policy": {"min_active_servers": 1, "max_server_share": 1.0, "allow_first": True}}


def _plain_keys(rng: random.Random, services: list[dict[str, Any]]) -> None:
    """Give some services a value of each key declared plain, anywhere in its declared range."""
    for service in services:
        for key, decl in lbguard_model_spec.SERVICE.items():
            if not decl.get("plain") or rng.random() < 0.5:
                continue
            if decl["type"] == "bool":
                service[key] = rng.random() < 0.5
            else:
                low, high = decl["range"]
                service[key] = rng.choice([low, high if high is not None else low * 1000, rng.randint(low, high or low * 1000)])


PLAIN_SERVICE_KEYS = [key for key, decl in lbguard_model_spec.SERVICE.items() if decl.get("plain")]


def _service(model: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    return rng.choice(model["lb_services"])


def _server(model: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    return rng.choice(_service(model, rng)["servers"])


ODD_TEXT = ["", " ", "a b", "a#b", "a;b", "a{b", "a}b", "a\"b", "a'b", "a\\b", "a\nb", "a\tb", "\u200b",
            "caf\u00e9", "a\u0301", "x" * 70, "lbguard_x", "A" * 63, "-a", "1a", "a.b", "a/b", "$a", "%{a}"]
ODD_ADDRESSES = ["127.0.0.1", "0.0.0.0", "::", "::1", "255.255.255.255", "224.0.0.9", "fe80::1%eth0",
                 "fe80::1%25eth0#x", "0x0a000001", "10.0.0", "10.0.0.256", "010.0.0.1", "::ffff:10.0.0.1",
                 "2001:db8::1", "[2001:db8::1]", "10.0.0.1:80", "", "caf\u00e9.example", "a_b.example"]
ODD_INTERVALS = ["0ms", "1ms", "99ms", "100ms", "61m", "60m", "2h", "1d", -1, 0, 2**31, "1.5s", "s", "2 s"]
ODD_NUMBERS = [-1, 0, 1, 255, 256, 257, 1000, 65535, 65536, 2**31, "7", "heavy", 1.5, True, None]


def _mutations() -> list[tuple[str, Callable[[dict[str, Any], random.Random], None]]]:
    def set_in(pick, key, values):
        return lambda model, rng: pick(model, rng).__setitem__(key, rng.choice(values))

    def health(key, values):
        def change(model, rng):
            _service(model, rng).setdefault("health_check", {})[key] = rng.choice(values)
        return change

    def duplicate_listen(model, rng):
        services = model["lb_services"]
        if len(services) > 1:
            services[1]["listen"] = services[0]["listen"]

    def case_twin(model, rng):
        first = model["lb_services"][0]
        twin = copy.deepcopy(first)
        twin["name"] = first["name"].swapcase()
        twin["listen"] = (first["listen"] % 65535) + 1
        model["lb_services"].append(twin)

    def same_endpoint(model, rng):
        servers = _service(model, rng)["servers"]
        if len(servers) > 1:
            servers[1]["address"], servers[1]["port"] = servers[0]["address"], servers[0]["port"]

    def extra_key(model, rng):
        rng.choice([_service(model, rng), _server(model, rng)])[rng.choice(["wieght", "maxconn", "check"])] = 1

    def backup_everything(model, rng):
        for server in _service(model, rng)["servers"]:
            server["backup"] = True

    return [
        ("service name", set_in(_service, "name", ODD_TEXT)),
        ("server name", set_in(_server, "name", ODD_TEXT)),
        ("address", set_in(_server, "address", ODD_ADDRESSES)),
        ("weight", set_in(_server, "weight", ODD_NUMBERS)),
        ("port", set_in(_server, "port", ODD_NUMBERS)),
        ("listen", set_in(_service, "listen", ODD_NUMBERS + [8405])),
        ("balance", set_in(_service, "balance", list(lbguard_model_schema.ALGORITHMS) + ["roundrobbin", "least_conn", ""])),
        ("mode", set_in(_service, "mode", ["tcp", "http", "udp", "HTTP"])),
        ("backup", set_in(_server, "backup", [True, "yes", 1])),
        ("disabled", set_in(_server, "disabled", [True, "no", 0])),
        ("health path", health("path", ["/" + t for t in ODD_TEXT] + ODD_TEXT)),
        ("health interval", health("interval", ODD_INTERVALS)),
        ("health rise", health("rise", ODD_NUMBERS)),
        ("health fall", health("fall", ODD_NUMBERS)),
        ("health expect_status", health("expect_status", ODD_NUMBERS + [99, 600])),
        ("duplicate listen", duplicate_listen),
        ("names equal but for case", case_twin),
        ("same endpoint twice", same_endpoint),
        ("unknown key", extra_key),
        ("every server backup", backup_everything),
        *[(f"plain {key}", set_in(_service, key, ODD_NUMBERS)) for key in PLAIN_SERVICE_KEYS],
    ]


MUTATIONS = _mutations()


def mutate(model: dict[str, Any], rng: random.Random, mutations: list | None = None) -> tuple[str, dict[str, Any]]:
    """One mutation (of ``mutations``, default MUTATIONS) of a copy of ``model``: its name and the mutant."""
    mutant = copy.deepcopy(model)
    name, change = rng.choice(MUTATIONS if mutations is None else mutations)
    change(mutant, rng)
    return name, mutant


# ------------------------------------------------------------------ the edge model (#27)

#: A certificate the edge models serve (one CA for the run; hosts under EDGE_DOMAIN).
EDGE_DOMAIN = "shop.example.test"
ROUTE_PATH_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-._~%/"
#: Engine syntax, control characters, Unicode look-alikes and very long values, for every string field.
ODD_EDGE_TEXT = ODD_TEXT + ["a\rb", "a\x00b", "a\x1b[31mb", "a\u2028b", "a\u202eb", "sh\u043ep", "\uff53hop",
                            "a" * 300, "a;\n    stats admin if TRUE", "a }\n    return 301 https://evil.example; #",
                            "*", "*.", "a..b", "-a.example", "a.example.", "xn--a", "a" * 64 + ".example"]
ODD_ROUTE_PATHS = ["/" + t for t in ODD_EDGE_TEXT] + ["", "/", "//", "/a b", "/a;b", "/a{b}", "/%0a", "/\u00e9"]
ODD_DIRECTIVES = ["timeout client 5s\n    stats admin if TRUE", "client_max_body_size 1m; return 301 https://x",
                  "http-request set-header X-A 1\r\n", "log 127.0.0.1 local0\u2028", "retries 3 #", "",
                  "add_header X-A \"a\\\"b\"", "timeout server 5s", "client_body_timeout 30s"]


def valid_edge_model(rng: random.Random, engine: str, certificate: tuple[str, str]) -> dict[str, Any]:
    """Host variables of one LB with lb_frontends, lb_pools and sometimes lb_stats, that validation accepts.

    ``certificate`` (PEM certificate and key) covers ``*.EDGE_DOMAIN`` and ``EDGE_DOMAIN``: a TLS bind serves it.
    """
    pool_names: list[str] = []
    while len(pool_names) < rng.randint(1, 3):
        name = _name(rng, rng.randint(2, 20))
        if name.lower() not in {p.lower() for p in pool_names} and not name.lower().startswith("lbguard"):
            pool_names.append(name)
    pools = [{"name": name, "servers": [{"name": f"{name[:10]}s{i}", "address": f"10.{n}.{rng.randint(0, 255)}.{i + 1}",
                                         "port": rng.randint(1, 65535)} for i in range(rng.randint(1, 4))]}
             for n, name in enumerate(pool_names)]
    tls = rng.random() < 0.5
    ports = rng.sample(range(1024, 60000), 4)
    binds: list[dict[str, Any]] = [{"port": ports[0], **({"address": rng.choice(["127.0.0.1", "::1", "::"])}
                                                         if rng.random() < 0.4 else {})}]
    if tls:
        binds.append({"port": ports[1], "tls": True})
    routes = []
    for index, pool in enumerate(pool_names[1:]):
        host = f"{_name(rng, 6).lower().replace('_', '-')}{index}.{EDGE_DOMAIN}"
        route: dict[str, Any] = {"hosts": [host], "pool": pool}
        if rng.random() < 0.5:
            route["path_prefix"] = "/" + "".join(rng.choice(ROUTE_PATH_CHARS[:36]) for _ in range(rng.randint(1, 12))) + "/"
        routes.append(route)
    frontend: dict[str, Any] = {"name": _name(rng, rng.randint(2, 20)), "binds": binds, "routes": routes,
                                "default_pool": pool_names[0]}
    while frontend["name"].lower() in {p.lower() for p in pool_names} or frontend["name"].lower().startswith("lbguard"):
        frontend["name"] = _name(rng, rng.randint(2, 20))
    if tls:
        # Every TLS version and ALPN list validation offers must load in both engines.
        frontend["tls"] = {"certificates": [{"name": "edge", "certificate": certificate[0], "key": certificate[1]}],
                           "min_version": rng.choice(lbguard_edge_schema.TLS_VERSIONS),
                           "alpn": rng.sample(lbguard_edge_schema.ALPN_PROTOCOLS,
                                              rng.randint(1, len(lbguard_edge_schema.ALPN_PROTOCOLS)))}
    if rng.random() < 0.5:
        frontend["extra_directives"] = [rng.choice({"haproxy": ["timeout client 45s", "option forwardfor"],
                                                    "nginx": ["client_max_body_size 2m", "client_body_timeout 30s"]}[engine])]
    model: dict[str, Any] = {"lb_engine": engine, "lb_frontends": [frontend], "lb_pools": pools,
                             "lb_policy": {"min_active_servers": 1, "max_server_share": 1.0, "allow_first": True}}
    if rng.random() < 0.5:
        model["lb_stats"] = {"address": "127.0.0.1", "port": ports[2], "user": _name(rng, 6),
                             "password": "".join(rng.choice(NAME_CHARS + "!#%&*+,.:=?@^~") for _ in range(16))}
    return model


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _edge_mutations() -> list[tuple[str, Callable[[dict[str, Any], random.Random], None]]]:
    def frontend(model: dict[str, Any], rng: random.Random) -> dict[str, Any]:
        return model["lb_frontends"][0]

    def route(model: dict[str, Any], rng: random.Random) -> dict[str, Any]:
        routes = frontend(model, rng)["routes"]
        return rng.choice(routes) if routes else {"hosts": []}

    def set_in(pick, key, values):
        return lambda model, rng: pick(model, rng).__setitem__(key, rng.choice(values))

    def rename_pool(model, rng):  # the pool and every reference to it, so only the name's text is under test
        old, new = model["lb_pools"][0]["name"], rng.choice(ODD_EDGE_TEXT)
        model["lb_pools"][0]["name"] = new
        fe = model["lb_frontends"][0]
        fe["default_pool"] = new if fe["default_pool"] == old else fe["default_pool"]
        for item in fe["routes"]:
            item["pool"] = new if item["pool"] == old else item["pool"]

    def route_host(model, rng):
        route(model, rng)["hosts"] = [rng.choice(ODD_EDGE_TEXT + [t + "." + EDGE_DOMAIN for t in ODD_EDGE_TEXT])]

    # Which addresses a host has is a fact of the host, as a name's resolution is: the engines bind at their
    # check, and the check's container has loopback only. Other well-formed addresses are left out.
    local = [a for a in ODD_ADDRESSES if a in ("127.0.0.1", "0.0.0.0", "::", "::1", "::ffff:127.0.0.1")]
    malformed = [a for a in ODD_ADDRESSES if not _is_ip(a)]

    def bind_address(model, rng):
        rng.choice(frontend(model, rng)["binds"])["address"] = rng.choice(local + malformed + ODD_EDGE_TEXT[:12])

    def stats(key):
        def change(model, rng):
            if "lb_stats" in model:
                model["lb_stats"][key] = rng.choice(ODD_EDGE_TEXT)
        return change

    def certificate_name(model, rng):
        tls = frontend(model, rng).get("tls")
        if tls:
            tls["certificates"][0]["name"] = rng.choice(ODD_EDGE_TEXT)

    def directive(model, rng):
        frontend(model, rng)["extra_directives"] = [rng.choice(ODD_DIRECTIVES)]

    def pool_server_name(model, rng):
        rng.choice(model["lb_pools"])["servers"][0]["name"] = rng.choice(ODD_EDGE_TEXT)

    return [
        ("frontend name", set_in(frontend, "name", ODD_EDGE_TEXT)),
        ("pool name", rename_pool),
        ("pool server name", pool_server_name),
        ("route host", route_host),
        ("route path_prefix", set_in(route, "path_prefix", ODD_ROUTE_PATHS)),
        ("bind address", bind_address),
        ("stats user", stats("user")),
        ("stats password", stats("password")),
        ("certificate name", certificate_name),
        ("extra directive", directive),
    ]


EDGE_MUTATIONS = _edge_mutations()


def mutate_edge(model: dict[str, Any], rng: random.Random) -> tuple[str, dict[str, Any]]:
    """One mutation of a copy of an edge ``model``: its name and the mutant."""
    return mutate(model, rng, EDGE_MUTATIONS)
