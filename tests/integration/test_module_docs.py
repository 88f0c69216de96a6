"""The modules in plugins/modules/ document themselves as ansible-doc reads them."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lbguard_test_tools import REPO_ROOT

MODULES = sorted((REPO_ROOT / "plugins" / "modules").glob("lbguard_*.py"))


def doc_strings(path: Path) -> dict[str, str]:
    """DOCUMENTATION, EXAMPLES and RETURN of a module file, as written."""
    found = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) \
                and node.targets[0].id in ("DOCUMENTATION", "EXAMPLES", "RETURN"):
            found[node.targets[0].id] = node.value.value
    return found


@pytest.mark.parametrize("path", MODULES, ids=[path.stem for path in MODULES])
def test_documentation_examples_and_return_are_yaml(path: Path) -> None:
    docs = doc_strings(path)
    assert set(docs) == {"DOCUMENTATION", "EXAMPLES", "RETURN"}, sorted(docs)
    documentation = yaml.safe_load(docs["DOCUMENTATION"])
    assert documentation["module"] == path.stem
    # Options inline, or from lbguard's own doc fragments (plugins/doc_fragments), which ansible-doc merges.
    fragments = documentation.get("extends_documentation_fragment") or []
    assert documentation.get("options") or any(f.startswith("lbguard.core.") for f in fragments), path.stem
    assert isinstance(yaml.safe_load(docs["EXAMPLES"]), list)
    returned = yaml.safe_load(docs["RETURN"])
    incomplete = sorted(key for key, value in returned.items() if not {"description", "type", "returned"} <= set(value))
    assert returned and incomplete == [], incomplete


@pytest.mark.parametrize("path", MODULES, ids=[path.stem for path in MODULES])
def test_ansible_doc_shows_the_module(path: Path) -> None:
    tool = Path(sys.executable).parent / "ansible-doc"
    result = subprocess.run([str(tool), "-M", str(REPO_ROOT / "plugins" / "modules"), path.stem], capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "OPTIONS" in result.stdout and "RETURN VALUES" in result.stdout, result.stdout[:2000]
