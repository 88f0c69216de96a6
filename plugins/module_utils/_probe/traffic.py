"""The probe's own traffic: HTTP and TLS requests, TCP connects, routes, redirects, the running model.

Every network operation has a timeout and every loop is bounded. Part of
lbguard_probe (plugins/modules/lbguard_probe.py). Standard library only,
Python 3.9 and later: it runs on the load-balancer hosts.
"""

from __future__ import annotations

import hashlib
import http.client
import socket
import ssl
import time
import urllib.parse
from typing import Any, Callable, Iterable, Mapping

from ansible_collections.lbguard.core.plugins.module_utils._probe.common import describe

MAX_BODY_BYTES = 1024 * 1024
MAX_STATUS_BYTES = 64 * 1024
READ_CHUNK = 65536
# A request may take at most this many times the per-operation timeout in total.
REQUEST_BUDGET_FACTOR = 4.0
# The engine roles name the pool of lb_pools that answered in this response header.
POOL_HEADER = "X-Lbguard-Pool"
# The plain request that checks a frontend's redirect to HTTPS.
REDIRECT_CHECK_HOST = "lbguard-probe.invalid"
REDIRECT_CHECK_PATH = "/lbguard/redirect-check"
# Requests per route (and per frontend's default) that check which pool answers.
ROUTE_CHECK_REQUESTS = 3


# ------------------------------------------------------------------- running model


def read_running_model(url: str, timeout: float) -> tuple[str | None, str | None]:
    """GET ``url`` and return (stripped body, None), or (None, error text)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None, f"status_url {url!r} is not an http(s) URL"
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    conn_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    try:
        port = parts.port
    except ValueError as exc:
        return None, f"status_url {url!r}: {exc}"
    conn = conn_class(parts.hostname, port, timeout=timeout)
    try:
        conn.request("GET", target, headers={"Connection": "close", "User-Agent": "lbguard-probe"})
        response = conn.getresponse()
        body = response.read(MAX_STATUS_BYTES)
        if response.status != 200:
            return None, f"{url} answered HTTP {response.status} {response.reason}"
        text = body.decode("utf-8", errors="replace").strip()
        if not text:
            return None, f"{url} answered an empty body"
        return text, None
    except (OSError, http.client.HTTPException) as exc:
        return None, f"cannot read {url}: {describe(exc)}"
    finally:
        conn.close()



# ------------------------------------------------------------------------ traffic


def empty_traffic(mode: str, requests: int) -> dict[str, Any]:
    """Counters of one service before any request."""
    return {"mode": mode, "requests": requests, "counts": {}, "status_5xx": 0, "other_errors": 0,
            "connection_errors": 0, "missing_header": 0}


def classify(status: int | None, served_by: str | None) -> str:
    """Classify one request outcome.

    Returns "ok" (2xx/3xx naming a server), "missing_header", "status_5xx",
    "other_errors" or "connection_errors" (``status`` None: no HTTP response).
    """
    if status is None:
        return "connection_errors"
    if 500 <= status <= 599:
        return "status_5xx"
    if 200 <= status <= 399:
        return "ok" if served_by else "missing_header"
    return "other_errors"


def record(traffic: dict[str, Any], status: int | None, served_by: str | None) -> None:
    """Add one request outcome to a service's counters."""
    kind = classify(status, served_by)
    if kind == "ok":
        name = str(served_by).strip()
        traffic["counts"][name] = traffic["counts"].get(name, 0) + 1
    else:
        traffic[kind] += 1


def exchange(address: str, port: int, path: str, timeout: float, host: str = "", tls: bool = False,
             wanted: Iterable[str] = ()) -> dict[str, Any]:
    """Send one GET on a new connection: ``{"status", "headers", "certificate"}``.

    ``status`` is None when no HTTP response came; ``headers`` holds the ``wanted``
    response headers that were present (stripped); ``certificate`` is the sha256
    hex of the certificate the server presented over TLS, else None. ``host`` is
    sent as the Host header and, with ``tls``, as the SNI name. The certificate is
    recorded, not judged, so any certificate is accepted here.

    Each socket operation has ``timeout`` seconds. The body is read (so the load
    balancer logs a complete exchange, not a client abort) in chunks, up to
    ``MAX_BODY_BYTES`` and while the request's budget (4x ``timeout``) lasts;
    then the connection is closed whatever is left.
    """
    start = time.monotonic()
    result: dict[str, Any] = {"status": None, "headers": {}, "certificate": None}
    conn = http.client.HTTPConnection(address, port, timeout=timeout)
    headers = {"Connection": "close", "User-Agent": "lbguard-probe", "Accept": "*/*"}
    if host:
        headers["Host"] = host
    try:
        if tls:  # http.client connects only when it has no socket yet
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            conn.sock = context.wrap_socket(socket.create_connection((address, port), timeout=timeout),
                                            server_hostname=host or None)
            der = conn.sock.getpeercert(binary_form=True)
            result["certificate"] = hashlib.sha256(der).hexdigest() if der else None
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        for name in wanted:
            value = response.getheader(name)
            if value and value.strip():
                result["headers"][name] = value.strip()
        deadline = start + timeout * REQUEST_BUDGET_FACTOR
        read = 0
        while read < MAX_BODY_BYTES and time.monotonic() < deadline:
            chunk = response.read(READ_CHUNK)
            if not chunk:
                break
            read += len(chunk)
        result["status"] = response.status
    except (OSError, http.client.HTTPException):
        result["status"] = None
    finally:
        conn.close()
    return result


