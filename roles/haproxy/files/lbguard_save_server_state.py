"""Save HAProxy's server states for the process a reload starts (server-state-file).

    python3 lbguard_save_server_state.py CONFIG SOCKET STATE_FILE

Run by the haproxy unit's reload step (a drop-in the lbguard haproxy role
installs), after the new CONFIG passed its check and before the reload signal.
It asks the running process for `show servers state` and writes the answer to
STATE_FILE, keeping only servers whose address and port are the same in CONFIG:
HAProxy applies the saved port over the configured one, so a server whose
address or port changed must start from the new configuration instead.
Standard library only.
"""

from __future__ import annotations

import os
import re
import socket
import sys
import tempfile

SECTION = re.compile(r"^(backend|listen)\s+(\S+)")
OTHER_SECTION = re.compile(r"^(global|defaults|frontend|userlist|peers|resolvers|mailers|program|cache|ring)\b")
SERVER = re.compile(r"^\s+server\s+(\S+)\s+(\[[^\]]+\]|[^\s:]+):(\d+)")
# Columns of `show servers state` (format 1) that identify a server and where it is.
BE_NAME, SRV_NAME, SRV_ADDR, SRV_FQDN, SRV_PORT = 1, 3, 4, 17, 18


def configured_servers(config_text: str) -> dict[tuple[str, str], tuple[str, str]]:
    """{(backend, server): (address or host name, port)} of every server line of the configuration."""
    servers: dict[tuple[str, str], tuple[str, str]] = {}
    backend = None
    for line in config_text.splitlines():
        section = SECTION.match(line)
        if section:
            backend = section.group(2)
            continue
        if OTHER_SECTION.match(line):
            backend = None
            continue
        server = SERVER.match(line)
        if server and backend:
            servers[(backend, server.group(1))] = (server.group(2).strip("[]"), server.group(3))
    return servers


def kept_state(state_text: str, servers: dict[tuple[str, str], tuple[str, str]]) -> str:
    """The state file's version and header lines, and the lines of servers the configuration did not move."""
    kept = []
    for line in state_text.splitlines():
        if not line.strip():
            continue
        fields = line.split()
        if line.startswith("#") or len(fields) == 1:
            kept.append(line)
            continue
        if len(fields) <= SRV_PORT:
            continue
        wanted = servers.get((fields[BE_NAME], fields[SRV_NAME]))
        if wanted and wanted[1] == fields[SRV_PORT] and wanted[0] in (fields[SRV_ADDR], fields[SRV_FQDN]):
            kept.append(line)
    return "\n".join(kept) + "\n"


def show_servers_state(socket_path: str) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(socket_path)
        sock.sendall(b"show servers state\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def main(config: str, socket_path: str, state_file: str) -> int:
    with open(config, encoding="utf-8") as handle:
        servers = configured_servers(handle.read())
    text = kept_state(show_servers_state(socket_path), servers)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(state_file), prefix=".server-state-")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, state_file)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
