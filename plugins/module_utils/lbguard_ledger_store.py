"""The release ledger's folder on a load-balancer host: releases, pointers, lock.

Shared by the lbguard_ledger module (which changes it) and lbguard_ledger_info
(which only reads it). Standard library only: it runs on the hosts.

Layout under ROOT (default LEDGER_ROOT of lbguard_constants): ``lock`` (one per host),
``bin/lbguard-confirm-restore`` (the commit-confirm restorer) and, per engine,
``ENGINE/releases/ID/{config,meta.json}``, ``ENGINE/current``,
``ENGINE/last_verified``, ``ENGINE/pending.json`` and ``ENGINE/expired.json``.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import tempfile

from ansible_collections.lbguard.core.plugins.module_utils.lbguard_holds import holds_path, read_holds


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def atomic_write(path: str, data: bytes, mode: int = 0o644, like: str | None = None) -> None:
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
        # Commit-confirm: armed by begin, removed by confirm or by the timer,
        # which leaves expired.json for the next run to record.
        self.pending_path = os.path.join(self.root, "pending.json")
        self.expired_path = os.path.join(self.root, "expired.json")
        self.restorer_path = os.path.join(root, "bin", "lbguard-confirm-restore")

    def ensure(self) -> None:
        os.makedirs(self.releases_dir, mode=0o750, exist_ok=True)

    def _pointer(self, name: str) -> str | None:
        try:
            with open(os.path.join(self.root, name), encoding="utf-8") as handle:
                return handle.read().strip() or None
        except FileNotFoundError:
            return None

    def set_pointer(self, name: str, release: str) -> None:
        atomic_write(os.path.join(self.root, name), (release + "\n").encode(), 0o640)

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
        atomic_write(os.path.join(self.releases_dir, release, "meta.json"), data, 0o640)

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
        atomic_write(self.config_of(release), data, 0o640)
        meta = dict(meta, id=release, created=now(), config_sha256=sha, size=len(data))
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


def sha_of(path: str | None) -> str | None:
    """SHA-256 of a file, None when no path is given or the file does not exist."""
    if not path:
        return None
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except FileNotFoundError:
        return None
    return digest.hexdigest()


def read_json(path: str) -> dict | None:
    """A JSON file of the ledger, or None when it does not exist."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None


def ledger_info(root: str, engine: str | None, releases: bool = True, config_path: str | None = None) -> dict:
    """Everything the ledger of one engine holds, read only (without the releases' metadata unless asked).

    lbguard_ledger_info returns it; lbguard_probe returns it beside its
    measurement, so a no-change deploy needs one call (docs/pipeline.md).
    """
    ledger = Ledger(root, engine)
    current = ledger.current
    return {
        "current": current,
        "last_verified": ledger.last_verified,
        "current_release": ledger.meta(current) if current and current in ledger.ids() else None,
        "live_sha256": sha_of(config_path),
        "releases": [ledger.meta(release) for release in ledger.ids()] if releases else [],
        "lock": ledger.read_lock(),
        "pending": read_json(ledger.pending_path),
        "expired": read_json(ledger.expired_path),
        "holds": read_holds(holds_path(root, engine)) if engine else {},
    }


def unverified_because(info: dict, model_digest: str) -> str | None:
    """Why the live release is not one that passed verification with this model, untouched since; None when it is.

    ``info`` is what ``ledger_info`` returns with the live file's path. A deploy
    whose answer is None changes nothing: its fast path only verifies.
    """
    current, release = info["current"], info["current_release"]
    if release is None:
        return "no release is live in the ledger"
    status = (release.get("verification") or {}).get("status")
    reasons = [
        (status != "passed", f"release {current} has verification status {status or 'none'}, not passed"),
        (current != info["last_verified"], f"release {current} is not the last verified one ({info['last_verified']})"),
        (release.get("model_digest") != model_digest,
         f"release {current} runs model {str(release.get('model_digest'))[:12]}, not {model_digest[:12]}"),
        (info["live_sha256"] != release.get("config_sha256"), f"the live file is no longer release {current}'s file"),
        (info["pending"] is not None, "a commit-confirm rollback timer is pending"),
        (info["expired"] is not None, "a commit-confirm rollback timer expired and restored a release"),
        (info["lock"] is not None, f"run {(info['lock'] or {}).get('run_id')} holds the deploy lock"),
    ]
    return next((reason for failed, reason in reasons if failed), None)

