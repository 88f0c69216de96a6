"""Unit tests of plugins/modules/lbguard_probe.py: pure functions, and real loopback traffic."""

from __future__ import annotations

import collections
import hashlib
import http.server
import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from ansible_collections.lbguard.core.plugins.module_utils import lbguard_haproxy_api as haproxy_api
from ansible_collections.lbguard.core.plugins.module_utils._probe import counters as probe_counters
from ansible_collections.lbguard.core.plugins.module_utils._probe import run as probe_run
from ansible_collections.lbguard.core.plugins.module_utils._probe import settle as probe_settle
from ansible_collections.lbguard.core.plugins.module_utils._probe import split_log as probe_split_log
from ansible_collections.lbguard.core.plugins.module_utils._probe import traffic as probe_traffic
from ansible_collections.lbguard.core.plugins.modules import lbguard_probe as probe
from lbguard_test_tools import module_env, serve_unix

DIGEST = "0f" * 32

# Header of HAProxy 2.6 `show stat` (as printed, with the trailing comma).
SHOW_STAT_HEADER = (
    "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,"
    "weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,"
    "rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,"
    "hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,"
    "lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,"
    "agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,"
    "conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,"
    "srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,"
    "need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,"
)
COLUMNS = SHOW_STAT_HEADER.lstrip("# ").rstrip(",").split(",")


def stat_row(**values: Any) -> str:
    """One `show stat` CSV row with the given columns set (others empty), trailing comma included."""
    unknown = set(values) - set(COLUMNS)
    assert not unknown, unknown
    return ",".join(str(values.get(column, "")) for column in COLUMNS) + ","


def show_stat_output() -> str:
    """A real-looking answer of `show stat` for a stats frontend and the shop service."""
    rows = [
        SHOW_STAT_HEADER,
        stat_row(pxname="prometheus", svname="FRONTEND", scur=0, smax=1, slim=2000, stot=4, status="OPEN",
                 pid=1, iid=2, sid=0, type=0, mode="http"),
        stat_row(pxname="shop", svname="FRONTEND", scur=0, smax=3, slim=2000, stot=120, status="OPEN",
                 pid=1, iid=3, sid=0, type=0, mode="http"),
        stat_row(pxname="shop", svname="web1", scur=2, stot=40, status="UP", weight=1, act=1, bck=0, chkfail=0,
                 lastchg=812, downtime=0, pid=1, iid=4, sid=1, lbtot=40, type=2, check_status="L7OK",
                 check_code=200, check_duration=1, last_chk="OK", check_desc="Layer7 check passed",
                 check_rise=1, check_fall=2, check_health=2, addr="10.0.0.11:80", mode="http", uweight=1),
        stat_row(pxname="shop", svname="web2", stot=40, status="UP 1/2", weight=2, act=1, bck=0, lastchg=3,
                 pid=1, iid=4, sid=2, type=2, check_status="L7STS", check_code=503, last_chk='"Service, Unavailable"',
                 check_desc="Layer7 wrong status", addr="10.0.0.12:80", mode="http", uweight=2),
        stat_row(pxname="shop", svname="web3", stot=40, status="DOWN", weight=1, act=1, bck=0, chkfail=3,
                 chkdown=1, lastchg=65, downtime=65, pid=1, iid=4, sid=3, type=2, check_status="L4CON",
                 last_chk="Connection refused", check_desc="Layer4 connection problem", addr="10.0.0.13:80",
                 mode="http", uweight=1),
        stat_row(pxname="shop", svname="web4", status="MAINT", weight=1, act=1, bck=0, pid=1, iid=4, sid=4,
                 type=2, addr="10.0.0.14:80", mode="http", uweight=1),
        stat_row(pxname="shop", svname="spare", status="no check", weight=1, act=0, bck=1, pid=1, iid=4, sid=5,
                 type=2, addr="10.0.0.15:80", mode="http", uweight=1),
        stat_row(pxname="shop", svname="BACKEND", scur=0, stot=120, status="UP", weight=3, act=2, bck=1,
                 pid=1, iid=4, sid=0, lbtot=120, type=1, mode="http", algo="roundrobin"),
        stat_row(pxname="db", svname="db1", status="DRAIN", weight=0, act=1, bck=0, pid=1, iid=5, sid=1, type=2,
                 mode="tcp", uweight=1),
        "",
        "",
    ]
    return "\n".join(rows)


# ----------------------------------------------------------------- show stat


def test_parse_show_stat_real_looking_output() -> None:
    assert haproxy_api.parse_show_stat(show_stat_output()) == {
        "shop": {
            "web1": {"status": "UP", "weight": 1, "sessions": 2},
            "web2": {"status": "UP 1/2", "weight": 2, "sessions": None},
            "web3": {"status": "DOWN", "weight": 1, "sessions": None},
            "web4": {"status": "MAINT", "weight": 1, "sessions": None},
            "spare": {"status": "no check", "weight": 1, "sessions": None},
        },
        "db": {"db1": {"status": "DRAIN", "weight": 0, "sessions": None}},
    }


def test_parse_show_stat_uses_the_header_not_positions() -> None:
    text = "# svname,pxname,weight,status\nweb1,shop,5,UP\nBACKEND,shop,5,UP\n"
    assert haproxy_api.parse_show_stat(text) == {"shop": {"web1": {"status": "UP", "weight": 5, "sessions": None}}}


@pytest.mark.parametrize("text", ["", "Unknown command\n", "# pxname,svname,weight\nshop,web1,1\n"])
def test_parse_show_stat_rejects_other_answers(text: str) -> None:
    with pytest.raises(ValueError):
        haproxy_api.parse_show_stat(text)


# ---------------------------------------------------------------- counting


@pytest.mark.parametrize(("status", "served_by", "kind"), [
    (200, "web1", "ok"), (204, "web1", "ok"), (302, "web2", "ok"), (200, None, "missing_header"),
    (200, "", "missing_header"), (500, "web1", "status_5xx"), (503, None, "status_5xx"),
    (404, "web1", "other_errors"), (101, None, "other_errors"), (None, None, "connection_errors"),
])
def test_classify(status: int | None, served_by: str | None, kind: str) -> None:
    assert probe_traffic.classify(status, served_by) == kind


