"""Read-only probe of a load balancer: runtime state, live model digest, real traffic split."""

from __future__ import annotations

DOCUMENTATION = r"""
module: lbguard_probe
short_description: Measure what a load balancer really does, from the load balancer itself
description:
  - Runs on the load-balancer host and only reads; it never changes anything, so it
    also runs in check mode.
  - Reads the runtime state of every server from the HAProxy runtime API
    (C(show stat) over the unix stats socket, no socat needed). Nothing for nginx.
  - Reads the digest of the model the running process loaded from O(status_url),
    which proves which configuration is live.
  - Sends O(requests) requests to every HTTP service on O(address), each on a new
    connection (request header C(Connection) set to C(close)) so that the balancer
    picks a server per request, and counts the servers named in the
    O(served_by_header) response header. For TCP services it only opens and closes O(requests) connections.
  - Every network operation has a timeout and every loop is bounded, so the probe
    cannot hang. Probe traffic goes only to O(address) (loopback by default);
    O(status_url) is read once.
  - With O(settle_seconds) above 0 it first waits, polling every O(settle_interval)
    seconds, until the balancer has settled after a reload, that is until
    O(status_url) reports O(expected_running_model) and every server of
    O(expected_up) is UP in C(show stat) (HAProxy; nginx has no runtime API, so
    only the digest is awaited). Then, settled or not, it measures once. Waiting
    happens inside the module so that a run that succeeds prints no retries.
  - For HAProxy it also reads every server's cumulative counters (C(lbtot), the
    times HAProxy picked the server, and C(stot), its sessions) from C(show stat)
    right before and right after each service's traffic window, and returns their
    differences. They count all traffic the balancer sent in the window, real
    clients' and the probe's alike, which is the true split under load. A window
    whose counters went back (HAProxy reloaded or restarted during it), lost a
    server, or counted fewer requests than the probe's own answers is marked
    unusable with the reason; the filter then judges the probe's counts.
  - Open-source nginx has no per-server counters. With O(split_log) (the nginx
    role's per-service log of C($upstream_addr)) it counts the lines nginx
    appended to the service's log during the window instead, one per request,
    real clients' included, under the same rules (the log rotated or truncated
    during the window makes it unusable).
  - The module never fails because the load balancer misbehaves. It reports what it
    saw, errors included, and the lbguard_verify_problems filter judges it.
options:
  engine:
    description: Load-balancer engine.
    type: str
    required: true
    choices: [haproxy, nginx]
  services:
    description:
      - Services to probe. Each item needs C(name), C(listen) (port) and C(mode)
        (C(http) or C(tcp), default C(http)); other keys are ignored, so the
        C(services) list of the lbguard model can be passed as it is.
      - A pool of C(lb_pools) carries C(probe), the request that reaches it
        through its frontend, with C(address), C(host), C(path) and C(tls). The probe
        sends C(host) as Host header and SNI name, over TLS when C(tls) is true,
        to C(address) when set (else O(address)), and C(path) instead of O(path).
        The certificate is not checked here.
    type: list
    elements: dict
    required: true
  frontends:
    description:
      - The C(frontends) of the lbguard model. For each one with
        C(redirect_to_https), one plain request goes to its first plain bind
        (Host of its first exact route host) and its status and C(Location) are
        returned in RV(redirects).
      - Every route of every http frontend, and its default pool, is checked with
        a few requests of its own; see RV(routes).
    type: list
    elements: dict
    default: []
  requests:
    description: Requests (HTTP) or connections (TCP) per service, 0..10000.
    type: int
    default: 60
  address:
    description: Address the services are reached at (the probe's only traffic target).
    type: str
    default: 127.0.0.1
  path:
    description: Request path for HTTP services.
    type: str
    default: /
  served_by_header:
    description: Response header that names the server that answered.
    type: str
    default: X-Served-By
  served_by:
    description:
      - What the header holds. C(name) is the server's name (HAProxy's
        C(%[srv_name])); C(address) is the upstream's ip:port (nginx's
        C($upstream_addr)), turned into the server's name by resolving each
        server's address on this host.
    type: str
    choices: [name, address]
    default: name
  timeout:
    description:
      - Seconds allowed per network operation (connect, send, each read). A response
        body is read only while four times this value lasts from the start of its
        request; the runtime API answer likewise.
    type: float
    default: 2.0
  stats_socket:
    description: HAProxy runtime API socket (engine haproxy only).
    type: path
    default: /run/haproxy/admin.sock
  split_log:
    description:
      - nginx only. Path of each service's split log, C({service}) replaced by the
        service's name; each line is the C($upstream_addr) of one request (the
        nginx role's C(nginx_split_log)). Empty, nothing is read and only the
        probe's own answers are counted.
    type: str
    default: ""
  status_url:
    description: URL that returns the digest of the model the running process loaded.
    type: str
    default: http://127.0.0.1:8405/lbguard/model
  settle_seconds:
    description:
      - Longest wait, in seconds (0..600), for the balancer to settle before the
        measurement. C(0) measures at once.
    type: float
    default: 0
  counter_window_seconds:
    description:
      - Shortest counter window under load, in seconds (0..60). When the counters
        saw traffic besides the probe's own, the window is stretched to this
        length before it closes. Picks in a burst of a fraction of a second are not
        independent (a server that stalls for 100 ms gets nothing in that time,
        under leastconn most of all), so a longer window averages them out. On an
        idle balancer the window closes with the probe's last request.
    type: float
    default: 2.0
  settle_interval:
    description: Seconds between two looks at the balancer while waiting (0.1..10).
    type: float
    default: 1.0
  expected_running_model:
    description:
      - Digest that O(status_url) must report before the wait ends (the model just
        deployed). Empty or omitted, the running model is not awaited.
    type: str
  ledger_root:
    description:
      - Root folder of lbguard's ledger on this host. When set, the probe returns the
        ledger's holds (servers an operator put in maintenance, drain or a runtime
        weight through playbooks/server.yml) as RV(holds), and does not wait for a
        server held in maintenance or drain to be UP.
    type: path
  ledger_config_path:
    description:
      - With O(ledger_root), the load balancer's live file. The probe then also
        returns RV(ledger), read before anything is measured.
    type: path
  verified_model:
    description:
      - With O(ledger_config_path), a model digest. The probe measures only when the
        live release passed verification with this model and nothing changed it
        since (its file is the live file; no lock; no commit-confirm timer pending
        or expired). Otherwise it measures nothing and says why in
        RV(unverified_because). A deploy that changes nothing then needs this one
        call; any other deploy is not slowed by a measurement it would discard.
    type: str
  expected_up:
    description:
      - Per service (HAProxy backend), the servers that must be UP in C(show stat)
        before the wait ends, for example C(shop) mapped to C([web1, web2]). A status
        starting with C(UP) counts, and so does C(no check) (a server without health
        check is in rotation and waiting would not change it). Ignored for nginx.
    type: dict
    default: {}
  service:
    description:
      - The systemd unit of the load balancer. When set, its C(ActiveState) is read
        first and returned as RV(service_state); when it is not C(active) the probe
        measures nothing and returns only RV(holds) and RV(service_state), so the
        caller fails at once with the unit's state instead of waiting to settle.
    type: str
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: It only reads and sends probe requests, in check mode too.
  diff_mode:
    support: none
  platform:
    platforms: posix
author:
  - lbguard
"""

