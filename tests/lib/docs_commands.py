"""The shell commands shown in README.md and docs/*.md, and who runs them.

Every fenced shell block (```sh, ```bash, ```shell, ```console) in the docs is
preceded, on the line before it (blank lines allowed), by a marker:

    <!-- run: KIND -->            the commands must exit 0
    <!-- run: KIND exit=N -->     the block must exit N (a command that fails on purpose)

KIND says who runs the block, for real:

unit    the control node, no host needed: tests/integration/test_docs.py runs the block
        with bash in the project folder (placeholders: UNIT_PLACEHOLDERS).
lab     needs running load balancers: molecule/default/tests/test_docs_commands.py
        runs each ansible-playbook line against the default scenario's inventory
        (placeholders: LAB_PLACEHOLDERS).
lab-lb  a shell on a load balancer: the same Molecule test runs the block on
        the scenario's load balancer.
awx     needs an AWX server: tests/integration/test_docs.py runs every ansible-playbook
        line with --syntax-check; tests/integration/awx checks the configuration itself.
setup   the make targets CI runs itself (make lab, make test, ...):
        tests/integration/test_docs.py dry-runs them with `make -n`.

A fenced ```text block preceded by `<!-- output -->` is real output: every
non-blank line of it must appear in the output of the `unit` or `lab` block just
above it (after the placeholders are replaced; `...` stands for any text, and
runs of white space compare equal). Output shown without that marker (indented
blocks) is an example.

Placeholders are upper-case words (INVENTORY, DIR, RELEASE_ID...) and the lab's
host names used in examples (lb-prod-1); each test substitutes its own values.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

KINDS = ("unit", "lab", "lab-lb", "awx", "setup")
SHELL_LANGUAGES = ("sh", "bash", "shell", "console")

#: What the unit test puts in place of each placeholder (DIR: a fresh temporary folder).
UNIT_PLACEHOLDERS = {
    "INVENTORY": "inventories/examples/good/hosts.yml",
}

#: The lab's placeholders; the Molecule test fills in the values it reads from the scenario.
LAB_PLACEHOLDERS = (
    "INVENTORY",  # the scenario's inventory (MOLECULE_INVENTORY_FILE)
    "lb-prod-1",  # the scenario's load balancer (mol-lb-1, in staging: the only LB there)
    "RELEASE_ID",  # a release in that LB's ledger
    "RUN_ID",  # the run id of the stale lock the test leaves on purpose
    "TEXTFILE",  # node_exporter textfile, in a temporary folder
    "WEBHOOK_URL",  # a receiver on 127.0.0.1 started by the test
    "ID",  # on the LB: its current release
    "SERVER",  # on the LB: a web server of the scenario
    "PORT",  # that web server's port
    "web-stg-1",  # the lab's web servers in shown output: the scenario's mol-web-1..3
    "web-stg-2",
    "web-stg-3",
)

MARKER = re.compile(r"^\s*<!--\s*run:\s*(?P<kind>[\w-]+)(?:\s+exit=(?P<exit>\d+))?\s*-->\s*$")
ANY_RUN_MARKER = re.compile(r"^\s*<!--\s*run:")
OUTPUT_MARKER = re.compile(r"^\s*<!--\s*output\s*-->\s*$")
FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w-]*)\s*$")


@dataclass
class Block:
    """One fenced block of a document."""

    doc: Path
    line: int  # 1-based line of the opening fence
    language: str
    text: str
    marker: str | None = None  # the marker line as written, or None
    kind: str | None = None  # a known KIND, or None
    exit_code: int = 0
    is_output: bool = False
    output_of: Block | None = None  # for an output block: the block whose output it shows
    expected_output: list[str] = field(default_factory=list)  # for a shell block: lines of its output block

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(REPO_ROOT)}:{self.line}"

    @property
    def is_shell(self) -> bool:
        return self.language in SHELL_LANGUAGES

    def commands(self) -> list[str]:
        """Logical command lines: continuation lines joined, blank and comment-only lines left out."""
        joined: list[str] = []
        current = ""
        for raw in self.text.splitlines():
            line = raw.strip()
            if current:
                current += " " + line
            elif line and not line.startswith("#"):
                current = line
            if current.endswith("\\"):
                current = current[:-1].rstrip()
                continue
            if current:
                joined.append(current)
            current = ""
        if current:
            joined.append(current)
        return joined


def documents(root: Path = REPO_ROOT) -> list[Path]:
    """README.md and every docs/*.md."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def blocks(doc: Path) -> list[Block]:
    """Every fenced block of one document, with its marker."""
    lines = doc.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        fence = FENCE.match(lines[index])
        if not fence:
            index += 1
            continue
        indent = fence.group("indent")
        body: list[str] = []
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            body.append(lines[end][len(indent) :] if lines[end].startswith(indent) else lines[end].lstrip())
            end += 1
        block = Block(doc=doc, line=index + 1, language=fence.group("lang"), text="\n".join(body) + "\n")
        previous = index - 1
        while previous >= 0 and not lines[previous].strip():
            previous -= 1
        if previous >= 0:
            if ANY_RUN_MARKER.match(lines[previous]):
                block.marker = lines[previous].strip()
                match = MARKER.match(lines[previous])
                if match and match.group("kind") in KINDS:
                    block.kind = match.group("kind")
                    block.exit_code = int(match.group("exit") or 0)
            elif OUTPUT_MARKER.match(lines[previous]):
                block.is_output = True
                shells = [b for b in found if b.is_shell]
                block.output_of = shells[-1] if shells else None
                if block.output_of is not None:
                    block.output_of.expected_output = [line.strip() for line in body if line.strip()]
        found.append(block)
        index = end + 1
    return found


def all_blocks(root: Path = REPO_ROOT) -> list[Block]:
    return [block for doc in documents(root) for block in blocks(doc)]


def shell_blocks(kind: str | None = None, root: Path = REPO_ROOT) -> list[Block]:
    """Shell blocks of the docs, of one kind or all."""
    return [b for b in all_blocks(root) if b.is_shell and (kind is None or b.kind == kind)]


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace each placeholder, as a whole word, by its value."""
    for name, value in values.items():
        text = re.sub(rf"(?<![\w.-]){re.escape(name)}(?![\w-])", lambda _m, v=value: v, text)
    return text


def output_pattern(line: str) -> re.Pattern[str]:
    """A shown output line as a regex: `...` is any text, white space is one space."""
    parts = [re.escape(" ".join(part.split())) for part in line.split("...")]
    return re.compile(".*?".join(parts))


def shows(output: str, line: str) -> bool:
    """Whether real output has a shown line (Ansible folds long messages: compare with single spaces)."""
    return output_pattern(line).search(" ".join(output.split())) is not None


def ansible_playbook_commands(block: Block) -> Iterator[str]:
    """The ansible-playbook command lines of a block."""
    for command in block.commands():
        if re.search(r"(^|[\s/])ansible-playbook\s", command):
            yield command


def playbook_of(command: str) -> str | None:
    """The playbook an ansible-playbook command runs (its path as written)."""
    words = shlex.split(command.split("ansible-playbook", 1)[1], comments=True)
    skip_next = False
    for word in words:
        if skip_next:
            skip_next = False
        elif word in OPTIONS_WITH_VALUE:
            skip_next = True
        elif not word.startswith("-") and re.search(r"\.ya?ml$", word):
            return word
    return None


#: ansible-playbook options whose value is the next word.
OPTIONS_WITH_VALUE = ("-i", "--inventory", "-e", "--extra-vars", "-l", "--limit", "-t", "--tags", "--skip-tags", "-u")


def lab_step(command: str) -> str | None:
    """The lab test's step for one ansible-playbook command of a `lab` block, or None."""
    playbook = playbook_of(command)
    name = Path(playbook).name if playbook else ""
    if name == "deploy.yml":
        if "--check" in command:
            return "deploy-check"
        if "lbguard_takeover_lock" in command:
            return "deploy-takeover"
        if "lbguard_stages" in command:
            return "production-gate"
        if "lb_services" in command:
            return "deploy-broken-change"
        return "deploy"
    if name == "rollback.yml":
        return "rollback-to-release" if "lbguard_rollback_to" in command else "rollback"
    if name == "audit.yml":
        return "audit-textfile" if "lbguard_audit_textfile" in command else "audit"
    if name == "server.yml":
        # A drain of several servers at once is the docs' example of a refusal.
        if re.search(r"lbguard_servers=\S*,", command):
            return "server-refused"
        return "server-ready" if "lbguard_action=ready" in command else "server-drain"
    return {"verify.yml": "verify", "plan.yml": "plan", "unlock.yml": "unlock"}.get(name)


def lb_step(block: Block) -> str | None:
    """The lab test's step for a `lab-lb` block (run in a shell on the load balancer), or None."""
    if "systemctl reload" in block.text and "cp releases/" in block.text:
        return "restore-by-hand"
    if "ls releases" in block.text:
        return "read-ledger"
    if re.search(r"curl .*/health", block.text):
        return "health"
    return None


def lab_steps(block: Block) -> list[str]:
    """Steps of a lab or lab-lb block; empty when a command has none (the block would not be run)."""
    if block.kind == "lab-lb":
        step = lb_step(block)
        return [step] if step else []
    steps = [lab_step(command) for command in block.commands()]
    return [s for s in steps if s] if all(steps) and steps else []
