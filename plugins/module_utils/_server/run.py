"""lbguard_server's run: check the arguments, bring the servers to the state asked, keep the holds.

The module (plugins/modules/lbguard_server.py) builds the AnsibleModule and calls
``run_module``. Standard library and ansible.module_utils only, Python 3.9 and
later: it runs on the load-balancer hosts.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lbguard.core.plugins.module_utils._server.runtime import FileEngine, Runtime, admin_of
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


def same_hold(left: dict[str, Any] | None, right: dict[str, Any] | None) -> bool:
    if left is None or right is None:
        return left is right
    return all(left.get(field) == right.get(field) for field in HOLD_IDENTITY)


def holds_text(holds: dict[str, dict[str, Any]]) -> str:
    return "".join(f"{key}: {json.dumps(holds[key], sort_keys=True)}\n" for key in sorted(holds))


def run_module(module: AnsibleModule) -> None:
    """Check the module's arguments, act on the servers, write the holds and the history; exit the module."""
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
