"""execution-environment.yml: `ansible-builder create` writes a build context that installs what the playbooks need.

`ansible-builder create` only writes files. The test runs it with the network and
child processes blocked inside its interpreter, so a version of ansible-builder that
started to fetch something or to call a container engine would fail here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
EE_FILE = REPO_ROOT / "execution-environment.yml"

# Runs ansible-builder's CLI in this interpreter with sockets and subprocesses disabled.
OFFLINE_BUILDER = """
import os, socket, subprocess, sys

def _refuse(*args, **kwargs):
    raise RuntimeError("ansible-builder create tried to use the network or run a program")

for _name in ("connect", "connect_ex", "sendto"):
    setattr(socket.socket, _name, _refuse)
socket.create_connection = _refuse
socket.getaddrinfo = _refuse
subprocess.Popen.__init__ = _refuse
os.system = _refuse
for _name in ("execv", "execve", "execvp", "execvpe", "posix_spawn", "posix_spawnp", "fork"):
    if hasattr(os, _name):
        setattr(os, _name, _refuse)

from ansible_builder.cli import run
sys.argv = ["ansible-builder"] + sys.argv[1:]
sys.exit(run())
"""


def pinned(requirement: str) -> str:
    """The `name==version` line of requirements.txt for a package."""
    for line in (REPO_ROOT / "requirements.txt").read_text().splitlines():
        if line.split("==")[0].strip().lower() == requirement:
            return line.strip()
    raise AssertionError(f"{requirement} is not pinned in requirements.txt")


@pytest.fixture(scope="module")
def definition() -> dict:
    return yaml.safe_load(EE_FILE.read_text())


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`ansible-builder create` in a copy of the EE's inputs, with the collection built as `make collection` does."""
    pytest.importorskip("ansible_builder", reason="ansible-builder is installed by requirements.txt")
    work = tmp_path_factory.mktemp("ee")
    for name in (EE_FILE.name, "requirements.yml", "ee-requirements.txt", "ee-bindep.txt"):
        shutil.copy(REPO_ROOT / name, work / name)
    built = subprocess.run([str(Path(sys.executable).parent / "ansible-galaxy"), "collection", "build",
                            "--output-path", str(work / "dist"), str(REPO_ROOT)],
                           capture_output=True, text=True, timeout=120, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    ctx = work / "context"
    result = subprocess.run(
        [sys.executable, "-c", OFFLINE_BUILDER, "create", "--file", str(work / EE_FILE.name), "--context", str(ctx)],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return ctx


def test_definition_is_version_3_with_every_dependency(definition: dict) -> None:
    assert definition["version"] == 3
    deps = definition["dependencies"]
    assert deps["ansible_core"]["package_pip"] == pinned("ansible-core"), "the EE must run the tested ansible-core"
    assert re.fullmatch(r"ansible-runner==[0-9.]+", deps["ansible_runner"]["package_pip"])
    assert deps["galaxy"] == "requirements.yml"
    assert deps["python"] == "ee-requirements.txt"
    assert deps["system"] == "ee-bindep.txt"
    for name in ("requirements.yml", "ee-requirements.txt", "ee-bindep.txt"):
        assert (REPO_ROOT / name).is_file(), name


def test_python_requirements_cover_the_filter_plugins_imports() -> None:
    """ee-requirements.txt lists every third-party import of filter_plugins/ beyond ansible-core's own."""
    provided = {"ansible", "jinja2", "yaml"}  # ansible-core and its dependencies
    listed = {
        re.split(r"[<>=!~\[; ]", line.strip(), maxsplit=1)[0].lower().replace("-", "_")
        for line in (REPO_ROOT / "ee-requirements.txt").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    }
    stdlib = set(sys.stdlib_module_names)
    for plugin in sorted((REPO_ROOT / "filter_plugins").glob("*.py")):
        for match in re.finditer(r"^\s*(?:from|import)\s+([A-Za-z_][A-Za-z0-9_.]*)", plugin.read_text(), re.M):
            top = match.group(1).split(".")[0]
            if top in stdlib or top in provided or top == "__future__":
                continue
            # This collection's own shared code travels with it.
            if match.group(1).startswith("ansible_collections.lbguard.core.plugins."):
                continue
            assert top.lower() in listed, f"{plugin.name} imports {top}: add it to ee-requirements.txt"


def test_bindep_has_git_and_ssh_client() -> None:
    lines = [
        line.split("#")[0].strip() for line in (REPO_ROOT / "ee-bindep.txt").read_text().splitlines() if line.strip()
    ]
    names = {line.split()[0] for line in lines if line}
    assert "git" in names
    assert {"openssh-clients", "openssh-client"} <= names  # RPM and dpkg names


def test_context_has_a_containerfile(context: Path) -> None:
    assert (context / "Containerfile").is_file()


def test_containerfile_installs_the_pinned_ansible(context: Path, definition: dict) -> None:
    text = (context / "Containerfile").read_text()
    refs = re.search(r'^ARG ANSIBLE_INSTALL_REFS="([^"]*)"', text, re.M)
    assert refs, text
    assert pinned("ansible-core") in refs.group(1).split()
    assert definition["dependencies"]["ansible_runner"]["package_pip"] in refs.group(1).split()
    assert "pip install --no-cache-dir $ANSIBLE_INSTALL_REFS" in text


def test_containerfile_installs_the_collections(context: Path) -> None:
    text = (context / "Containerfile").read_text()
    assert (context / "_build" / "requirements.yml").read_text() == (REPO_ROOT / "requirements.yml").read_text()
    assert "COPY _build /build" in text
    assert re.search(r"ansible-galaxy collection install .*-r requirements\.yml", text), text
    wanted = {c["name"] for c in yaml.safe_load((REPO_ROOT / "requirements.yml").read_text())["collections"]}
    assert {"community.general", "ansible.posix"} <= wanted


def test_containerfile_installs_python_and_system_requirements(context: Path) -> None:
    text = (context / "Containerfile").read_text()
    build = context / "_build"
    assert (build / "requirements.txt").read_text() == (REPO_ROOT / "ee-requirements.txt").read_text()
    assert (build / "bindep.txt").read_text() == (REPO_ROOT / "ee-bindep.txt").read_text()
    assert "COPY _build/requirements.txt requirements.txt" in text
    assert "COPY _build/bindep.txt bindep.txt" in text
    assert "--user-pip=requirements.txt" in text and "--user-bindep=bindep.txt" in text
    assert "RUN /output/scripts/assemble" in text  # pip wheels and the bindep list
    assert "RUN /output/scripts/install-from-bindep" in text  # system packages in the final image
    for script in ("assemble", "install-from-bindep", "introspect.py"):
        assert (build / "scripts" / script).is_file(), script


def test_the_image_installs_the_built_collection(context: Path) -> None:
    tarballs = list((context / "_build" / "lbguard").glob("lbguard-core-*.tar.gz"))
    assert len(tarballs) == 1, tarballs
    text = (context / "Containerfile").read_text()
    final = text[text.rindex("FROM "):]  # the last stage is the image AWX runs
    assert "COPY _build/lbguard/ /tmp/lbguard/" in final, final
    assert re.search(r"RUN ansible-galaxy collection install --no-deps --offline -p /usr/share/ansible/collections "
                     r"/tmp/lbguard/lbguard-core-\*\.tar\.gz", final), final


def test_context_has_no_absolute_path_of_this_checkout(context: Path) -> None:
    for path in context.rglob("*"):
        if path.is_file() and path.suffix != ".py" and path.parent.name != "scripts":
            assert str(REPO_ROOT) not in path.read_text(errors="replace"), path