def test_probe_http_counts_with_a_fake_sender() -> None:
    answers = itertools.cycle([(200, "web1"), (200, "web2"), (503, "web3"), (None, None), (200, None),
                               (404, "web1")])

    def send(address: str, port: int, path: str, header: str, timeout: float) -> tuple[int | None, str | None]:
        """Fake sender: checks the target, returns the next canned answer."""
        assert (address, port, path, header) == ("127.0.0.1", 8080, "/", "X-Served-By")
        return next(answers)

    result = probe_traffic.probe_http("127.0.0.1", 8080, 12, "/", "X-Served-By", 1.0, send=send)
    assert result == {"mode": "http", "requests": 12, "counts": {"web1": 2, "web2": 2}, "status_5xx": 2,
                      "other_errors": 2, "connection_errors": 2, "missing_header": 2}


def test_probe_tcp_counts_failed_connects() -> None:
    outcomes = iter([True, False, True, False, False])
    result = probe_traffic.probe_tcp("127.0.0.1", 5432, 5, 1.0, connect=lambda a, p, t: next(outcomes))
    assert result["connection_errors"] == 3 and result["counts"] == {} and result["requests"] == 5


def test_normalise_services_ignores_model_extras_and_reports_bad_items() -> None:
    services, problems = probe_run.normalise_services([
        {"name": "shop", "listen": 8080, "mode": "http", "servers": [], "balance": "roundrobin"},
        {"name": "db", "listen": "5432", "mode": "tcp"},
        {"name": "api", "listen": 9000},
        {"name": "bad", "listen": 70000, "mode": "http"},
        {"listen": 80},
        "shop",
        {"name": "udp", "listen": 53, "mode": "udp"},
    ])
    plain = {"routed": False, "address": "", "host": "", "path": "/", "tls": False}
    assert services == [{"name": "shop", "listen": 8080, "mode": "http", "servers": [], **plain},
                        {"name": "db", "listen": 5432, "mode": "tcp", "servers": [], **plain},
                        {"name": "api", "listen": 9000, "mode": "http", "servers": [], **plain}]
    assert len(problems) == 4


# ------------------------------------------------------- real loopback servers


# The stand-in's servers as nginx's $upstream_addr names them, and as the model has them.
UPSTREAMS = {"web1": "127.0.0.1:8001", "web2": "127.0.0.1:8002", "web3": "127.0.0.1:8003"}
MODEL_SERVERS = [{"name": name, "address": "127.0.0.1", "port": int(upstream.rsplit(":", 1)[1])}
                 for name, upstream in UPSTREAMS.items()]


class _Handler(http.server.BaseHTTPRequestHandler):
    """Load balancer stand-in: rotates X-Served-By over web1..web3, serves the model digest."""

    protocol_version = "HTTP/1.1"
    rotation = itertools.cycle(["web1", "web2", "web3"])
    # Answers per server, as HAProxy's lbtot would count them.
    served: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()
    peers: list[tuple[str, int]] = []
    connection_headers: list[str] = []
    # The digest /lbguard/model reports; a test changes it to play a reload.
    model_digest = DIGEST
    # nginx's split log: when set, each answer appends its upstream's line,
    # plus log_background lines of other clients' requests.
    split_log: Path | None = None
    log_background = 0

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        """Answer by path."""
        with self.lock:
            self.peers.append(self.client_address)
            self.connection_headers.append(self.headers.get("Connection", ""))
        if self.path == "/lbguard/model":
            self._send(200, self.model_digest + "\n")
        elif self.path == "/missing":
            self._send(404, "no such page\n")
        elif self.path == "/boom":
            self._send(503, "down\n", served_by="web1")
        elif self.path == "/plain":
            self._send(200, "ok\n")
        else:
            with self.lock:
                name = next(self.rotation)
                self.served[name] += 1
                if self.split_log is not None:
                    with self.split_log.open("a", encoding="utf-8") as log:
                        log.write(f"{UPSTREAMS[name]}\n" * (1 + self.log_background))
            self._send(200, "hello from " + name + "\n" + "x" * 5000, served_by=name)

    def _send(self, status: int, body: str, served_by: str | None = None) -> None:
        """Write one complete response."""
        data = body.encode()
        self.send_response(status)
        if served_by:
            self.send_header("X-Served-By", served_by)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        """Keep test output quiet."""


@pytest.fixture()
def lb_server() -> Iterator[int]:
    """A local HTTP server on 127.0.0.1 (random free port); yields its port."""
    _Handler.rotation = itertools.cycle(["web1", "web2", "web3"])
    _Handler.served = collections.Counter()
    _Handler.peers = []
    _Handler.connection_headers = []
    _Handler.model_digest = DIGEST
    _Handler.split_log = None
    _Handler.log_background = 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def free_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_real_traffic_is_counted_per_server(lb_server: int) -> None:
    result = probe_traffic.probe_http("127.0.0.1", lb_server, 30, "/", "X-Served-By", 2.0)
    assert result == {"mode": "http", "requests": 30, "counts": {"web1": 10, "web2": 10, "web3": 10},
                      "status_5xx": 0, "other_errors": 0, "connection_errors": 0, "missing_header": 0}
    # Every request came on its own connection and asked to close it.
    assert len(set(_Handler.peers)) == 30
    assert set(_Handler.connection_headers) == {"close"}


def test_header_name_is_case_insensitive(lb_server: int) -> None:
    result = probe_traffic.probe_http("127.0.0.1", lb_server, 3, "/", "x-served-by", 2.0)
    assert result["counts"] == {"web1": 1, "web2": 1, "web3": 1}


def test_real_error_answers_are_classified(lb_server: int) -> None:
    assert probe_traffic.probe_http("127.0.0.1", lb_server, 2, "/boom", "X-Served-By", 2.0)["status_5xx"] == 2
    assert probe_traffic.probe_http("127.0.0.1", lb_server, 2, "/missing", "X-Served-By", 2.0)["other_errors"] == 2
    assert probe_traffic.probe_http("127.0.0.1", lb_server, 2, "/plain", "X-Served-By", 2.0)["missing_header"] == 2


def test_refused_connections_are_counted() -> None:
    port = free_port()
    assert probe_traffic.probe_http("127.0.0.1", port, 3, "/", "X-Served-By", 1.0)["connection_errors"] == 3
    assert probe_traffic.probe_tcp("127.0.0.1", port, 3, 1.0)["connection_errors"] == 3


