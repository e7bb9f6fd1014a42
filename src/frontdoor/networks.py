"""Whether an address is in some networks: the one answer behind serve's trusted proxies (a listener's
``trusted_proxies``, X-Forwarded-For's hops) and authz's ``--trusted`` peers."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def within(address: str, networks: Sequence[Network]) -> bool:
    """``address`` (text, as a socket or a header gives it) is in one of ``networks``; never for text
    that is no address. An IPv4-mapped IPv6 address (``::ffff:10.0.0.1``, how a dual-stack listener
    bound to ``::`` sees an IPv4 peer) is judged as the IPv4 address it carries."""
    if not networks:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)
