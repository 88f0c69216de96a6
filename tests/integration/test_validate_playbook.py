"""Run the real `ansible-playbook playbooks/validate.yml` on the example inventories.

The example hosts have ansible_host values in 192.0.2.0/24 (TEST-NET-1, never
routed): a run that tried to connect to them would fail as unreachable or time out.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from lbguard_test_tools import ansible_playbook

REPO_ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO_ROOT / "playbooks" / "validate.yml"
EXAMPLES = REPO_ROOT / "inventories" / "examples"


def run(
    inventory: Path, tmp_path: Path, playbook: Path = PLAYBOOK, extra_vars: str | None = None, *args: str
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(
        {
            "ANSIBLE_CONFIG": str(REPO_ROOT / "ansible.cfg"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-local"),
        }
    )
    for name in (
        "ANSIBLE_STDOUT_CALLBACK",
        "ANSIBLE_CALLBACK_RESULT_FORMAT",
        "ANSIBLE_FILTER_PLUGINS",
        "ANSIBLE_INVENTORY",
    ):
        env.pop(name, None)
    return subprocess.run(
        [ansible_playbook(), "-i", str(inventory), str(playbook), *(["-e", extra_vars] if extra_vars else []), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def assert_no_connection(text: str) -> None:
    recap = text[text.index("PLAY RECAP") :]
    hosts = [line.split()[0] for line in recap.splitlines()[1:] if ":" in line and "ok=" in line]
    assert hosts == ["localhost"], recap
    assert "unreachable=0" in recap
    assert "UNREACHABLE" not in text


def test_good_inventory_passes(tmp_path: Path) -> None:
    result = run(EXAMPLES / "good" / "hosts.yml", tmp_path)
    text = output(result)
    assert result.returncode == 0, text
    assert "'stg-lb1: OK'" in text
    assert "'prod-lb1: OK'" in text
    assert "failed=0" in text
    assert_no_connection(text)


def test_incident_inventory_fails_with_share_message(tmp_path: Path) -> None:
    result = run(EXAMPLES / "incident" / "hosts.yml", tmp_path)
    text = output(result)
    assert result.returncode == 2, text
    assert (
        "lb1: service shop: server web1 would receive 100% of traffic (web1=100, web2=0, web3=0); "
        "policy max_server_share is 50%"
    ) in text
    assert "lb1: service shop: only 1 active server (web1); policy min_active_servers is 2" in text
    assert "2 problem(s) in the load-balancer model" in text
    assert_no_connection(text)


def test_typos_inventory_lists_every_problem(tmp_path: Path) -> None:
    result = run(EXAMPLES / "typos" / "hosts.yml", tmp_path)
    text = output(result)
    assert result.returncode == 2, text
    for expected in (
        "lb1: service shop: balance 'roundrobbin' is not a known algorithm; did you mean 'roundrobin'?",
        "lb1: service shop: server web1: weight 1000 is out of range; expected an integer from 0 to 256 (haproxy)",
        "lb1: service shop: servers[1]: weight 'heavy' is a string, not an integer",
        "lb1: service shop: servers[1]: server name 'web\\n2' is invalid",
        "lb1: service shop: server web3: unknown key 'wieght'; did you mean 'weight'?",
        "lb1: service cache: backend_group 'cacheservers' has no hosts in environment production",
    ):
        assert text.count(expected) == 1, expected
    # one failing task, reported once; the problem list printed once, as one block
    assert text.count("fatal: [localhost]") == 1
    assert text.count("problem(s) in the load-balancer model:") == 1
    assert_no_connection(text)


def test_missing_loadbalancers_group_fails_clearly(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  hosts:\n    web1:\n      ansible_host: 192.0.2.99\n", encoding="utf-8")
    result = run(inventory, tmp_path)
    text = output(result)
    assert result.returncode == 2, text
    assert "no host in group 'loadbalancers'" in text


RENAMED_INVENTORY = """\
all:
  children:
    edge:
      hosts:
        lb-a: {lb_services: [{name: shop, listen: 80, backend_group: app, backend_port: 8080}]}
    app:
      hosts: {app1: {}, app2: {}, app3: {}}
    preprod:
      hosts: {}
    live:
      hosts: {lb-a: {}, app1: {}, app2: {}, app3: {}}
