"""One rendering boundary (#27 item 1): every variable an engine template renders comes from the
validated model, or is a role setting lbguard_settings lists with the class that checks it.

The walk reads each template's Jinja syntax tree: the names inside every ``{{ }}``
(macro bodies included), and where each loop or ``set`` variable and macro
argument comes from, until every name is traced to its source.
"""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
import pytest
import yaml
from jinja2 import nodes

from ansible_collections.lbguard.core.plugins.module_utils.lbguard_constants import CONSTANTS
from ansible_collections.lbguard.core.plugins.plugin_utils import lbguard_settings
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_settings import (
    ANSIBLE_RENDERED,
    CLASSES,
    RENDERED_SETTINGS,
    setting_problems,
)

ROOT = Path(__file__).resolve().parents[2]
ENGINE_TEMPLATES = {engine: sorted((ROOT / "roles" / engine / "templates").glob("*.j2")) for engine in RENDERED_SETTINGS}
#: The model under its one name, and Jinja's own loop counter.
MODEL_SOURCES = frozenset({"lbguard_model", "loop"})


def _names(node: nodes.Node) -> set[str]:
    found = [node] if isinstance(node, nodes.Name) else []
    return {n.name for n in [*found, *node.find_all(nodes.Name)] if n.ctx == "load"}


def _targets(node: nodes.Node) -> set[str]:
    return {node.name} if isinstance(node, nodes.Name) else {n.name for n in node.find_all(nodes.Name)}


def unchecked_names(source: str, allowed: frozenset[str]) -> set[str]:
    """The names a template renders that cannot be traced to ``allowed`` sources."""
    tree = jinja2.Environment(extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"]).parse(source)
    bindings: dict[str, set[str]] = {}  # a bound name -> the names its value comes from
    for loop in tree.find_all(nodes.For):
        for target in _targets(loop.target):
            bindings.setdefault(target, set()).update(_names(loop.iter))
    for assign in tree.find_all(nodes.Assign):
        for target in _targets(assign.target):
            bindings.setdefault(target, set()).update(_names(assign.node))
    macros = {macro.name: macro for macro in tree.find_all(nodes.Macro)}
    for call in tree.find_all(nodes.Call):
        macro = macros.get(call.node.name) if isinstance(call.node, nodes.Name) else None
        if macro is not None:
            for parameter, argument in zip(macro.args, call.args):
                bindings.setdefault(parameter.name, set()).update(_names(argument))
    traced = set(allowed) | set(macros)
    changed = True
    while changed:  # a binding is traced when everything it comes from is
        changed = False
        for name, sources in bindings.items():
            if name not in traced and sources <= traced:
                traced.add(name)
                changed = True
    rendered: set[str] = set()
    for output in tree.find_all(nodes.Output):
        for node in output.nodes:
            if not isinstance(node, nodes.TemplateData):
                rendered |= _names(node)
    return rendered - traced


@pytest.mark.parametrize("engine", sorted(RENDERED_SETTINGS))
def test_every_rendered_variable_is_the_models_or_a_checked_setting(engine: str) -> None:
    allowed = MODEL_SOURCES | set(RENDERED_SETTINGS[engine]) | set(ANSIBLE_RENDERED)
    assert ENGINE_TEMPLATES[engine], engine
    for template in ENGINE_TEMPLATES[engine]:
        assert unchecked_names(template.read_text(encoding="utf-8"), frozenset(allowed)) == set(), template.name


@pytest.mark.parametrize("engine", sorted(RENDERED_SETTINGS))
def test_every_listed_setting_is_rendered_declared_and_classed(engine: str) -> None:
    rendered = set().union(*(unchecked_names(t.read_text(encoding="utf-8"), MODEL_SOURCES | set(ANSIBLE_RENDERED))
                             for t in ENGINE_TEMPLATES[engine]))
    assert rendered == set(RENDERED_SETTINGS[engine]), "lbguard_settings lists exactly what the templates render"
    spec = yaml.safe_load((ROOT / "roles" / engine / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))
    options = set(spec["argument_specs"]["main"]["options"])
    defaults = yaml.safe_load((ROOT / "roles" / engine / "defaults" / "main.yml").read_text(encoding="utf-8")) or {}
    role_vars = yaml.safe_load((ROOT / "roles" / engine / "vars" / "main.yml").read_text(encoding="utf-8")) \
        if (ROOT / "roles" / engine / "vars" / "main.yml").exists() else {}
    for name, setting_class in RENDERED_SETTINGS[engine].items():
        assert setting_class in CLASSES, name
        assert name in options or name in (role_vars or {}), f"{name} is neither an option nor a role var"
        assert name in defaults or name in (role_vars or {}), f"{name} has no default"


@pytest.mark.parametrize(
    ("source", "unchecked"),
    [
        ("{{ haproxy_new_setting }}", {"haproxy_new_setting"}),
        ("{% for s in groups.all %}{{ s }}{% endfor %}", {"s"}),
        ("{% set x = lookup('env', 'HOME') %}{{ x }}", {"x"}),
        ("{{ lbguard_model.host ~ inventory_hostname }}", {"inventory_hostname"}),
        ("{% macro m(a) %}{{ a }}{% endmacro %}{{ m(hostvars) }}", {"a", "hostvars"}),
        ("{% for service in lbguard_model.services %}{{ service.name }}{{ loop.index }}{% endfor %}", set()),
        ("{% macro m(a) %}{{ a }}{% endmacro %}{{ m(lbguard_model.host) }}", set()),
    ],
)
def test_the_walk_finds_what_does_not_come_from_the_model(source: str, unchecked: set[str]) -> None:
    assert unchecked_names(source, MODEL_SOURCES) == unchecked


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("haproxy_tls_dir", "/etc/haproxy/tls\n    stats socket ipv4@0.0.0.0:9999 level admin", "must be an absolute path"),
        ("haproxy_timeout_server", "30s\n    option http-server-close", "must be a duration"),
        ("haproxy_served_by_header", "X-Served-By %[req.hdr(cookie)]", "must be an HTTP header name"),
        ("haproxy_status_bind", "0.0.0.0:8405 ssl crt /tmp/x", "must be address:port"),
        ("haproxy_maxconn", "2000 ssl", "must be an integer"),
        ("haproxy_maxconn", True, "must be an integer"),
        ("haproxy_stats_socket_mode", "0660 level admin", "must be an octal file mode"),
        ("haproxy_stats_password_hash", "plain-text-password", "must be a crypt(3) hash"),
    ],
)
def test_each_class_refuses_engine_syntax(name: str, value: object, fragment: str) -> None:
    values = dict(good_values("haproxy"), **{name: value})
    problems = setting_problems("haproxy", values)
    assert len(problems) == 1 and problems[0].startswith(f"{name} {fragment}"), problems
    if name == "haproxy_stats_password_hash":
        assert value not in problems[0]


