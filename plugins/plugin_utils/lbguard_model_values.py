"""Reading one value of the model: the problem collector (_Checker), numbers,
addresses and intervals, and Ansible's objects as plain data (to_plain, Unrenderable)."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible_collections.lbguard.core.plugins.module_utils.lbguard_common import closest as _closest, kind as _kind
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_model_schema import (
    _INTERVAL_MS,
    _IPV4_CHARS,
    HOST_LABEL_RE,
    INTERVAL_RE,
)
from ansible_collections.lbguard.core.plugins.plugin_utils.lbguard_model_spec import SECRET_KEYS, SECTIONS


try:  # jinja2 is always present with Ansible; keep the core importable without it
    from jinja2 import Undefined as _JinjaUndefined
except ImportError:  # pragma: no cover
    _JinjaUndefined = ()  # type: ignore[assignment,misc]


class InventoryText(str):
    """A secret written as plain text in the inventory: not from Ansible Vault, a lookup or a template.

    The filter adapters mark it (``lbguard_model_inputs``); production refuses it where a secret is expected.
    """

    __slots__ = ()


class Unrenderable:
    """A value Ansible could not render (undefined variable, failing lookup...).

    The filter adapters put it where the value would be; the core reports it as a
    problem at that place instead of crashing the play.
    """

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"<unrenderable: {self.reason}>"


class ModelError(AnsibleFilterError):
    """The model of a load balancer has problems; ``problems`` lists them all."""

    def __init__(self, host: str, problems: list[str]) -> None:
        self.host = host
        self.problems = list(problems)
        count = len(self.problems)
        lines = [f"{host}: {p}" for p in self.problems]
        super().__init__(
            f"lbguard: the load-balancer model of {host} has {count} problem{'s' if count != 1 else ''}:\n"
            + "\n".join(lines)
        )


_MISSING: Any = object()

# ------------------------------------------------------------------ small helpers


#: What a secret field's templating error becomes: the error may hold the secret, so it is not shown.
SECRET_REASON = "the templating error is not shown, as the field is secret; check its template, vault file or lookup"


def _secret_field(field: str) -> bool:
    """``key``, ``tls.certificates[0].key``, ``password``: a field whose last name is a secret key."""
    return re.split(r"[.\[]", field)[-1] in SECRET_KEYS if field else False


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _int_not_valid(field: str, value: Any) -> str:
    """`field VALUE is ...` explaining why VALUE is not an integer."""
    if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]+\s*", value):
        return f"{field} {value!r} is a string, not an integer: write {value.strip()} without quotes"
    if value is None:
        return f"{field} is empty (null), not an integer"
    return f"{field} {value!r} is {_kind(value)}, not an integer"


class _Checker:
    """Collects problems; small typed checks that report and return a clean value."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        # What the policy allows but an operator should know (the validated model's "warnings").
        self.warnings: list[str] = []

    def add(self, message: str) -> None:
        self.problems.append(message)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def rendered(self, where: str, field: str, value: Any) -> bool:
        """False (and a problem) if ``value`` could not be rendered by Ansible."""
        if isinstance(value, Unrenderable):
            # Templating errors quote what they failed on (a lookup's argument, say): never for a secret.
            reason = SECRET_REASON if _secret_field(field) else value.reason
            self.add(f"{where}: {field} cannot be rendered: {reason}" if field else f"{where} cannot be rendered: {reason}")
            return False
        return True

    def integer(self, where: str, field: str, value: Any, low: int, high: int | None, hint: str = "") -> int | None:
        if not self.rendered(where, field, value):
            return None
        expected = f"an integer from {low} to {high}" if high is not None else f"an integer >= {low}"
        if not _is_int(value):
            self.add(f"{where}: {_int_not_valid(field, value)}; expected {expected}{hint}")
            return None
        if value < low or (high is not None and value > high):
            self.add(f"{where}: {field} {value} is out of range; expected {expected}{hint}")
            return None
        return int(value)

    def boolean(self, where: str, field: str, value: Any) -> bool | None:
        if not self.rendered(where, field, value):
            return None
        if not isinstance(value, bool):
            self.add(f"{where}: {field} {value!r} is {_kind(value)}, not a boolean; use true or false (unquoted)")
            return None
        return value

    def mapping(self, where: str, field: str, value: Any) -> Mapping[str, Any] | None:
        if not self.rendered(where, field, value):
            return None
        if not isinstance(value, Mapping):
            self.add(f"{where}: {field} must be a mapping, got {_kind(value)}")
            return None
        return value

    def declared(self, section: str, key: str, where: str, value: Any, field: str = "") -> Any:
        """``value`` checked against the type and range lbguard_model_spec declares for ``section``'s ``key``.

        ``field`` is the name shown in a problem (default: the key). None when the value is refused.
        """
        spec = SECTIONS[section][key]
        shown = field or key
        if spec["type"] == "int":
            low, high = spec["range"]
            return self.integer(where, shown, value, low, high)
        if spec["type"] == "bool":
            return self.boolean(where, shown, value)
        raise ValueError(f"lbguard_model_spec: {section}.{key} is declared {spec['type']}; only int and bool are checked here")

    def plain_keys(self, section: str, where: str, raw: Mapping[str, Any], out: dict[str, Any]) -> None:
        """Check the keys the spec declares ``plain`` and copy them (or their default) into ``out``."""
        for key, spec in SECTIONS[section].items():
            if not spec.get("plain"):
                continue
            if key in raw:
                value = self.declared(section, key, where, raw[key])
                if value is not None:
                    out[key] = value
            elif "default" in spec:
                out[key] = spec["default"]

    def unknown_keys(self, where: str, data: Mapping[Any, Any], known: Sequence[str]) -> None:
        for key in data:
            if key in known:
                continue
            close = _closest(key, known)
            if close:
                self.add(f"{where}: unknown key {key!r}; did you mean {close!r}?")
            else:
                self.add(f"{where}: unknown key {key!r} (valid keys: {', '.join(known)})")


