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

import json
import os
import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.lbguard.core.plugins.module_utils.lbguard_constants import ADMIN_SOCKET, ENGINES, LEDGER_ROOT
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_haproxy_api import (
    parse_show_stat,
    read_unix_socket,
    run_command,
)
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_holds import (
    hold_key,
    holds_path,
    intended,
    operations_path,
    parse_time,
    read_holds,
)
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_ledger_store import atomic_write, now

DRAIN_POLL_SECONDS = 0.5
#: Hold fields that make two holds the same request (``at`` and ``operation`` do not).
HOLD_IDENTITY = ("action", "weight", "reason", "until", "override")


def admin_of(status: str) -> str:
    """The operator-set state behind a `show stat` status: maint, drain or ready."""
    word = status.upper()
    if word.startswith("MAINT"):
        return "maint"
    if word.startswith(("DRAIN", "NOLB")):
        return "drain"
    return "ready"


class Runtime:
    """One backend's servers on the admin socket."""

    def __init__(self, socket_path: str, timeout: float, check_mode: bool) -> None:
        self.socket_path, self.timeout, self.check_mode = socket_path, timeout, check_mode
        self.commands: list[str] = []

    def stat(self, service: str, names: list[str]) -> dict[str, dict[str, Any]]:  # noqa: ARG002  (FileEngine uses names)
        return parse_show_stat(read_unix_socket(self.socket_path, "show stat", self.timeout)).get(service, {})

    def user_weight(self, service: str, server: str) -> int:
        """The weight set for the server (`get weight`), which a drain or maintenance does not change."""
        answer = read_unix_socket(self.socket_path, f"get weight {service}/{server}", self.timeout).strip()
        first = answer.split(" ", 1)[0]
        if not first.isdigit():
            raise RuntimeError(f"HAProxy answered 'get weight {service}/{server}' with: {answer or 'nothing'}")
        return int(first)

    def send(self, command: str) -> None:
        self.commands.append(command)
        if not self.check_mode:
            run_command(self.socket_path, command, self.timeout)

    def enforce(self, service: str, server: str, admin: str, weight: int | None, current: dict[str, Any]) -> bool:
        """Bring one server to ``admin`` (maint/drain/ready) and ``weight`` (None: keep); True if anything changed."""
        changed = False
        if weight is not None and weight != current["weight"]:
            self.send(f"set server {service}/{server} weight {weight}")
            changed = True
        if admin != current["admin"]:
            self.send(f"set server {service}/{server} state {admin}")
            changed = True
        return changed


class FileEngine(Runtime):
    """nginx has no runtime API: a server's state is what its hold says, and the
    playbook renders the file from the holds and reloads. Nothing is sent."""

    STATUS = {"maint": "MAINT", "drain": "DRAIN"}

    def __init__(self, holds: dict[str, dict[str, Any]], model_weights: dict[str, Any]) -> None:
        super().__init__("", 0.0, True)
        self.holds, self.model_weights = holds, model_weights

    def stat(self, service: str, names: list[str]) -> dict[str, dict[str, Any]]:
        rows = {}
        for name in names:
            hold = self.holds.get(hold_key(service, name)) or {}
            rows[name] = {"status": self.STATUS.get(hold.get("action"), "UP"), "weight": self.user_weight(service, name),
                          "sessions": None}
        return rows

    def user_weight(self, service: str, server: str) -> int:
        hold = self.holds.get(hold_key(service, server)) or {}
        if hold.get("action") == "weight":
            return int(hold["weight"])
        return int(self.model_weights.get(server, 1))

    def send(self, command: str) -> None:
        pass


def same_hold(left: dict[str, Any] | None, right: dict[str, Any] | None) -> bool:
    if left is None or right is None:
        return left is right
    return all(left.get(field) == right.get(field) for field in HOLD_IDENTITY)


