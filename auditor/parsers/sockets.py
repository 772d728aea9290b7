"""Listening sockets as `ss -H -ltnp` / `ss -H -ltunp` prints them.

Each line is `[Netid] State Recv-Q Send-Q Local Peer [Process]`, where Local is
`0.0.0.0:5432`, `127.0.0.1:6379`, `[::]:3306` (IPv6 only), `*:5432` (IPv6 socket that also
takes IPv4, i.e. all addresses of both families), `[::1]:27017`, or an address bound to a
device: `127.0.0.53%lo:53`, `[fe80::1]%eth0:22`. Process is
`users:(("postgres",pid=812,fd=5),...)` and is missing when ss may not see the owner
(processes of other users, unless ss runs as root).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, replace

from auditor.parsers.awk import rerun_on_read_error

_NETIDS = {"tcp", "udp", "sctp", "raw", "mptcp", "dccp"}
_STATES = {"LISTEN", "UNCONN"}
_LOCAL = re.compile(r"^(?:\[(?P<v6>[^\]]+)\]|(?P<plain>[^%\[\]]*?))(?:%(?P<dev>[^:]+))?:(?P<port>\d+|\*)$")
_USER = re.compile(r'\("((?:[^"\\]|\\.)*)",pid=(\d+)')


@dataclass(frozen=True)
class Listener:
    proto: str  # "tcp" or "udp"
    address: str  # as ss printed it, without brackets: "0.0.0.0", "::", "*", "127.0.0.1"
    port: int
    device: str | None  # SO_BINDTODEVICE / scope, e.g. "lo"
    processes: tuple[tuple[str, int], ...]  # (name, pid); empty when ss could not see them

    @property
    def families(self) -> tuple[int, ...]:
        """The IP versions that can reach it: `*` is a dual-stack socket, `::` is IPv6 only."""
        if self.address == "*":
            return (4, 6)
        return (ipaddress.ip_address(self.address).version,)

    @property
    def loopback_only(self) -> bool:
        """Reachable only from this host: a loopback address, or bound to the lo device."""
        if self.device == "lo":
            return True
        if self.address == "*":
            return False
        ip = ipaddress.ip_address(self.address)
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            return ip.ipv4_mapped.is_loopback
        return ip.is_loopback

    @property
    def endpoint(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"{host}{'%' + self.device if self.device else ''}:{self.port}"

    @property
    def process_names(self) -> tuple[str, ...]:
        return tuple(sorted({name for name, _ in self.processes}))


class SocketParseError(ValueError):
    """A line that is not a listening socket as ss prints it."""


def parse_ss(text: str, default_proto: str = "tcp") -> list[Listener]:
    """Every listener in the output; raises SocketParseError on a line it cannot read.

    `default_proto` is the protocol of lines without a Netid column (`ss -ltn` prints
    none when only one protocol was asked for).
    """
    listeners: list[Listener] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        fields = line.split()
        proto = default_proto
        if fields[0] in _NETIDS:
            proto, fields = fields[0], fields[1:]
        if len(fields) < 5 or fields[0] not in _STATES:
            raise SocketParseError(f"line {number} is not an ss listener: {line[:100]!r}")
        local = _LOCAL.match(fields[3])
        if local is None or local.group("port") == "*":
            raise SocketParseError(f"line {number}: cannot read the local address {fields[3][:60]!r}")
        address = local.group("v6") if local.group("v6") is not None else local.group("plain")
        if address != "*":
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise SocketParseError(f"line {number}: {address[:60]!r} is not an IP address") from None
        process_text = " ".join(fields[5:])
        processes = tuple((name.replace('\\"', '"'), int(pid)) for name, pid in _USER.findall(process_text))
        listeners.append(Listener(proto, address, int(local.group("port")), local.group("dev"), processes))
    return listeners


# /proc/net/{tcp,tcp6,udp,udp6}: `sl local_address rem_address st ... inode`, addresses in hex in the
# kernel's byte order (little-endian 32-bit words on the hosts we audit), state 0A = TCP LISTEN.
PROC_NET_LISTEN = "0A"


def proc_net_address(text: str) -> tuple[str, int]:
    """`0100007F:0016` -> ("127.0.0.1", 22); a 32-digit IPv6 address likewise ("::" for any)."""
    hex_address, _, hex_port = text.partition(":")
    raw = bytes.fromhex(hex_address)
    if len(raw) not in (4, 16):
        raise SocketParseError(f"not a /proc/net address: {text[:60]!r}")
    # each 32-bit word is in host (little-endian) order
    ordered = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(ordered)), int(hex_port, 16)


def proc_net_listener(proto: str, local: str, inode: str) -> tuple[int, Listener]:
    """One /proc/net line's listener (state LISTEN, or an unconnected UDP socket) and its socket inode,
    which /proc/<pid>/fd/* links to (`socket:[inode]`): the way to its process without ss."""
    try:
        address, port = proc_net_address(local)
        return int(inode), Listener(proto.rstrip("6"), address, port, None, ())
    except ValueError as exc:
        raise SocketParseError(f"cannot read the /proc/net/{proto} line ({local[:60]!r}, inode "
                               f"{inode[:20]!r}): {exc}") from None


# Listening sockets without ss (busybox hosts): every LISTEN TCP and unconnected (07) UDP socket
# of /proc/net/{tcp,tcp6,udp,udp6} as `#listen PROTO LOCAL INODE`, then `#owner INODE PID COMM`
# for each /proc/<pid>/fd link to a socket (one `ls -l` over every fd directory; root sees all).
def proc_listen_script(tables: str) -> str:
    """Shell printing `#listen PROTO LOCAL INODE` for each LISTEN TCP socket and unconnected (07)
    UDP socket of the /proc/net `tables` ("tcp tcp6", "tcp tcp6 udp udp6")."""
    return rf"""for t in {tables}; do
  [ -r /proc/net/$t ] && awk -v t=$t 'NR > 1 && $4 == (t ~ /^tcp/ ? "{PROC_NET_LISTEN}" : "07") {{
    print "#listen " t " " $2 " " $10 }}' /proc/net/$t
done
"""


PROC_LISTENERS_LINE = "#proc-net-listeners"
PROC_LISTENERS_SCRIPT = (f"\necho '{PROC_LISTENERS_LINE}'\n" + proc_listen_script("tcp tcp6 udp udp6")
                         + rerun_on_read_error(r"""ls -l /proc/[0-9]*/fd 2>/dev/null | awk '
  /^\/proc\/[0-9]+\/fd:$/ { split($0, p, "/"); pid = p[3]; next }
  pid != "" && /-> socket:\[[0-9]+\]$/ { s = $NF; gsub(/[^0-9]/, "", s)
    if (!(pid in comm)) { c = ""; f = "/proc/" pid "/comm"; getline c < f; close(f); comm[pid] = c }
    print "#owner " s " " pid " " comm[pid] }'""") + "\nexit 0\n")


def parse_proc_listeners(text: str) -> list[Listener]:
    """PROC_LISTENERS_SCRIPT's output as listeners with their owning processes (an IPv6 socket
    on `::` is reported as `::`: /proc does not say whether it also takes IPv4)."""
    sockets: list[tuple[int, Listener]] = []
    owners: dict[int, dict[tuple[str, int], None]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("#listen "):
            parts = line.split()
            if len(parts) != 4:
                raise SocketParseError(f"line {number} is not a /proc/net listener: {line[:100]!r}")
            sockets.append(proc_net_listener(parts[1], parts[2], parts[3]))
        elif line.startswith("#owner "):
            parts = line.split(" ", 3)
            if len(parts) < 3 or not parts[1].isdigit() or not parts[2].isdigit():
                raise SocketParseError(f"line {number} is not a socket owner: {line[:100]!r}")
            name = parts[3] if len(parts) == 4 else ""
            owners.setdefault(int(parts[1]), {})[(name, int(parts[2]))] = None
        elif line.strip() and line != PROC_LISTENERS_LINE:
            raise SocketParseError(f"line {number}: unexpected output {line[:100]!r}")
    return [replace(listener, processes=tuple(owners.get(inode, {})))
            for inode, listener in sockets]