"""
MAPPING = '{"lbguard_group_names": {"loadbalancers": "edge", "staging": "preprod", "production": "live"}}'


def test_an_inventory_with_its_own_group_names_validates_through_the_mapping(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(RENAMED_INVENTORY, encoding="utf-8")
    mapped = run(inventory, tmp_path, extra_vars=MAPPING)
    assert mapped.returncode == 0, output(mapped)
    assert "'lb-a: OK'" in output(mapped)
    unmapped = run(inventory, tmp_path)
    assert unmapped.returncode == 2, output(unmapped)
    assert "no host in group 'loadbalancers'" in output(unmapped)


def test_a_typo_in_the_group_mapping_is_refused(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(RENAMED_INVENTORY, encoding="utf-8")
    result = run(inventory, tmp_path, extra_vars=MAPPING.replace('"production"', '"prodution"'))
    assert result.returncode != 0, output(result)
    assert "'prodution' is not a group role; did you mean 'production'?" in output(result)


def test_an_inventory_file_ansible_cannot_parse_fails_the_run(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory"
    inventory.mkdir()
    (inventory / "hosts.yml").write_text(RENAMED_INVENTORY, encoding="utf-8")
    (inventory / "more_app_servers.yml").write_text("all:\n  hosts: [app4\n", encoding="utf-8")
    result = run(inventory, tmp_path, extra_vars=MAPPING)
    assert result.returncode != 0, output(result)
    assert "more_app_servers.yml" in output(result)
    assert "'lb-a: OK'" not in output(result)


def test_a_key_written_twice_in_an_inventory_file_fails_the_run(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory"
    (inventory / "host_vars").mkdir(parents=True)
    (inventory / "hosts.yml").write_text(RENAMED_INVENTORY, encoding="utf-8")
    # Both values pass the policy alone: only the duplicate itself can fail the run.
    (inventory / "host_vars" / "app1.yml").write_text("lb_weight: 1\nlb_weight: 2\n", encoding="utf-8")
    result = run(inventory, tmp_path, extra_vars=MAPPING)
    assert result.returncode != 0, output(result)
    assert "duplicate mapping key 'lb_weight'" in output(result), output(result)


@pytest.mark.parametrize(("written", "read_as"), [("010", "the octal number 8"), ("1:30", "the base-60 number 90")])
def test_a_number_yaml_reads_otherwise_than_it_looks_fails_validation(tmp_path: Path, written: str, read_as: str) -> None:
    inventory = tmp_path / "inventory"
    (inventory / "host_vars").mkdir(parents=True)
    (inventory / "hosts.yml").write_text(RENAMED_INVENTORY, encoding="utf-8")
    (inventory / "host_vars" / "app2.yml").write_text(f"lb_address: 192.0.2.2\nlb_weight: {written}\n", encoding="utf-8")
    result = run(inventory, tmp_path, extra_vars=MAPPING)
    assert result.returncode != 0, output(result)
    assert f"app2.yml:2: {written} is read as {read_as} (YAML 1.1)" in output(result), output(result)
    (inventory / "host_vars" / "app2.yml").write_text(f"lb_address: 192.0.2.2\nlb_weight: '{written}'\n", encoding="utf-8")
    assert "is read as" not in output(run(inventory, tmp_path, extra_vars=MAPPING))


SHOW_MODEL_PLAY = """\
- name: Write what templates would see
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Write every validated model as JSON
      ansible.builtin.copy:
        content: "{{ groups['loadbalancers'] | map('lbguard.core.lbguard_validated_model', hostvars, groups) | to_json }}"
        dest: "{dest}"
        mode: "0600"
"""


def test_filter_renders_templated_hostvars(tmp_path: Path) -> None:
    """In the good inventory, api addresses are "api1.{{ example_domain }}" (group_vars)."""
    playbook, dest = tmp_path / "show.yml", tmp_path / "models.json"
    playbook.write_text(SHOW_MODEL_PLAY.replace("{dest}", str(dest)), encoding="utf-8")
    result = run(EXAMPLES / "good" / "hosts.yml", tmp_path, playbook)
    assert result.returncode == 0, output(result)
    models = json.loads(dest.read_text(encoding="utf-8"))
    by_host = {model["host"]: model for model in models}
    assert set(by_host) == {"stg-lb1", "prod-lb1"}
    prod = {s["name"]: s for s in by_host["prod-lb1"]["services"]}
    assert [s["address"] for s in prod["api"]["servers"]] == [
        "api1.production.example",
        "api2.production.example",
        "api3.production.example",
    ]
    # backend_group: only the production web servers, addresses from lb_address
    assert [(s["name"], s["address"], s["port"]) for s in prod["shop"]["servers"]] == [
        ("prod-web1", "web1.production.example", 8080),
        ("prod-web2", "web2.production.example", 8080),
        ("prod-web3", "web3.production.example", 8080),
    ]
    assert by_host["prod-lb1"]["environment"] == "production"
    assert by_host["stg-lb1"]["services"][0]["servers"][0]["address"] == "web1.staging.example"
    assert "{{" not in json.dumps(models)


def test_hostvars_reference_in_lb_vars_is_reported(tmp_path: Path) -> None:
    """ansible-core 2.19 renders vars read through hostvars without `hostvars`: a clear problem, no crash."""
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        """\
all:
  children:
    loadbalancers:
      hosts:
        lb1:
          ansible_host: 192.0.2.50
          lb_services:
            - name: shop
              listen: 80
              servers:
                - {name: web1, address: "{{ hostvars['web1'].ansible_host }}", port: 80}
                - {name: web2, address: "{{ undefined_address }}", port: 80}
    staging:
      hosts:
        lb1:
        web1:
          ansible_host: 192.0.2.51
