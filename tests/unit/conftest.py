"""Make the project's filter plugins and modules importable as plain modules in unit tests,
and the checkout itself importable as the collection lbguard.core (their shared
module_utils), through the committed link collections/ansible_collections/lbguard/core."""

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
FILTER_PLUGINS = REPO_ROOT / "filter_plugins"

# Modules in plugins/modules/ (lbguard_probe, ...) are imported the same way.
LIBRARY = REPO_ROOT / "plugins" / "modules"

# ansible_collections.lbguard.core.plugins.module_utils.* (a namespace package).
# The installed collections go on the path too: once ansible_collections is
# imported from here, other tests of the run (tests/awx) find awx.awx in it.
COLLECTIONS = REPO_ROOT / "collections"
INSTALLED_COLLECTIONS = REPO_ROOT / ".collections"

for _folder in (FILTER_PLUGINS, LIBRARY, COLLECTIONS, INSTALLED_COLLECTIONS):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))
