"""Client addresses, shortened: an IPv4 address to its /24, an IPv6 address to its /48.

The shortened form names a network (an office, a provider's area), not a subscriber: it is
what people and admins are shown, and all that is kept once the raw address's period is over.
"""

from __future__ import annotations

import ipaddress

IPV4_PREFIX = 24
IPV6_PREFIX = 48
# "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255" is the longest textual form of an address.
MAX_ADDRESS_CHARS = 45
MAX_NETWORK_CHARS = 64


def normalized_address(value: str | None) -> str | None:
    """The canonical text of an address, or None when `value` is not one."""
    address = _parse(value)
    return None if address is None else str(address)


def network_of(value: str | None) -> str | None:
    """`203.0.113.0/24` for 203.0.113.77, `2001:db8:1::/48` for 2001:db8:1:2::5; else None."""
    address = _parse(value)
    if address is None:
        return None
    prefix = IPV4_PREFIX if address.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


def _parse(value: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not value or len(value) > MAX_ADDRESS_CHARS:
        return None
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d; they are IPv4 clients.
        return address.ipv4_mapped
    return address
