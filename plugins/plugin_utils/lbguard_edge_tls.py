"""Reading what a frontend points at: inline or file PEM text, certificates and TLS
settings, HSTS and the stats page (extra directives: lbguard_directives)."""

from __future__ import annotations

import hashlib
import ipaddress
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ansible_collections.lbguard.core.plugins.module_utils.lbguard_common import kind
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_edge_schema import (
    ALPN_PROTOCOLS,
    CERTIFICATE_NAME_RE,
    STATS_PASSWORD_MIN,
    STATS_USER_RE,
    TLS_VERSIONS,
)
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_model_values import InventoryText
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_secrets import page_password_hash
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_tls import inspect_pair
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_model_spec import (
    CERTIFICATE_KEYS,
    HSTS_KEYS,
    STATS_KEYS,
    TLS_DEFAULTS,
    TLS_KEYS,
    defaults,
)


def _read_text(check: Any, where: str, field: str, value: Any) -> str | None:
    if not check.rendered(where, field, value):
        return None
    if not isinstance(value, str) or not value.strip():
        got = "an empty string" if isinstance(value, str) else kind(value)
        check.add(f"{where}: {field} must be PEM text, got {got}")
        return None
    return str(value)


def _read_file(check: Any, where: str, field: str, value: Any, base_dir: str | None) -> str | None:
    if not check.rendered(where, field, value):
        return None
    if not isinstance(value, str) or not value:
        check.add(f"{where}: {field} must be a file path, got {kind(value)}")
        return None
    path = value if os.path.isabs(value) or not base_dir else os.path.join(base_dir, value)
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not PEM text"
        check.add(f"{where}: {field} {value!r} cannot be read on the controller ({reason}); relative paths "
                  "start at the inventory's directory")
        return None


def read_pem_pair(
    check: Any, where: str, raw: Mapping[str, Any], base_dir: str | None
) -> tuple[str | None, str | None]:
    """The PEM certificate and key of one ``tls.certificates`` item, from content or files."""
    pems: list[str | None] = []
    for field in ("certificate", "key"):
        content, path = raw.get(field), raw.get(f"{field}_file")
        if (content is None) == (path is None):
            check.add(f"{where}: set exactly one of {field} (PEM text, e.g. from Ansible Vault) and {field}_file")
            pems.append(None)
        elif content is not None:
            pems.append(_read_text(check, where, field, content))
        else:
            pems.append(_read_file(check, where, f"{field}_file", path, base_dir))
    return pems[0], pems[1]


def own_address(value: Any) -> str | None:
    """``value`` as one IP address a listener of this host can bind, canonical; None if it is not one.

    Not the unspecified address (every address is written by leaving it out) nor a multicast one.
    An IPv4-mapped IPv6 address (``::ffff:10.0.0.1``) is its IPv4 form: the same address.
    """
    try:
        parsed = ipaddress.ip_address(value) if isinstance(value, str) else None
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    if parsed is None or parsed.is_unspecified or parsed.is_multicast:
        return None
    return str(parsed)


def read_stats(check: Any, host: str, raw: Any, environment: str | None = None) -> dict[str, Any] | None:
    """``lb_stats``: the engine's stats (HAProxy) or status (nginx) page behind a password.

    Returns ``{"address", "port", "user", "credentials"}``: ``credentials`` names
    the password's hash (sha256 of it, 16 hex digits) so a new password is a new
    model digest, and the model holds neither the password nor its hash.
    """
    data = check.mapping("lb_stats", "", raw)
    if data is None:
        return None
    before = len(check.problems)
    check.unknown_keys("lb_stats", data, STATS_KEYS)
    for key in STATS_KEYS:
        if key not in data:
            check.add(f"lb_stats: {key} is missing")
    address = data.get("address")
    if "address" in data and check.rendered("lb_stats", "address", address):
        if own_address(address) is None:
            check.add(f"lb_stats: address {address!r} must be one IP address of this host on a management network "
                      "(or 127.0.0.1); the page never listens on every address")
        else:
            address = own_address(address)
    port = check.declared("stats", "port", "lb_stats", data["port"]) if "port" in data else None
    user = data.get("user")
    if "user" in data and check.rendered("lb_stats", "user", user) and not (
            isinstance(user, str) and STATS_USER_RE.fullmatch(user)):
        check.add(f"lb_stats: user {user!r} must be 1-32 letters, digits, '.', '_' or '-'")
    password = data.get("password")
    if "password" in data and check.rendered("lb_stats", "password", password):
        if not isinstance(password, str) or len(password) < STATS_PASSWORD_MIN or any(
                not " " <= c <= "~" for c in password):
            check.add(f"lb_stats: password must be at least {STATS_PASSWORD_MIN} printable ASCII characters (keep "
                      "it in Ansible Vault); its value is not shown")
        elif isinstance(password, InventoryText) and environment != "staging":
            check.add("lb_stats: password is plain text in the inventory: in production it must come from Ansible "
                      "Vault (ansible-vault encrypt_string) or a lookup; its value is not shown")
    if len(check.problems) > before:
        return None
    digest = page_password_hash(host, str(user), str(password))
    return {"address": address, "port": port, "user": str(user),
            "credentials": hashlib.sha256(digest.encode()).hexdigest()[:16]}


