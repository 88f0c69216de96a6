"""Runtime operations on servers (playbooks/server.yml): the request, its policy check, and holds.

An operation drains servers, puts them in maintenance, makes them ready or
sets a runtime weight. Before it runs, the state it would leave is judged by
the model's own traffic-distribution rules (``traffic_rule_problems``); after
it, the ledger keeps it as a hold, and verification and the audit judge the
load balancer by its model with the holds applied (``held_model``).
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from ansible_collections.lbguard.core.plugins.module_utils.lbguard_common import closest, join_names, kind
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_haproxy_api import is_up
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_holds import (
    ACTIONS,
    describe,
    expired,
    hold_key,
    parse_time,
)
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_model_schema import SERVER_NAME_RE
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_model_servers import traffic_rule_problems


#: What each action does to a server, in words for messages.
ACTION_WORDS = {"maint": "maintenance of", "drain": "drain of", "ready": "ready of", "weight": "weight change of"}
#: A whole number as an operator types it: ASCII digits only (``str.isdigit`` also takes other scripts' digits).
WHOLE_NUMBER_RE = re.compile(r"[0-9]{1,6}")
#: The free-text fields of a request: they are kept in the ledger and printed in reports.
FREE_TEXT_FIELDS: tuple[str, ...] = ("reason", "override", "until")


def control_character(text: str) -> str | None:
    """The first control, format or separator character of ``text`` (``U+000A``), None when there is none.

    Any Unicode category C* (controls, invisible format characters such as a bidi override) or a line or
    paragraph separator: each can forge or hide a line of a report.
    """
    for char in text:
        if unicodedata.category(char)[0] == "C" or unicodedata.category(char) in ("Zl", "Zp"):
            return f"U+{ord(char):04X}"
    return None


def whole_number(value: Any) -> int | None:
    """``value`` as an integer when it is one or a string of ASCII digits; None otherwise (booleans included)."""
    if isinstance(value, str) and WHOLE_NUMBER_RE.fullmatch(value.strip()):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def normalise_operation(raw: Mapping[str, Any], now: datetime.datetime | None = None) -> dict[str, Any]:
    """The operator's request, checked: {action, service, servers, weight, reason, until, override}.

    Raises ValueError listing every problem (``request_problems`` returns them as a list).
    """
    problems, operation = _check_request(raw, now)
    if problems:
        raise ValueError("runtime operation refused: " + "; ".join(problems))
    return operation


def request_problems(raw: Mapping[str, Any], now: datetime.datetime | None = None) -> list[str]:
    """Every problem of the operator's request, one per line; empty when it is valid."""
    return _check_request(raw, now)[0]


def _check_request(raw: Mapping[str, Any], now: datetime.datetime | None) -> tuple[list[str], dict[str, Any]]:
    problems: list[str] = []
    for field in FREE_TEXT_FIELDS:
        value = raw.get(field)
        bad = control_character(value) if isinstance(value, str) else None
        if bad:
            problems.append(f"{field} contains the control character {bad}: write it as one line of visible text")
    action = raw.get("action")
    if action not in ACTIONS:
        hint = closest(action, ACTIONS) if isinstance(action, str) else None
        problems.append(f"action {action!r} is not one of {', '.join(ACTIONS)}"
                        + (f" (did you mean {hint!r}?)" if hint else ""))
    service = raw.get("service")
    if not isinstance(service, str) or not SERVER_NAME_RE.fullmatch(service):
        problems.append(f"service must be the name of a service or pool of lb_services or lb_pools, got {service!r}")
    servers = raw.get("servers")
    if isinstance(servers, str):
        servers = [name.strip() for name in servers.split(",") if name.strip()]
    if not isinstance(servers, list) or not servers:
        problems.append(f"servers must be a non-empty list of server names (or one comma-separated string), "
                        f"got {kind(servers)}")
        servers = []
    for name in servers:
        if not isinstance(name, str) or not SERVER_NAME_RE.fullmatch(name):
            problems.append(f"server name {name!r} is invalid: use 1-63 letters, digits, '_', '.' or '-' "
                            "(no spaces, quotes or newlines)")
    if len(set(map(str, servers))) != len(servers):
        problems.append(f"servers lists a server twice: {join_names([str(s) for s in servers])}")
    weight = raw.get("weight")
    if action == "weight":
        number = whole_number(weight)
        if number is None or not 0 <= number <= 256:
            problems.append(f"weight must be an integer from 0 to 256 for action weight, got {weight!r}")
        else:
            weight = number
    elif weight not in (None, ""):
        problems.append(f"weight is only for action weight, not {action!r}")
    reason = raw.get("reason")
    reason = reason.strip() if isinstance(reason, str) else ""
    if action != "ready" and not reason:
        problems.append("reason is required: say why (a ticket, the patch), it is kept in the ledger")
    until = raw.get("until") or None
    if until is not None:
        try:
            parsed = parse_time(str(until))
        except ValueError as exc:  # parse_time's own words
            problems.append(f"until {until!r} is not an ISO 8601 time: {exc}")
        else:
            if parsed is not None and parsed <= (now or datetime.datetime.now(datetime.timezone.utc)):
                problems.append(f"until {until} is in the past")
    steps: list[int | None] = [weight if action == "weight" else None]
    raw_steps = raw.get("canary_steps") or None
    if raw_steps is not None:
        if action != "weight":
            problems.append(f"canary_steps are only for action weight, not {action!r}")
        else:
            steps, step_problem = canary_weights(raw_steps, weight if isinstance(weight, int) else None)
            if step_problem:
                problems.append(step_problem)
    override = raw.get("override") or None
    if override is not None and (not isinstance(override, str) or not override.strip()):
        problems.append("override must be one line saying why the policy may be broken this time")
    return problems, {"action": action, "service": service, "servers": [str(s) for s in servers],
                      "weight": weight if action == "weight" else None, "reason": reason,
                      "until": str(until) if until else None, "override": override.strip() if override else None,
                      "steps": steps}


