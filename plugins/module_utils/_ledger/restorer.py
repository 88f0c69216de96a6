"""The restorer script the commit-confirm timer runs: lbguard_ledger writes it next to the ledger.

Part of lbguard_ledger (plugins/modules/lbguard_ledger.py).
"""

from __future__ import annotations

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
