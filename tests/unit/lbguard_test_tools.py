"""Helpers shared by the unit tests that run the project's playbooks."""

from __future__ import annotations

import sys
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
