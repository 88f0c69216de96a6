"""The model filters' view of Ansible: hostvars and groups as plain mappings, and the
filters that read a host's variables again (change id, environment, TLS files, stats password)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ansible._internal._datatag._tags import Origin
from ansible.errors import AnsibleFilterError
from ansible.parsing.vault import VaultHelper
from ansible.template import is_trusted_as_template
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_common import kind as _kind
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_inventory import (
    complete_group_names,
    environments_of,
)
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_edge_tls import read_pem_pair
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_model_build import build_model
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_model_schema import (
    LB_IDENTITY_VARS,
    STATUS_BIND_VARS,
)
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_model_values import InventoryText, _Checker, _fetch
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_secrets import page_password_hash
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_tls import inspect_pair
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_model_spec import (
    BACKEND_VARS,
    LB_VARS,
)


class _BackendVarsView(Mapping[str, Mapping[str, Any]]):
    """Reads the few BACKEND_VARS of a host from Ansible's hostvars, once per host."""

    def __init__(self, hostvars: Mapping[str, Any]) -> None:
        self._hostvars = hostvars
        self._cache: dict[str, dict[str, Any]] = {}

    def __getitem__(self, host: str) -> Mapping[str, Any]:
        cached = self._cache.get(host)
        if cached is None:
            if host not in self._hostvars:
                raise KeyError(host)
            cached = _read_vars(self._hostvars[host], BACKEND_VARS)
            self._cache[host] = cached
        return cached

    def __iter__(self) -> Iterator[str]:
        return iter(self._hostvars)

    def __len__(self) -> int:
        return len(self._hostvars)


class _GroupsView(Mapping[str, list[str]]):
    """Ansible's ``groups`` as group -> list of hostnames, converting a group only when asked."""

    def __init__(self, groups: Mapping[str, Any]) -> None:
        self._groups = groups
        self._cache: dict[str, list[str]] = {}

    def __getitem__(self, name: str) -> list[str]:
        cached = self._cache.get(name)
        if cached is None:
            if name not in self._groups:
                raise KeyError(name)
            members = _fetch(self._groups, name)
            cached = [str(h) for h in members if isinstance(h, str)] if isinstance(members, list) else []
            self._cache[name] = cached
        return cached

    def __contains__(self, name: object) -> bool:
        return name in self._groups

    def __iter__(self) -> Iterator[str]:
        return (str(name) for name in self._groups)

    def __len__(self) -> int:
        return len(self._groups)


def _read_vars(host_vars: Any, names: Sequence[str]) -> dict[str, Any]:
    if not isinstance(host_vars, Mapping):
        return {}
    return {name: _fetch(host_vars, name) for name in names if name in host_vars}


def _adapt(
    lb_host: Any, hostvars: Any, groups: Any, filter_name: str
) -> tuple[str, dict[str, Any] | None, _GroupsView, _BackendVarsView]:
    """Check the filter arguments and wrap Ansible's objects for the plain-data core."""
    if not isinstance(lb_host, str) or not lb_host:
        raise AnsibleFilterError(
            f"{filter_name}: the input must be an inventory hostname, got {_kind(lb_host)}; "
            f"use {{{{ inventory_hostname | {filter_name}(hostvars, groups) }}}}"
        )
    if not isinstance(hostvars, Mapping):
        raise AnsibleFilterError(f"{filter_name}: the first argument must be Ansible's hostvars, got {_kind(hostvars)}")
    if not isinstance(groups, Mapping):
        raise AnsibleFilterError(f"{filter_name}: the second argument must be Ansible's groups, got {_kind(groups)}")
    host = str(lb_host)
    host_vars = None
    if host in hostvars:
        raw_vars = hostvars[host]
        host_vars = _read_vars(raw_vars, LB_VARS + LB_IDENTITY_VARS + tuple(STATUS_BIND_VARS.values()) + ("inventory_dir",))
        _mark_inventory_text(raw_vars, host_vars)
    return host, host_vars, _GroupsView(groups), _BackendVarsView(hostvars)


def _written_in_inventory(value: Any, inventory_dir: Any) -> bool:
    """Plain text as an inventory file wrote it: still a template source, not decrypted from Vault, and from a
    file in the inventory's folder (hosts, group_vars, host_vars).

    A value a template or lookup produced is no longer trusted as a template; Vault's keeps its ciphertext; an
    extra var (AWX injects credentials as extra vars) comes from no file or one outside the inventory.
    """
    if not (isinstance(value, str) and is_trusted_as_template(value)
            and VaultHelper.get_ciphertext(value, with_tags=False) is None and isinstance(inventory_dir, str)):
        return False
    # ansible-core 2.19 has no public accessor for where a value was read; its Origin tag says it.
    origin = Origin.get_tag(value)
    path = getattr(origin, "path", None)
    if not path:
        return False
    folder = os.path.realpath(inventory_dir)
    return os.path.realpath(path).startswith(folder + os.sep)


