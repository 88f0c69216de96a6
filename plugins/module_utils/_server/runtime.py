"""lbguard_server's view of a backend's servers: HAProxy's runtime API, or nginx's file through the holds.

Part of lbguard_server (plugins/modules/lbguard_server.py). Standard library only,
Python 3.9 and later: it runs on the load-balancer hosts.
"""

from __future__ import annotations

from typing import Any

from ansible_collections.lbguard.core.plugins.module_utils.lbguard_haproxy_api import (
    parse_show_stat,
    read_unix_socket,
    run_command,
)
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_holds import hold_key


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
