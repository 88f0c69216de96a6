"""lbguard_ledger's deploy lock: lock and unlock, one run at a time per host.

Part of lbguard_ledger (plugins/modules/lbguard_ledger.py). Standard library and
ansible.module_utils only, Python 3.9 and later: it runs on the load-balancer hosts.
"""

from __future__ import annotations

import json
import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_ledger_store import Ledger
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_ledger_store import atomic_write as _atomic_write
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_ledger_store import now as _now


def do_lock(module: AnsibleModule, ledger: Ledger) -> dict:
    p = module.params
    held = ledger.read_lock()
    if held and held.get("run_id") == p["run_id"]:
        return {"changed": False, "lock": held}
    lock = {"run_id": p["run_id"], "owner": p["owner"], "started": _now(), "started_epoch": time.time()}
    if held and p["takeover"] and held.get("run_id") == p["takeover"]:
        # Explicit: the operator named the dead run. Replace its lock in one rename.
        if not module.check_mode:
            _atomic_write(ledger.lock_path, json.dumps(lock).encode(), 0o640)
        return {"changed": True, "lock": lock, "taken_over": held}
    if held:
        age = int(time.time() - float(held.get("started_epoch", 0)))
        who = f"run {held.get('run_id')} of {held.get('owner')} since {held.get('started')} ({age // 60} min ago)"
        way_out = (f"Make sure that run is dead (no deploy or rollback running), then take the lock over with "
                   f"-e lbguard_takeover_lock={held.get('run_id')}, or clear it with playbooks/unlock.yml "
                   f"-e lbguard_unlock_run_id={held.get('run_id')} (ledger {ledger.lock_path})")
        if p["takeover"]:
            module.fail_json(msg=f"takeover of run {p['takeover']} refused: the lock on this host is held by {who}",
                             lock=held, stale=age > p["stale_after"])
        if age > p["stale_after"]:
            module.fail_json(msg=f"stale deploy lock on this host: {who}, older than {p['stale_after']} s; the run "
                             f"was probably killed. {way_out}", lock=held, stale=True)
        module.fail_json(msg=f"another deploy holds the lock on this host: {who}; refusing to interleave. If that "
                         f"run was killed: {way_out}", lock=held, stale=False)
    if module.check_mode:
        return {"changed": True, "lock": lock}
    os.makedirs(ledger.lock_root, mode=0o750, exist_ok=True)
    try:
        fd = os.open(ledger.lock_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    except FileExistsError:
        module.fail_json(msg=f"another deploy took the lock on this host a moment ago: {ledger.read_lock()}")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(lock, handle)
    return {"changed": True, "lock": lock}


def do_unlock(module: AnsibleModule, ledger: Ledger) -> dict:
    held = ledger.read_lock()
    if not held:
        return {"changed": False}
    if held.get("run_id") != module.params["run_id"] and not module.params["force"]:
        module.fail_json(msg=f"the lock belongs to run {held.get('run_id')} of {held.get('owner')}, not to "
                         f"run {module.params['run_id']}; use force to clear it", lock=held)
    if not module.check_mode:
        os.unlink(ledger.lock_path)
    return {"changed": True, "lock": held}
