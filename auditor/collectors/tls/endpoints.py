"""The `tls` collector's endpoints: the `endpoints` parameter's syntax, parsed into Endpoint.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Endpoint:
    name: str  # how the report names it
    address: str  # as the inventory gave it
    host: str  # IP address or DNS name to connect to
    port: int
    sni: str | None  # SNI, Host header and the name the certificate must match
    ca_file: str | None
    http_port: int | None  # plain-HTTP port to test for the redirect; None: not tested

    @property
    def hostname(self) -> str:
        """The name (or IP address) the certificate must match."""
        return self.sni or self.host


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def split_address(address: str, default_host: str) -> tuple[str, int]:
    """(host, port) of `host:port`, `[v6]:port`, `host`, `:port` or `port`."""
    text = address.strip()
    if text.isdigit():
        host, port_text = "", text
    elif text.startswith("["):
        inside, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"bad address {address!r}: expected [v6]:port")
        host, port_text = inside, rest[1:] or "443"
    elif text.count(":") > 1:
        if not is_ip(text):
            raise ValueError(f"bad address {address!r}: write an IPv6 address and port as [v6]:port")
        host, port_text = text, "443"  # a bare IPv6 address
    else:
        host, _, port_text = text.partition(":")
        port_text = port_text or ("" if text.endswith(":") else "443")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"bad address {address!r}: the port must be a number from 1 to 65535")
    host = host or default_host
    if not host:
        raise ValueError(f"bad address {address!r}: no host, and the inventory host has no address")
    return host, int(port_text)


def parse_endpoint(item: object, default_host: str, default_http_port: int) -> Endpoint:
    """One item of the `endpoints` parameter; ValueError names what is wrong with it."""
    spec: Mapping[str, Any] = item if isinstance(item, Mapping) else {"address": item}
    address = spec.get("address")
    if isinstance(address, bool) or not isinstance(address, str | int):
        raise ValueError(f"endpoint {item!r}: address must be host:port")
    host, port = split_address(str(address), default_host)
    sni = spec.get("sni")
    if sni is not None and (not isinstance(sni, str) or not sni.strip()):
        raise ValueError(f"endpoint {address}: sni must be a host name")
    sni = sni.strip() if sni else (None if is_ip(host) else host)
    ca_file = spec.get("ca_file")
    if ca_file is not None and not isinstance(ca_file, str):
        raise ValueError(f"endpoint {address}: ca_file must be a path")
    http_port = spec.get("http_port", default_http_port)
    if http_port is None or http_port is False or http_port == 0:
        http_port = None
    elif isinstance(http_port, bool) or not isinstance(http_port, int) or not 0 < http_port < 65536:
        raise ValueError(f"endpoint {address}: http_port must be a port number, or 0 to skip")
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    name = spec.get("name") or (f"{sni} ({where})" if sni and sni != host else where)
    return Endpoint(str(name), str(address), host, port, sni, ca_file or None, http_port)