def canary_weights(raw: Any, final: int | None) -> tuple[list[int | None], str | None]:
    """The weights of a canary: each step a percent of the final weight, rising, the last one 100.

    ``[10, 50, 100]`` for a final weight of 20 is ``[2, 10, 20]``; a step's
    weight is at least 1, and steps that round to the same weight are one.
    Returns (weights, problem); the problem is None when the steps are valid.
    """
    if isinstance(raw, str):
        raw = [part.strip() for part in raw.split(",") if part.strip()]
    if not isinstance(raw, list) or not raw:
        return [final], f"canary_steps must be a list of percents of the final weight, like [10, 50, 100], got {raw!r}"
    percents = []
    for item in raw:
        number = whole_number(item)
        if number is None or not 1 <= number <= 100:
            return [final], f"canary_steps: {item!r} is not a percent from 1 to 100"
        percents.append(number)
    if percents != sorted(set(percents)) or percents[-1] != 100:
        return [final], f"canary_steps must rise and end at 100, got {percents}"
    if final is None:
        return [final], None
    weights: list[int | None] = []
    for percent in percents:
        step = max(1, round(final * percent / 100)) if final else 0
        if step not in weights:
            weights.append(step)
    return weights, None


def _service_of(model: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    for service in model["services"]:
        if service["name"] == name:
            return service
    names = [service["name"] for service in model["services"]]
    hint = closest(name, names)
    raise ValueError(f"{model['host']}: no service or pool {name!r} (it has {join_names(names) or 'none'})"
                     + (f"; did you mean {hint!r}?" if hint else ""))


def _apply_hold(server: dict[str, Any], hold: Mapping[str, Any], engine: str | None = "haproxy") -> None:
    """A server as a hold leaves it: maintenance is disabled, a drain is weight 0.

    nginx has no drain and no weight 0: a drain (or a weight of 0) takes the
    server out (``down``), and its graceful reload lets open connections finish.
    """
    action = hold.get("action")
    weight = int(hold.get("weight") or 0) if action == "weight" else None
    if action == "maint" or (engine == "nginx" and (action == "drain" or weight == 0)):
        server["disabled"] = True
    elif action == "drain":
        server["weight"] = 0
    elif weight is not None:
        server["weight"] = weight


def operation_problems(model: Mapping[str, Any], operation: Mapping[str, Any],
                       runtime: Mapping[str, Any] | None, holds: Mapping[str, Any] | None) -> list[str]:
    """What the traffic policy says about the states an operation would leave on one LB.

    Each step of a canary is judged, then the end state; problems repeated by
    several steps are listed once. Empty when the policy allows every step.
    """
    problems: list[str] = []
    for step in operation.get("steps") or [operation.get("weight")]:
        for problem in step_problems(model, {**operation, "weight": step}, runtime, holds):
            if problem not in problems:
                problems.append(problem)
    return problems


def step_problems(model: Mapping[str, Any], operation: Mapping[str, Any],
                  runtime: Mapping[str, Any] | None, holds: Mapping[str, Any] | None) -> list[str]:
    """What the traffic policy says about the state one operation (or canary step) would leave.

    Starts from the model, then the runtime state (a server DOWN, MAINT or
    DRAIN takes no traffic; HAProxy's weights) or, without a runtime (nginx),
    the holds; then applies the operation. Empty when the policy allows it.
    """
    service = _service_of(model, operation["service"])
    known = [server["name"] for server in service["servers"]]
    unknown = [name for name in operation["servers"] if name not in known]
    if unknown:
        raise ValueError(f"{model['host']}: service {service['name']} has no server {join_names(unknown)} "
                         f"(servers: {join_names(known)})")
    runtime = runtime or None  # nginx, or an unreadable socket: judge by the holds
    live = runtime.get(service["name"]) if runtime else None
    servers, already_out = [], []
    for server in service["servers"]:
        state = dict(server)
        row = (live or {}).get(server["name"])
        if row is not None:
            status = str(row.get("status", "")).upper()
            if status.startswith(("DOWN", "MAINT")):
                state["disabled"] = True
            elif status.startswith(("DRAIN", "NOLB")):
                state["weight"] = 0
            else:
                state["weight"] = int(row.get("weight", state["weight"]))
            if status and not is_up(status) and server["name"] not in operation["servers"] \
                    and not server["disabled"]:
                already_out.append(f"{server['name']} is {row.get('status')}")
        elif runtime is None:
            hold = (holds or {}).get(hold_key(service["name"], server["name"]))
            if hold is not None:
                _apply_hold(state, hold, model.get("engine"))
        if server["name"] in operation["servers"]:
            if operation["action"] == "ready":
                state.update(disabled=server["disabled"], weight=server["weight"])
            else:
                _apply_hold(state, operation, model.get("engine"))
        servers.append(state)
    label = (f"{model['host']}: {ACTION_WORDS[operation['action']]} {join_names(operation['servers'])} "
             f"in {service['name']}" + (f" to {operation['weight']}" if operation["action"] == "weight" else ""))
    if already_out:
        label += f" ({'; '.join(already_out)})"
    problems, _ = traffic_rule_problems(label, service["balance"], service["policy"], servers)
    return problems


def held_model(model: Mapping[str, Any], holds: Mapping[str, Any] | None) -> dict[str, Any]:
    """The model as the holds sanction it: what verification and the audit expect at runtime.

    A server in maintenance counts as disabled, a drained one as weight 0, a
    runtime weight as its weight; expected shares are computed again. Each held
    server carries its ``hold``. Holds of servers the model does not have are
    ignored here (the audit reports them, ``hold_findings``).
    """
    # Copy on write: a deep copy of Ansible's tagged containers costs about a
    # second on a small model, and most runs hold nothing.
    result = dict(model)
    if not holds:
        return result
    result["services"] = [_held_service(service, holds, model.get("engine")) for service in model["services"]]
    return result


def _held_service(service: Mapping[str, Any], holds: Mapping[str, Any], engine: str | None) -> Mapping[str, Any]:
    """One service of ``held_model``: itself when no hold applies, else a copy with the holds applied."""
    if not any(hold_key(service["name"], server["name"]) in holds for server in service["servers"]):
        return service
    service = {**service, "servers": [dict(server) for server in service["servers"]]}
    for server in service["servers"]:
        hold = holds.get(hold_key(service["name"], server["name"]))
        if hold is not None:
            _apply_hold(server, hold, engine)
            server["hold"] = dict(hold)
    _, shares = traffic_rule_problems(f"service {service['name']}", service["balance"], service["policy"],
                                      service["servers"])
    for server in service["servers"]:
        server["expected_share"] = shares[server["name"]]
    overrides = sorted({str(s["hold"]["override"]) for s in service["servers"] if (s.get("hold") or {}).get("override")})
    if overrides:
        # An override sanctioned breaking max_server_share: the held split is the limit now.
        service["policy"] = {**service["policy"], "overridden": overrides,
                             "max_server_share": max([service["policy"]["max_server_share"], *shares.values()])}
    return service


def runtime_intent(model: Mapping[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """What the model alone asks of HAProxy's runtime: {service: {server: {admin, weight}}}.

    A disabled server is in maintenance, every other one ready, at its model
    weight. lbguard_server action=converge lays the ledger's holds over it
    (``intended`` in module_utils/lbguard_holds.py).
    """
    return {service["name"]: {server["name"]: {"admin": "maint" if server["disabled"] else "ready",
                                               "weight": int(server["weight"])}
                              for server in service["servers"]}
            for service in model["services"]}


def hold_findings(model: Mapping[str, Any], holds: Mapping[str, Any] | None,
                  now: datetime.datetime | None = None) -> list[str]:
    """What the audit says about the holds: expired ones and holds on servers the model no longer has."""
    findings = []
    servers = {hold_key(service["name"], server["name"]) for service in model["services"]
               for server in service["servers"]}
    for key, hold in sorted((holds or {}).items()):
        if key not in servers:
            findings.append(f"hold on {key}, which the model does not have: {describe(hold)}; "
                            "end it with playbooks/server.yml action=ready or remove it from the ledger")
        elif expired(hold, now):
            findings.append(f"{key}: {describe(hold)} has expired; end it with playbooks/server.yml "
                            f"action=ready, or renew it with a new until")
    return findings


def hold_lines(holds: Mapping[str, Any] | None) -> list[str]:
    """One line per hold, for reports: ``shop/web2: drain by alice at T: patching``."""
    return [f"{key}: {describe(hold)}" for key, hold in sorted((holds or {}).items())]