""",
        encoding="utf-8",
    )
    result = run(inventory, tmp_path)
    text = output(result)
    assert result.returncode == 2, text
    assert "lb1: service shop: server web1: address cannot be rendered: 'hostvars' is undefined" in text
    assert "lb1: service shop: server web2: address cannot be rendered: 'undefined_address' is undefined" in text


@pytest.mark.parametrize(("where", "typo", "meant"), [
    ("host", "lb_polcy", "lb_policy"),
    ("group", "lb_servics", "lb_services"),
    ("group", "lb_deploy_confirm_timout", "lb_deploy_confirm_timeout"),
    ("host", "lbguard_report_dri", "lbguard_report_dir"),
])
def test_a_variable_lbguard_does_not_know_is_refused_with_the_closest_name(
    tmp_path: Path, where: str, typo: str, meant: str
) -> None:
    """A typo'd top-level variable would be ignored while defaults apply: refused, naming the host (#26)."""
    inventory = tmp_path / "inventory"
    (inventory / f"{where}_vars").mkdir(parents=True)
    (inventory / "hosts.yml").write_text(RENAMED_INVENTORY, encoding="utf-8")
    (inventory / f"{where}_vars" / ("lb-a.yml" if where == "host" else "edge.yml")).write_text(
        f"{typo}: {{max_server_share: 0.9}}\n", encoding="utf-8")
    result = run(inventory, tmp_path, extra_vars=MAPPING)
    assert result.returncode == 2, output(result)
    assert f"lb-a: variable {typo} is not one lbguard knows" in output(result)
    assert f"did you mean {meant}?" in output(result)
    assert_no_connection(output(result))


@pytest.mark.parametrize("where", ["all", "edge"])
def test_group_names_set_in_the_inventory_are_refused_naming_the_variable(tmp_path: Path, where: str) -> None:
    """Plays choose their hosts before reading inventory variables: the mapping works only as an extra var (#26)."""
    inventory = tmp_path / "inventory"
    (inventory / "group_vars").mkdir(parents=True)
    (inventory / "hosts.yml").write_text(RENAMED_INVENTORY, encoding="utf-8")
    mapping = json.loads(MAPPING)
    (inventory / "group_vars" / f"{where}.yml").write_text(json.dumps(mapping), encoding="utf-8")
    result = run(inventory, tmp_path)
    assert result.returncode == 2, output(result)
    text = " ".join(output(result).split())
    assert "lbguard_group_names is set in the inventory (host or group variables of lb-a" in text, text
    assert "Pass it as an extra var" in text
    # The same mapping as an extra var (it then wins over the inventory's) passes.
    passed = run(inventory, tmp_path, extra_vars=MAPPING)
    assert passed.returncode == 0, output(passed)


