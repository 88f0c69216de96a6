"""Ansible reaches this scenario's hosts as the unprivileged deploy user, as on a real fleet."""

import os
import sys

sys.path.insert(0, os.path.join(os.environ.get("MOLECULE_PROJECT_DIRECTORY", "."), "molecule"))
from lbguard_logins import assert_logins_are_unprivileged  # noqa: E402  (path set just above)


def test_every_host_is_reached_as_the_deploy_user_with_sudo_and_root_still_works():
    assert_logins_are_unprivileged(expected_hosts=9)
