"""lbguard_ledger's releases: adopt the file found on the host, record, mark and restore a release.

Part of lbguard_ledger (plugins/modules/lbguard_ledger.py). Standard library and
ansible.module_utils only, Python 3.9 and later: it runs on the load-balancer hosts.
"""

from __future__ import annotations

import hashlib
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_ledger_store import Ledger
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_ledger_store import atomic_write as _atomic_write
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_ledger_store import now as _now
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_ledger_store import sha_of as _sha_of


def do_adopt(module: AnsibleModule, ledger: Ledger) -> dict:
    """Record the config found on the host as the first release, so rollback has a target."""
    path = module.params["config_path"]
    if ledger.current or not os.path.exists(path):
        return {"changed": False, "release": ledger.current}
    if module.check_mode:
        return {"changed": True, "release": None}
    ledger.ensure()
    with open(path, "rb") as handle:
        data = handle.read()
    meta = dict(module.params["metadata"], config_path=path, owner=module.params["owner"],
                verification={"status": "adopted", "at": _now(), "note": "found on the host before lbguard"})
    release = ledger.add(data, meta)
    ledger.set_pointer("current", release)
    ledger.set_pointer("last_verified", release)
    return {"changed": True, "release": release}



def do_record(module: AnsibleModule, ledger: Ledger) -> dict:
    path = module.params["config_path"]
    current = ledger.current
    sha = _sha_of(path)
    if sha is None:
        module.fail_json(msg=f"{path} does not exist: nothing to record")
    if current and ledger.meta(current).get("config_sha256") == sha:
        return {"changed": False, "release": current, "previous": current}
    if module.check_mode:
        return {"changed": True, "release": None, "previous": current}
    ledger.ensure()
    with open(path, "rb") as handle:
        data = handle.read()
    meta = dict(module.params["metadata"], config_path=path, owner=module.params["owner"], previous=current,
                verification={"status": "pending", "at": _now()})
    release = ledger.add(data, meta)
    ledger.set_pointer("current", release)
    pruned = ledger.prune(module.params["keep"])
    return {"changed": True, "release": release, "previous": current, "pruned": pruned}


def _resolve(module: AnsibleModule, ledger: Ledger, name: str | None) -> str:
    if name in (None, "", "last_verified"):
        release = ledger.last_verified
    elif name == "previous":
        current = ledger.current
        release = ledger.meta(current).get("previous") if current else None
    else:
        release = name
    if not release or release not in ledger.ids():
        module.fail_json(msg=f"no release {name!r} in the ledger (known: {', '.join(ledger.ids()) or 'none'})")
    return release


def do_mark(module: AnsibleModule, ledger: Ledger) -> dict:
    release = _resolve(module, ledger, module.params["release"])
    status = module.params["status"]
    meta = ledger.meta(release)
    verification = dict(module.params["metadata"], status=status, at=_now())
    changed = meta.get("verification", {}).get("status") != status or (
        status == "passed" and ledger.last_verified != release)
    if not module.check_mode:
        meta["verification"] = verification
        ledger.write_meta(release, meta)
        if status == "passed":
            ledger.set_pointer("last_verified", release)
    return {"changed": changed, "release": release}


def do_restore(module: AnsibleModule, ledger: Ledger) -> dict:
    path = module.params["config_path"]
    release = _resolve(module, ledger, module.params["release"])
    with open(ledger.config_of(release), "rb") as handle:
        data = handle.read()
    previous = ledger.current
    changed = _sha_of(path) != hashlib.sha256(data).hexdigest() or previous != release
    result = {"changed": changed, "release": release, "previous": previous}
    if changed and module._diff:
        result["diff"] = file_diff(path, data, f"release {release}")
    if changed and not module.check_mode:
        _atomic_write(path, data, 0o644, like=path)
        ledger.set_pointer("current", release)
    return result


def file_diff(path: str, after: bytes, after_header: str) -> dict:
    """Ansible's diff of a file about to be replaced by ``after`` (text only; binary says so)."""
    try:
        with open(path, "rb") as handle:
            before = handle.read()
    except FileNotFoundError:
        before = b""
    try:
        return {"before_header": path, "after_header": after_header,
                "before": before.decode("utf-8"), "after": after.decode("utf-8")}
    except UnicodeDecodeError:
        return {"before_header": path, "after_header": after_header,
                "before": "(binary content)\n", "after": "(binary content)\n"}