def test_tcp_connects_to_a_listening_port(lb_server: int) -> None:
    result = probe_traffic.probe_tcp("127.0.0.1", lb_server, 4, 1.0)
    assert result == {"mode": "tcp", "requests": 4, "counts": {}, "status_5xx": 0, "other_errors": 0,
                      "connection_errors": 0, "missing_header": 0}


def test_a_silent_server_cannot_hang_the_probe() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # accepts connections (backlog) but never answers
        port = listener.getsockname()[1]
        start = time.monotonic()
        result = probe_traffic.probe_http("127.0.0.1", port, 2, "/", "X-Served-By", 0.3)
        elapsed = time.monotonic() - start
    assert result["connection_errors"] == 2
    assert elapsed < 3.0


def test_running_model_is_read(lb_server: int) -> None:
    url = f"http://127.0.0.1:{lb_server}/lbguard/model"
    assert probe_traffic.read_running_model(url, 2.0) == (DIGEST, None)


def test_running_model_errors(lb_server: int) -> None:
    body, error = probe_traffic.read_running_model(f"http://127.0.0.1:{lb_server}/missing", 2.0)
    assert body is None and "HTTP 404" in error
    body, error = probe_traffic.read_running_model(f"http://127.0.0.1:{free_port()}/lbguard/model", 1.0)
    assert body is None and error.startswith("cannot read ")
    body, error = probe_traffic.read_running_model("ftp://127.0.0.1/lbguard/model", 1.0)
    assert body is None and "not an http(s) URL" in error


# ------------------------------------------------------ fake runtime API socket


@contextmanager
def serve_stats(answer: Callable[[], str]) -> Iterator[tuple[str, list[str]]]:
    """A unix socket answering `show stat` like HAProxy's runtime API with ``answer()``; yields (path, commands)."""
    with serve_unix(lambda command: answer() if command == "show stat" else "Unknown command.\n\n") as served:
        yield served


@pytest.fixture()
def stats_socket() -> Iterator[tuple[str, list[str]]]:
    """The runtime API of show_stat_output(); yields (path, commands seen)."""
    with serve_stats(show_stat_output) as served:
        yield served


def test_runtime_is_read_over_the_unix_socket(stats_socket: tuple[str, list[str]]) -> None:
    path, commands = stats_socket
    runtime, error = probe_counters.read_runtime(path, 2.0)
    assert error is None
    assert commands == ["show stat"]
    assert runtime["shop"]["web3"] == {"status": "DOWN", "weight": 1, "sessions": None}
    assert set(runtime) == {"shop", "db"}


def test_runtime_socket_errors_are_reported_not_raised() -> None:
    with tempfile.TemporaryDirectory(prefix="lbg") as folder:
        path = os.path.join(folder, "absent.sock")
        runtime, error = probe_counters.read_runtime(path, 1.0)
    assert runtime == {} and error.startswith("cannot read 'show stat' from ") and "absent.sock" in error


def test_silent_runtime_socket_times_out() -> None:
    with tempfile.TemporaryDirectory(prefix="lbg") as folder:
        path = os.path.join(folder, "silent.sock")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
            listener.bind(path)
            listener.listen(1)
            start = time.monotonic()
            runtime, error = probe_counters.read_runtime(path, 0.3)
            assert time.monotonic() - start < 3.0
    assert runtime == {} and error is not None


# ------------------------------------------------------------- whole probe


def _params(**overrides: Any) -> dict[str, Any]:
    """Module parameters with defaults, the runtime socket and status URL unreachable."""
    params = {"engine": "haproxy", "services": [], "requests": 60, "address": "127.0.0.1", "path": "/",
              "served_by_header": "X-Served-By", "timeout": 2.0, "stats_socket": "absent/admin.sock",
              "status_url": "http://127.0.0.1:1/lbguard/model"}
    params.update(overrides)
    return params


def test_run_probe_end_to_end(lb_server: int, stats_socket: tuple[str, list[str]]) -> None:
    path, _ = stats_socket
    closed = free_port()
    result = probe_run.run_probe(_params(
        services=[{"name": "shop", "listen": lb_server, "mode": "http", "servers": []},
                  {"name": "db", "listen": closed, "mode": "tcp"}],
        requests=9, stats_socket=path, status_url=f"http://127.0.0.1:{lb_server}/lbguard/model"))
    assert result["running_model"] == DIGEST and result["running_model_error"] is None
    assert result["runtime_error"] is None and result["runtime"]["shop"]["web1"]["status"] == "UP"
    assert result["traffic"]["shop"]["counts"] == {"web1": 3, "web2": 3, "web3": 3}
    assert result["traffic"]["db"] == {"mode": "tcp", "requests": 9, "counts": {}, "status_5xx": 0,
                                       "other_errors": 0, "connection_errors": 9, "missing_header": 0}


def test_run_probe_nginx_has_no_runtime(lb_server: int) -> None:
    result = probe_run.run_probe(_params(engine="nginx", requests=3,
                                     services=[{"name": "shop", "listen": lb_server, "mode": "http"}]))
    assert result["runtime"] == {} and result["runtime_error"] is None
    assert result["running_model"] is None and result["running_model_error"]


def test_module_runs_as_ansible_would(lb_server: int, tmp_path: Path) -> None:
    """The module file runs standalone with an args file, returns JSON and changed false."""
    args = {"ANSIBLE_MODULE_ARGS": {
        "engine": "nginx", "requests": 6, "services": [{"name": "shop", "listen": lb_server, "mode": "http",
                                                        "balance": "roundrobin", "servers": []}],
        "status_url": f"http://127.0.0.1:{lb_server}/lbguard/model", "_ansible_check_mode": True}}
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps(args))
    completed = subprocess.run([sys.executable, probe.__file__, str(args_file)], env=module_env(), capture_output=True, text=True,
                               timeout=60, check=False)
    result = json.loads(completed.stdout)
    assert result["changed"] is False, result
    assert result["running_model"] == DIGEST
    assert result["traffic"]["shop"]["counts"] == {"web1": 2, "web2": 2, "web3": 2}


def test_module_rejects_bad_parameters(tmp_path: Path) -> None:
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {
        "engine": "haproxy", "requests": -1, "services": []}}))
    completed = subprocess.run([sys.executable, probe.__file__, str(args_file)], env=module_env(), capture_output=True, text=True,
                               timeout=60, check=False)
    result = json.loads(completed.stdout)
    assert result["failed"] is True and "requests must be" in result["msg"]


