"""What lbguard_probe's parts share: the short text of an exception in every error it reports.

Standard library only, Python 3.9 and later: it runs on the load-balancer hosts.
"""

from __future__ import annotations


def describe(exc: BaseException) -> str:
    """Short text of an exception, never empty."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
