"""Which address a request came from: the socket peer, or what a trusted proxy says it saw.

`X-Forwarded-For` is believed only when the socket peer is one of the configured trusted
proxies; from anyone else the header is ignored, so a client cannot spoof its address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from functools import cached_property, lru_cache

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TrustedProxies:
    def __init__(self, networks: Iterable[str]) -> None:
        self._raw = tuple(networks)

    @cached_property
    def networks(self) -> tuple[IPNetwork, ...]:
        return tuple(ipaddress.ip_network(entry, strict=False) for entry in self._raw)

    def trusts(self, address: IPAddress | None) -> bool:
        return address is not None and any(address in net for net in self.networks)

    def client_address(self, peer: str | None, forwarded_for: Sequence[str]) -> IPAddress | None:
        """The first address, from the right of X-Forwarded-For, that is not a trusted proxy."""
        current = _parse(peer)
        if not self.trusts(current):
            return current
        hops = [hop.strip() for header in forwarded_for for hop in header.split(",")]
        for hop in reversed(hops):
            address = _parse(hop)
            if address is None:
                # A garbled hop breaks the chain of trust: stop at the last proxy we trust.
                return current
            current = address
            if not self.trusts(address):
                return address
        return current


def _parse(value: str | None) -> IPAddress | None:
    if not value:
        return None
    return _parse_text(value.strip())


@lru_cache(maxsize=4096)
def _parse_text(value: str) -> IPAddress | None:
    # The same few peers (proxies, busy clients) send most requests: parse each once.
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def is_loopback(address: IPAddress | None) -> bool:
    return address is not None and address.is_loopback