def test_nginx_upstream_addresses_are_named_after_the_answering_server():
    """nginx reports ip:port; the last attempt of a retried request answered."""
    names = probe_split_log.addresses_to_names([
        {"name": "web1", "address": "127.0.0.1", "port": 80},
        {"name": "web2", "address": "::1", "port": 80},
        {"name": "ghost", "address": "ghost.invalid", "port": 80},
    ])
    assert names == {"127.0.0.1:80": "web1", "[::1]:80": "web2"}
    traffic = {"counts": {"127.0.0.1:80": 3, "[::1]:80": 2, "[::1]:80, 127.0.0.1:80": 1, "10.9.9.9:80": 1}}
    probe_split_log.name_upstream_counts(traffic, names)
    assert traffic["counts"] == {"web1": 4, "web2": 2, "10.9.9.9:80": 1}


# ------------------------------------------------------- settling after a reload

NEW_DIGEST = "1a" * 32


def shop_stat(web3_status: str) -> str:
    """`show stat` of the shop backend with web1 and web2 UP, web3 as given, a backup without checks."""
    return "\n".join([
        SHOW_STAT_HEADER,
        stat_row(pxname="shop", svname="web1", status="UP", weight=1, act=1, bck=0, type=2),
        stat_row(pxname="shop", svname="web2", status="UP 1/2", weight=1, act=1, bck=0, type=2),
        stat_row(pxname="shop", svname="web3", status=web3_status, weight=1, act=1, bck=0, type=2),
        stat_row(pxname="shop", svname="spare", status="no check", weight=1, act=0, bck=1, type=2),
        stat_row(pxname="shop", svname="BACKEND", status="UP", weight=3, type=1),
        "",
    ])


class FakeClock:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        """Current fake time."""
        return self.now

    def sleep(self, seconds: float) -> None:
        """Advance the fake time."""
        self.sleeps.append(seconds)
        self.now += seconds


def test_wait_stops_at_the_first_look_that_misses_nothing() -> None:
    clock = FakeClock()
    looks = iter([["web3 UP in shop (DOWN)"], ["web3 UP in shop (DOWN)"], []])
    settled, waited, missing = probe_settle.wait_until_settled(lambda: next(looks), 10, 0.5, clock.time, clock.sleep)
    assert (settled, waited, missing) == (True, 1.0, [])
    assert clock.sleeps == [0.5, 0.5]


def test_wait_is_bounded_and_never_sleeps_past_the_deadline() -> None:
    clock = FakeClock()
    calls = []

    def look() -> list[str]:
        calls.append(clock.now)
        return ["the running model 1a1a1a1a1a1a (it reports 0f0f0f0f0f0f)"]

    settled, waited, missing = probe_settle.wait_until_settled(look, 2.2, 1.0, clock.time, clock.sleep)
    assert settled is False and waited == 2.2
    assert missing == ["the running model 1a1a1a1a1a1a (it reports 0f0f0f0f0f0f)"]
    assert [round(s, 6) for s in clock.sleeps] == [1.0, 1.0, 0.2]
    assert len(calls) == 4


def test_no_wait_looks_once() -> None:
    clock = FakeClock()
    settled, waited, missing = probe_settle.wait_until_settled(lambda: ["web3 UP in shop (DOWN)"], 0, 1.0,
                                                        clock.time, clock.sleep)
    assert (settled, waited, missing, clock.sleeps) == (False, 0.0, ["web3 UP in shop (DOWN)"], [])


def test_missing_names_the_model_and_every_server_not_up() -> None:
    runtime = haproxy_api.parse_show_stat(shop_stat("DOWN"))
    missing = probe_settle.missing_for_settle(NEW_DIGEST, DIGEST, None, {"shop": ["web1", "web2", "web3", "spare", "gone"]},
                                       runtime, None)
    assert missing == ["the running model 1a1a1a1a1a1a (it reports 0f0f0f0f0f0f)", "web3 UP in shop (DOWN)",
                       "gone UP in shop (not in the runtime state)"]


def test_missing_reports_unreadable_sources_and_nothing_when_settled() -> None:
    assert probe_settle.missing_for_settle(NEW_DIGEST, None, "cannot read URL: refused", {"shop": ["web1"]}, {},
                                    "cannot read 'show stat' from S: refused") == [
        "the running model 1a1a1a1a1a1a (cannot read URL: refused)",
        "web1 UP in shop (cannot read 'show stat' from S: refused)"]
    runtime = haproxy_api.parse_show_stat(shop_stat("UP"))
    assert probe_settle.missing_for_settle(NEW_DIGEST, NEW_DIGEST, None, {"shop": ["web1", "web2", "web3"]}, runtime,
                                    None) == []
    # nginx: no runtime view is awaited at all.
    assert probe_settle.missing_for_settle(None, None, None, {"shop": ["web1"]}, None, None) == []


def test_probe_waits_for_the_reload_and_the_health_checks_then_measures(lb_server: int) -> None:
    """A real status listener switches to the new digest and a real socket reports web3 UP later on."""
    _Handler.model_digest = DIGEST
    ready_at = time.monotonic() + 1.2
    threading.Timer(0.6, lambda: setattr(_Handler, "model_digest", NEW_DIGEST)).start()
    with serve_stats(lambda: shop_stat("UP" if time.monotonic() >= ready_at else "DOWN")) as (path, commands):
        result = probe_run.run_probe(_params(
            services=[{"name": "shop", "listen": lb_server, "mode": "http"}], requests=6, stats_socket=path,
            status_url=f"http://127.0.0.1:{lb_server}/lbguard/model", settle_seconds=10, settle_interval=0.2,
            expected_running_model=NEW_DIGEST, expected_up={"shop": ["web1", "web2", "web3", "spare"]}))
    assert result["settled"] is True and result["settle_missing"] == []
    assert 1.0 <= result["settle_waited"] < 5.0
    assert len(commands) >= 3  # looked several times, then once more for the measurement
    assert result["running_model"] == NEW_DIGEST
    assert result["runtime"]["shop"]["web3"]["status"] == "UP"
    assert sum(result["traffic"]["shop"]["counts"].values()) == 6


