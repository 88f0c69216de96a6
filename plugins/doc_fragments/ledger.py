"""The options every module of the release ledger shares: where it is, and which engine's half."""

from __future__ import annotations


class ModuleDocFragment:
    """``extends_documentation_fragment: lbguard.core.ledger``."""

    DOCUMENTATION = r"""
options:
  root:
    description:
      - Folder of the ledger on the host. The deploy lock lives here, one per host;
        each engine's releases and pointers under O(root)/ENGINE.
      - Playbooks pass C(lbguard_ledger_root), unset by default, once per play for all
        the ledger modules (action group C(group/lbguard.core.ledger) in C(module_defaults)).
    type: path
    default: /var/lib/lbguard
  engine:
    description:
      - The engine whose releases are meant. Each engine on a host has its own
        history, so a rollback never writes one engine's configuration into the
        other's file.
    type: str
    choices: [haproxy, nginx]
attributes:
  action_group:
    description: Use C(group/lbguard.core.ledger) in C(module_defaults) to set O(root) for all the ledger modules.
    support: full
    membership:
      - lbguard.core.ledger
"""
