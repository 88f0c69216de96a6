"""Read the release ledger of one load-balancer host, changing nothing."""

from __future__ import annotations

DOCUMENTATION = r"""
module: lbguard_ledger_info
short_description: Read the release ledger of a load-balancer host
description:
  - Returns what the lbguard_ledger module keeps on a host, and changes nothing
    (also in check mode); the read-only half of M(lbguard.core.lbguard_ledger).
  - The ids of the live release (C(current)) and of the newest verified one
    (C(last_verified)), the metadata of every kept release, the deploy lock, the
    commit-confirm timer a run armed and has not confirmed yet (C(pending)), and
    the record the timer leaves when it restored a release (C(expired)).
  - A host that was never deployed gives empty values, not an error.
options:
  config_path:
    description:
      - The live configuration file. When given, RV(live_sha256) is its SHA-256, so a caller can tell whether
        the live file is still the current release's byte for byte (RV(current_release) has its C(config_sha256)).
    type: path
  releases:
    description:
      - Return the metadata of every kept release (RV(releases)). Each carries its model, so a caller that
        wants only the holds, the lock or the pointers asks for V(false) and keeps its variables small.
    type: bool
    default: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - lbguard.core.ledger
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
author:
  - lbguard
"""

EXAMPLES = r"""
- name: Read the ledger of this load balancer
  lbguard.core.lbguard_ledger_info:
    engine: haproxy
  become: true
  register: ledger

- name: Say which release is live
  ansible.builtin.debug:
    msg: "live {{ ledger.current }}, last verified {{ ledger.last_verified }}"
"""

RETURN = r"""
current:
  description: Id of the live release; null on a host never deployed.
  type: str
  returned: always
  sample: r00007-20261202T101500Z-1a2b3c4d
last_verified:
  description: Id of the newest release that passed verification; null when none did.
  type: str
  returned: always
  sample: r00006-20261202T091500Z-5e6f7a8b
releases:
  description: Metadata (meta.json) of every kept release, oldest first; empty with O(releases=false).
  type: list
  elements: dict
  returned: always
  sample: [{"id": "r00007-20261202T101500Z-1a2b3c4d", "config_sha256": "1a2b...", "run_id": "20261202T101455Z-4242",
            "verification": {"status": "passed"}}]
current_release:
  description: Metadata (meta.json) of the live release, model included; null on a host never deployed.
  type: dict
  returned: always
  sample: {"id": "r00007-20261202T101500Z-1a2b3c4d", "config_sha256": "1a2b...", "model_digest": "9f8e...",
           "verification": {"status": "passed", "change_id": "c0ffee"}}
live_sha256:
  description: SHA-256 of O(config_path); null when it is not given or the file does not exist.
  type: str
  returned: always
  sample: 1a2b3c4d5e6f...
lock:
  description: The deploy lock's content (run_id, owner, started_epoch), or null when no run holds the host.
  type: dict
  returned: always
  sample: {"run_id": "20261202T101455Z-4242", "owner": "alice", "started_epoch": 1796206495}
pending:
  description: The commit-confirm timer a run armed and has not confirmed (unit, deadline, release to restore), or null.
  type: dict
  returned: always
  sample: null
expired:
  description: What the timer restored when a run did not confirm in time, or null.
  type: dict
  returned: always
  sample: null
holds:
  description: Sanctioned runtime states (playbooks/server.yml) keyed SERVICE/SERVER, empty without an engine.
  type: dict
  returned: always
  sample: {shop/web2: {action: maint, by: alice, at: "2026-12-03T09:00:00Z", reason: patching}}
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_constants import ENGINES, LEDGER_ROOT
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_ledger_store import ledger_info


def main() -> None:
    """Ansible entry point."""
    module = AnsibleModule(
        argument_spec={
            "root": {"type": "path", "default": LEDGER_ROOT},
            "engine": {"type": "str", "choices": list(ENGINES)},
            "releases": {"type": "bool", "default": True},
            "config_path": {"type": "path"},
        },
        supports_check_mode=True,
    )
    try:
        info = ledger_info(module.params["root"], module.params["engine"], module.params["releases"],
                           module.params["config_path"])
    except (OSError, ValueError) as exc:
        module.fail_json(msg=f"cannot read the ledger under {os.path.join(module.params['root'], module.params['engine'] or '')}: {exc}")
    module.exit_json(changed=False, **info)


if __name__ == "__main__":
    main()
