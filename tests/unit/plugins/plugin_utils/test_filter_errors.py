"""Every filter fails as Ansible's own do: an AnsibleFilterError naming the filter, never a traceback."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError, AnsibleTypeError

from ansible_collections.lbguard.core.plugins.filter import lbguard_audit
from ansible_collections.lbguard.core.plugins.filter import lbguard_model
from ansible_collections.lbguard.core.plugins.filter import lbguard_verify


def test_a_dict_that_is_not_a_model_names_the_filter_and_what_is_missing() -> None:
    drift = lbguard_audit.FilterModule().filters()["lbguard_runtime_drift"]
    with pytest.raises(AnsibleFilterError, match=r"^lbguard_runtime_drift: an input lacks 'name'; pass what ansible-doc"):
        drift({"services": [{"servers": []}]}, {})


def test_a_value_of_the_wrong_type_is_a_filter_type_error() -> None:
    drift = lbguard_audit.FilterModule().filters()["lbguard_runtime_drift"]
    with pytest.raises(AnsibleTypeError, match=r"^lbguard_runtime_drift: an input has the wrong type"):
        drift({"services": 5}, {})


def test_a_bad_setting_keeps_its_own_words() -> None:
    problems = lbguard_verify.FilterModule().filters()["lbguard_verify_problems"]
    with pytest.raises(AnsibleFilterError, match=r"^lbguard_verify: unknown settings tolerence; known: tolerance"):
        problems({"engine": "haproxy", "services": []}, {}, {"tolerence": 0.1})


def test_a_filters_own_error_passes_through_unchanged() -> None:
    summary = lbguard_model.FilterModule().filters()["lbguard_share_summary"]
    with pytest.raises(AnsibleFilterError) as raised:
        summary({"servers": [{"name": "web1"}]})
    assert str(raised.value).startswith("lbguard_share_summary: every server needs name and expected_share")
