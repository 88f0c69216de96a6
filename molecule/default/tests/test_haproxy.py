"""Testinfra checks of the HAProxy load balancer converged by molecule/default."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.environ.get("MOLECULE_PROJECT_DIRECTORY", "."), "molecule"))
from lbguard_testlib import run_playbook, served_by, wait_for_status  # noqa: E402  (path set just above)

CONFIG = "/etc/haproxy/haproxy.cfg"
SOCKET = "/run/haproxy/admin.sock"
WEB_SERVERS = ["mol-web-1", "mol-web-2", "mol-web-3"]


def converge(*extra_args):
    """Run the project's deploy playbook against the Molecule inventory."""
    return run_playbook("deploy.yml", *extra_args)


def test_haproxy_runs_enabled(host):
    service = host.service("haproxy")
    assert service.is_running
    assert service.is_enabled


def test_live_config_is_rendered_and_valid(host):
    config = host.file(CONFIG).content_string
    assert "backend shop" in config
    for name in WEB_SERVERS:
        assert f"server {name} {name}:80 weight 1 check" in config
    assert host.run(f"haproxy -c -f {CONFIG}").rc == 0


def test_stats_socket_is_admin_and_tight(host):
    sock = host.file(SOCKET)
    assert sock.is_socket
    assert sock.mode == 0o660
    assert sock.user == "root" and sock.group == "haproxy"
    assert "level admin" in host.file(CONFIG).content_string


def test_every_backend_is_up(host):
    status = wait_for_status(host, {name: "UP" for name in WEB_SERVERS})
    assert status == {name: "UP" for name in WEB_SERVERS}


def test_requests_reach_every_backend(host):
    # Round robin over three equal weights: exactly 10 each.
    assert served_by(host, 30) == {name: 10 for name in WEB_SERVERS}


def test_prometheus_exporter_has_server_series(host):
    metrics = host.check_output("curl -sf http://127.0.0.1:8405/metrics")
    for name in WEB_SERVERS:
        assert f'haproxy_server_weight{{proxy="shop",server="{name}"}} 1' in metrics


def test_config_failing_haproxy_check_leaves_live_file_untouched(host):
    before = host.file(CONFIG).sha256sum
    pid_before = host.check_output("systemctl show -p MainPID --value haproxy")
    # A duration lbguard's settings check accepts but HAProxy's timer cannot hold: only haproxy -c refuses it.
    result = converge("-e", "haproxy_timeout_connect=999999d")
    assert result.returncode != 0, result.stdout
    assert "haproxy -c" in result.stdout or "failed to validate" in result.stdout, result.stdout
    assert host.file(CONFIG).sha256sum == before
    assert host.check_output("systemctl show -p MainPID --value haproxy") == pid_before
    assert host.service("haproxy").is_running


def test_unresolvable_server_name_does_not_stop_haproxy(host):
    services = [{
        "name": "shop", "listen": 8080,
        "health_check": {"path": "/health", "interval": "1s", "rise": 1, "fall": 2},
        "servers": [{"name": n, "address": n, "port": 80} for n in WEB_SERVERS]
        + [{"name": "ghost", "address": "ghost.invalid", "port": 80, "backup": True}],
    }]
    try:
        result = converge("-e", json.dumps({"lb_services": services}))
        assert result.returncode == 0, result.stdout
        assert "server ghost ghost.invalid:80" in host.file(CONFIG).content_string
        # A cold start resolves every name: it must not refuse to start.
        assert host.run("systemctl restart haproxy").rc == 0
        status = wait_for_status(host, {name: "UP" for name in WEB_SERVERS})
        assert all(status[name] == "UP" for name in WEB_SERVERS)
        assert status["ghost"] != "UP"
        assert host.service("haproxy").is_running
    finally:
        restored = converge()
        assert restored.returncode == 0, restored.stdout
    assert "ghost" not in host.file(CONFIG).content_string