def test_a_certificate_near_its_expiry_is_a_warning_in_staging_and_refused_in_production(tmp_path: Path) -> None:
    """lbguard_cert_min_days: staging validates with a WARNING line, production stops (#27)."""
    from lbguard_certs import CertificateAuthority  # noqa: PLC0415 - cryptography only where certificates are made
    certificate, key = CertificateAuthority().issue("shop.example.com", days=6)
    inventory = tmp_path / "inventory"
    inventory.mkdir()
    (inventory / "shop.crt").write_text(certificate, encoding="utf-8")
    (inventory / "shop.key").write_text(key, encoding="utf-8")
    servers = [{"name": f"web{i}", "address": f"192.0.2.{10 + i}", "port": 80} for i in (1, 2)]
    edge = {"lb_pools": [{"name": "shop", "servers": servers}],
            "lb_frontends": [{"name": "edge", "binds": [{"port": 443, "tls": True}], "default_pool": "shop",
                              "tls": {"certificates": [{"name": "shop", "certificate_file": "shop.crt",
                                                        "key_file": "shop.key"}]}}]}
    for environment in ("staging", "production"):
        hosts = {"all": {"children": {"loadbalancers": {"hosts": {"lb1": {"ansible_host": "192.0.2.1", **edge}}},
                                      environment: {"hosts": {"lb1": {}}}}}}
        (inventory / "hosts.yml").write_text(json.dumps(hosts), encoding="utf-8")
        result = run(inventory / "hosts.yml", tmp_path)
        text = output(result)
        assert_no_connection(text)
        if environment == "staging":
            assert result.returncode == 0, text
            assert "lb1: OK\n" in text
            assert ("WARNING lb1: frontend edge: certificate shop: the certificate expires in 5 days, under "
                    "lbguard_cert_min_days (14) (production refuses this)") in text
        else:
            assert result.returncode == 2, text
            assert "lb1: frontend edge: certificate shop: the certificate expires in 5 days, under " \
                   "lbguard_cert_min_days (14)" in " ".join(text.split())


def test_the_stats_password_comes_from_vault_or_a_lookup_in_production(tmp_path: Path) -> None:
    """Plain text in a production inventory is refused, never quoted; Vault, a lookup and staging pass (#27)."""
    import yaml  # noqa: PLC0415 - only this test writes a !vault tag
    from ansible.parsing.vault import VaultLib, VaultSecret  # noqa: PLC0415 - only this test encrypts

    class Vaulted(str):
        """A value written with Ansible's !vault tag."""

    class Dumper(yaml.SafeDumper):
        """YAML that writes Vaulted values as !vault blocks."""

    Dumper.add_representer(Vaulted, lambda dumper, value: dumper.represent_scalar("!vault", str(value), style="|"))
    password = "Vq7-correct-horse-Zt9"
    (tmp_path / "vault-pass").write_text("test vault password\n", encoding="utf-8")
    secret = VaultSecret(b"test vault password")
    (tmp_path / "password.txt").write_text(password + "\n", encoding="utf-8")
    servers = [{"name": f"web{i}", "address": f"192.0.2.{10 + i}", "port": 80} for i in (1, 2)]
    ways = {"plain": password,
            "vault": Vaulted(VaultLib([("default", secret)]).encrypt(password.encode(), secret).decode()),
            "lookup": "{{ lookup('file', '%s') }}" % (tmp_path / "password.txt")}
    for way, value in ways.items():
        for environment in ("production", "staging"):
            stats = {"address": "127.0.0.1", "port": 8404, "user": "ops", "password": value}
            lb = {"ansible_host": "192.0.2.1", "lb_stats": stats,
                  "lb_services": [{"name": "shop", "listen": 80, "servers": servers}]}
            hosts = {"all": {"children": {"loadbalancers": {"hosts": {"lb1": lb}}, environment: {"hosts": {"lb1": {}}}}}}
            (tmp_path / "hosts.yml").write_text(yaml.dump(hosts, Dumper=Dumper, sort_keys=False), encoding="utf-8")
            result = run(tmp_path / "hosts.yml", tmp_path, PLAYBOOK, None,
                         "--vault-password-file", str(tmp_path / "vault-pass"))
            out = output(result)
            assert password not in out and password[:8] not in out
            refused = way == "plain" and environment == "production"
            assert result.returncode == (2 if refused else 0), (way, environment, out)
            if refused:
                assert ("lb1: lb_stats: password is plain text in the inventory: in production it must come from "
                        "Ansible Vault") in " ".join(out.split())
    # An extra var is not the inventory: AWX injects a credential's secret that way. Production, and the
    # inventory's lb_stats (a lookup) replaced whole by the extra var's plain text.
    hosts["all"]["children"] = {"loadbalancers": hosts["all"]["children"]["loadbalancers"],
                                "production": {"hosts": {"lb1": {}}}}
    (tmp_path / "inventory").mkdir()
    (tmp_path / "inventory" / "hosts.yml").write_text(yaml.dump(hosts, Dumper=Dumper, sort_keys=False), encoding="utf-8")
    stats = {"address": "127.0.0.1", "port": 8404, "user": "ops", "password": password}
    (tmp_path / "extra.json").write_text(json.dumps({"lb_stats": stats}), encoding="utf-8")
    result = run(tmp_path / "inventory" / "hosts.yml", tmp_path, PLAYBOOK, f"@{tmp_path / 'extra.json'}",
                 "--vault-password-file", str(tmp_path / "vault-pass"))
    assert result.returncode == 0 and password not in output(result), output(result)
