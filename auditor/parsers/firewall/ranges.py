"""Address range algebra for the firewall reader: sorted, disjoint, inclusive integer ranges
of one IP version, their union, intersection, complement and difference, and the
conversions from and to CIDR networks (with the private address space).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Ranges = tuple[tuple[int, int], ...]  # sorted, disjoint, inclusive integer address ranges

_BITS = {4: 32, 6: 128}


def universe(version: int) -> Ranges:
    return ((0, (1 << _BITS[version]) - 1),)


def _union(a: Ranges, b: Ranges) -> Ranges:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(a + b):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


def _intersect(a: Ranges, b: Ranges) -> Ranges:
    out = [(max(s1, s2), min(e1, e2)) for s1, e1 in a for s2, e2 in b if max(s1, s2) <= min(e1, e2)]
    return _union(tuple(out), ())


def _complement(a: Ranges, version: int) -> Ranges:
    out: list[tuple[int, int]] = []
    position = 0
    for start, end in a:
        if start > position:
            out.append((position, start - 1))
        position = end + 1
    top = universe(version)[0][1]
    if position <= top:
        out.append((position, top))
    return tuple(out)


def _subtract(a: Ranges, b: Ranges, version: int) -> Ranges:
    return _intersect(a, _complement(b, version))


# Address space no one on the Internet can come from: RFC 1918, shared CGNAT space
# (RFC 6598), link-local, loopback; IPv6 unique local (fc00::/7), link-local and loopback.
PRIVATE_NETWORKS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16",
                    "127.0.0.0/8", "fc00::/7", "fe80::/10", "::1/128")


def network_ranges(cidrs: Iterable[str], version: int) -> Ranges:
    """The networks of one IP version among `cidrs` as ranges. ValueError on a bad network."""
    ranges: Ranges = ()
    for cidr in cidrs:
        net = ipaddress.ip_network(cidr, strict=False)
        if net.version == version:
            ranges = _union(ranges, ((int(net.network_address), int(net.broadcast_address)),))
    return ranges


def networks(ranges: Ranges, version: int) -> list[str]:
    """The ranges written as CIDR prefixes."""
    make = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    return [str(net) for start, end in ranges
            for net in ipaddress.summarize_address_range(make(start), make(end))]
