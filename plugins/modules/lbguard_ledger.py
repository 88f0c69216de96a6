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

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lbguard.core.plugins.module_utils._ledger.run import run_module
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_constants import ENGINES, LEDGER_ROOT


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
    run_module(module)


if __name__ == "__main__":
    main()
