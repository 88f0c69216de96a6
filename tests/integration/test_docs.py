"""README.md and docs/*.md cannot drift: every command shown is run, every path and link exists.

The marker convention is described in tests/lib/docs_commands.py and docs/testing.md.
Here: `unit` blocks run for real on the control node, `setup` blocks are dry-run
with `make -n`, `awx` and `lab` blocks pass `ansible-playbook --syntax-check`
(the lab ones run for real in molecule/default/tests/test_docs_commands.py).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

import docs_commands as dc
from lbguard_test_tools import ansible_playbook

REPO_ROOT = dc.REPO_ROOT
README_LIMIT = 12 * 1024
BLOCKS = dc.all_blocks()
SHELL = [b for b in BLOCKS if b.is_shell]
#: Programs an awx block may call: the AWX playbook, and the EE build (whose
#: definition tests/integration/test_execution_environment.py checks with ansible-builder create,
#: after building the collection as `make collection` does).
AWX_PROGRAMS = ("source", "export", "ansible-playbook", "ansible-builder", "ansible-galaxy", "make")
#: Project folders whose paths a doc may name; each must exist.
PROJECT_FOLDERS = (".ci", ".github", "awx", "benchmarks", "docs", "filter_plugins", "inventories", "lab",
                   "molecule", "playbooks", "plugins", "roles", "scripts", "tests")
#: File names the docs mention that are not in the repository: files lbguard writes
#: (reports, Prometheus files), a site's own files, and files on a load balancer.
NOT_IN_REPOSITORY = {"lbguard-rules.yml", "lbguard-scrape.yml", "prometheus.yml", "meta.json", "my-site.yml",
                     "haproxy.cfg", "lbguard_audit.prom"}


def ids(blocks: list[dc.Block]) -> list[str]:
    return [b.where for b in blocks]


def of_kind(kind: str) -> list[dc.Block]:
    return [b for b in SHELL if b.kind == kind]


def environment(tmp_path: Path) -> dict[str, str]:
    """The control node's environment for a doc command: the project's venv and ansible.cfg, nothing else."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(
        PATH=f"{Path(ansible_playbook()).parent}{os.pathsep}{env.get('PATH', '')}",
        ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-local"),
    )
    return env


def bash(script: str, tmp_path: Path, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=REPO_ROOT, env=environment(tmp_path),
                          capture_output=True, text=True, timeout=timeout, check=False)


# ------------------------------------------------------------------------------ markers


def test_docs_have_shell_blocks_of_every_kind() -> None:
    """The convention is in use: a parser that found nothing would pass everything below."""
    kinds = {b.kind for b in SHELL}
    assert set(dc.KINDS) <= kinds, kinds
    assert any(b.expected_output for b in SHELL), "no <!-- output --> block follows a unit block"


@pytest.mark.parametrize("block", SHELL, ids=ids(SHELL))
def test_shell_block_has_a_known_marker(block: dc.Block) -> None:
    assert block.marker is not None, (
        f"{block.where}: shell block without a marker; put <!-- run: KIND --> on the line before it "
        f"(KIND: {', '.join(dc.KINDS)}; see tests/lib/docs_commands.py)"
    )
    assert block.kind is not None, f"{block.where}: unknown marker {block.marker!r}; known kinds: {', '.join(dc.KINDS)}"


@pytest.mark.parametrize("block", [b for b in BLOCKS if not b.is_shell], ids=ids([b for b in BLOCKS if not b.is_shell]))
def test_other_blocks_carry_no_commands(block: dc.Block) -> None:
    assert block.marker is None, f"{block.where}: a run marker on a ```{block.language} block; use ```sh"
    if block.is_output:
        assert block.output_of is not None and block.output_of.kind in ("unit", "lab"), (
            f"{block.where}: <!-- output --> must follow a unit or lab block, whose real output it is compared with"
        )
    assert not re.search(r"(^|\s)(ansible-playbook|ansible-doc|make)\s", block.text) or block.is_output, (
        f"{block.where}: a command in a ```{block.language} block; put it in a marked ```sh block"
    )


