"""The load balancer's listeners in canonical form: which two are one socket, and which server is one of them.

A listener is ``(address, port, families)``. ``address`` is canonical: "" every
IPv4 address (a service's ``listen``, a bind without address, ``0.0.0.0``),
"::" every IPv6 address, else one address (an IPv4-mapped IPv6 address is its
IPv4 form). Both engines bind "" and "::" as separate sockets: nginx's
``listen [::]:port`` is ipv6only by default, and the HAProxy template adds
``v6only``. Two listeners overlap when they share a port and a family and one
of them is every address of that family or both are the same address: the
engines start with both (nginx serves one socket, HAProxy's sockets share the
port through SO_REUSEPORT) and split the port's connections by destination.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any, NamedTuple

EVERY_IPV4 = ""
EVERY_IPV6 = "::"


class Listener(NamedTuple):
    """One socket the load balancer listens on, and who owns it (for messages)."""

    address: str
    port: int
    families: frozenset[int]
    owner: str


def family(address: str) -> int:
    """4 or 6: the IP family of a canonical listener address."""
    if address == EVERY_IPV4:
        return 4
    return ipaddress.ip_address(address).version


def bind_address(value: Any) -> str | None:
    """A bind's address in canonical form, or None when it cannot be one.

    "", None and any spelling of 0.0.0.0 are every IPv4 address (""); any spelling of
    :: is every IPv6 address ("::"); an IPv4-mapped IPv6 address is its IPv4 form.
    Multicast addresses are refused.
    """
    if value in ("", None):
        return EVERY_IPV4
    try:
        parsed = ipaddress.ip_address(value) if isinstance(value, str) else None
    except ValueError:
        return None
    if parsed is None or parsed.is_multicast:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    if parsed.is_unspecified:
        return EVERY_IPV4 if parsed.version == 4 else EVERY_IPV6
    return str(parsed)


def listener(address: str, port: int, owner: str) -> Listener:
    """The listener of a canonical address and a port."""
    return Listener(address, port, frozenset({family(address)}), owner)


def shown(address: str, port: int) -> str:
    """``address:port`` as an operator writes it in an engine's bind."""
    if address == EVERY_IPV4:
        return f"*:{port}"
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def overlap(one: Listener, other: Listener) -> bool:
    """Whether two listeners take the same connections (see the module's docstring)."""
    if one.port != other.port or not one.families & other.families:
        return False
    wildcard = (EVERY_IPV4, EVERY_IPV6)
    return one.address in wildcard or other.address in wildcard or one.address == other.address


def status_listener(text: Any, owner: str, engine: str | None = "haproxy") -> Listener | None:
    """lbguard's status listener from the engine role's bind (``127.0.0.1:PORT``, ``[::1]:PORT``, ``:PORT``).

    Its address is read as the engine reads it: empty or ``*`` every IPv4 address;
    ``[::]`` every IPv6 address with nginx (``ipv6only`` by default), dual stack
    with HAProxy (the template adds no ``v6only``). None when it is not ``address:port``.
    """
    host, _, port = str(text).rpartition(":")
    if not port.isdigit():
        return None
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    address = bind_address("" if host == "*" else host)
    if address is None:
        return None
    dual = address == EVERY_IPV6 and engine != "nginx"
    families = frozenset({4, 6}) if dual else frozenset({family(address)})
    return Listener(address, int(port), families, owner)


def loop_listener(address: str | None, port: Any, listeners: list[Listener],
                  own: Mapping[str, str]) -> Listener | None:
    """The listener a server at ``address``:``port`` would reach, None if it is no listener of this LB.

    ``own`` holds the load balancer's own addresses (canonical); a listener's own
    address is one too. A server reaches a listener on its port when it is the
    listener's address, or one of the LB's addresses of its family and the
    listener is every address.
    """
    if address is None or not isinstance(port, int):
        return None
    mine = set(own) | {item.address for item in listeners}
    if address not in mine or address in (EVERY_IPV4, EVERY_IPV6):
        return None
    try:
        version = ipaddress.ip_address(address).version
    except ValueError:
        return None  # a host name: never one of the LB's listener addresses
    for item in listeners:
        if item.port == port and version in item.families and item.address in (address, EVERY_IPV4, EVERY_IPV6):
            return item
    return None
