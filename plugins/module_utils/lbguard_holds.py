"""Sanctioned runtime states ("holds") in the ledger, and the history of runtime operations.

A hold is a server state an operator asked for through playbooks/server.yml:
maintenance, drain or a runtime weight, with who, when, why and until when.
Verification, the audit and deploys read the holds to tell a sanctioned state
from drift. Standard library only: it runs on the hosts (lbguard_server,
lbguard_probe) and on the controller (the filters).

Files under ROOT/ENGINE: ``holds.json`` ({"SERVICE/SERVER": hold}) and
``operations.jsonl`` (one JSON object per operation, appended).
"""

from __future__ import annotations

import datetime
import json
import os
from typing import Any, Mapping

#: Runtime operations that leave a hold; "ready" removes it.
HOLD_ACTIONS = ("maint", "drain", "weight")
#: Every runtime operation playbooks/server.yml offers.
ACTIONS = (*HOLD_ACTIONS, "ready")
#: HAProxy status words of a server that takes no new load-balanced traffic by an operator's hand.
HELD_STATUSES = ("MAINT", "DRAIN", "NOLB")


def file_holds(holds: Mapping[str, Any] | None, engine: str) -> dict[str, dict[str, Any]]:
    """What of the holds an engine's file carries: {"SERVICE/SERVER": {action, weight}}.

    nginx has no runtime API, so its file carries every hold. HAProxy keeps
    maintenance and drain at runtime (its server-state-file keeps them across
    reloads) and carries runtime weights in its file, so a canary's final weight
    is what every later reload, restart and deploy starts from.
    """
    carried = HOLD_ACTIONS if engine == "nginx" else ("weight",)
    return {key: {"action": hold.get("action"), "weight": hold.get("weight")}
            for key, hold in sorted((holds or {}).items()) if hold.get("action") in carried}


def holds_path(root: str, engine: str) -> str:
    return os.path.join(root, engine, "holds.json")


def operations_path(root: str, engine: str) -> str:
    return os.path.join(root, engine, "operations.jsonl")


def hold_key(service: str, server: str) -> str:
    return f"{service}/{server}"


def read_holds(path: str) -> dict[str, dict[str, Any]]:
    """The holds file as {"SERVICE/SERVER": hold}; {} when there is none.

    Raises ValueError when the file is not a JSON object (a hand edit gone wrong
    must not read as "no holds").
    """
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ValueError(f"{path} is not a JSON object of holds")
    return data


def parse_time(text: str | None) -> datetime.datetime | None:
    """An ISO 8601 time (``2026-12-03T18:00:00Z`` or with an offset) as an aware datetime, None when empty.

    Raises ValueError when the text is not such a time, or has no time zone.
    """
    if not text:
        return None
    try:
        value = datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        # lbguard's words, not Python's ("Invalid isoformat string").
        raise ValueError(f"{text!r} is not a time; write it like 2026-12-03T18:00:00Z") from None
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone; write it like 2026-12-03T18:00:00Z")
    return value


def expired(hold: Mapping[str, Any], now: datetime.datetime | None = None) -> bool:
    """The hold's ``until`` has passed (a hold without ``until`` never expires)."""
    until = parse_time(hold.get("until"))
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return until is not None and until <= now


def describe(hold: Mapping[str, Any]) -> str:
    """One line for reports: ``maintenance by alice at T until U: patching``."""
    what = {"maint": "maintenance", "drain": "drain"}.get(str(hold.get("action")),
                                                          f"weight {hold.get('weight')}")
    text = f"{what} by {hold.get('by') or 'unknown'} at {hold.get('at') or '?'}"
    if hold.get("until"):
        text += f" until {hold['until']}"
    if hold.get("override"):
        text += f" (policy overridden: {hold['override']})"
    return f"{text}: {hold.get('reason') or 'no reason given'}"


def intended(model_state: Mapping[str, Any], hold: Mapping[str, Any] | None) -> dict[str, Any]:
    """A server's intended runtime state, {admin: maint|drain|ready, weight}, from the model's and its hold.

    ``model_state`` is what the model alone asks (maint for a disabled server).
    A maintenance hold puts the server in maintenance, a drain hold drains it (the
    weight stays the model's, for when the drain ends), a weight hold sets the
    runtime weight. A server the model disables stays in maintenance.
    """
    admin, weight = model_state["admin"], int(model_state["weight"])
    action = (hold or {}).get("action")
    if admin != "maint" and action in ("maint", "drain"):
        admin = action
    if action == "weight":
        weight = int(hold["weight"])  # type: ignore[index]
    return {"admin": admin, "weight": weight}