def http_request(address: str, port: int, path: str, header: str, timeout: float) -> tuple[int | None, str | None]:
    """Send one GET on a new connection; return (status, served_by header) or (None, None)."""
    result = exchange(address, port, path, timeout, wanted=(header,))
    return result["status"], result["headers"].get(header)


def tcp_connect(address: str, port: int, timeout: float) -> bool:
    """Open and close one TCP connection; True when the connect succeeded."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def probe_http(address: str, port: int, requests: int, path: str, header: str, timeout: float,
               send: Callable[[str, int, str, str, float], tuple[int | None, str | None]] = http_request,
               ) -> dict[str, Any]:
    """Send ``requests`` sequential requests to one HTTP service and count the outcomes."""
    traffic = empty_traffic("http", requests)
    for _ in range(requests):
        status, served_by = send(address, port, path, header, timeout)
        record(traffic, status, served_by)
    return traffic


def probe_route(service: Mapping[str, Any], address: str, requests: int, header: str, timeout: float,
                send: Callable[..., dict[str, Any]] = exchange) -> dict[str, Any]:
    """Send ``requests`` requests of a pool's route (its Host, path, TLS) and count the outcomes.

    Besides a service's counters: ``pools``, answers per value of POOL_HEADER (the
    pool that answered, "" when absent), and ``certificates``, TLS handshakes per
    certificate fingerprint presented.
    """
    traffic = {**empty_traffic("http", requests), "pools": {}, "certificates": {}}
    for _ in range(requests):
        answer = send(address, service["listen"], service["path"], timeout, service["host"], service["tls"],
                      (header, POOL_HEADER))
        record(traffic, answer["status"], answer["headers"].get(header))
        if answer["status"] is not None:
            pool = answer["headers"].get(POOL_HEADER, "")
            traffic["pools"][pool] = traffic["pools"].get(pool, 0) + 1
        if answer["certificate"]:
            traffic["certificates"][answer["certificate"]] = traffic["certificates"].get(answer["certificate"], 0) + 1
    return traffic


def check_routes(frontends: Iterable[Any], default_address: str, requests: int, timeout: float,
                 send: Callable[..., dict[str, Any]] = exchange) -> dict[str, list[dict[str, Any]]]:
    """Every route of every http frontend, and its default: ``requests`` requests each, what answered.

    Per frontend, one item per route in order and a last one for the default pool:
    ``{"route", "pool", "host", "path", "pools", "certificates", "errors"}``, where
    ``pool`` is the pool the model expects, ``pools`` counts the answers per
    POOL_HEADER value and ``certificates`` the handshakes per fingerprint.
    """
    results: dict[str, list[dict[str, Any]]] = {}
    for frontend in frontends:
        if not isinstance(frontend, Mapping) or frontend.get("mode", "http") != "http" or not frontend.get("binds"):
            continue
        bind = next((b for b in frontend["binds"] if b.get("tls")), frontend["binds"][0])
        checks = [(f"routes[{i}]", route.get("pool"), route.get("probe") or {})
                  for i, route in enumerate(frontend.get("routes") or [])]
        checks.append(("default", frontend.get("default_pool"), frontend.get("default_probe") or {}))
        items = []
        for label, pool, probe in checks:
            item = {"route": label, "pool": pool, "host": probe.get("host", ""), "path": probe.get("path", "/"),
                    "pools": {}, "certificates": {}, "errors": 0}
            for _ in range(requests):
                answer = send(bind.get("address") or default_address, int(bind["port"]), item["path"], timeout,
                              item["host"], bool(bind.get("tls")), (POOL_HEADER,))
                if answer["status"] is None or answer["status"] >= 500:
                    item["errors"] += 1
                else:
                    seen = answer["headers"].get(POOL_HEADER, "")
                    item["pools"][seen] = item["pools"].get(seen, 0) + 1
                if answer["certificate"]:
                    item["certificates"][answer["certificate"]] = item["certificates"].get(answer["certificate"], 0) + 1
            items.append(item)
        results[str(frontend.get("name"))] = items
    return results


def check_redirects(frontends: Iterable[Any], default_address: str, timeout: float,
                    send: Callable[..., dict[str, Any]] = exchange) -> dict[str, dict[str, Any]]:
    """One plain request per frontend with redirect_to_https: its status and Location, and the Location expected."""
    results: dict[str, dict[str, Any]] = {}
    for frontend in frontends:
        if not isinstance(frontend, Mapping) or not frontend.get("redirect_to_https"):
            continue
        plain = next((b for b in frontend.get("binds") or [] if not b.get("tls")), None)
        if plain is None:
            continue
        hosts = [h for route in frontend.get("routes") or [] for h in route.get("hosts") or [] if "*" not in h]
        host = hosts[0] if hosts else REDIRECT_CHECK_HOST
        port = int(frontend.get("https_port") or 443)
        answer = send(plain.get("address") or default_address, int(plain["port"]), REDIRECT_CHECK_PATH, timeout,
                      host, False, ("Location",))
        results[str(frontend.get("name"))] = {
            "status": answer["status"],
            "location": answer["headers"].get("Location"),
            "expected": f"https://{host}{'' if port == 443 else f':{port}'}{REDIRECT_CHECK_PATH}",
        }
    return results


def probe_tcp(address: str, port: int, requests: int, timeout: float,
              connect: Callable[[str, int, float], bool] = tcp_connect) -> dict[str, Any]:
    """Open ``requests`` TCP connections to one service and count the failures."""
    traffic = empty_traffic("tcp", requests)
    for _ in range(requests):
        if not connect(address, port, timeout):
            traffic["connection_errors"] += 1
    return traffic
