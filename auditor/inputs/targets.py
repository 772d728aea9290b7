"""Hosts named on the command line, the way InSpec and testinfra address them:

    auditor run -t ssh://audit@web1.example.com:2222 -t ssh://db1 -t local

Each target becomes the same `Host` record an inventory file gives, named by the target as
written without its scheme (`audit@web1.example.com:2222`, `db1`, `local`), so everything
after loading (plan, collect, reports, history) cannot tell the two apart.
"""

from __future__ import annotations

import hashlib
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from auditor.errors import UsageError
from auditor.inventory import Host, Inventory

# What a run's report and history name as the inventory of a run given by -t
COMMAND_LINE = Path("command-line targets")
_SAFE_PART = re.compile(r"^[A-Za-z0-9._\-:\[\]%]+$")  # host names, IPv4/IPv6 addresses, user names
_EXAMPLE = "ssh://user@host:port or local"


@dataclass(frozen=True)
class Targets:
    """`-t` targets and the flags that apply to all of them."""

    urls: tuple[str, ...]
    sudo: bool = False  # become: sudo for every ssh target
    identity_file: str | None = None  # --identity-file KEY


def parse(target: str, sudo: bool = False, identity_file: str | None = None) -> Host:
    """One target as a Host; a malformed one is a UsageError saying what to write."""
    if target in ("local", "local://"):
        return Host(name="local", address="localhost", transport="local", become="sudo" if sudo else None)
    if "://" not in target:
        raise UsageError(f"-t {target}: write a target as {_EXAMPLE}")
    parts = urllib.parse.urlsplit(target)
    if parts.password is not None:  # never echoed: the message names the target with it masked
        shown = target.replace(f":{parts.password}@", ":***@", 1)
        raise UsageError(f"-t {shown}: no password in a target; use a key (--identity-file) or ssh-agent")
    if parts.scheme != "ssh":
        raise UsageError(f"-t {target}: unknown scheme {parts.scheme!r}; write {_EXAMPLE}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise UsageError(f"-t {target}: a target names a host only (no path, ?query or #fragment)")
    try:
        port = parts.port
    except ValueError:
        raise UsageError(f"-t {target}: the port must be a number between 1 and 65535") from None
    address, user = parts.hostname, parts.username
    if not address:
        raise UsageError(f"-t {target}: no host; write {_EXAMPLE}")
    for what, value in (("host", address), ("user", user)):
        # Both reach ssh's config lookup and messages: no option-like or control characters
        if value is not None and (value.startswith("-") or not _SAFE_PART.match(value)):
            raise UsageError(f"-t {target}: the {what} {value!r} holds characters a {what} name cannot; "
                             "use letters, digits, dots and dashes")
    if port is not None and not 0 < port < 65536:
        raise UsageError(f"-t {target}: the port must be between 1 and 65535")
    name = target.split("://", 1)[1].rstrip("/")
    return Host(name=name, address=address, port=port, user=user,
                identity_file=identity_file, become="sudo" if sudo else None)


def inventory(targets: Targets) -> Inventory:
    """The inventory the targets stand for: one host per target, no groups, no policy."""
    hosts = [parse(t, targets.sudo, targets.identity_file) for t in targets.urls]
    seen: set[str] = set()
    for host in hosts:
        if host.name in seen:
            raise UsageError(f"-t {host.name} is given twice")
        seen.add(host.name)
    canonical = "\n".join([*targets.urls, f"sudo={targets.sudo}", f"identity={targets.identity_file}"])
    groups: Mapping[str, tuple[str, ...]] = {}
    return Inventory(COMMAND_LINE, hashlib.sha256(canonical.encode()).hexdigest(), tuple(hosts), groups)


def from_flags(urls: Sequence[str], sudo: bool, identity_file: str | None) -> Targets | None:
    """The -t flags as Targets (None without -t); --sudo or --identity-file need a -t."""
    if not urls:
        if sudo or identity_file:
            raise UsageError("--sudo and --identity-file apply to -t targets; in an inventory write "
                             "become: sudo and identity_file: instead")
        return None
    if identity_file is not None and not Path(identity_file).expanduser().is_file():
        raise UsageError(f"--identity-file {identity_file} is not a file; give the path of the private key "
                         "to log in with")
    return Targets(tuple(urls), sudo, identity_file)
