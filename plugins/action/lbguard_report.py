"""Write a run's JSON report on the control node, in the controller's own process."""

from __future__ import annotations

import json
import os
import tempfile

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.json import AnsibleJSONEncoder
from ansible.plugins.action import ActionBase

ARGUMENT_SPEC = {
    "dir": {"type": "path", "required": True},
    "name": {"type": "str", "required": True},
    "report": {"type": "dict", "required": True},
}


class ActionModule(ActionBase):
    """See plugins/modules/lbguard_report.py for the documentation.

    A report used to take two modules (a folder, then a copy), each a Python
    process started on the control node: seconds of every run for a few
    kilobytes. This writes it where the task runs, the control node.
    """

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp  # nothing is sent to a host
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        name = args["name"]
        if not name or name in (".", "..") or os.sep in name or "\n" in name:
            raise AnsibleActionFail(f"lbguard_report: name must be a plain file name, got {name!r}")
        path = os.path.join(args["dir"], name)
        result.update(changed=False, path=path)
        if self._task.check_mode:
            # A check run leaves the control node as it was, like the hosts.
            result.update(written=False, msg=f"check mode: {path} not written")
            return result
        text = json.dumps(args["report"], cls=AnsibleJSONEncoder, indent=4, sort_keys=True,
                          separators=(",", ": ")) + "\n"
        try:
            os.makedirs(args["dir"], mode=0o755, exist_ok=True)
            # Written beside its final name and renamed: a reader never sees half a report.
            handle, partial = tempfile.mkstemp(dir=args["dir"], prefix=f".{name}.")
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as stream:
                    stream.write(text)
                os.chmod(partial, 0o644)
                os.replace(partial, path)
            except BaseException:
                os.unlink(partial)
                raise
        except OSError as error:
            raise AnsibleActionFail(f"lbguard_report: cannot write {path}: {error}") from error
        result.update(written=True, msg=f"report written to {path}")
        return result
