"""Property test: what validation accepts, the engines accept (#13).

Random valid models for both engines, and random one-point mutations of them,
go through the model filter. Every model it accepts is rendered with the roles'
real templates (one ansible-playbook run) and checked by the engines themselves,
``haproxy -c`` and ``nginx -t``, in the project's test image (one podman run).
A model validation accepted and an engine refused is a rule missing from
validation. The seed is fixed; LBGUARD_FUZZ_EXAMPLES raises the budget
(``make fuzz``).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

from ansible_collections.lbguard.core.plugins.plugin_utils import lbguard_model_build, lbguard_model_inputs
from lbguard_directive_examples import EXAMPLES as DIRECTIVE_EXAMPLES
from lbguard_certs import CertificateAuthority
from lbguard_model_fuzz import EDGE_DOMAIN, mutate, mutate_edge, valid_edge_model, valid_model
from lbguard_test_tools import REPO_ROOT, ansible_playbook

SEED = int(os.environ.get("LBGUARD_FUZZ_SEED", "20261202"))
EXAMPLES = int(os.environ.get("LBGUARD_FUZZ_EXAMPLES", "120"))
#: Edge models (frontends, pools, routes, certificates, stats): a third of the budget, each with 4 mutants.
EDGE_EXAMPLES = max(EXAMPLES // 3, 8)
IMAGE = os.environ.get("LBGUARD_IMAGE", "localhost/lbguard-debian:bookworm")
TEMPLATES = {"haproxy": "haproxy.cfg.j2", "nginx": "nginx.conf.j2"}

# The template lookup renders in the controller's process: no module run per model.
RENDER_PLAY = """\
- name: Render each model with its engine role's template
  hosts: localhost
  connection: local
  gather_facts: false
  vars_files:
    - {repo}/roles/haproxy/defaults/main.yml
    - {repo}/roles/nginx/defaults/main.yml
  tasks:
    - name: Render
      ansible.builtin.set_fact:
        rendered: >-
          {{{{ rendered | default([]) + [lookup('ansible.builtin.template',
               '{repo}/roles/' ~ item.engine ~ '/templates/' ~ templates[item.engine],
               template_vars={{'lbguard_model': item,
                              'haproxy_stats_password_hash': item.stats_password_hash | default('')}})] }}}}
      loop: "{{{{ lookup('ansible.builtin.file', '{models}') | from_json }}}}"
      loop_control:
        label: "{{{{ item.digest }}}}"

    - name: Write them
      ansible.builtin.copy:
        content: "{{{{ rendered | to_json }}}}"
        dest: "{out}/rendered.json"
        mode: "0644"
