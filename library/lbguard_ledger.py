#!/usr/bin/python
"""Release ledger of one load-balancer host: exact config bytes, metadata, lock."""

from __future__ import annotations

DOCUMENTATION = r"""
module: lbguard_ledger
short_description: Keep the release ledger of a load-balancer host
description:
  - Every applied configuration becomes a release under O(root)/releases/ID with
    the exact bytes (C(config)) and metadata (C(meta.json)).
  - C(current) names the live release, C(last_verified) the newest one that passed
    verification. The oldest releases beyond O(keep) are pruned, never those two.
  - A lock file serialises deploys on the host; a lock older than O(stale_after)
    is reported as stale, never taken over silently.
  - In check mode nothing is written; results say what would happen.
options:
  action:
    description: What to do.
    type: str
    required: true
    choices: [lock, unlock, adopt, record, mark, restore, status]
  root:
    description: Folder of the ledger. The lock lives here, one per host.
    type: path
    default: /var/lib/lbguard
  engine:
    description:
      - Keep releases and pointers under O(root)/ENGINE, so that each engine on
        a host has its own history and a rollback never writes one engine's
        configuration into the other's file.
    type: str
  config_path:
    description: Live configuration file (adopt, record, restore).
    type: path
  run_id:
    description: Identifier of this run (lock, unlock).
    type: str
  owner:
    description: Who runs the deploy, stored in the lock and in release metadata.
    type: str
    default: unknown
  stale_after:
    description: Seconds after which a lock counts as stale (lock).
    type: int
    default: 1800
  force:
    description: With unlock, remove a lock held by another run.
    type: bool
    default: false
  release:
    description:
      - Release id (mark, restore), or for restore C(previous) (the release
        before the current one) or C(last_verified).
    type: str
  status:
    description: Verification result to store (mark).
    type: str
    choices: [passed, failed]
  metadata:
    description: Extra metadata stored with a new release (record) or a mark.
    type: dict
    default: {}
  keep:
    description: How many releases to keep.
    type: int
    default: 10
"""

EXAMPLES = r"""
- name: Take the deploy lock
  lbguard_ledger:
    action: lock
    run_id: "{{ lbguard_run_id }}"
    owner: alice

- name: Record the live file as a release
  lbguard_ledger:
    action: record
    config_path: /etc/haproxy/haproxy.cfg
    metadata: {model_digest: "{{ digest }}"}
  register: release

- name: Restore the previous release byte for byte
  lbguard_ledger:
    action: restore
    release: "{{ release.previous }}"
    config_path: /etc/haproxy/haproxy.cfg
"""

RETURN = r"""
release:
  description: Release recorded, marked or restored.
  type: str
  returned: record, adopt, mark, restore
previous:
  description: Release that was current before a record or restore.
  type: str
  returned: record, restore
current:
  description: Id of the live release.
  type: str
  returned: always
last_verified:
  description: Id of the newest verified release.
  type: str
  returned: always
releases:
  description: Metadata of every kept release, oldest first.
  type: list
  returned: status
lock:
  description: The lock's content, when a lock exists.
  type: dict
  returned: lock, unlock, status
"""

