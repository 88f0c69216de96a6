"""lbguard_ledger's commit-confirm: reconcile what a dead run left, arm the timer, confirm, disarm.

Part of lbguard_ledger (plugins/modules/lbguard_ledger.py). Standard library and
ansible.module_utils only, Python 3.9 and later: it runs on the load-balancer hosts.
"""

from __future__ import annotations

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
from ansible_collections.lbguard.core.plugins.module_utils._ledger.releases import do_adopt, do_mark
from ansible_collections.lbguard.core.plugins.module_utils._ledger.restorer import RESTORER_SOURCE
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_ledger_store import Ledger
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_ledger_store import atomic_write as _atomic_write
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_ledger_store import now as _now
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_ledger_store import sha_of as _sha_of


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
