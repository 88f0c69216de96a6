"""The checkout as the collection lbguard.core: it builds, installs, documents itself and runs
as a collection with no help from this project's ansible.cfg (issue #12)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lbguard_test_tools import REPO_ROOT

BIN = Path(sys.executable).parent
EXAMPLES = REPO_ROOT / "inventories" / "examples"


def run(tool: str, *args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """One Ansible command line, its output kept."""
    return subprocess.run([str(BIN / tool), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The tarball `ansible-galaxy collection build` makes, installed into an empty folder.

    Returns a working folder outside the checkout and the environment of a user
    who has only that install (and the collections requirements.yml names): no
    ANSIBLE_CONFIG, so none of this project's ansible.cfg paths.
    """
    base = tmp_path_factory.mktemp("collection")
    user = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    dependencies = REPO_ROOT / ".collections"
    user.update(ANSIBLE_NOCOLOR="1", ANSIBLE_COLLECTIONS_PATH=f"{base / 'installed'}:{dependencies}")
    built = run("ansible-galaxy", "collection", "build", "--output-path", str(base / "dist"), str(REPO_ROOT),
                cwd=base, env=user)
    assert built.returncode == 0, built.stdout + built.stderr
    tarballs = list((base / "dist").glob("lbguard-core-*.tar.gz"))
    assert len(tarballs) == 1, tarballs
    done = run("ansible-galaxy", "collection", "install", "--no-deps", "-p", str(base / "installed"),
               str(tarballs[0]), cwd=base, env=user)
    assert done.returncode == 0, done.stdout + done.stderr
    return base, user


def test_galaxy_metadata_names_the_collection_and_its_ansible() -> None:
    galaxy = yaml.safe_load((REPO_ROOT / "galaxy.yml").read_text())
    assert (galaxy["namespace"], galaxy["name"]) == ("lbguard", "core")
    runtime = yaml.safe_load((REPO_ROOT / "meta" / "runtime.yml").read_text())
    assert runtime["requires_ansible"].startswith(">=2.19")
    # The build keeps this link; ignoring its target would leave it dangling. The modules are a real folder.
    for link, target in (("plugins/filter", "../filter_plugins"),):
        assert os.readlink(REPO_ROOT / link) == target
    assert (REPO_ROOT / "plugins" / "modules").is_dir() and not (REPO_ROOT / "plugins" / "modules").is_symlink()
    assert not {"filter_plugins", "plugins"} & set(galaxy.get("build_ignore") or [])


def test_the_installed_collection_holds_roles_playbooks_and_plugins(installed: tuple[Path, dict[str, str]]) -> None:
    base, _ = installed
    root = base / "installed" / "ansible_collections" / "lbguard" / "core"
    manifest = json.loads((root / "MANIFEST.json").read_text())["collection_info"]
    assert (manifest["namespace"], manifest["name"]) == ("lbguard", "core")
    for role in ("haproxy", "nginx", "lb_deploy", "lb_verify", "lb_server", "lb_audit", "lb_plan", "lb_result",
                 "lb_monitoring"):
        assert (root / "roles" / role / "meta" / "argument_specs.yml").is_file(), role
    for playbook in ("validate", "deploy", "verify", "rollback", "audit", "plan", "unlock"):
        assert (root / "playbooks" / f"{playbook}.yml").is_file(), playbook
    assert (root / "plugins" / "filter" / "lbguard_model.py").is_file()
    assert (root / "plugins" / "modules" / "lbguard_ledger.py").is_file()
    assert (root / "plugins" / "module_utils" / "lbguard_common.py").is_file()
    # Nothing of this machine's checkout travels with it.
    assert not any((root / name).exists() for name in (".venv", ".collections", ".cache", ".git", "collections"))


def test_ansible_doc_documents_every_filter_and_module(installed: tuple[Path, dict[str, str]]) -> None:
    base, user = installed
    filters = run("ansible-doc", "-t", "filter", "-l", "lbguard.core", "--json", cwd=base, env=user)
    assert filters.returncode == 0, filters.stderr
    listed = json.loads(filters.stdout)
    names = {name.split(".")[-1] for name in listed}
    # Every filter a FilterModule declares ("lbguard_x": function) is listed.
    declared = {match for path in (REPO_ROOT / "filter_plugins").glob("*.py")
                for match in re.findall(r'"(lbguard_[a-z_]+)":', path.read_text())}
    assert declared and declared <= names, sorted(declared - names)
    undocumented = sorted(name for name, text in listed.items() if not text or "UNDOCUMENTED" in str(text))
    assert undocumented == [], undocumented
    for module in ("lbguard_probe", "lbguard_ledger", "lbguard_ledger_info", "lbguard_report"):
        shown = run("ansible-doc", f"lbguard.core.{module}", cwd=base, env=user)
        assert shown.returncode == 0 and "RETURN VALUES" in shown.stdout, shown.stdout + shown.stderr


@pytest.mark.parametrize(("inventory", "passes"), [("good", True), ("incident", False)])
def test_validate_runs_as_a_collection_playbook(installed: tuple[Path, dict[str, str]], inventory: str,
                                                passes: bool) -> None:
    base, user = installed
    result = run("ansible-playbook", "lbguard.core.validate", "-i", str(EXAMPLES / inventory / "hosts.yml"),
                 cwd=base, env=user)
    assert (result.returncode == 0) is passes, result.stdout[-4000:] + result.stderr[-2000:]
    if not passes:
        assert "would receive 100% of traffic" in result.stdout, result.stdout[-4000:]
