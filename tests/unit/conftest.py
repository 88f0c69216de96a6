"""Make the project's filter plugins and modules importable as plain modules in unit tests."""

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
FILTER_PLUGINS = REPO_ROOT / "filter_plugins"

# Modules in library/ (lbguard_probe, ...) are imported the same way.
LIBRARY = REPO_ROOT / "library"

for _folder in (FILTER_PLUGINS, LIBRARY):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))
