"""Documentation of the lbguard_report action (plugins/action/lbguard_report.py); there is no module code."""

from __future__ import annotations

DOCUMENTATION = r"""
module: lbguard_report
short_description: Write a run's JSON report on the control node
description:
  - Writes O(report) as indented JSON with sorted keys to O(dir)/O(name) on the control node, creating
    O(dir) (mode 0755) when it is missing. The file (mode 0644) is written beside its final name and
    renamed, so a reader never sees half a report.
  - An action that runs in the controller's own process, with no module process and no connection, so the
    report step of every lbguard playbook costs milliseconds.
  - A report is a run's output, not managed state, so the task never reports a change. In check mode
    nothing is written, so a check run leaves the control node as it found it.
options:
  dir:
    description: Folder of the report, created when missing.
    type: path
    required: true
  name:
    description: File name of the report inside O(dir); a plain name, without a path separator.
    type: str
    required: true
  report:
    description: What the report says.
    type: dict
    required: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: Writes nothing in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
author:
  - lbguard
"""

EXAMPLES = r"""
- name: Write the JSON report
  lbguard.core.lbguard_report:
    dir: "{{ playbook_dir }}/../reports"
    name: "deploy-{{ lbguard_run_id }}.json"
    report: "{{ report_run }}"
"""

RETURN = r"""
path:
  description: The report's path on the control node.
  type: str
  returned: always
  sample: reports/deploy-20261203T101500Z-123456.json
written:
  description: Whether the file was written; V(false) in check mode.
  type: bool
  returned: always
  sample: true
"""