# ---------------------------------------------------------------- value validators


def _ip_problem(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why no load-balanced server can have this IP address, or None."""
    if address.is_unspecified:
        return "is the unspecified address: it means any address, not a server"
    if address.is_loopback:
        return "is a loopback address: the load balancer would send requests to itself"
    if address.is_multicast:
        return "is a multicast address, not a server"
    if isinstance(address, ipaddress.IPv4Address) and address == ipaddress.IPv4Address("255.255.255.255"):
        return "is the broadcast address, not a server"
    return None


def check_address(value: Any) -> tuple[str | None, str | None]:
    """Check an IPv4/IPv6 address or DNS host name (syntax only, never resolved).

    Returns ``(canonical_address, None)`` or ``(None, reason)``. The canonical
    form is what two spellings of one endpoint share: IPv4 for an IPv4-mapped
    IPv6 address, IPv6 compressed and lower case, names lower case without the
    trailing dot. Loopback, unspecified, multicast and broadcast addresses, IPv6
    zone ids, and names that libc would read as a number are refused.
    """
    if not isinstance(value, str):
        return None, f"is {_kind(value)}, not an IP address or host name"
    if not value or value != value.strip() or any(c.isspace() for c in value):
        return None, "must be an IP address or host name without spaces"
    if ":" in value:
        if value.count(":") == 1:
            return None, "looks like host:port; put the port in `port`"
        text = value[1:-1] if value.startswith("[") and value.endswith("]") else value
        if "%" in text:
            return None, (
                "has an IPv6 zone id (after '%'): HAProxy disables such a server with only a warning; "
                "use a global address"
            )
        try:
            address6 = ipaddress.IPv6Address(text)
        except ValueError:
            return None, "is not a valid IPv6 address"
        if text != value:
            return None, f"write the IPv6 address without brackets ({text})"
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = address6.ipv4_mapped or address6
        problem = _ip_problem(ip)
        return (None, problem) if problem else (str(ip), None)
    if set(value) <= _IPV4_CHARS:
        try:
            address4 = ipaddress.IPv4Address(value)
        except ValueError:
            return None, "is not a valid IPv4 address"
        problem = _ip_problem(address4)
        return (None, problem) if problem else (str(address4), None)
    name = value[:-1] if value.endswith(".") else value
    if len(name) > 253:
        return None, "is longer than 253 characters"
    labels = name.split(".")
    for label in labels:
        if not HOST_LABEL_RE.fullmatch(label):
            return None, (
                f"is not a valid host name: label {label!r} must be 1-63 letters, digits or '-', "
                "not starting or ending with '-'"
            )
    if labels[-1].isdigit():
        return None, "is not a valid host name (its last label is numeric) nor a valid IP address"
    try:  # inet_aton reads hex, octal and shortened forms as an address: 0x0a000001 is 10.0.0.1
        numeric = socket.inet_ntoa(socket.inet_aton(name))
    except OSError:
        numeric = None
    if numeric is not None:
        return None, f"is a numeric address libc reads as {numeric}; write it as {numeric}"
    if name.lower() == "localhost" or name.lower().endswith(".localhost"):
        return None, "is a loopback name: the load balancer would send requests to itself"
    return name.lower(), None


def parse_interval(value: Any) -> tuple[str | None, int | None]:
    """``"2s"``/``"500ms"``/``"1m"`` or an int of seconds -> (text, milliseconds)."""
    if _is_int(value):
        return (f"{value}s", value * 1000) if value > 0 else (None, None)
    if isinstance(value, str):
        match = INTERVAL_RE.fullmatch(value)
        if match and int(match.group(1)) > 0:
            return value, int(match.group(1)) * _INTERVAL_MS[match.group(2)]
    return None, None


# ------------------------------------------------- Ansible objects -> plain data

_OMIT: Any = object()


def _is_omit(value: Any) -> bool:
    # ansible-core 2.19 hands `omit` placeholders to plugins; it drops them from
    # finalized results, so do the same. There is no public name to compare with.
    return type(value).__name__ == "_OmitType"


def _render_reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if len(text) > 300:
        text = text[:297] + "..."
    if "'hostvars' is undefined" in text:
        text += (
            " (ansible-core 2.19+ renders a host's variables read through hostvars without hostvars; "
            "do not reference hostvars in lb_* variables: use backend_group for inventory hosts)"
        )
    return text


def _fetch(container: Any, key: Any) -> Any:
    """``container[key]`` rendered and converted to plain data; Unrenderable on failure."""
    try:
        value = container[key]
    except Exception as exc:  # noqa: BLE001 - templating errors of any kind become model problems
        return Unrenderable(_render_reason(exc))
    return to_plain(value)


def to_plain(value: Any) -> Any:
    """Convert Ansible's lazy/tagged containers and scalars to plain Python data.

    Values that fail to render become ``Unrenderable``; ``omit`` placeholders are
    dropped from containers, as Ansible does when it finalises a template.
    """
    kind = type(value)
    if value is None or kind is str or kind is int or kind is bool or kind is float:
        return value
    if isinstance(value, _JinjaUndefined):
        return Unrenderable("undefined value")
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if _is_omit(value):
        return _OMIT
    if isinstance(value, Mapping):
        result: dict[Any, Any] = {}
        for key in list(value.keys()):
            item = _fetch(value, key)
            if item is not _OMIT:
                result[str(key) if isinstance(key, str) else key] = item
        return result
    if isinstance(value, (list, tuple)):
        items = []
        for index in range(len(value)):
            item = _fetch(value, index)
            if item is not _OMIT:
                items.append(item)
        return items
    return value