def test_probe_gives_up_in_time_says_what_is_missing_and_still_measures(lb_server: int) -> None:
    with serve_stats(lambda: shop_stat("DOWN")) as (path, _):
        start = time.monotonic()
        result = probe_run.run_probe(_params(
            services=[{"name": "shop", "listen": lb_server, "mode": "http"}], requests=3, stats_socket=path,
            status_url=f"http://127.0.0.1:{lb_server}/lbguard/model", settle_seconds=1.0, settle_interval=0.3,
            expected_running_model=NEW_DIGEST, expected_up={"shop": ["web1", "web3"]}))
        elapsed = time.monotonic() - start
    assert result["settled"] is False
    assert 1.0 <= result["settle_waited"] < 2.0 and elapsed < 4.0
    assert result["settle_missing"] == ["the running model 1a1a1a1a1a1a (it reports 0f0f0f0f0f0f)",
                                        "web3 UP in shop (DOWN)"]
    assert result["running_model"] == DIGEST and result["traffic"]["shop"]["counts"] == {
        "web1": 1, "web2": 1, "web3": 1}


def test_nginx_waits_only_for_the_running_model(lb_server: int) -> None:
    result = probe_run.run_probe(_params(
        engine="nginx", services=[{"name": "shop", "listen": lb_server, "mode": "http"}], requests=0,
        status_url=f"http://127.0.0.1:{lb_server}/lbguard/model", settle_seconds=5, settle_interval=0.2,
        expected_running_model=DIGEST, expected_up={"shop": ["web1"]}))
    assert (result["settled"], result["settle_waited"], result["settle_missing"]) == (True, 0.0, [])
    assert result["runtime"] == {}


def test_without_anything_awaited_the_probe_is_settled_at_once(lb_server: int) -> None:
    result = probe_run.run_probe(_params(services=[], requests=0, settle_seconds=30))
    assert (result["settled"], result["settle_waited"], result["settle_missing"]) == (True, 0.0, [])


@pytest.mark.parametrize(("args", "message"), [
    ({"settle_seconds": 601}, "settle_seconds must be 0..600"),
    ({"settle_seconds": -1}, "settle_seconds must be 0..600"),
    ({"settle_interval": 0}, "settle_interval must be 0.1..10"),
    ({"expected_up": {"shop": "web1"}}, "expected_up must map each service to a list of server names; not: shop"),
])
def test_module_rejects_bad_settle_parameters(tmp_path: Path, args: dict[str, Any], message: str) -> None:
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"engine": "haproxy", "services": [], **args}}))
    completed = subprocess.run([sys.executable, probe.__file__, str(args_file)], env=module_env(), capture_output=True, text=True,
                               timeout=60, check=False)
    result = json.loads(completed.stdout)
    assert result["failed"] is True and message in result["msg"], result


# ------------------------------------------------------ counters around the window


def counter_stat(lbtot: dict[str, int], stot: dict[str, int] | None = None) -> str:
    """`show stat` of the shop backend, every server UP, with the given cumulative counters."""
    stot = stot if stot is not None else lbtot
    rows = [SHOW_STAT_HEADER]
    rows += [stat_row(pxname="shop", svname=name, status="UP", weight=1, act=1, bck=0, type=2, lbtot=count,
                      stot=stot[name]) for name, count in lbtot.items()]
    rows += [stat_row(pxname="shop", svname="BACKEND", status="UP", weight=len(lbtot), type=1,
                      lbtot=sum(lbtot.values()), stot=sum(stot.values())), ""]
    return "\n".join(rows)


def reading(lbtot: dict[str, int], at: float, stot: dict[str, int] | None = None) -> dict[str, Any]:
    """A `show stat` reading as read_stat_snapshot returns it."""
    text = counter_stat(lbtot, stot)
    return {"runtime": haproxy_api.parse_show_stat(text), "counters": haproxy_api.parse_show_stat(text, counters=probe_counters.COUNTERS), "at": at,
            "error": None, "counters_error": None}


def test_parse_counters_reads_lbtot_and_stot_by_header() -> None:
    assert haproxy_api.parse_show_stat(show_stat_output(), counters=probe_counters.COUNTERS) == {
        "shop": {"web1": {"lbtot": 40, "stot": 40}, "web2": {"lbtot": None, "stot": 40},
                 "web3": {"lbtot": None, "stot": 40}, "web4": {"lbtot": None, "stot": None},
                 "spare": {"lbtot": None, "stot": None}},
        "db": {"db1": {"lbtot": None, "stot": None}},
    }


def test_parse_counters_needs_the_counter_columns() -> None:
    with pytest.raises(ValueError, match="no 'lbtot' column"):
        haproxy_api.parse_show_stat("# pxname,svname,status,weight,stot\nshop,web1,UP,1,5\n", counters=probe_counters.COUNTERS)


def test_counter_window_is_the_difference_of_two_readings() -> None:
    before = reading({"web1": 1000, "web2": 990, "web3": 1005}, at=10.0)
    after = reading({"web1": 1812, "web2": 1800, "web3": 1814}, at=11.25,
                    stot={"web1": 1813, "web2": 1800, "web3": 1814})
    assert probe_counters.counter_window("shop", before, after, probe_answers=60) == {
        "window_seconds": 1.25, "lbtot": {"web1": 812, "web2": 810, "web3": 809},
        "stot": {"web1": 813, "web2": 810, "web3": 809}, "usable": True, "unusable_reason": None,
        "origin": "HAProxy counters"}


def test_a_server_added_during_the_window_counts_from_zero() -> None:
    window = probe_counters.counter_window("shop", reading({"web1": 5}, at=0.0), reading({"web1": 9, "web2": 3}, at=1.0))
    assert window["lbtot"] == {"web1": 4, "web2": 3} and window["usable"] is True


def test_counters_that_went_back_make_the_window_unusable() -> None:
    """A reload during the window starts new counters at 0: the differences are negative."""
    before = reading({"web1": 812, "web2": 810, "web3": 809}, at=0.0)
    after = reading({"web1": 3, "web2": 900, "web3": 2}, at=1.0)
    window = probe_counters.counter_window("shop", before, after, probe_answers=60)
    assert window["usable"] is False
    assert window["lbtot"] == {"web1": -809, "web2": 90, "web3": -807}
    assert window["unusable_reason"] == ("counters went back (web1 lbtot 812 -> 3, web1 stot 812 -> 3, "
                                         "web3 lbtot 809 -> 2, web3 stot 809 -> 2): HAProxy reloaded or restarted")


def test_fewer_picks_than_the_probe_answers_make_the_window_unusable() -> None:
    window = probe_counters.counter_window("shop", reading({"web1": 0, "web2": 0}, at=0.0),
                                  reading({"web1": 20, "web2": 20}, at=1.0), probe_answers=60)
    assert window["usable"] is False
    assert window["unusable_reason"] == "the counters saw 40 picks, fewer than the probe's own 60 answers"


