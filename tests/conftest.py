"""lbguard.core is imported as Ansible imports it: through Ansible's collection loader.

The loader is installed once, before any test module is imported, for the whole
run. Some tests need it (tests/integration/awx reads awx.awx's modules with it),
and a collection imported before it was installed cannot be imported further
after: each plugin would then load or fail by the order the tests ran in.
"""

from ansible.plugins.loader import init_plugin_loader
from lbguard_test_tools import REPO_ROOT


def pytest_configure() -> None:
    init_plugin_loader([str(REPO_ROOT / "collections"), str(REPO_ROOT / ".collections")])
