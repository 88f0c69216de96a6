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
    is reported as stale, never taken over silently. O(takeover) takes over the
    lock of one named run, for an operator who knows that run is dead.
  - Commit-confirmed, as network devices do it. C(begin) arms a systemd timer on
    the host before the live file changes; unless C(confirm) disarms it within
    O(confirm_timeout) seconds, the host itself puts the last verified release
    back and reloads the engine. A run killed after its reload therefore rolls
    back without a controller.
  - C(begin) also reconciles what a dead run left. An unconfirmed release is
    restored, a live file that is no release is kept as one and the last
    verified release is put back, and a running engine whose model differs from
    the current release is reported for a reload.
  - In check mode nothing is written; results say what would happen. With
    C(--diff), C(restore) shows what it changes in the live file.
  - To read the ledger without changing it, use M(lbguard.core.lbguard_ledger_info).
options:
  action:
    description: What to do.
    type: str
    required: true
    choices: [lock, unlock, adopt, begin, record, mark, confirm, restore]
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
  takeover:
    description:
      - With lock, the run id of a lock to take over (a run known to be dead).
        A lock of any other run is still refused.
    type: str
  service:
    description: systemd service of the engine, reloaded by the timer (begin).
    type: str
  status_url:
    description:
      - URL where the running engine reports its model digest (begin). When it
        differs from the current release's, C(reload_needed) is true.
    type: str
  confirm_timeout:
    description:
      - Seconds the host waits for C(confirm) before it restores the last
        verified release (begin). 0 arms no timer.
    type: int
    default: 0
  release:
    description:
      - Release id (mark, restore, confirm with O(status)), or for restore
        C(previous) (the release before the current one) or C(last_verified).
    type: str
  status:
    description:
      - Verification result to store (mark). With C(confirm), the same call then
        marks O(release) with it, unless the host's timer restored a release
        first (see RV(expired)). A verified deploy so makes its two last steps in one call.
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
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - lbguard.core.ledger
attributes:
  check_mode:
    support: full
  diff_mode:
    support: partial
    details: Only C(restore) returns a diff, of the live configuration file.
  platform:
    platforms: posix
author:
  - lbguard
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
  sample: r00007-20261202T101500Z-1a2b3c4d
previous:
  description: Release that was current before a record or restore.
  type: str
  returned: record, restore
  sample: r00006-20261202T091500Z-5e6f7a8b
current:
  description: Id of the live release.
  type: str
  returned: always
  sample: r00007-20261202T101500Z-1a2b3c4d
last_verified:
  description: Id of the newest verified release.
  type: str
  returned: always
  sample: r00006-20261202T091500Z-5e6f7a8b
lock:
  description: The lock's content, when a lock exists.
  type: dict
  returned: lock, unlock
  sample: {"run_id": "20261202T101455Z-4242", "owner": "alice", "started_epoch": 1796206495}
diff:
  description:
    - With C(--diff), what C(restore) changes in the live file (before and after,
      text files only).
  type: dict
  returned: restore, in diff mode, when the live file changes
  sample: {"before_header": "/etc/haproxy/haproxy.cfg", "after_header": "release r00006-...", "before": "...", "after": "..."}
taken_over:
  description: The lock of a dead run that O(takeover) replaced.
  type: dict
  returned: lock, when a lock was taken over