def holds_text(holds: dict[str, dict[str, Any]]) -> str:
    return "".join(f"{key}: {json.dumps(holds[key], sort_keys=True)}\n" for key in sorted(holds))


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
    p = module.params
    action = p["action"]
    if p["weight"] is not None and not 0 <= p["weight"] <= 256:
        module.fail_json(msg=f"weight must be 0..256 (HAProxy's range), got {p['weight']}")
    if not 0 <= p["drain_timeout"] <= 3600:
        module.fail_json(msg=f"drain_timeout must be 0..3600 seconds, got {p['drain_timeout']}")
    try:
        parse_time(p["hold_until"])
    except ValueError as exc:
        module.fail_json(msg=f"hold_until: {exc}")

    if p["engine"] == "nginx" and action == "converge":
        module.fail_json(msg="action converge is for HAProxy's runtime; nginx runs what its file says")
    path = holds_path(p["root"], p["engine"])
    try:
        holds_before = read_holds(path)
    except ValueError as exc:
        module.fail_json(msg=f"cannot read the holds: {exc}; fix or remove the file")
    holds = {key: dict(value) for key, value in holds_before.items()}
    runtime = (Runtime(p["stats_socket"], p["timeout"], module.check_mode) if p["engine"] == "haproxy"
               else FileEngine(holds, p["model_weights"]))
    stamp = now()
    result: dict[str, Any] = {"servers": {}, "previous": {}, "changes": []}
    history: list[dict[str, Any]] = []

    try:
        # Each call works on one backend, except converge, which walks every server of the intent.
        targets: list[tuple[str, str]]
        if action == "converge":
            targets = [(service, server) for service in sorted(p["intent"]) for server in sorted(p["intent"][service])]
        elif action == "restore":
            targets = [(p["service"], name) for name in sorted(p["previous"])]
        else:
            targets = [(p["service"], name) for name in p["servers"]]
        stats: dict[str, dict[str, dict[str, Any]]] = {}
        for service, server in targets:
            if service not in stats:
                stats[service] = runtime.stat(service, [name for svc, name in targets if svc == service])
            if server not in stats[service]:
                if action == "converge":
                    continue  # verification reports a server missing at runtime
                known = ", ".join(sorted(stats[service])) or "none"
                module.fail_json(msg=f"server {server} is not in backend {service} at runtime (servers: {known})")

        changed = False
        for service, server in targets:
            row = stats[service].get(server)
            if row is None:
                continue
            key = hold_key(service, server)
            label = key if action == "converge" else server
            current = {"admin": admin_of(row["status"]), "weight": runtime.user_weight(service, server)}
            result["previous"][label] = {**current, "hold": holds.get(key)}
            hold: dict[str, Any] | None
            if action == "converge":
                hold = holds.get(key)
                if hold and hold.get("action") == "weight" and hold.get("weight") == p["intent"][service][server]["weight"]:
                    # The model has the held weight now (a canary made permanent): the hold has done its job.
                    holds.pop(key)
                    history.append({"at": stamp, "action": "end", "service": service, "server": server,
                                    "reason": f"the model now has weight {hold['weight']}", "by": p["requested_by"],
                                    "operation": p["operation"], "before": hold})
                    hold = None
                wanted = intended(p["intent"][service][server], hold)
                admin, weight = wanted["admin"], wanted["weight"]
            elif action == "restore":
                before = p["previous"][server]
                hold, admin, weight = before.get("hold"), before["admin"], int(before["weight"])
            elif action == "ready":
                hold, admin = None, "ready"
                model_weight = p["model_weights"].get(server)
                weight = int(model_weight) if model_weight is not None else None
            else:
                hold = {"action": action, "weight": p["weight"] if action == "weight" else None,
                        "reason": p["reason"], "by": p["requested_by"], "at": stamp, "until": p["hold_until"] or None,
                        "override": p["override"] or None, "operation": p["operation"]}
                admin = action if action in ("maint", "drain") else current["admin"]
                weight = p["weight"] if action == "weight" else None
            server_changed = runtime.enforce(service, server, admin, weight, current)
            if action != "converge" and not same_hold(holds.get(key), hold):
                server_changed = True
                if hold is None:
                    holds.pop(key, None)
                else:
                    holds[key] = hold
            changed = changed or server_changed
            if server_changed and action == "converge":
                result["changes"].append(f"{key}: {current['admin']}, weight {current['weight']} -> {admin}, "
                                         f"weight {weight if weight is not None else current['weight']}")
            result["servers"][label] = {"before": {**row, **current}, "changed": server_changed}
            if server_changed and action != "converge":
                history.append({"at": stamp, "action": action, "service": service, "server": server,
                                "weight": weight, "by": p["requested_by"], "reason": p["reason"],
                                "until": p["hold_until"] or None, "override": p["override"] or None,
                                "operation": p["operation"], "before": current})

        if action == "drain" and p["servers"] and not module.check_mode and p["engine"] == "haproxy":
            deadline = time.monotonic() + p["drain_timeout"]
            started = time.monotonic()
            while True:
                live = runtime.stat(p["service"], p["servers"])
                left = {name: live.get(name, {}).get("sessions") or 0 for name in p["servers"]}
                if not any(left.values()) or time.monotonic() >= deadline:
                    break
                time.sleep(DRAIN_POLL_SECONDS)
            for name in p["servers"]:
                result["servers"][name].update(drained=left[name] == 0, sessions_left=left[name],
                                               waited_seconds=round(time.monotonic() - started, 1))
        if not module.check_mode:
            for service in {service for service, _ in targets}:
                live = runtime.stat(service, [name for svc, name in targets if svc == service])
                for service_name, server in targets:
                    label = hold_key(service, server) if action == "converge" else server
                    if service_name == service and label in result["servers"]:
                        result["servers"][label]["after"] = live.get(server)
    except (OSError, RuntimeError, ValueError) as exc:
        module.fail_json(msg=f"HAProxy runtime API on {p['stats_socket']}: {exc}", commands=runtime.commands,
                         **result)

    if not module.check_mode and holds != holds_before:
        os.makedirs(os.path.dirname(path), mode=0o750, exist_ok=True)
        atomic_write(path, json.dumps(holds, indent=2, sort_keys=True).encode() + b"\n", 0o640)
    if not module.check_mode and history:
        with open(operations_path(p["root"], p["engine"]), "a", encoding="utf-8") as log:
            for entry in history:
                log.write(json.dumps(entry, sort_keys=True) + "\n")
    diff = {"before_header": path, "after_header": path, "before": holds_text(holds_before),
            "after": holds_text(holds)}
    module.exit_json(changed=changed, holds=holds, commands=runtime.commands, diff=diff, **result)


if __name__ == "__main__":
    main()
