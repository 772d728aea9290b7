"""Sockets, listeners, veth pairs and network namespaces: how a host is wired to the machine
and how the harness tells that a server of the host is listening.
"""

from __future__ import annotations

import ctypes
import ipaddress
import os
import secrets
import socket
import subprocess
import threading
import time

from .processes import _delete_link, _Running
from .spec import (
    _CLONE_NEWNET,
    LOOPBACK,
    NETNS_RANGE,
    PROBE_BANNER,
    VETH_ATTEMPTS,
    VETH_INSIDE,
    VETH_PREFIX,
    SshdStartError,
)
from .support import _libc_setns


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def _listener_inode(pid: int, address: str, port: int) -> str | None:
    """Socket inode of the TCP listener on address:port in ``pid``'s network namespace."""
    wanted = f"{socket.inet_aton(address)[::-1].hex().upper()}:{port:04X}"  # as /proc/net/tcp spells it
    try:
        with open(f"/proc/{pid}/net/tcp") as table:
            rows = table.readlines()[1:]
    except OSError:  # pid gone
        return None
    for row in rows:
        cols = row.split()
        if cols[1] == wanted and cols[3] == "0A":  # 0A = LISTEN
            return cols[9]
    return None


def _listener_inodes(pid: int, port: int) -> set[str]:
    """Inodes of TCP listeners on ``port`` (any address, IPv4 or IPv6) in ``pid``'s network namespace."""
    inodes: set[str] = set()
    for table_name in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{table_name}") as table:
                rows = table.readlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if cols[1].endswith(f":{port:04X}") and cols[3] == "0A":
                inodes.add(cols[9])
    return inodes


def _owns_socket(pid: int, inode: str) -> bool:
    target = f"socket:[{inode}]"
    try:
        return any(
            os.readlink(f"/proc/{pid}/fd/{fd}") == target for fd in os.listdir(f"/proc/{pid}/fd")
        )
    except OSError:
        return False


def _serves_banner(address: str, port: int, deadline: float) -> bool:
    """Connect once and check for an SSH-2.0 banner."""
    timeout = max(0.05, min(2.0, deadline - time.monotonic()))
    try:
        with socket.create_connection((address, port), timeout=timeout) as conn:
            if conn.recv(256).startswith(b"SSH-2.0-"):
                # Closing without a banner of our own makes sshd log an error.
                conn.sendall(PROBE_BANNER)
                return True
    except OSError:  # refused (not listening yet) or timed out
        pass
    return False


def _socket_in_netns(pid: int, family: socket.AddressFamily) -> socket.socket:
    """A TCP socket that belongs to ``pid``'s network namespace.

    A socket stays in the namespace it was made in; setns(2) moves only the
    calling thread, so a short-lived thread joins the namespace to make it.
    """
    made: list[socket.socket] = []
    failed: list[BaseException] = []

    def make() -> None:
        try:
            setns = _libc_setns()
            if setns is None:
                raise OSError("libc has no setns()")
            fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                if setns(fd, _CLONE_NEWNET) != 0:
                    errno = ctypes.get_errno()
                    raise OSError(errno, f"setns into pid {pid}'s network namespace: {os.strerror(errno)}")
            finally:
                os.close(fd)
            made.append(socket.socket(family, socket.SOCK_STREAM))
        except BaseException as error:  # handed to the caller's thread
            failed.append(error)

    thread = threading.Thread(target=make, name=f"sshhosts-netns-{pid}", daemon=True)
    thread.start()
    thread.join()
    if failed:
        raise failed[0]
    return made[0]


def _ipv4_addresses() -> list[tuple[str, ipaddress.IPv4Interface]]:
    """(interface, address/prefix) of every IPv4 address on the test machine."""
    listing = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, check=True)
    found: list[tuple[str, ipaddress.IPv4Interface]] = []
    for line in listing.stdout.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[2] == "inet":
            found.append((fields[1], ipaddress.IPv4Interface(fields[3])))
    return found


def _random_free_subnet() -> ipaddress.IPv4Network:
    used = [interface.network for _, interface in _ipv4_addresses()]
    for _ in range(1000):
        offset = 4 * secrets.randbelow(NETNS_RANGE.num_addresses // 4)
        subnet = ipaddress.IPv4Network((int(NETNS_RANGE.network_address) + offset, 30))
        if not any(subnet.overlaps(network) for network in used):
            return subnet
    raise SshdStartError(f"no free /30 left in {NETNS_RANGE} on this machine")


def _connect_veth(name: str, record: _Running) -> str:
    """Join the host's network namespace to the machine by a veth pair; return the host's address."""
    assert record.inner_pid is not None
    last_error = ""
    for _ in range(VETH_ATTEMPTS):
        subnet = _random_free_subnet()
        outside, inside = subnet[1], subnet[2]
        link = f"{VETH_PREFIX}{secrets.token_hex(4)}"
        added = subprocess.run(
            ["ip", "link", "add", link, "type", "veth", "peer", "name", VETH_INSIDE,
             "netns", str(record.inner_pid)],
            capture_output=True, text=True, check=False,
        )
        if added.returncode != 0:
            last_error = added.stderr.strip()
            if "exists" in last_error:
                continue  # another process took this name just now
            raise SshdStartError(f"host {name!r}: cannot create a veth pair: {last_error}")
        record.veth = link
        _ip_batch(name, [], f"addr add {outside}/30 dev {link}\nlink set {link} up\n")
        clashes = [
            iface for iface, address in _ipv4_addresses()
            if iface != link and address.network.overlaps(subnet)
        ]
        if clashes:  # someone configured the same subnet at the same moment
            _delete_link(link)
            record.veth = None
            last_error = f"{subnet} also on {', '.join(clashes)}"
            continue
        _ip_batch(
            name,
            ["nsenter", "-t", str(record.inner_pid), "-n", "--"],
            f"addr add {inside}/30 dev {VETH_INSIDE}\nlink set {VETH_INSIDE} up\nlink set lo up\n",
        )
        return str(inside)
    raise SshdStartError(f"host {name!r}: no free veth name/subnet in {VETH_ATTEMPTS} attempts: {last_error}")


def _ip_batch(name: str, prefix: list[str], commands: str) -> None:
    done = subprocess.run(
        [*prefix, "ip", "-batch", "-"], input=commands, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SshdStartError(
            f"host {name!r}: network set-up failed ({commands.strip()!r}): {done.stderr.strip()}"
        )
