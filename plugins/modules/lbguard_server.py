"""Ansible module: drain, maintenance, ready and weight of HAProxy servers, recorded in the ledger."""

from __future__ import annotations

DOCUMENTATION = r"""
module: lbguard_server
short_description: Change servers' runtime state through HAProxy's runtime API and record why in the ledger
description:
  - Puts servers of one HAProxy backend (an lbguard service or pool) in maintenance, drains them, makes them
    ready or sets their runtime weight, through the admin stats socket. No reload, the change is live at once.
  - Records the operation in the ledger, C(ROOT/ENGINE/holds.json) (what is sanctioned now) and
    C(ROOT/ENGINE/operations.jsonl) (every operation, appended), with who, when, why and until when.
    Verification, the audit and deploys read the holds to tell a sanctioned state from drift.
  - C(action=drain) waits until the servers' current sessions reach zero or O(drain_timeout) passes, and
    returns both.
  - C(action=restore) puts back what an earlier call returned as RV(previous) (state, weight and hold), the
    undo of an operation whose verification failed.
  - C(action=converge) brings every server of O(intent) (P(lbguard.core.lbguard_runtime_intent#filter)) to
    the state and weight the model and the ledger's holds ask. A deploy uses it to keep sanctioned states and
    reset the rest; RV(changes) says what it reset. It records nothing in the ledger.
  - This module does not judge the traffic policy; playbooks/server.yml checks the result before calling it.
version_added: "0.9.0"
author: lbguard
options:
  action:
    description: What to do with O(servers).
    type: str
    required: true
    choices: [maint, drain, ready, weight, restore, converge]
  service:
    description: The backend (lbguard service or pool name). Required except for C(converge).
    type: str
  servers:
    description: Server names in O(service). Required except for C(converge) and C(restore).
    type: list
    elements: str
    default: []
  weight:
    description: The runtime weight for C(action=weight), 0..256.
    type: int
  model_weights:
    description: Each server's weight in the model; C(action=ready) sets it back.
    type: dict
    default: {}
  previous:
    description: RV(previous) of the call to undo, for C(action=restore).
    type: dict
    default: {}
  intent:
    description:
      - 'For C(action=converge), what the model asks, V({service: {server: {admin: maint|ready, weight: N}}})
        (P(lbguard.core.lbguard_runtime_intent#filter)); the module lays the ledger''s holds over it.'
    type: dict
    default: {}
  drain_timeout:
    description: Seconds C(action=drain) waits for the servers' sessions to reach zero (0 does not wait).
    type: int
    default: 300
  reason:
    description: Why; stored with the hold and the history. Required for maint, drain and weight.
    type: str
  requested_by:
    description: Who asked for the operation.
    type: str
    default: unknown
  hold_until:
    description: When the hold should end (ISO 8601 with a time zone); the audit reports it once passed.
    type: str
  override:
    description: The reason the policy check was overridden, when it was; stored with the hold.
    type: str
  operation:
    description: Id of the operation (the run id), stored with the hold and the history.
    type: str
  engine:
    description:
      - The load balancer's engine. C(nginx) has no runtime API, the module only records the holds (and
        C(restore) puts them back); playbooks/server.yml then renders nginx's file from them and reloads.
    type: str
    default: haproxy
    choices: [haproxy, nginx]
  root:
    description: Root folder of the ledger.
    type: path
    default: /var/lib/lbguard
  stats_socket:
    description: HAProxy's admin stats socket.
    type: path
    default: /run/haproxy/admin.sock
  timeout:
    description: Seconds per socket operation.
    type: float
    default: 5
attributes:
  action_group:
    description:
      Use C(group/lbguard.core.ledger) in C(module_defaults) to set O(root) for this module and the other
      ledger modules.
    support: full
    membership:
      - lbguard.core.ledger
  check_mode:
    support: full
    description: Reads the runtime state and reports what would change; sends no command and writes nothing.
  diff_mode:
    support: full
    description: The holds before and after.
"""

EXAMPLES = r"""
- name: Drain web2 of the shop service for patching
  lbguard.core.lbguard_server:
    action: drain
    service: shop
    servers: [web2]
    reason: kernel update CHG-1234
    requested_by: alice
    hold_until: "2026-12-03T18:00:00Z"
  become: true
  register: drained

- name: Undo it when verification fails
  lbguard.core.lbguard_server:
    action: restore
    service: shop
    previous: "{{ drained.previous }}"
  become: true
"""

RETURN = r"""
servers:
  description: Per server, the runtime state before and after and what the drain measured.
  returned: always
  type: dict
  sample:
    web2:
      before: {status: UP, weight: 1, sessions: 3}
      after: {status: DRAIN, weight: 0, sessions: 0}
      drained: true
      sessions_left: 0
      waited_seconds: 2.5
previous:
  description: State, weight and hold of each server before the call; pass it to action=restore to undo.
  returned: always
  type: dict
  sample: {web2: {admin: ready, weight: 1, hold: null}}
holds:
  description: Every hold of the ledger after the call, keyed SERVICE/SERVER.
  returned: always
  type: dict
  sample: {shop/web2: {action: drain, by: alice, at: "2026-12-03T09:00:00Z", reason: kernel update}}
changes:
  description: For action=converge, one line per server brought back to its intended state.
  returned: always
  type: list
  elements: str
  sample: ["shop/web2: maint, weight 1 -> ready, weight 1"]
commands:
  description: The runtime API commands sent (or that would be sent in check mode).
  returned: always
  type: list
  elements: str
  sample: ["set server shop/web2 state drain"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lbguard.core.plugins.module_utils._server.run import run_module
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_constants import ADMIN_SOCKET, ENGINES, LEDGER_ROOT


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            action=dict(type="str", required=True, choices=["maint", "drain", "ready", "weight", "restore", "converge"]),
            service=dict(type="str"),
            servers=dict(type="list", elements="str", default=[]),
            weight=dict(type="int"),
            model_weights=dict(type="dict", default={}),
            previous=dict(type="dict", default={}),
            intent=dict(type="dict", default={}),
            engine=dict(type="str", default="haproxy", choices=list(ENGINES)),
            drain_timeout=dict(type="int", default=300),
            reason=dict(type="str"),
            requested_by=dict(type="str", default="unknown"),
            hold_until=dict(type="str"),
            override=dict(type="str"),
            operation=dict(type="str"),
            root=dict(type="path", default=LEDGER_ROOT),
            stats_socket=dict(type="path", default=ADMIN_SOCKET),
            timeout=dict(type="float", default=5.0),
        ),
        required_if=[
            ("action", "weight", ["weight", "service", "servers", "reason"]),
            ("action", "maint", ["service", "servers", "reason"]),
            ("action", "drain", ["service", "servers", "reason"]),
            ("action", "ready", ["service", "servers"]),
            ("action", "restore", ["service", "previous"]),
        ],
        supports_check_mode=True,
    )
    run_module(module)


if __name__ == "__main__":
    main()