CONSTANT_DEFAULT = re.compile(r"\{\{ '([a-z_]+)' \| lbguard\.core\.lbguard_constant \}\}")


def good_values(engine: str) -> dict[str, object]:
    """The roles' defaults, as a play would see them (defaults that name a constant resolved)."""
    defaults = yaml.safe_load((ROOT / "roles" / engine / "defaults" / "main.yml").read_text(encoding="utf-8"))
    values = {name: defaults.get(name) for name in RENDERED_SETTINGS[engine]}
    for name, value in values.items():
        constant = CONSTANT_DEFAULT.fullmatch(value) if isinstance(value, str) else None
        if constant:
            values[name] = CONSTANTS[constant.group(1)]
    if engine == "haproxy":
        values["haproxy_stats_password_hash"] = "$6$rounds=5000$abcdefgh12345678$" + "A" * 86
    return values


@pytest.mark.parametrize("engine", sorted(RENDERED_SETTINGS))
def test_the_roles_defaults_pass_their_classes(engine: str) -> None:
    assert setting_problems(engine, good_values(engine)) == []
    assert lbguard_settings.rendered_settings(engine) == list(RENDERED_SETTINGS[engine])


def test_the_stats_hash_lbguard_makes_passes_its_class() -> None:
    from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_secrets import page_password_hash  # noqa: PLC0415
    values = dict(good_values("haproxy"), haproxy_stats_password_hash=page_password_hash("lb1", "ops", "a long password"))
    assert setting_problems("haproxy", values) == []


def test_every_class_has_its_rule_in_words_for_the_model_doc() -> None:
    assert set(lbguard_settings.CLASS_RULES) == set(CLASSES)
    doc = (ROOT / "docs" / "model.md").read_text(encoding="utf-8")
    for engine, settings in RENDERED_SETTINGS.items():
        for name in settings:
            assert f"| {engine} | `{name}` |" in doc, name