import datetime
import hashlib
import json
import os
import shutil
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _atomic_write(path: str, data: bytes, mode: int = 0o644, like: str | None = None) -> None:
    """Write data to path through a temporary file and rename: never half a file."""
    folder = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".lbguard-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if like and os.path.exists(like):
            st = os.stat(like)
            os.chmod(tmp, st.st_mode & 0o7777)
            os.chown(tmp, st.st_uid, st.st_gid)
        else:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class Ledger:
    """The ledger folder of one host."""

    def __init__(self, root: str, engine: str | None = None) -> None:
        self.lock_root = root
        self.root = os.path.join(root, engine) if engine else root
        self.releases_dir = os.path.join(self.root, "releases")
        self.lock_path = os.path.join(root, "lock")

    def ensure(self) -> None:
        os.makedirs(self.releases_dir, mode=0o750, exist_ok=True)

    def _pointer(self, name: str) -> str | None:
        try:
            with open(os.path.join(self.root, name), encoding="utf-8") as handle:
                return handle.read().strip() or None
        except FileNotFoundError:
            return None

    def set_pointer(self, name: str, release: str) -> None:
        _atomic_write(os.path.join(self.root, name), (release + "\n").encode(), 0o640)

    @property
    def current(self) -> str | None:
        return self._pointer("current")

    @property
    def last_verified(self) -> str | None:
        return self._pointer("last_verified")

    def ids(self) -> list[str]:
        """Release ids, oldest first."""
        if not os.path.isdir(self.releases_dir):
            return []
        return sorted(d for d in os.listdir(self.releases_dir) if os.path.isfile(self.config_of(d)))

    def config_of(self, release: str) -> str:
        return os.path.join(self.releases_dir, release, "config")

    def meta(self, release: str) -> dict:
        with open(os.path.join(self.releases_dir, release, "meta.json"), encoding="utf-8") as handle:
            return json.load(handle)

    def write_meta(self, release: str, meta: dict) -> None:
        data = json.dumps(meta, indent=2, sort_keys=True).encode() + b"\n"
        _atomic_write(os.path.join(self.releases_dir, release, "meta.json"), data, 0o640)

    def new_id(self, sha: str) -> str:
        """r00042-20261130T041500Z-1a2b3c4d: sequence first, so ids sort by age."""
        existing = self.ids()
        sequence = int(existing[-1][1:6]) + 1 if existing else 1
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        return f"r{sequence:05d}-{stamp}-{sha[:8]}"

    def add(self, data: bytes, meta: dict) -> str:
        sha = hashlib.sha256(data).hexdigest()
        release = self.new_id(sha)
        os.makedirs(os.path.join(self.releases_dir, release), mode=0o750)
        _atomic_write(self.config_of(release), data, 0o640)
        meta = dict(meta, id=release, created=_now(), config_sha256=sha, size=len(data))
        self.write_meta(release, meta)
        return release

    def prune(self, keep: int) -> list[str]:
        protected = {self.current, self.last_verified}
        ids = self.ids()
        removed = []
        for release in ids[: max(0, len(ids) - keep)]:
            if release not in protected:
                shutil.rmtree(os.path.join(self.releases_dir, release))
                removed.append(release)
        return removed

    def read_lock(self) -> dict | None:
        try:
            with open(self.lock_path, encoding="utf-8") as handle:
                return json.load(handle)
        except FileNotFoundError:
            return None
        except ValueError:
            return {"run_id": "unreadable", "owner": "unknown", "started_epoch": os.stat(self.lock_path).st_mtime}


def _sha_of(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except FileNotFoundError:
        return None


def do_lock(module: AnsibleModule, ledger: Ledger) -> dict:
    p = module.params
    held = ledger.read_lock()
    if held and held.get("run_id") == p["run_id"]:
        return {"changed": False, "lock": held}
    if held:
        age = int(time.time() - float(held.get("started_epoch", 0)))
        who = f"run {held.get('run_id')} of {held.get('owner')} since {held.get('started')} ({age // 60} min ago)"
        if age > p["stale_after"]:
            module.fail_json(
                msg=f"stale deploy lock on this host: {who}, older than {p['stale_after']} s; the run was probably "
                f"killed. Make sure no deploy is running, then clear it with playbooks/unlock.yml "
                f"-e lbguard_unlock_run_id={held.get('run_id')} (ledger {ledger.lock_path})",
                lock=held, stale=True)
        module.fail_json(msg=f"another deploy holds the lock on this host: {who}; refusing to interleave",
                         lock=held, stale=False)
    lock = {"run_id": p["run_id"], "owner": p["owner"], "started": _now(), "started_epoch": time.time()}
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
    if changed and not module.check_mode:
        _atomic_write(path, data, 0o644, like=path)
        ledger.set_pointer("current", release)
    return {"changed": changed, "release": release, "previous": previous}


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            action=dict(type="str", required=True,
                        choices=["lock", "unlock", "adopt", "record", "mark", "restore", "status"]),
            root=dict(type="path", default="/var/lib/lbguard"),
            engine=dict(type="str", choices=["haproxy", "nginx"]),
            config_path=dict(type="path"),
            run_id=dict(type="str"),
            owner=dict(type="str", default="unknown"),
            stale_after=dict(type="int", default=1800),
            force=dict(type="bool", default=False),
            release=dict(type="str"),
            status=dict(type="str", choices=["passed", "failed"]),
            metadata=dict(type="dict", default={}),
            keep=dict(type="int", default=10),
        ),
        required_if=[
            ("action", "lock", ["run_id"]),
            ("action", "unlock", ["run_id"]),
            ("action", "adopt", ["config_path"]),
            ("action", "record", ["config_path"]),
            ("action", "mark", ["status"]),
            ("action", "restore", ["config_path"]),
        ],
        supports_check_mode=True,
    )
    ledger = Ledger(module.params["root"], module.params["engine"])
    actions = {"lock": do_lock, "unlock": do_unlock, "adopt": do_adopt, "record": do_record,
               "mark": do_mark, "restore": do_restore, "status": lambda m, l: {"changed": False}}
    result = actions[module.params["action"]](module, ledger)
    if module.params["action"] == "status":
        result["releases"] = [ledger.meta(r) for r in ledger.ids()]
        result["lock"] = ledger.read_lock()
    result.setdefault("current", ledger.current)
    result.setdefault("last_verified", ledger.last_verified)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
