"""lbguard_ledger's run: one action on the ledger of one host, with the pointers after it.

The module (plugins/modules/lbguard_ledger.py) builds the AnsibleModule and calls
``run_module``. Standard library and ansible.module_utils only, Python 3.9 and
later: it runs on the load-balancer hosts.
"""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lbguard.core.plugins.module_utils._ledger.confirm import do_begin, do_confirm
from ansible_collections.lbguard.core.plugins.module_utils._ledger.lock import do_lock, do_unlock
from ansible_collections.lbguard.core.plugins.module_utils._ledger.releases import (
    do_adopt,
    do_mark,
    do_record,
    do_restore,
)
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_ledger_store import Ledger


def run_module(module: AnsibleModule) -> None:
    """Run the action of the module's arguments on its ledger; exit the module with the result."""
    ledger = Ledger(module.params["root"], module.params["engine"])
    actions = {"lock": do_lock, "unlock": do_unlock, "adopt": do_adopt, "begin": do_begin, "record": do_record,
               "mark": do_mark, "confirm": do_confirm, "restore": do_restore}
    result = actions[module.params["action"]](module, ledger)
    result.setdefault("current", ledger.current)
    result.setdefault("last_verified", ledger.last_verified)
    module.exit_json(**result)