reconciled:
  description:
    - What C(begin) found and did before anything new, one sentence each
      (an unconfirmed release restored, a live file kept and replaced, a
      restore done by the host's timer). Empty when all was in order.
  type: list
  elements: str
  returned: begin
  sample: ["run r-1 never confirmed release r00007-...: the host's timer restored r00006-... at 2026-12-02T10:00:00Z"]
reload_needed:
  description: Whether the engine must reload so it runs the current release (begin).
  type: bool
  returned: begin
armed:
  description: The timer armed by C(begin) (unit, deadline, release it would restore), or null.
  type: dict
  returned: begin
expired:
  description: The timer's record, when it restored before C(confirm) came (confirm).
  type: dict
  returned: confirm
"""

import datetime
import hashlib
import json
import os
import subprocess
import sys
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import ConnectionError as UrlConnectionError
from ansible.module_utils.urls import open_url
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_constants import ENGINES, LEDGER_ROOT
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_ledger_store import Ledger
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_ledger_store import atomic_write as _atomic_write
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_ledger_store import now as _now
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_ledger_store import sha_of as _sha_of


# The commit-confirm timer runs this on the host, as root, when a deploy did not
# confirm in time. The module writes it next to the ledger (ROOT/bin), so the
# timer and the module that armed it are always the same version. Standard
# library only: the run that would run Ansible is gone.
RESTORER_SOURCE = r"""#!/usr/bin/python3
'''lbguard: put the last verified release back when a deploy did not confirm.

Written by the lbguard_ledger module; run by the systemd timer that a deploy
arms before it reloads. Argument: the ledger's pending.json.
'''
import datetime, json, os, subprocess, sys, tempfile


def write_like(path, data, like):
    folder = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".lbguard-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    if os.path.exists(like):
        st = os.stat(like)
        os.chmod(tmp, st.st_mode & 0o7777)
        os.chown(tmp, st.st_uid, st.st_gid)
    os.replace(tmp, path)


def main(pending_path):
    claimed = pending_path + ".expiring"
    try:
        # confirm renames the same file: whoever renames first wins.
        os.rename(pending_path, claimed)
    except FileNotFoundError:
        return 0
    with open(claimed, encoding="utf-8") as handle:
        pending = json.load(handle)
    with open(pending["restore_config"], "rb") as handle:
        data = handle.read()
    try:
        with open(pending["current_pointer"], encoding="utf-8") as handle:
            replaced = handle.read().strip() or None
    except FileNotFoundError:
        replaced = None
    write_like(pending["config_path"], data, pending["config_path"])
    write_like(pending["current_pointer"], (pending["restore_release"] + "\n").encode(), pending["current_pointer"])
    reload = subprocess.run(pending["reload_command"], capture_output=True, text=True)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    expired = dict(pending, replaced_release=replaced, expired_at=now, reload_rc=reload.returncode,
                   reload_output=(reload.stdout + reload.stderr).strip()[-2000:])
    write_like(pending["expired_path"], json.dumps(expired, indent=2).encode() + b"\n", claimed)
    os.unlink(claimed)
    print(f"run {pending['run_id']} did not confirm within {pending['timeout']} s: restored release "
          f"{pending['restore_release']} over {replaced}; reload exit {reload.returncode}")
    return reload.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
"""


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


def _timer_unit(ledger: Ledger) -> str:
    return f"lbguard-confirm-{os.path.basename(ledger.root)}"


def _stop_timer(unit: str) -> None:
    """Stop a commit-confirm timer and forget its last run; no error when there is none."""
    for command in (["systemctl", "stop", f"{unit}.timer", f"{unit}.service"],
                    ["systemctl", "reset-failed", f"{unit}.timer", f"{unit}.service"]):
        subprocess.run(command, capture_output=True, check=False)


def _start_timer(unit: str, seconds: int, argv: list[str], description: str) -> None:
    subprocess.run(["systemd-run", f"--unit={unit}", f"--on-active={seconds}s",
                    "--timer-property=AccuracySec=1s", f"--description={description}", *argv],
                   capture_output=True, text=True, check=True)


def _running_model(url: str) -> str | None:
    """Digest the running engine reports, or None when it does not answer."""
    try:
        with open_url(url, timeout=3) as answer:
            return answer.read().decode("utf-8", "replace").strip()
    except (OSError, UrlConnectionError):
        return None


def _note_failed(ledger: Ledger, release: str | None, note: str) -> None:
    """Mark a release that was never confirmed as failed, with why."""
    if release and release in ledger.ids():
        meta = ledger.meta(release)
        meta["verification"] = {"status": "failed", "at": _now(), "note": note}
        ledger.write_meta(release, meta)


def _reconcile(module: AnsibleModule, ledger: Ledger) -> tuple[list[str], bool]:
    """Settle what a dead run left, before anything new: (what was found and done, reload needed)."""
    p = module.params
    done: list[str] = []
    reload_needed = False
    verb = "would restore" if module.check_mode else "restored"

    if os.path.exists(ledger.expired_path):
        with open(ledger.expired_path, encoding="utf-8") as handle:
            expired = json.load(handle)
        note = (f"run {expired['run_id']} did not confirm within {expired['timeout']} s: the host's timer "
                f"restored {expired['restore_release']} at {expired['expired_at']}")
        done.append(f"{note} (over {expired.get('replaced_release') or 'nothing'})")
        if expired.get("reload_rc"):
            done.append(f"the timer's reload failed ({expired['reload_rc']}): {expired.get('reload_output')}")
            reload_needed = True
        if not module.check_mode:
            if expired.get("replaced_release") != expired["restore_release"]:
                _note_failed(ledger, expired.get("replaced_release"), note)
            os.unlink(ledger.expired_path)

    if os.path.exists(ledger.pending_path):
        with open(ledger.pending_path, encoding="utf-8") as handle:
            pending = json.load(handle)
        replaced, target = ledger.current, pending["restore_release"]
        died = f"run {pending['run_id']} died before confirming (timer due {pending['deadline']})"
        live_is_current = bool(replaced) and _sha_of(p["config_path"]) == ledger.meta(replaced).get("config_sha256")
        if not live_is_current:
            # Killed between writing and recording: the live-file check below keeps it and restores.
            done.append(f"{died}, before it recorded its live file")
        elif replaced == target:
            done.append(f"{died}, before it changed anything")
        else:
            done.append(f"{died}: run {p['run_id']} {verb} {target} (over {replaced})")
            reload_needed = True
        if not module.check_mode:
            os.rename(ledger.pending_path, ledger.pending_path + ".reconciling")
            _stop_timer(_timer_unit(ledger))
            if live_is_current and replaced != target:
                with open(ledger.config_of(target), "rb") as handle:
                    _atomic_write(p["config_path"], handle.read(), 0o644, like=p["config_path"])
                ledger.set_pointer("current", target)
                _note_failed(ledger, replaced, done[-1])
            os.unlink(ledger.pending_path + ".reconciling")

    current, live_sha = ledger.current, _sha_of(p["config_path"])
    if current and live_sha and live_sha != ledger.meta(current).get("config_sha256"):
        target = ledger.last_verified or current
        done.append(f"the live file {p['config_path']} (sha256 {live_sha[:12]}) is no release of the ledger, "
                    f"current is {current}: kept it as an unverified release, {verb} {target}")
        reload_needed = True
        if not module.check_mode:
            with open(p["config_path"], "rb") as handle:
                data = handle.read()
            ledger.add(data, dict(config_path=p["config_path"], owner=p["owner"], previous=current,
                                  verification={"status": "unrecorded", "at": _now(),
                                                "note": f"found live by run {p['run_id']}, not written by lbguard"}))
            with open(ledger.config_of(target), "rb") as handle:
                _atomic_write(p["config_path"], handle.read(), 0o644, like=p["config_path"])
            ledger.set_pointer("current", target)

    current = ledger.current
    expected = ledger.meta(current).get("model_digest") if current else None
    if p["status_url"] and expected and not reload_needed:
        running = _running_model(p["status_url"])
        if running is not None and running != expected:
            done.append(f"the running engine reports model {running[:12]}, the live release {current} has "
                        f"{expected[:12]}: reloading onto the live file")
            reload_needed = True
    return done, reload_needed


def _arm(module: AnsibleModule, ledger: Ledger) -> dict | None:
    """Arm the timer that restores the last verified release unless confirm comes first."""
    p = module.params
    target = ledger.last_verified
    if p["confirm_timeout"] <= 0 or not target or module.check_mode:
        return None
    unit = _timer_unit(ledger)
    _stop_timer(unit)
    os.makedirs(os.path.dirname(ledger.restorer_path), mode=0o750, exist_ok=True)
    if _sha_of(ledger.restorer_path) != hashlib.sha256(RESTORER_SOURCE.encode()).hexdigest():
        _atomic_write(ledger.restorer_path, RESTORER_SOURCE.encode(), 0o750)
    deadline = time.time() + p["confirm_timeout"]
    pending = {"run_id": p["run_id"], "owner": p["owner"], "armed_at": _now(), "timeout": p["confirm_timeout"],
               "deadline": datetime.datetime.fromtimestamp(deadline, datetime.timezone.utc).strftime(
                   "%Y-%m-%dT%H:%M:%SZ"),
               "restore_release": target, "restore_config": ledger.config_of(target),
               "config_path": p["config_path"], "current_pointer": os.path.join(ledger.root, "current"),
               "expired_path": ledger.expired_path, "unit": unit,
               "reload_command": ["systemctl", "reload-or-restart", p["service"]]}
    _atomic_write(ledger.pending_path, json.dumps(pending, indent=2).encode() + b"\n", 0o640)
    _start_timer(unit, p["confirm_timeout"], [sys.executable, ledger.restorer_path, ledger.pending_path],
                 f"lbguard: restore {p['service']} release {target} unless run {p['run_id']} confirms")
    return {"unit": unit, "deadline": pending["deadline"], "restores": target, "timeout": p["confirm_timeout"]}


def do_begin(module: AnsibleModule, ledger: Ledger) -> dict:
    """Before a change: reconcile what a dead run left, adopt a first release, arm the timer."""
    reconciled, reload_needed = _reconcile(module, ledger)
    adopted = do_adopt(module, ledger)
    return {"changed": bool(reconciled) or adopted["changed"], "release": adopted["release"],
            "reconciled": reconciled, "reload_needed": reload_needed, "armed": _arm(module, ledger)}


def do_confirm(module: AnsibleModule, ledger: Ledger) -> dict:
    """Disarm this run's timer, then with ``status`` mark ``release``; ``expired`` when the timer restored first."""
    if module.params["status"] and not module.params["release"]:
        module.fail_json(msg="confirm with a status needs the release to mark (release)")
    result = _disarm(module, ledger)
    if module.params["status"] and not result["expired"]:
        result.update(do_mark(module, ledger))
    return result


def _disarm(module: AnsibleModule, ledger: Ledger) -> dict:
    """Disarm this run's timer. Reports ``expired`` when the timer restored first."""
    if os.path.exists(ledger.pending_path):
        with open(ledger.pending_path, encoding="utf-8") as handle:
            armed_by = json.load(handle).get("run_id")
        if armed_by != module.params["run_id"]:
            # Another run's timer: only that run, or the next run's reconcile, settles it.
            return {"changed": False, "confirmed": False, "expired": None, "armed_by": armed_by}
    try:
        os.rename(ledger.pending_path, ledger.pending_path + ".confirming")
    except FileNotFoundError:
        expired = None
        if os.path.exists(ledger.expired_path):
            with open(ledger.expired_path, encoding="utf-8") as handle:
                expired = json.load(handle)
            if expired.get("run_id") != module.params["run_id"]:
                expired = None
        return {"changed": False, "confirmed": False, "expired": expired}
    if module.check_mode:
        os.rename(ledger.pending_path + ".confirming", ledger.pending_path)
        return {"changed": False, "confirmed": True, "expired": None}
    _stop_timer(_timer_unit(ledger))
    os.unlink(ledger.pending_path + ".confirming")
    return {"changed": False, "confirmed": True, "expired": None}


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


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            action=dict(type="str", required=True,
                        choices=["lock", "unlock", "adopt", "begin", "record", "mark", "confirm", "restore"]),
            root=dict(type="path", default=LEDGER_ROOT),
            engine=dict(type="str", choices=list(ENGINES)),
            config_path=dict(type="path"),
            run_id=dict(type="str"),
            owner=dict(type="str", default="unknown"),
            stale_after=dict(type="int", default=1800),
            force=dict(type="bool", default=False),
            takeover=dict(type="str"),
            service=dict(type="str"),
            status_url=dict(type="str"),
            confirm_timeout=dict(type="int", default=0),
            release=dict(type="str"),
            status=dict(type="str", choices=["passed", "failed"]),
            metadata=dict(type="dict", default={}),
            keep=dict(type="int", default=10),
        ),
        required_if=[
            ("action", "lock", ["run_id"]),
            ("action", "unlock", ["run_id"]),
            ("action", "adopt", ["config_path"]),
            ("action", "begin", ["config_path", "run_id", "service"]),
            ("action", "confirm", ["run_id"]),
            ("action", "record", ["config_path"]),
            ("action", "mark", ["status"]),
            ("action", "restore", ["config_path"]),
        ],
        supports_check_mode=True,
    )
    ledger = Ledger(module.params["root"], module.params["engine"])
    actions = {"lock": do_lock, "unlock": do_unlock, "adopt": do_adopt, "begin": do_begin, "record": do_record,
               "mark": do_mark, "confirm": do_confirm, "restore": do_restore}
    result = actions[module.params["action"]](module, ledger)
    result.setdefault("current", ledger.current)
    result.setdefault("last_verified", ledger.last_verified)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