def test_marker_parsing_rejects_what_it_should(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("<!-- run: unit exit=2 -->\n```sh\nfalse\n```\n\n<!-- run: lap -->\n```sh\ntrue\n```\n\n"
                   "```sh\ntrue\n```\n\n<!-- output -->\n```text\nline\n```\n", encoding="utf-8")
    first, typo, unmarked, output = dc.blocks(doc)
    assert (first.kind, first.exit_code) == ("unit", 2)
    assert typo.marker == "<!-- run: lap -->" and typo.kind is None
    assert unmarked.marker is None
    assert output.is_output and output.output_of is unmarked


def test_commands_join_continuation_lines_and_skip_comments(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("<!-- run: lab -->\n```sh\n# a comment\nansible-playbook -i INVENTORY \\\n"
                   "    playbooks/deploy.yml -e x=1\n```\n", encoding="utf-8")
    (block,) = dc.blocks(doc)
    assert block.commands() == ["ansible-playbook -i INVENTORY playbooks/deploy.yml -e x=1"]
    assert dc.playbook_of(block.commands()[0]) == "playbooks/deploy.yml"
    assert dc.substitute("-i INVENTORY_X -i INVENTORY", {"INVENTORY": "inv.yml"}) == "-i INVENTORY_X -i inv.yml"
    assert dc.substitute("cp releases/ID/config", {"ID": "r1"}) == "cp releases/r1/config"


def test_shown_output_matches_folded_lines_and_ellipses() -> None:
    real = "FAIL staging lb-1 rolled_back, release r00002-2026 (changed)\n    msg: 'a long\n        message'"
    assert dc.shows(real, "FAIL staging lb-1 rolled_back, release ... (changed)")
    assert dc.shows(real, "a long message")
    assert not dc.shows(real, "FAIL staging lb-1 verified, release ...")
    assert not dc.shows(real, "FAIL staging lb-2 ...")


# ------------------------------------------------------------------------------ running them


@pytest.mark.parametrize("block", of_kind("unit"), ids=ids(of_kind("unit")))
def test_unit_block_runs_as_shown(block: dc.Block, tmp_path: Path) -> None:
    values = dict(dc.UNIT_PLACEHOLDERS, DIR=str(tmp_path / "out"))
    result = bash(dc.substitute(block.text, values), tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == block.exit_code, f"{block.where}: exit {result.returncode}, doc says {block.exit_code}\n{output}"
    for line in block.expected_output:
        assert dc.shows(output, line), f"{block.where}: the doc shows {line!r}, the real output does not:\n{output}"
    if "DIR" in block.text:
        assert any((tmp_path / "out").iterdir()), f"{block.where}: wrote nothing to DIR"


@pytest.mark.parametrize("block", of_kind("setup"), ids=ids(of_kind("setup")))
def test_setup_block_names_real_make_targets(block: dc.Block, tmp_path: Path) -> None:
    for command in block.commands():
        words = shlex.split(command, comments=True)
        assert words[0] == "make", f"{block.where}: setup blocks hold make commands only: {command}"
        result = subprocess.run(["make", "-n", *words[1:]], cwd=REPO_ROOT, capture_output=True, text=True,
                                timeout=60, check=False)
        assert result.returncode == 0, f"{block.where}: make -n {' '.join(words[1:])}\n{result.stderr}"


def syntax_check(command: str, tmp_path: Path, values: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return bash(f"{dc.substitute(command, values)} --syntax-check", tmp_path, timeout=120)


REMOTE = of_kind("awx") + of_kind("lab")


@pytest.mark.parametrize("block", REMOTE, ids=ids(REMOTE))
def test_awx_and_lab_commands_pass_syntax_check(block: dc.Block, tmp_path: Path) -> None:
    commands = list(dc.ansible_playbook_commands(block))
    if block.kind == "lab":
        assert commands and len(commands) == len(block.commands()), f"{block.where}: lab blocks hold playbooks only"
    for command in block.commands():
        program = shlex.split(command, comments=True)[0]
        if block.kind == "awx":
            assert program in AWX_PROGRAMS, f"{block.where}: {program} is not run by any test"
    for command in commands:
        result = syntax_check(command, tmp_path, dict(dc.UNIT_PLACEHOLDERS))
        assert result.returncode == 0, f"{block.where}: {command}\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("block", of_kind("lab") + of_kind("lab-lb"), ids=ids(of_kind("lab") + of_kind("lab-lb")))
def test_the_lab_test_knows_how_to_run_every_lab_block(block: dc.Block) -> None:
    """molecule/default/tests/test_docs_commands.py runs a block by its step; an unknown one would be skipped."""
    assert dc.lab_steps(block), f"{block.where}: no lab step runs this block; add one in tests/lib/docs_commands.py"


def test_every_playbook_command_names_its_inventory() -> None:
    missing = [f"{b.where}: {c}" for b in SHELL for c in dc.ansible_playbook_commands(b)
               if dc.playbook_of(c) != "awx/configure.yml" and not re.search(r"\s(-i|--inventory)\s", c)]
    assert not missing, "ansible.cfg sets no inventory; these need -i INVENTORY:\n" + "\n".join(missing)


def test_lab_steps_classify_the_commands_they_should() -> None:
    assert dc.lab_step("ansible-playbook -i INVENTORY playbooks/deploy.yml --check --diff") == "deploy-check"
    assert dc.lab_step("ansible-playbook -i X playbooks/deploy.yml -e '{\"lbguard_stages\": [\"production\"]}'") == (
        "production-gate")
    assert dc.lab_step("ansible-playbook -i X playbooks/rollback.yml -e lbguard_rollback_to=RELEASE_ID") == (
        "rollback-to-release")
    assert dc.lab_step("ansible-playbook -i X playbooks/deploy.yml -e lbguard_takeover_lock=RUN_ID") == (
        "deploy-takeover")
    assert dc.lab_step("ansible-playbook -i X playbooks/lab.yml") is None


# ------------------------------------------------------------------------------ prose


def inline_code(doc: Path) -> list[str]:
    """Inline code spans outside fenced blocks."""
    text = re.sub(r"^\s*```.*?^\s*```", "", doc.read_text(encoding="utf-8"), flags=re.M | re.S)
    return re.findall(r"`([^`\n]+)`", text)


@pytest.mark.parametrize("doc", dc.documents(), ids=lambda d: d.name)
def test_no_command_hides_in_prose(doc: Path) -> None:
    spans = [s for s in inline_code(doc) if re.match(r"(ansible-playbook|ansible-doc)\s", s)]
    assert not spans, f"{doc.name}: put these commands in a marked ```sh block: {spans}"


@pytest.mark.parametrize("doc", dc.documents(), ids=lambda d: d.name)
def test_make_targets_named_in_prose_exist(doc: Path) -> None:
    for span in inline_code(doc):
        if re.fullmatch(r"make [\w =-]+", span):
            result = subprocess.run(["make", "-n", *span.split()[1:]], cwd=REPO_ROOT, capture_output=True,
                                    text=True, timeout=60, check=False)
            assert result.returncode == 0, f"{doc.name}: `{span}`: {result.stderr}"


def repository_files() -> set[str]:
    skip = {".git", ".venv", ".collections", ".cache", "__pycache__", ".pytest_cache", "reports"}
    names = set()
    for _dirpath, dirnames, filenames in os.walk(REPO_ROOT):
        dirnames[:] = [d for d in dirnames if d not in skip]
        names.update(filenames)
    return names


def is_placeholder(path: str) -> bool:
    return any(re.fullmatch(r"[A-Z][A-Z0-9_]*(\.\w+)?", part) for part in path.split("/"))


@pytest.mark.parametrize("doc", dc.documents(), ids=lambda d: d.name)
def test_every_path_a_doc_names_exists(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    folders = "|".join(re.escape(f) for f in PROJECT_FOLDERS)
    paths = set(re.findall(rf"(?<![\w./-])((?:{folders})/[\w./-]*[\w/])", text))
    missing = sorted(p for p in paths if not is_placeholder(p) and not (REPO_ROOT / p).exists())
    assert not missing, f"{doc.name} names paths that do not exist: {missing}"
    known = repository_files()
    files = {s for s in inline_code(doc) if re.fullmatch(r"[\w.-]+\.(yml|yaml|cfg|py|md|sh|txt|json|prom)", s)}
    unknown = sorted(f for f in files if f not in known and f not in NOT_IN_REPOSITORY and not is_placeholder(f))
    assert not unknown, f"{doc.name} names files found nowhere in the repository: {unknown}"


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(doc: Path) -> set[str]:
    return {slug(m) for m in re.findall(r"^#+ (.*)$", doc.read_text(encoding="utf-8"), re.M)}


@pytest.mark.parametrize("doc", dc.documents(), ids=lambda d: d.name)
def test_relative_links_resolve(doc: Path) -> None:
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        resolved = (doc.parent / path).resolve() if path else doc
        if not resolved.exists():
            broken.append(target)
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(target)
    assert not broken, f"{doc.name}: links that do not resolve: {broken}"


def test_slugs_match_githubs() -> None:
    assert slug("Staging gate for a separate production job") == "staging-gate-for-a-separate-production-job"
    assert slug("A service's `policy`") == "a-services-policy"


def test_readme_is_short() -> None:
    size = len((REPO_ROOT / "README.md").read_bytes())
    assert size <= README_LIMIT, f"README.md is {size} bytes; keep it under {README_LIMIT} and move the rest to docs/"


# ------------------------------------------------------------------------------ plan.yml

UNREACHABLE_LINE = (
    "plan.yml reads the live config and ledger of every load balancer it reviews, and cannot reach: {hosts}. "
    "Check SSH access to them (-i INVENTORY, user, key), or review fewer with -e lbguard_hosts=PATTERN; "
    "validate.yml checks the model without any host."
)


def plan(inventory: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], list[Path]]:
    """Run plan.yml for real (a short reach timeout: the example hosts never answer); its reports."""
    reports = tmp_path / "reports"
    result = bash(f"ansible-playbook -i {inventory} playbooks/plan.yml -e lbguard_report_dir={reports} "
                  "-e lbguard_plan_reach_timeout=3", tmp_path)
    return result, sorted(reports.glob("plan-*.md")) if reports.exists() else []


def test_plan_stops_with_one_line_naming_the_unreachable_hosts(tmp_path: Path) -> None:
    result, reports = plan(REPO_ROOT / "inventories/examples/good/hosts.yml", tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert UNREACHABLE_LINE.format(hosts="stg-lb1, prod-lb1") in output, output
    assert "UNREACHABLE!" not in output and "unreachable=0" in output, output
    assert reports == [], "nothing was read, so no report"


@pytest.mark.parametrize("example", ["incident", "typos"])
def test_plan_reports_an_invalid_model_without_contacting_its_host(example: str, tmp_path: Path) -> None:
    result, reports = plan(REPO_ROOT / f"inventories/examples/{example}/hosts.yml", tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "invalid model on lb1: see the report" in output, output
    assert "cannot reach" not in output and "UNREACHABLE!" not in output, output
    assert len(reports) == 1, reports
    assert "## lb1 (production) - INVALID MODEL" in reports[0].read_text(encoding="utf-8")


def test_plan_names_only_the_hosts_it_needs(tmp_path: Path) -> None:
    """An LB with an invalid model is not contacted, so it is not named as unreachable."""
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        """\
all:
  children:
    loadbalancers:
      hosts:
        lb-good:
          ansible_host: 192.0.2.60
          lb_services: [{name: shop, listen: 80, servers: [{name: web1, address: 192.0.2.61, port: 80}]}]
        lb-bad:
          ansible_host: 192.0.2.62
          lb_services: [{name: shop, listen: 80, servers: [{name: web1, address: 192.0.2.61, port: 80, wieght: 2}]}]
    staging:
      hosts:
        lb-good:
        lb-bad:
""",
        encoding="utf-8",
    )
    result, reports = plan(inventory, tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert UNREACHABLE_LINE.format(hosts="lb-good") in output, output
    assert reports == []


# ------------------------------------------------------------------------------ tags

#: Ansible's own special tags and Molecule's; not an operator's.
SPECIAL_TAGS = {"always", "never", "molecule-notest", "notest"}


def tags_in(node: object) -> set[str]:
    """Every value of a `tags` keyword anywhere in a loaded playbook or task file."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "tags":
                found |= {value} if isinstance(value, str) else {str(tag) for tag in value}
            else:
                found |= tags_in(value)
    elif isinstance(node, list):
        for item in node:
            found |= tags_in(item)
    return found


#: The one templated tag: deploy.yml's `apply: tags` gives each host's tasks its engine's tag, which the
#: docs list as `haproxy` and `nginx` (#26).
ENGINE_TAG_TEMPLATE = "{{ lb_engine | default('haproxy') }}"


def all_code_tags() -> set[str]:
    files = [*REPO_ROOT.glob("playbooks/*.yml"), *REPO_ROOT.glob("playbooks/include/*.yml"),
             *REPO_ROOT.glob("roles/*/tasks/*.yml"), *REPO_ROOT.glob("roles/*/handlers/*.yml")]
    return set().union(*(tags_in(yaml.safe_load(f.read_text(encoding="utf-8"))) for f in files)) - SPECIAL_TAGS


def code_tags() -> set[str]:
    """The tags written in plays and tasks; the engine tag template stands for the engines' tags."""
    return {tag for tag in all_code_tags() if tag != ENGINE_TAG_TEMPLATE}


def test_the_only_templated_tag_is_the_engine_tag() -> None:
    templated = {tag for tag in all_code_tags() if "{{" in tag}
    assert templated == {ENGINE_TAG_TEMPLATE}, templated


def documented_tags() -> set[str]:
    text = (REPO_ROOT / "docs" / "pipeline.md").read_text(encoding="utf-8")
    section = text.split("### Tags", 1)[1].split("<!--", 1)[0]
    # One list item per tag (or pair): "- `tag`: where it is".
    items = [line[2:].split(":", 1)[0] for line in section.splitlines() if line.startswith("- `")]
    return {tag for item in items for tag in re.findall(r"`([a-z_]+)`", item)}


def test_tags_in_docs_and_code_agree() -> None:
    documented, used = documented_tags(), code_tags()
    assert {"validate", "deploy", "haproxy", "nginx"} <= documented, documented
    assert not used - documented, f"tags in the code that docs/pipeline.md (Tags) does not list: {used - documented}"
    assert not documented - used, f"tags docs/pipeline.md lists that no play or task has: {documented - used}"