def _entries(
    check: Any, label: str, field: str, raw: Sequence[Any], keys: Sequence[str]
) -> Iterator[tuple[int, str, Mapping[str, Any]]]:
    """``(index, where, item)`` for each item of a list that is a mapping; the others and unknown keys reported."""
    for index, item in enumerate(raw):
        data = check.mapping(label, f"{field}[{index}]", item)
        if data is not None:
            where = f"{label}: {field}[{index}]"
            check.unknown_keys(where, data, keys)
            yield index, where, data


@dataclass(frozen=True)
class CertificatePolicy:
    """What the LB's environment asks of a certificate beyond being servable (``lbguard_cert_min_days``)."""

    environment: str | None = None  # None (unknown): judged as production
    min_days: int = defaults("lb")["lbguard_cert_min_days"]

    def problems(self, check: Any, where: str, self_signed: bool, days_left: float) -> list[str]:
        """Refusals in production; in staging the same findings are warnings (``check.warn``)."""
        found = []
        if self_signed:
            found.append(("the certificate is self-signed", "browsers refuse it, so production needs one issued by "
                          "a CA"))
        if days_left < self.min_days:
            found.append((f"the certificate expires in {max(days_left, 0):.0f} days, under lbguard_cert_min_days "
                          f"({self.min_days})", "renew it before it is deployed"))
        if self.environment == "staging":
            for finding, _ in found:
                check.warn(f"{where}: {finding} (production refuses this)")
            return []
        return [f"{finding}: {action}" for finding, action in found]


def _certificates(
    check: Any, label: str, raw: Any, base_dir: str | None, now: datetime, policy: CertificatePolicy
) -> list[dict[str, Any]]:
    if not check.rendered(label, "tls.certificates", raw):
        return []
    if not isinstance(raw, (list, tuple)) or not raw:
        check.add(f"{label}: tls.certificates must be a non-empty list of certificates with their keys")
        return []
    result: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, where, data in _entries(check, label, "tls.certificates", raw, CERTIFICATE_KEYS):
        name = data.get("name", f"cert{index}")
        if not (isinstance(name, str) and CERTIFICATE_NAME_RE.fullmatch(name)):
            check.add(f"{where}: name {name!r} must be 1-63 letters, digits, '_', '.' or '-'")
            continue
        where = f"{label}: certificate {name}"
        if name in seen:
            check.add(f"{where}: the name is used twice in this frontend")
            continue
        seen.add(name)
        certificate, key = read_pem_pair(check, where, data, base_dir)
        if certificate is None or key is None:
            continue
        info, problems = inspect_pair(certificate, key, now)
        if info is not None and not problems:
            days_left = (info.not_after - now).total_seconds() / 86400
            problems = policy.problems(check, where, info.self_signed, days_left)
        for problem in problems:
            check.add(f"{where}: {problem}")
        if info is not None and not problems:
            result.append({
                "name": name,
                "file": f"{label.split()[-1]}-{name}-{info.fingerprint[:16]}",
                "fingerprint": info.fingerprint,
                "names": list(info.names),
                "not_after": info.not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "not_after_timestamp": int(info.not_after.timestamp()),
            })
    return result


def _tls(
    check: Any, label: str, raw: Any, base_dir: str | None, now: datetime, policy: CertificatePolicy
) -> dict[str, Any] | None:
    data = check.mapping(label, "tls", raw)
    if data is None:
        return None
    check.unknown_keys(f"{label}: tls", data, TLS_KEYS)
    tls: dict[str, Any] = {**TLS_DEFAULTS, "certificates": []}
    if "certificates" not in data:
        check.add(f"{label}: tls.certificates is missing: a TLS bind needs a certificate and its key")
    else:
        tls["certificates"] = _certificates(check, label, data["certificates"], base_dir, now, policy)
    version = data.get("min_version", TLS_DEFAULTS["min_version"])
    if not check.rendered(label, "tls.min_version", version):
        pass
    elif version not in TLS_VERSIONS:
        check.add(f"{label}: tls.min_version {version!r} is not offered; use one of {', '.join(TLS_VERSIONS)}")
    else:
        tls["min_version"] = version
    alpn = data.get("alpn", TLS_DEFAULTS["alpn"])
    if check.rendered(label, "tls.alpn", alpn):
        if (not isinstance(alpn, (list, tuple)) or not alpn or len(set(map(str, alpn))) != len(alpn)
                or any(p not in ALPN_PROTOCOLS for p in alpn)):
            check.add(f"{label}: tls.alpn {alpn!r} must list distinct protocols out of {', '.join(ALPN_PROTOCOLS)}")
        else:
            tls["alpn"] = [str(p) for p in alpn]
    return tls


def _hsts(check: Any, label: str, raw: Any) -> dict[str, Any] | None:
    data = check.mapping(label, "hsts", raw)
    if data is None:
        return None
    check.unknown_keys(f"{label}: hsts", data, HSTS_KEYS)
    if "max_age" not in data:
        check.add(f"{label}: hsts.max_age is missing: seconds browsers keep to HTTPS (e.g. 31536000)")
        return None
    max_age = check.declared("hsts", "max_age", label, data["max_age"], "hsts.max_age")
    subdomains = check.declared("hsts", "include_subdomains", label, data.get("include_subdomains", False), "hsts.include_subdomains")
    if max_age is None or subdomains is None:
        return None
    return {"max_age": max_age, "include_subdomains": subdomains}
