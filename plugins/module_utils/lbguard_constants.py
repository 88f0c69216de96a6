"""lbguard's constants: the one home of every value more than one file needs.

Imported by the modules on the hosts (plugins/modules),
the filters on the controller (filter_plugins/, shipped as plugins/filter) and,
through the lbguard_constant filter, by roles and playbooks, as
``ansible_collections.lbguard.core.plugins.module_utils.lbguard_constants``.
Documentation that states a value for its reader (module and filter docs, role
argument specs, READMEs) repeats it; tests/unit/plugins/module_utils/test_constants_home.py checks
that nothing else does. Standard library only, Python 3.9 and later.
"""

from __future__ import annotations

#: Where the ledger lives on a host unless lbguard_ledger_root says otherwise.
LEDGER_ROOT = "/var/lib/lbguard"

#: The engines lbguard renders, verifies and records.
ENGINES: tuple[str, ...] = ("haproxy", "nginx")

#: HAProxy's runtime API socket (level admin): verification, drain, audits.
ADMIN_SOCKET = "/run/haproxy/admin.sock"

#: lbguard's own status listener on the load balancer (both engines): the digest
#: of the loaded model at STATUS_MODEL_PATH, and the engine's metrics.
STATUS_PORT = 8405
STATUS_BIND = f"127.0.0.1:{STATUS_PORT}"
STATUS_MODEL_PATH = "/lbguard/model"
STATUS_URL = f"http://{STATUS_BIND}{STATUS_MODEL_PATH}"

#: What the lbguard_constant filter exposes to roles and playbooks, by name.
CONSTANTS: dict[str, object] = {
    "ledger_root": LEDGER_ROOT,
    "engines": list(ENGINES),
    "admin_socket": ADMIN_SOCKET,
    "status_port": STATUS_PORT,
    "status_bind": STATUS_BIND,
    "status_url": STATUS_URL,
    "status_model_path": STATUS_MODEL_PATH,
}
