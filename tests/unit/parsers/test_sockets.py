"""auditor/parsers/sockets.py on real `ss -H -ltunp` output: listeners started with socat in
a private network namespace (`unshare --net`), plus the forms ss prints for other sockets."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from auditor.parsers.sockets import SocketParseError, parse_ss

LISTENERS = (
    "TCP4-LISTEN:5432,bind=0.0.0.0,reuseaddr",
    "TCP4-LISTEN:6379,bind=127.0.0.1,reuseaddr",
    "TCP6-LISTEN:27017,ipv6only=0,reuseaddr",  # ss: *:27017
    "TCP6-LISTEN:3306,ipv6only=1,reuseaddr",  # ss: [::]:3306
    "TCP6-LISTEN:9200,bind=[::1],reuseaddr",
    "-u UDP4-RECV:11211,bind=0.0.0.0",
    "TCP4-LISTEN:8123,bind=127.0.0.1,so-bindtodevice=lo,reuseaddr",  # ss: 127.0.0.1%lo:8123
)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("socat") or not shutil.which("ss"),
                    reason="needs root, socat and ss (a private network namespace)")
def test_real_ss_output_of_socat_listeners() -> None:
    # Given socat listeners of every address form, in a namespace of their own
    starts = "".join(f"socat {spec} /dev/null & P=\"$P $!\"\n" for spec in LISTENERS)
    script = ("ip link set lo up\nP=''\n" + starts + "for i in $(seq 100); do [ $(ss -H -ltun | wc -l) -ge "
              f"{len(LISTENERS)} ] && break; sleep 0.02; done\nss -H -ltunp\nkill $P\n")
    text = subprocess.run(["unshare", "--net", "sh", "-c", script], capture_output=True, text=True,
                          check=True, timeout=30).stdout
    # When ss's output is parsed
    listeners = {(item.proto, item.port): item for item in parse_ss(text)}
    # Then each listener has its address, families, owner and loopback-ness
    assert len(listeners) == len(LISTENERS), text
    pg, redis, mongo, mysql = (listeners[("tcp", p)] for p in (5432, 6379, 27017, 3306))
    assert (pg.address, pg.families, pg.loopback_only) == ("0.0.0.0", (4,), False)
    assert pg.endpoint == "0.0.0.0:5432"
    assert redis.loopback_only and redis.process_names == ("socat",) and redis.processes[0][1] > 0
    assert (mongo.address, mongo.families, mongo.loopback_only) == ("*", (4, 6), False)
    assert (mysql.address, mysql.families, mysql.endpoint) == ("::", (6,), "[::]:3306")
    assert listeners[("tcp", 9200)].loopback_only and listeners[("tcp", 9200)].endpoint == "[::1]:9200"
    assert listeners[("udp", 11211)].address == "0.0.0.0" and not listeners[("udp", 11211)].loopback_only
    bound = listeners[("tcp", 8123)]
    assert bound.device == "lo" and bound.loopback_only and bound.endpoint == "127.0.0.1%lo:8123"


def test_forms_without_netid_or_owner() -> None:
    # Given `ss -H -ltn` lines (no Netid column, no users) as a non-root user sees them
    text = ("LISTEN 0      4096   [fe80::1]%eth0:5432 [::]:*\n"
            "LISTEN 0      128    [::ffff:127.0.0.1]:6379 *:*\n"
            "LISTEN 0      128         10.0.0.5:3306 0.0.0.0:*\n")
    # Then they parse, with no processes
    parsed = parse_ss(text)
    assert [(p.address, p.device, p.port) for p in parsed] == [
        ("fe80::1", "eth0", 5432), ("::ffff:127.0.0.1", None, 6379), ("10.0.0.5", None, 3306)]
    assert [p.loopback_only for p in parsed] == [False, True, False]
    assert all(p.processes == () for p in parsed)


def test_quoted_process_names() -> None:
    line = ('tcp LISTEN 0 5 0.0.0.0:5432 0.0.0.0:* '
            'users:(("postgres",pid=812,fd=5),("pg \\"x\\"",pid=9,fd=3))\n')
    assert parse_ss(line)[0].processes == (("postgres", 812), ('pg "x"', 9))


@pytest.mark.parametrize("line", [
    "Netid State Recv-Q Send-Q Local Address:Port Peer Address:Port",  # a header: -H was ignored
    "tcp LISTEN 0 5 0.0.0.0:543",  # cut short
    "tcp LISTEN 0 5 localhost:5432 0.0.0.0:*",  # a name instead of an address (ss -r)
    "tcp ESTAB 0 0 10.0.0.1:22 10.0.0.2:5000",  # not a listener
])
def test_garbled_lines_raise(line: str) -> None:
    with pytest.raises(SocketParseError):
        parse_ss(line)