@pytest.mark.parametrize(("before", "after", "reason"), [
    ({"web1": 1, "web2": 1}, {"web1": 2}, "web2 left the backend"),
    ({"web1": 1}, {}, "backend shop is not in 'show stat' (after the window)"),
    ({}, {"web1": 1}, "backend shop is not in 'show stat' (before the window)"),
])
def test_missing_servers_or_backends_make_the_window_unusable(before: dict[str, int], after: dict[str, int],
                                                              reason: str) -> None:
    first = reading(before, at=0.0) if before else dict(reading({"web1": 0}, at=0.0), counters={})
    second = reading(after, at=1.0) if after else dict(reading({"web1": 0}, at=1.0), counters={})
    window = probe_counters.counter_window("shop", first, second)
    assert window["usable"] is False and window["unusable_reason"] == reason


def test_unreadable_counters_make_the_window_unusable_and_keep_the_runtime() -> None:
    text = "# pxname,svname,status,weight\nshop,web1,UP,1\n"
    with serve_stats(lambda: text) as (path, _):
        snapshot = probe_counters.read_stat_snapshot(path, 2.0)
    assert snapshot["error"] is None and snapshot["runtime"] == {"shop": {"web1": {"status": "UP", "weight": 1, "sessions": None}}}
    assert snapshot["counters_error"].startswith("no counters in 'show stat' from ")
    window = probe_counters.counter_window("shop", snapshot, snapshot)
    assert window["usable"] is False and window["unusable_reason"].endswith("(before the window)")


def counting_stats(background: int) -> Callable[[], str]:
    """`show stat` whose counters hold every answer of the loopback LB plus ``background``
    requests per server and reading, as if real clients sent traffic between two readings."""
    readings = itertools.count()

    def answer() -> str:
        """The counters at this reading."""
        extra = background * next(readings)
        with _Handler.lock:
            return counter_stat({name: 5000 + extra + _Handler.served[name] for name in ("web1", "web2", "web3")})

    return answer


def test_probe_returns_what_the_counters_counted_real_traffic_included(lb_server: int) -> None:
    with serve_stats(counting_stats(background=250)) as (path, commands):
        result = probe_run.run_probe(_params(services=[{"name": "shop", "listen": lb_server, "mode": "http"}],
                                         requests=9, stats_socket=path,
                                         status_url=f"http://127.0.0.1:{lb_server}/lbguard/model"))
    assert commands == ["show stat", "show stat"]
    assert result["traffic"]["shop"]["counts"] == {"web1": 3, "web2": 3, "web3": 3}
    window = result["counters"]["shop"]
    assert window["usable"] is True and window["unusable_reason"] is None
    assert window["lbtot"] == {"web1": 253, "web2": 253, "web3": 253} == window["stot"]
    assert window["window_seconds"] >= 0
    assert result["runtime"]["shop"]["web1"] == {"status": "UP", "weight": 1, "sessions": None}


def test_a_window_shared_with_real_traffic_is_stretched_to_its_shortest_length(lb_server: int) -> None:
    with serve_stats(counting_stats(background=250)) as (path, commands):
        result = probe_run.run_probe(_params(services=[{"name": "shop", "listen": lb_server, "mode": "http"}],
                                         requests=3, stats_socket=path, counter_window_seconds=0.5))
    # Read before, after the probe (too short, traffic besides the probe's), and once more at 0.5 s.
    assert commands == ["show stat"] * 3
    window = result["counters"]["shop"]
    assert window["usable"] is True and window["window_seconds"] >= 0.5
    assert window["lbtot"] == {"web1": 501, "web2": 501, "web3": 501}


def test_an_idle_window_closes_with_the_probe(lb_server: int) -> None:
    with serve_stats(counting_stats(background=0)) as (path, commands):
        result = probe_run.run_probe(_params(services=[{"name": "shop", "listen": lb_server, "mode": "http"}],
                                         requests=3, stats_socket=path, counter_window_seconds=5))
    assert commands == ["show stat"] * 2
    assert result["counters"]["shop"]["window_seconds"] < 5
    assert result["counters"]["shop"]["lbtot"] == {"web1": 1, "web2": 1, "web3": 1}


def test_each_service_gets_its_own_window(lb_server: int) -> None:
    with serve_stats(counting_stats(background=10)) as (path, commands):
        result = probe_run.run_probe(_params(services=[{"name": "shop", "listen": lb_server, "mode": "http"},
                                                   {"name": "db", "listen": free_port(), "mode": "tcp"}],
                                         requests=3, stats_socket=path))
    assert len(commands) == 3  # before shop, after shop (= before db), after db
    assert result["counters"]["shop"]["lbtot"] == {"web1": 11, "web2": 11, "web3": 11}
    assert result["counters"]["db"] == {"window_seconds": result["counters"]["db"]["window_seconds"],
                                        "lbtot": {}, "stot": {}, "usable": False, "origin": "HAProxy counters",
                                        "unusable_reason": "backend db is not in 'show stat' (before the window)"}


def test_a_reload_during_the_window_is_reported_as_unusable(lb_server: int) -> None:
    answers = iter([counter_stat({"web1": 900, "web2": 900, "web3": 900}),
                    counter_stat({"web1": 4, "web2": 3, "web3": 3})])
    with serve_stats(lambda: next(answers)) as (path, _):
        result = probe_run.run_probe(_params(services=[{"name": "shop", "listen": lb_server, "mode": "http"}],
                                         requests=9, stats_socket=path))
    window = result["counters"]["shop"]
    assert window["usable"] is False and "HAProxy reloaded or restarted" in window["unusable_reason"]
    assert result["traffic"]["shop"]["counts"] == {"web1": 3, "web2": 3, "web3": 3}


def test_unreadable_socket_leaves_every_window_unusable(lb_server: int) -> None:
    result = probe_run.run_probe(_params(services=[{"name": "shop", "listen": lb_server, "mode": "http"}], requests=3))
    assert result["runtime_error"].startswith("cannot read 'show stat' from absent/admin.sock")
    window = result["counters"]["shop"]
    assert window["usable"] is False
    assert window["unusable_reason"].startswith("cannot read 'show stat' from absent/admin.sock")
    assert window["unusable_reason"].endswith("(before the window)")