EXAMPLES = r"""
- name: Measure the live traffic split
  lbguard_probe:
    engine: "{{ lb_model.engine }}"
    services: "{{ lb_model.services }}"
    requests: 60
  register: lb_probe

- name: Fail on any difference between the model and reality
  ansible.builtin.assert:
    that: problems | length == 0
    fail_msg: "{{ problems | join('\n') }}"
  vars:
    problems: "{{ lb_model | lbguard.core.lbguard_verify_problems(lb_probe, {'label': 'staging ' ~ inventory_hostname}) }}"

- name: Wait up to 12 s for the new model and its servers, then measure
  lbguard_probe:
    engine: haproxy
    services: "{{ lb_model.services }}"
    settle_seconds: 12
    expected_running_model: "{{ lb_model.digest }}"
    expected_up: "{{ lb_model | lbguard.core.lbguard_verify_expected_up }}"
  register: lb_probe
"""

RETURN = r"""
holds:
  description:
    - The ledger's holds, keyed C(SERVICE/SERVER), when O(ledger_root) is set
      (see M(lbguard.core.lbguard_server)); empty otherwise.
  returned: always
  type: dict
  sample: {shop/web2: {action: drain, by: alice, at: "2026-12-03T09:00:00Z", reason: kernel update}}
ledger:
  description:
    - What M(lbguard.core.lbguard_ledger_info) returns with O(ledger_root),
      C(releases=false) and C(config_path=ledger_config_path).
  returned: when O(ledger_config_path) is set
  type: dict
  sample: {current: "20261203T090000Z-1a2b3c", last_verified: "20261203T090000Z-1a2b3c", live_sha256: "9f86d0...",
           current_release: {model_digest: "c0ffee...", verification: {status: passed}}, lock: null,
           pending: null, expired: null, holds: {}}
unverified_because:
  description:
    - With O(verified_model), why the live release is not that model, verified and
      untouched (nothing was measured then); null when it is.
  returned: when O(verified_model) is set
  type: str
  sample: the live file is no longer release 20261203T090000Z-1a2b3c's file
service_state:
  description:
    - The C(ActiveState) of O(service) (C(active), C(failed), C(inactive), ...),
      or C(unknown) when systemd could not tell.
  returned: when O(service) is set
  type: str
  sample: active
runtime:
  description:
    - Per service (HAProxy backend) and server, the runtime status (C(UP),
      C(UP 1/2), C(DOWN), C(MAINT), C(DRAIN), C(no check), ...) and weight read
      from C(show stat). Empty for nginx or when the socket could not be read.
  returned: unless O(service) is set and not active
  type: dict
  sample: {"shop": {"web1": {"status": "UP", "weight": 1}, "web2": {"status": "DOWN", "weight": 1}}}
runtime_error:
  description: Why the runtime state could not be read, else null.
  returned: unless O(service) is set and not active
  type: str
running_model:
  description: Body (stripped) of O(status_url), the digest of the live model; null on error.
  returned: unless O(service) is set and not active
  type: str
running_model_error:
  description: Why O(status_url) could not be read, else null.
  returned: unless O(service) is set and not active
  type: str
traffic:
  description:
    - Per service, what the probe traffic saw. C(counts) maps server names from
      O(served_by_header) to successful (2xx/3xx) responses; C(status_5xx),
      C(other_errors) (any other status, 4xx included), C(connection_errors)
      (refused, reset, timeout, malformed response) and C(missing_header) (2xx/3xx
      without the header) count failed requests. TCP services only fill
      C(requests) and C(connection_errors).
    - A pool of C(lb_pools) also has C(pools), answers per value of the
      C(X-Lbguard-Pool) response header (the pool that answered, empty when
      absent), and C(certificates), TLS handshakes per sha256 fingerprint of the
      certificate the load balancer presented.
  returned: unless O(service) is set and not active
  type: dict
  sample:
    shop: {"mode": "http", "requests": 60, "counts": {"web1": 20, "web2": 20, "web3": 20},
           "status_5xx": 0, "other_errors": 0, "connection_errors": 0, "missing_header": 0}
routes:
  description:
    - Per http frontend of O(frontends), one item per route in order and a last
      one for its default pool. Each has C(route), which is V(routes[N]) or
      V(default), and counts what answered three requests of the route's own
      C(probe) (Host, SNI and path, computed by the model). C(pool) is the pool the model expects,
      C(pools) counts the answers per C(X-Lbguard-Pool) value, C(certificates)
      the TLS handshakes per certificate fingerprint, C(errors) the requests
      without an answer or with a 5xx.
  returned: unless O(service) is set and not active
  type: dict
  sample:
    edge: [{"route": "routes[0]", "pool": "api", "host": "api.example.com", "path": "/",
            "pools": {"api": 3}, "certificates": {"55ab4a42...": 3}, "errors": 0}]
redirects:
  description:
    - Per frontend with C(redirect_to_https), the plain request's C(status),
      C(location) (the Location header, null without one) and the C(expected)
      Location.
  returned: unless O(service) is set and not active
  type: dict
  sample:
    edge: {"status": 301, "location": "https://shop.example.com/lbguard/redirect-check",
           "expected": "https://shop.example.com/lbguard/redirect-check"}
counters:
  description:
    - Per service, what the server counters of C(show stat) (HAProxy) or the
      service's split log (nginx with O(split_log); C(lbtot) and C(stot) are then
      the log's lines per server) counted during the service's traffic window;
      C(origin) says which. C(window_seconds) is the time
      between the two readings; C(lbtot) and C(stot) map each server to the
      difference of its counters (load-balanced picks, sessions), real traffic
      included. C(usable) is false when the window cannot be judged, and
      C(unusable_reason) says why (a counter went back because HAProxy reloaded,
      a server or the backend is missing, C(show stat) could not be read, or the
      counters saw fewer requests than the probe's own answers); the differences
      are still shown. Empty for nginx without O(split_log).
  returned: unless O(service) is set and not active
  type: dict
  sample:
    shop: {"window_seconds": 1.24, "lbtot": {"web1": 812, "web2": 810, "web3": 809},
           "stot": {"web1": 812, "web2": 810, "web3": 809}, "usable": true, "unusable_reason": null,
           "origin": "HAProxy counters"}
settled:
  description:
    - Whether everything awaited (O(expected_running_model), O(expected_up)) was
      there when the measurement started. True when nothing was awaited. Without a
      wait (O(settle_seconds) 0) it is still looked at once.
  returned: unless O(service) is set and not active
  type: bool
settle_waited:
  description: Seconds spent waiting before the measurement, one decimal.
  returned: unless O(service) is set and not active
  type: float
  sample: 3.1
settle_missing:
  description: What was still missing when the wait ended; empty when settled.
  returned: unless O(service) is set and not active
  type: list
  elements: str
  sample: ["the running model 0f0f0f0f0f0f (it reports 1a1a1a1a1a1a)", "web2 UP in shop (DOWN)"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lbguard.core.plugins.module_utils._probe.run import run_module
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_constants import ADMIN_SOCKET, ENGINES, STATUS_URL


def main() -> None:
    """Ansible entry point."""
    module = AnsibleModule(
        argument_spec={
            "engine": {"type": "str", "required": True, "choices": list(ENGINES)},
            "services": {"type": "list", "elements": "dict", "required": True},
            "frontends": {"type": "list", "elements": "dict", "default": []},
            "requests": {"type": "int", "default": 60},
            "address": {"type": "str", "default": "127.0.0.1"},
            "path": {"type": "str", "default": "/"},
            "served_by_header": {"type": "str", "default": "X-Served-By"},
            "served_by": {"type": "str", "default": "name", "choices": ["name", "address"]},
            "timeout": {"type": "float", "default": 2.0},
            "stats_socket": {"type": "path", "default": ADMIN_SOCKET},
            "status_url": {"type": "str", "default": STATUS_URL},
            "split_log": {"type": "str", "default": ""},
            "settle_seconds": {"type": "float", "default": 0},
            "settle_interval": {"type": "float", "default": 1.0},
            "counter_window_seconds": {"type": "float", "default": 2.0},
            "expected_running_model": {"type": "str"},
            "expected_up": {"type": "dict", "default": {}},
            "ledger_root": {"type": "path"},
            "ledger_config_path": {"type": "path"},
            "verified_model": {"type": "str"},
            "service": {"type": "str"},
        },
        required_by={"ledger_config_path": "ledger_root", "verified_model": "ledger_config_path"},
        supports_check_mode=True,
    )
    run_module(module)


if __name__ == "__main__":
    main()
