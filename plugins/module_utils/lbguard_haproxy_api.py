"""HAProxy's runtime API on its stats socket: read `show stat`, what UP means, send commands.

Shared by lbguard_probe (which only reads) and lbguard_server (which drains,
puts servers in maintenance and sets weights). Standard library only: it runs
on the load-balancer hosts.
"""

from __future__ import annotations

import csv
import io
import socket
import time
from typing import Any, Sequence

MAX_SOCKET_BYTES = 16 * 1024 * 1024
READ_CHUNK = 65536
# An answer may take at most this many times the per-operation timeout in total.
SOCKET_BUDGET_FACTOR = 4.0


def parse_show_stat(text: str, counters: Sequence[str] = ()) -> dict[str, dict[str, dict[str, Any]]]:
    """Parse HAProxy ``show stat`` CSV into {backend: {server: values}}: lbguard's one reader of it.

    Columns are looked up by the header line (``# pxname,svname,...``), not by
    position; FRONTEND and BACKEND summary rows are skipped. Without ``counters``
    the values are {"status", "weight", "sessions"}: a weight that is empty or not
    a number is 0; ``sessions`` (current sessions, ``scur``) is None when the
    column is absent or empty. With ``counters`` (column names, such as
    ``("lbtot", "stot")``) the values are those columns, each None when empty or
    not a number. ValueError when the header or a needed column is missing.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("#"):
        raise ValueError("show stat output does not start with the '# pxname,svname,...' header")
    header = [name.strip() for name in lines[0].lstrip("#").strip().split(",")]
    for required in ("pxname", "svname", *(counters or ("status", "weight"))):
        if required not in header:
            raise ValueError(f"show stat header has no {required!r} column")
    result: dict[str, dict[str, dict[str, Any]]] = {}
    for row in csv.DictReader(io.StringIO("\n".join(lines[1:])), fieldnames=header):
        backend = (row.get("pxname") or "").strip()
        server = (row.get("svname") or "").strip()
        if not backend or not server or server in ("FRONTEND", "BACKEND"):
            continue
        if counters:
            result.setdefault(backend, {})[server] = {counter: _number(row.get(counter)) for counter in counters}
            continue
        result.setdefault(backend, {})[server] = {
            "status": (row.get("status") or "").strip(),
            "weight": _number(row.get("weight")) or 0,
            "sessions": _number(row.get("scur")),
        }
    return result


def _number(text: str | None) -> int | None:
    """A ``show stat`` field as a whole number, None when it is empty or not one."""
    text = (text or "").strip()
    return int(text) if text.isdigit() else None


def is_up(status: str, no_check: bool = True) -> bool:
    """Whether a ``show stat`` status puts a server in rotation: lbguard's one definition of UP.

    "UP", "UP 1/3" (going down, still up), any case; and "no check" (a server
    without health checks) unless ``no_check`` is False.
    """
    text = str(status).strip()
    return text.upper().startswith("UP") or (no_check and text.lower() == "no check")


def read_unix_socket(path: str, command: str, timeout: float, max_bytes: int = MAX_SOCKET_BYTES) -> str:
    """Send one command to a unix stream socket and return everything it answers.

    HAProxy's runtime API closes the connection after answering a single
    non-interactive command. Reading stops at EOF, at ``max_bytes`` or when
    ``timeout`` (per operation, also an overall budget of 4x) runs out.
    """
    deadline = time.monotonic() + timeout * SOCKET_BUDGET_FACTOR
    chunks: list[bytes] = []
    total = 0
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(command.rstrip("\n").encode("ascii") + b"\n")
        while total < max_bytes:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no end of answer from {path} within {timeout * SOCKET_BUDGET_FACTOR:g}s")
            sock.settimeout(min(timeout, remaining))
            chunk = sock.recv(READ_CHUNK)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    return b"".join(chunks).decode("utf-8", errors="replace")


def run_command(path: str, command: str, timeout: float) -> None:
    """Send a command that changes state; raise RuntimeError with HAProxy's words when it refuses.

    Commands like ``set server`` answer nothing on success and a sentence on error.
    """
    answer = read_unix_socket(path, command, timeout).strip()
    if answer:
        raise RuntimeError(f"HAProxy refused '{command}': {answer}")