def test_nginx_has_no_counters(lb_server: int) -> None:
    result = probe_run.run_probe(_params(engine="nginx", requests=3,
                                     services=[{"name": "shop", "listen": lb_server, "mode": "http"}]))
    assert result["counters"] == {}


# ---------------------------------------------------------------- nginx split log


def nginx_params(port: int, log: Path, **overrides: Any) -> dict[str, Any]:
    """Probe parameters for an nginx service "shop" whose split log is ``log`` (as {service} pattern)."""
    pattern = str(log).replace("shop", "{service}")
    return _params(engine="nginx", requests=3, split_log=pattern, served_by="name",
                   services=[{"name": "shop", "listen": port, "mode": "http", "servers": MODEL_SERVERS}],
                   **overrides)


def test_nginx_split_log_counts_the_windows_requests_only(lb_server: int, tmp_path: Path) -> None:
    log = tmp_path / "lbguard-split-shop.log"
    log.write_text("127.0.0.1:8001\n" * 500)  # before the window: not counted
    _Handler.split_log = log
    result = probe_run.run_probe(nginx_params(lb_server, log, counter_window_seconds=5))
    window = result["counters"]["shop"]
    assert window["usable"] is True and window["origin"] == "nginx split log", window
    assert window["lbtot"] == {"web1": 1, "web2": 1, "web3": 1} == window["stot"]
    # Idle: the window closes with the probe.
    assert window["window_seconds"] < 5


def test_nginx_split_log_window_shared_with_real_traffic_is_stretched(lb_server: int, tmp_path: Path) -> None:
    log = tmp_path / "lbguard-split-shop.log"
    log.touch()
    _Handler.split_log, _Handler.log_background = log, 9
    result = probe_run.run_probe(nginx_params(lb_server, log, counter_window_seconds=0.5))
    window = result["counters"]["shop"]
    assert window["usable"] is True and window["window_seconds"] >= 0.5
    assert window["lbtot"] == {"web1": 10, "web2": 10, "web3": 10}


def test_nginx_split_log_that_is_missing_is_unusable_and_says_why(lb_server: int, tmp_path: Path) -> None:
    log = tmp_path / "lbguard-split-shop.log"
    result = probe_run.run_probe(nginx_params(lb_server, log))
    window = result["counters"]["shop"]
    assert window["usable"] is False
    assert window["unusable_reason"].startswith(f"cannot read the split log {log}: FileNotFoundError")
    assert result["traffic"]["shop"]["counts"] == {"web1": 1, "web2": 1, "web3": 1}


def test_split_log_lines_name_the_last_upstream_tried_and_skip_nginx_own_answers(tmp_path: Path) -> None:
    log = tmp_path / "split.log"
    log.write_text("127.0.0.1:8001\n")
    before = probe_split_log.read_log_mark(str(log))
    with log.open("a") as handle:
        handle.write("127.0.0.1:8001\n127.0.0.1:8002, 127.0.0.1:8003\n-\n10.9.9.9:80\n127.0.0.1:8002\n127.0.0")
    after = probe_split_log.read_log_mark(str(log))
    names = {upstream: name for name, upstream in UPSTREAMS.items()}
    window = probe_split_log.log_window(str(log), before, after, names, probe_answers=3)
    assert window["usable"] is True, window
    # The unfinished last line is not counted; "-" (nginx answered itself) neither.
    assert window["lbtot"] == {"web1": 1, "web3": 1, "10.9.9.9:80": 1, "web2": 1}


def test_split_log_rotated_or_truncated_during_the_window_is_unusable(tmp_path: Path) -> None:
    log = tmp_path / "split.log"
    log.write_text("127.0.0.1:8001\n" * 10)
    before = probe_split_log.read_log_mark(str(log))
    log.write_text("127.0.0.1:8001\n")
    truncated = probe_split_log.log_window(str(log), before, probe_split_log.read_log_mark(str(log)), {})
    assert truncated["usable"] is False and "rotated or truncated" in truncated["unusable_reason"]
    log.rename(tmp_path / "split.log.1")
    log.write_text("127.0.0.1:8001\n" * 20)
    rotated = probe_split_log.log_window(str(log), before, probe_split_log.read_log_mark(str(log)), {})
    assert rotated["usable"] is False and "rotated or truncated" in rotated["unusable_reason"]


def test_split_log_with_fewer_requests_than_the_probes_answers_is_unusable(tmp_path: Path) -> None:
    log = tmp_path / "split.log"
    log.touch()
    before = probe_split_log.read_log_mark(str(log))
    log.write_text("127.0.0.1:8001\n")
    window = probe_split_log.log_window(str(log), before, probe_split_log.read_log_mark(str(log)), {}, probe_answers=3)
    assert window["usable"] is False
    assert window["unusable_reason"] == "the split log counted 1 requests, fewer than the probe's own 3 answers"