def _mark_inventory_text(raw_vars: Any, host_vars: dict[str, Any]) -> None:
    """Mark the stats page's password as InventoryText when the inventory wrote it in plain text."""
    stats = host_vars.get("lb_stats")
    if not isinstance(stats, dict) or not isinstance(stats.get("password"), str):
        return
    try:
        raw = raw_vars["lb_stats"]["password"]
    except Exception:  # noqa: BLE001 - already rendered once above; any failure leaves it unmarked
        return
    if _written_in_inventory(raw, host_vars.get("inventory_dir")):
        stats["password"] = InventoryText(stats["password"])


def lbguard_environment(
    host: str, groups: Mapping[str, Any], names: Mapping[str, Any] | None = None, unknown: str | None = None
) -> str:
    """Filter: the environment of ``host`` by its groups, as the model derives it.

    For a host whose model cannot be built (plan, manual rollback). When the
    host is in no environment group or in both: ``unknown`` when given, else
    AnsibleFilterError.
    """
    groups_of = complete_group_names(names)
    if not isinstance(groups, Mapping):
        raise AnsibleFilterError(f"lbguard_environment: the argument must be Ansible's groups, got {_kind(groups)}")
    found = environments_of(str(host), _GroupsView(groups), groups_of)
    if len(found) != 1 and unknown is not None:
        return unknown
    if len(found) != 1:
        raise AnsibleFilterError(
            f"lbguard_environment: {host} is in {'both' if found else 'neither'} of the groups "
            f"{groups_of['staging']} and {groups_of['production']}; put it in exactly one of them"
        )
    return found[0]


def lbguard_change_id(
    lb_hosts: Sequence[str], hostvars: Mapping[str, Any], groups: Mapping[str, Any], names: Mapping[str, Any] | None = None
) -> str:
    """Filter: the id of the change the inventory describes, for every LB at once.

    The sha256 of each load balancer's model digest (or of its name and
    "invalid" when its model has problems), so any change to any model gives a
    new id. Staging's ledger stores the id its releases were verified for.
    """
    parts = []
    for lb_host in lb_hosts:
        host, host_vars, group_members, backends = _adapt(lb_host, hostvars, groups, "lbguard_change_id")
        model, problems = build_model(host, host_vars or {}, group_members, backends, names)
        parts.append(model["digest"] if model is not None and not problems else f"{host}:invalid")
    return hashlib.sha256(" ".join(parts).encode()).hexdigest()


def lbguard_tls_files(model: Mapping[str, Any], hostvars: Mapping[str, Any]) -> list[dict[str, str]]:
    """Filter: the PEM text of every certificate of a validated model, to install on its LB.

    ``[{"file": basename, "certificate": PEM chain, "key": PEM key}]``, in frontend
    order. The text is read again from the LB's ``lb_frontends`` and must be the
    certificate the model validated (same fingerprint). Secret: use with no_log.
    """
    host = model["host"]
    host_vars = _read_vars(hostvars[host], ("lb_frontends", "inventory_dir"))
    raw_frontends = {f.get("name"): f for f in host_vars.get("lb_frontends") or [] if isinstance(f, Mapping)}
    base_dir = host_vars.get("inventory_dir") if isinstance(host_vars.get("inventory_dir"), str) else None
    files = []
    for frontend in model["frontends"]:
        if not frontend["tls"]:
            continue
        raw_items = raw_frontends[frontend["name"]]["tls"]["certificates"]
        raw_by_name = {item.get("name", f"cert{i}"): item for i, item in enumerate(raw_items)}
        for certificate in frontend["tls"]["certificates"]:
            check = _Checker()
            pem, key = read_pem_pair(check, f"frontend {frontend['name']}", raw_by_name[certificate["name"]],
                                     base_dir)
            info = inspect_pair(pem, key)[0] if pem and key else None
            if info is None or info.fingerprint != certificate["fingerprint"]:
                raise AnsibleFilterError(
                    f"lbguard_tls_files: {host}: frontend {frontend['name']}: certificate {certificate['name']} is "
                    "no longer the one the model validated; validate the model again"
                )
            files.append({"file": certificate["file"], "certificate": pem.strip() + "\n", "key": key.strip() + "\n"})
    return files


def lbguard_stats_password_hash(model: Mapping[str, Any], hostvars: Mapping[str, Any]) -> str:
    """Filter: the SHA-512 crypt hash of the stats page's password, for the engine's user list.

    Read again from the LB's ``lb_stats`` and checked against the model's
    ``stats.credentials``. Derived from a secret: use with no_log.
    """
    host, stats = model["host"], model.get("stats")
    if not stats:
        raise AnsibleFilterError(f"lbguard_stats_password_hash: the model of {host} has no lb_stats")
    raw = _read_vars(hostvars[host], ("lb_stats",)).get("lb_stats") or {}
    password = raw.get("password") if isinstance(raw, Mapping) else None
    digest = page_password_hash(host, stats["user"], password) if isinstance(password, str) else ""
    if hashlib.sha256(digest.encode()).hexdigest()[:16] != stats["credentials"]:
        raise AnsibleFilterError(f"lbguard_stats_password_hash: {host}: lb_stats changed since the model was "
                                 "validated; validate it again")
    return digest