"""

# Each engine checks each file; a refusal prints the file and the engine's words.
CHECK_SCRIPT = """\
cd /models
for f in *.haproxy; do [ -e "$f" ] || continue; out=$(haproxy -c -q -f "$f" 2>&1) || echo "REFUSED $f $out"; done
for f in *.nginx; do [ -e "$f" ] || continue; out=$(nginx -t -q -c "/models/$f" 2>&1) || echo "REFUSED $f $out"; done
echo CHECKED
"""


def build(host_vars: dict) -> tuple[dict | None, list[str]]:
    groups = {"all": ["lb1"], "loadbalancers": ["lb1"], "staging": ["lb1"]}
    return lbguard_model_build.build_model("lb1", host_vars, groups, {})


def engine_refusals(models: list[dict], tmp_path: Path, tls_dirs: dict[str, Path] | None = None) -> dict[int, str]:
    """Render every model and ask its engine: index -> the engine's refusal, for each one refused.

    ``tls_dirs`` maps a folder in the engines' container (the roles' tls_dir) to one here.
    """
    out = tmp_path / "rendered"
    out.mkdir()
    models_file = tmp_path / "models.json"
    models_file.write_text(json.dumps(models))
    play = tmp_path / "render.yml"
    play.write_text(RENDER_PLAY.format(repo=REPO_ROOT, out=out, models=models_file))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    rendered = subprocess.run([ansible_playbook(), play, "-e", json.dumps({"templates": TEMPLATES})],
                              cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr
    texts = json.loads((out / "rendered.json").read_text())
    assert len(texts) == len(models)
    for index, (model, text) in enumerate(zip(models, texts)):
        (out / f"{index}.{model['engine']}").write_text(text)
    mounts = [arg for inside, here in (tls_dirs or {}).items() for arg in ("-v", f"{here}:{inside}:ro,Z")]
    checked = subprocess.run(["podman", "run", "--rm", "--network", "none", "-v", f"{out}:/models:ro,Z", *mounts,
                              IMAGE, "sh", "-c", CHECK_SCRIPT],
                             capture_output=True, text=True, timeout=900, check=False)
    assert checked.returncode == 0 and "CHECKED" in checked.stdout, checked.stdout + checked.stderr
    refusals = {}
    for line in checked.stdout.splitlines():
        if line.startswith("REFUSED "):
            _, name, *words = line.split(" ")
            refusals[int(name.split(".")[0])] = " ".join(words)
    return refusals


def test_every_model_validation_accepts_the_engines_accept(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    cases: list[tuple[str, dict]] = []
    for index in range(EXAMPLES):
        model = valid_model(rng, "haproxy" if index % 2 == 0 else "nginx")
        built, problems = build(model)
        assert built is not None, (model, problems)  # a valid model by docs/model.md is accepted
        cases.append(("valid", built))
        for _ in range(3):
            mutation, mutant = mutate(model, rng)
            built, _problems = build(mutant)
            if built is not None:
                cases.append((mutation, built))
    refused = engine_refusals([built for _, built in cases], tmp_path)
    accepted_mutants = sum(1 for kind, _ in cases if kind != "valid")
    print(f"seed {SEED}: {EXAMPLES} valid models and {accepted_mutants} accepted mutants rendered; "
          f"engines refused {len(refused)}")
    assert not refused, "\n".join(
        f"{cases[i][0]}: the engine refused what validation accepted: {why}\n{json.dumps(cases[i][1])}"
        for i, why in sorted(refused.items())[:5])


def test_the_check_itself_sees_a_refused_config(tmp_path: Path) -> None:
    """A model the filter would never pass (a weight HAProxy refuses) is reported by the engine check."""
    built, problems = build(valid_model(random.Random(1), "haproxy"))
    assert built is not None, problems
    broken = json.loads(json.dumps(built))
    broken["services"][0]["servers"][0]["weight"] = 1000
    refused = engine_refusals([built, broken], tmp_path)
    assert list(refused) == [1], refused


def test_server_max_connections_renders_as_each_engine_caps_a_server(tmp_path: Path) -> None:
    services = [{"name": "shop", "listen": 80, "server_max_connections": 50,
                 "servers": [{"name": "web1", "address": "10.0.0.1", "port": 8080}]}]
    models = []
    for engine in ("haproxy", "nginx"):
        built, problems = build({"lb_engine": engine, "lb_services": services})
        assert built is not None, problems
        models.append(built)
    assert engine_refusals(models, tmp_path) == {}
    rendered = tmp_path / "rendered"
    assert "server web1 10.0.0.1:8080 weight 1 check inter 2s rise 2 fall 3 maxconn 50\n" in (
        rendered / "0.haproxy").read_text()
    assert "server 10.0.0.1:8080 weight=1 max_fails=3 fail_timeout=6s max_conns=50;\n" in (
        rendered / "1.nginx").read_text()


def test_every_allowlisted_directive_is_accepted_by_its_engine_where_the_template_puts_it(tmp_path: Path) -> None:
    """One example of every keyword of the escape hatch's allowlist (lbguard_directives), per engine and section.

    The global section's in lb_global_directives, the frontend's in a frontend, the pool's in a pool: the
    template puts them in HAProxy's global/frontend/backend and nginx's http/server/upstream blocks.
    """
    models = []
    for engine in ("haproxy", "nginx"):
        examples = DIRECTIVE_EXAMPLES[engine]
        built, problems = build({
            "lb_engine": engine, "lb_global_directives": list(examples["global"]),
            "lb_pools": [{"name": "shop", "servers": [{"name": "web1", "address": "10.0.0.1", "port": 8080}],
                          "extra_directives": list(examples["pool"])}],
            "lb_frontends": [{"name": "edge", "binds": [{"port": 80}], "default_pool": "shop",
                              "extra_directives": list(examples["frontend"])}],
        })
        assert built is not None, problems
        assert (built["global_directives"], built["frontends"][0]["extra_directives"],
                built["services"][0]["extra_directives"]) == (
            list(examples["global"]), list(examples["frontend"]), list(examples["pool"]))
        models.append(built)
    assert engine_refusals(models, tmp_path) == {}
    rendered = tmp_path / "rendered"
    haproxy, nginx = (rendered / "0.haproxy").read_text(), (rendered / "1.nginx").read_text()
    # Each where its section is: HAProxy's global before defaults, the backend's before its servers,
    # the frontend's after its routes; nginx's http block before the status server, the upstream's
    # inside it, the server block's before its location.
    sections = {"haproxy": (haproxy.split("\ndefaults\n")[0], haproxy.split("\nbackend shop\n")[1].split("server web1")[0],
                            haproxy.split("\nfrontend edge\n")[1]),
                "nginx": (nginx.split("server {")[0], nginx.split("upstream shop {")[1].split("}")[0],
                          nginx.split("# Frontend edge")[1].split("location /")[0])}
    for engine, texts in sections.items():
        for section, text in zip(("global", "pool", "frontend"), texts):
            end = ";" if engine == "nginx" else ""
            missing = [d for d in DIRECTIVE_EXAMPLES[engine][section] if f"    {d}{end}\n" not in text]
            assert missing == [], (engine, section, missing)


#: What ends a directive, opens or closes a block, starts a comment or quotes, in either engine. (Not the
#: backslash: the template escapes a host's dots with it, and alone it ends nothing.)
SYNTAX = ";{}#\"'"


def shape(text: str) -> list[tuple[int, ...]]:
    """Per line, its words and its syntax characters: a value that broke out of its place changes them."""
    return [(len(line.split()), *(line.count(char) for char in SYNTAX)) for line in text.splitlines()]


def test_every_edge_model_validation_accepts_the_engines_accept_and_no_value_adds_a_line(tmp_path: Path) -> None:
    """The edge model under the same property, and values fed engine syntax, control characters, look-alikes
    and long text: an accepted mutant renders a config of its parent's shape, line for line (#27)."""
    rng = random.Random(SEED)
    certificate = CertificateAuthority().issue(EDGE_DOMAIN, "*." + EDGE_DOMAIN)
    cases: list[tuple[str, dict, int | None, dict]] = []  # (mutation, validated model, parent's index, host vars)
    for index in range(EDGE_EXAMPLES):
        host_vars = valid_edge_model(rng, "haproxy" if index % 2 == 0 else "nginx", certificate)
        built, problems = build(host_vars)
        assert built is not None, (host_vars, problems)
        parent = len(cases)
        cases.append(("valid", built, None, host_vars))
        for _ in range(4):
            mutation, mutant = mutate_edge(host_vars, rng)
            built, _problems = build(mutant)
            if built is not None:
                cases.append((mutation, built, parent, mutant))
    models = []
    for _mutation, built, _parent, host_vars in cases:
        tls_dir = tmp_path / "tls" / built["engine"]
        tls_dir.mkdir(parents=True, exist_ok=True)
        for item in lbguard_model_inputs.lbguard_tls_files(built, {"lb1": host_vars}):
            if built["engine"] == "haproxy":
                (tls_dir / f"{item['file']}.pem").write_text(item["certificate"] + item["key"])
            else:
                (tls_dir / f"{item['file']}.crt").write_text(item["certificate"])
                (tls_dir / f"{item['file']}.key").write_text(item["key"])
        stats_hash = lbguard_model_inputs.lbguard_stats_password_hash(built, {"lb1": host_vars}) if built["stats"] else ""
        models.append({**built, "stats_password_hash": stats_hash})
    for engine in ("haproxy", "nginx"):
        (tmp_path / "tls" / engine).mkdir(parents=True, exist_ok=True)
    refused = engine_refusals(models, tmp_path, tls_dirs={
        "/etc/haproxy/lbguard-tls": tmp_path / "tls" / "haproxy", "/etc/nginx/lbguard-tls": tmp_path / "tls" / "nginx"})
    mutants = [case for case in cases if case[2] is not None]
    print(f"seed {SEED}: {EDGE_EXAMPLES} edge models and {len(mutants)} accepted mutants rendered; "
          f"engines refused {len(refused)}")
    assert not refused, "\n".join(f"{cases[i][0]}: the engine refused what validation accepted: {why}"
                                  for i, why in sorted(refused.items())[:5])
    rendered = [(tmp_path / "rendered" / f"{i}.{model['engine']}").read_text() for i, model in enumerate(models)]
    for index, (mutation, built, parent, host_vars) in enumerate(cases):
        if parent is None:
            continue
        if mutation == "extra directive":  # the one place text becomes a line: exactly its own
            directive = host_vars["lb_frontends"][0]["extra_directives"][0].strip()
            lines = [line.strip().rstrip(";") for line in rendered[index].splitlines()]
            assert lines.count(directive.rstrip(";")) == 1, (directive, rendered[index])
            continue
        if mutation == "bind address":
            # Never the operator's text: validation prints the address back with Python's ipaddress, and the
            # template adds lines of its own for '::' (v6only and its comment). The engines judged it above.
            assert all(bind["address"] in ("", "::", "::1", "127.0.0.1") for bind in built["frontends"][0]["binds"])
            continue
        mine, theirs = shape(rendered[index]), shape(rendered[parent])
        differ = [(a, b) for a, b, x, y in zip(rendered[index].splitlines(), rendered[parent].splitlines(), mine, theirs)
                  if x != y]
        assert mine == theirs, (mutation, differ[:2] or "the line counts differ", json.dumps(host_vars)[:1000])