class _EchoHandler(http.server.BaseHTTPRequestHandler):
    """Answers with the SNI name, Host header and path it saw, in X-Served-By."""

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        sni = getattr(self.connection, "lbguard_sni", None)
        self.send_response(200)
        self.send_header("X-Served-By", f"{sni}|{self.headers.get('Host')}|{self.path}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        """Keep test output quiet."""


def test_a_pool_is_probed_through_its_route_over_tls(tmp_path: Path) -> None:
    """A pool's probe target decides the Host header, the SNI name, the path and TLS."""
    import ssl

    from lbguard_certs import CertificateAuthority

    certificate, key = CertificateAuthority().issue("api.example.com")
    (tmp_path / "cert.pem").write_text(certificate + key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem")

    def remember_sni(sock: ssl.SSLSocket, name: str | None, _context: ssl.SSLContext) -> None:
        sock.lbguard_sni = name  # type: ignore[attr-defined]

    context.sni_callback = remember_sni
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EchoHandler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        pool = {"name": "api", "listen": server.server_address[1], "mode": "http",
                "probe": {"address": "127.0.0.1", "host": "api.example.com", "path": "/api/", "tls": True}}
        result = probe_run.run_probe(_params(engine="nginx", requests=2, services=[pool]))
    finally:
        server.shutdown()
        server.server_close()
    traffic = result["traffic"]["api"]
    assert traffic["counts"] == {"api.example.com|api.example.com|/api/": 2}
    assert traffic["pools"] == {"": 2}  # this server sends no pool header
    der = ssl.PEM_cert_to_DER_cert(certificate)
    assert traffic["certificates"] == {hashlib.sha256(der).hexdigest(): 2}


class _RedirectHandler(http.server.BaseHTTPRequestHandler):
    """Redirects to https on port 8443, as a frontend with redirect_to_https does."""

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        self.send_response(301)
        self.send_header("Location", f"https://{self.headers.get('Host')}:8443{self.path}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        """Keep test output quiet."""


def test_a_redirecting_frontend_is_asked_over_plain_http() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RedirectHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        frontend = {"name": "edge", "redirect_to_https": True, "https_port": 8443,
                    "binds": [{"address": "", "port": server.server_address[1], "tls": False},
                              {"address": "", "port": 8443, "tls": True}],
                    "routes": [{"hosts": ["*.example.com", "shop.example.com"], "pool": "shop"}]}
        quiet = {"name": "plain", "redirect_to_https": False, "binds": [{"address": "", "port": 1, "tls": False}]}
        result = probe_traffic.check_redirects([frontend, quiet], "127.0.0.1", 2.0)
    finally:
        server.shutdown()
        server.server_close()
    assert result == {"edge": {"status": 301,
                               "location": "https://shop.example.com:8443/lbguard/redirect-check",
                               "expected": "https://shop.example.com:8443/lbguard/redirect-check"}}


def test_every_route_and_the_default_are_checked_over_the_tls_bind() -> None:
    sent = []

    def send(address, port, path, timeout, host, tls, wanted):
        sent.append((address, port, path, host, tls))
        pool = {"api.example.com": "api", "": "shop"}.get(host, "storefront")
        return {"status": 200 if host != "down.example.com" else None, "headers": {probe_traffic.POOL_HEADER: pool},
                "certificate": "f" * 64 if tls else None}

    frontend = {"name": "edge", "mode": "http",
                "binds": [{"address": "", "port": 80, "tls": False}, {"address": "", "port": 443, "tls": True}],
                "routes": [{"pool": "api", "probe": {"host": "api.example.com", "path": "/"}},
                           {"pool": "static", "probe": {"host": "down.example.com", "path": "/s/"}}],
                "default_pool": "shop", "default_probe": {"host": "", "path": "/"}}
    tcp = {"name": "db", "mode": "tcp", "binds": [{"address": "", "port": 5432, "tls": False}], "default_pool": "db"}
    result = probe_traffic.check_routes([frontend, tcp], "127.0.0.1", 2, 1.0, send=send)
    assert list(result) == ["edge"]
    assert [(i["route"], i["pools"], i["errors"]) for i in result["edge"]] == [
        ("routes[0]", {"api": 2}, 0), ("routes[1]", {}, 2), ("default", {"shop": 2}, 0)]
    assert result["edge"][0]["certificates"] == {"f" * 64: 2}
    assert {(a, p, t) for a, p, _, _, t in sent} == {("127.0.0.1", 443, True)}


# ------------------------------------------------------ the service's state first


def run_with_systemctl(tmp_path: Path, state: str, lb_server: int, **extra: Any) -> tuple[dict[str, Any], str]:
    """Run the module with O(service) (and ``extra`` options), a stand-in systemctl on PATH answering ``state``;
    return its result and the stand-in's arguments."""
    tools = tmp_path / "bin"
    tools.mkdir()
    systemctl = tools / "systemctl"
    systemctl.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/systemctl.args\necho {state}\n')
    systemctl.chmod(0o755)
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {
        "engine": "nginx", "requests": 3, "service": "nginx",
        "services": [{"name": "shop", "listen": lb_server, "mode": "http", "balance": "roundrobin", "servers": []}],
        "status_url": f"http://127.0.0.1:{lb_server}/lbguard/model", **extra}}))
    env = {**module_env(), "PATH": f"{tools}{os.pathsep}{os.environ.get('PATH', '')}"}
    completed = subprocess.run([sys.executable, probe.__file__, str(args_file)], env=env, capture_output=True,
                               text=True, timeout=60, check=False)
    return json.loads(completed.stdout), (tmp_path / "systemctl.args").read_text()


def test_a_service_that_is_not_active_is_reported_and_not_measured(tmp_path: Path, lb_server: int) -> None:
    result, asked = run_with_systemctl(tmp_path, "failed", lb_server)
    assert asked.split() == ["show", "--property=ActiveState", "--value", "nginx"]
    assert result["service_state"] == "failed" and not result.get("failed"), result
    assert "traffic" not in result and "runtime" not in result, result


def test_an_active_service_is_measured(tmp_path: Path, lb_server: int) -> None:
    result, _ = run_with_systemctl(tmp_path, "active", lb_server)
    assert result["service_state"] == "active", result
    assert sum(result["traffic"]["shop"]["counts"].values()) == 3, result


# ------------------------------------------- the ledger read in the same call


def test_the_ledger_comes_with_the_measurement_and_an_unverified_release_is_not_measured(
        tmp_path: Path, lb_server: int) -> None:
    """A deploy's fast path: one call reads the ledger, and measures only a verified, untouched release."""
    root, config = tmp_path / "ledger", tmp_path / "nginx.conf"
    (root / "nginx").mkdir(parents=True)
    config.write_text("events {}\n")
    options = {"ledger_root": str(root), "ledger_config_path": str(config), "verified_model": "d"}
    for run in ("first", "second"):
        (tmp_path / run).mkdir()
    result, _ = run_with_systemctl(tmp_path / "first", "active", lb_server, **options)
    assert result["unverified_because"] == "no release is live in the ledger", result
    assert result["ledger"]["current"] is None and result["ledger"]["live_sha256"], result
    assert "traffic" not in result, result

    sha = hashlib.sha256(config.read_bytes()).hexdigest()
    (root / "nginx" / "releases" / "r1").mkdir(parents=True)
    (root / "nginx" / "releases" / "r1" / "config").write_bytes(config.read_bytes())
    (root / "nginx" / "releases" / "r1" / "meta.json").write_text(json.dumps(
        {"id": "r1", "model_digest": "d", "config_sha256": sha, "verification": {"status": "passed"}}))
    for pointer in ("current", "last_verified"):
        (root / "nginx" / pointer).write_text("r1\n")
    result, _ = run_with_systemctl(tmp_path / "second", "active", lb_server, **options)
    assert result["unverified_because"] is None, result
    assert result["ledger"]["current_release"]["model_digest"] == "d", result
    assert sum(result["traffic"]["shop"]["counts"].values()) == 3, result

