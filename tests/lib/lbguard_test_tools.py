"""Helpers shared by the unit tests: the project's playbooks and modules, a stand-in runtime API socket."""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def ansible_playbook() -> str:
    """ansible-playbook of the virtualenv running the tests (the project's .venv); fails, never skips, without it."""
    for candidate in (
        Path(sys.executable).parent / "ansible-playbook",
        REPO_ROOT / ".venv" / "bin" / "ansible-playbook",
    ):
        if candidate.exists():
            return str(candidate)
    pytest.fail("ansible-playbook not found next to the Python interpreter nor in .venv/bin: run scripts/bootstrap.sh",
                pytrace=False)
    raise AssertionError  # unreachable: pytest.fail raises


def module_env() -> dict[str, str]:
    """The environment of a plugin run in its own Python: lbguard.core importable by its collection path only.

    The checkout is lbguard.core through collections/; .collections holds the installed collections.
    """
    folders = (REPO_ROOT / "collections", REPO_ROOT / ".collections")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(str(folder) for folder in folders)}


@contextmanager
def serve_unix(reply: Callable[[str], str]) -> Iterator[tuple[str, list[str]]]:
    """A unix socket answering one command per connection with ``reply(command)``, as HAProxy's runtime API does.

    Yields (socket path, commands received).
    """
    commands: list[str] = []
    with tempfile.TemporaryDirectory(prefix="lbg") as folder:
        path = os.path.join(folder, "admin.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(8)
        listener.settimeout(0.1)
        stop = threading.Event()

        def serve() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except (TimeoutError, OSError):
                    continue
                with conn:
                    conn.settimeout(2)
                    data = b""
                    while not data.endswith(b"\n"):
                        chunk = conn.recv(1024)
                        if not chunk:
                            break
                        data += chunk
                    command = data.decode().strip()
                    commands.append(command)
                    conn.sendall(reply(command).encode())

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            yield path, commands
        finally:
            stop.set()
            thread.join(timeout=5)
            listener.close()
