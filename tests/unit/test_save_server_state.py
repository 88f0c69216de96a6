"""Unit tests of roles/haproxy/files/lbguard_save_server_state.py (what a reload keeps).

The real reload is exercised by molecule/default (test_operations.py: a DOWN
server stays DOWN across a reload; test_docs_commands.py: a change of port
takes effect at once).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "roles" / "haproxy" / "files" / "lbguard_save_server_state.py"
_spec = importlib.util.spec_from_file_location("lbguard_save_server_state", SCRIPT)
save = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(save)

CONFIG = """global
    server-state-file /var/lib/haproxy/server-state

defaults
    load-server-state-from-file global

frontend shop
    bind :8080
    default_backend shop

backend shop
    balance roundrobin
    server web1 web1.example:80 weight 1 check
    server web2 10.0.0.12:81 weight 1 check
    server web3 [2001:db8::3]:80 weight 2 check

listen lbguard_stats_page
    bind 127.0.0.1:9000
"""

HEADER = ("1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight "
          "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state "
          "srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port "
          "srv_check_addr srv_agent_addr srv_agent_port\n")


def line(server: str, addr: str, fqdn: str, port: str, op_state: str = "2", admin: str = "0") -> str:
    return (f"3 shop 1 {server} {addr} {op_state} {admin} 1 1 5 6 3 4 6 0 0 0 {fqdn} {port} - 0 0 - - 0")


def test_the_servers_of_the_configuration_are_read_by_section():
    assert save.configured_servers(CONFIG) == {
        ("shop", "web1"): ("web1.example", "80"),
        ("shop", "web2"): ("10.0.0.12", "81"),
        ("shop", "web3"): ("2001:db8::3", "80"),
    }


def test_servers_that_did_not_move_keep_their_state_and_moved_ones_start_fresh():
    state = HEADER + "\n".join([
        line("web1", "10.0.0.11", "web1.example", "80", op_state="0"),   # DOWN, same host name and port
        line("web2", "10.0.0.12", "-", "80", admin="1"),                  # in maintenance, port 80 -> 81 in the file
        line("web3", "2001:db8::3", "-", "80", admin="8"),                 # drained, same address
        line("web9", "10.0.0.19", "-", "80"),                              # gone from the file
    ]) + "\n"
    kept = save.kept_state(state, save.configured_servers(CONFIG)).splitlines()
    assert kept[:2] == HEADER.splitlines()
    assert [fields.split()[3] for fields in kept[2:]] == ["web1", "web3"]
