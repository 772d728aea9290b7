"""ssh_hardening end to end: the hosts' configured sshd (a planted /etc/ssh/sshd_config and
sshd_config.d, judged by the machine's real `sshd -T` over SSH), through the CLI; and what
listens: a second real sshd started with its own -f and -o on another port.

The test sshd itself runs from the harness's generated config (hardened, with OpenSSH's
default MACs); the check audits the host's configured one, as on a real server, and the
harness's as one more daemon with its own options. Every host has its own network and PID
namespaces, so that only its own daemons listen there (not other tests' sshd hosts).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.fleetrun import FleetOpener, assert_nowhere_in, audit_fleet
from tests.integration.sshhosts import HostSpec, Service, SshdFleet, require_namespace_support

pytestmark = pytest.mark.integration

NOTE_SECRET = "Hunter2-Root-Pw-9b1c"  # written in a comment by a careless admin: must stay on the host
HARDENED = f"""# Hardened by the security team
# old root password was {NOTE_SECRET}
Include /etc/ssh/sshd_config.d/*.conf
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM yes
AllowGroups sshusers
Ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-ctr
MACs hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com
KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org
"""
WEAK = f"""# legacy box, root password {NOTE_SECRET}
Include /etc/ssh/sshd_config.d/*.conf
PermitRootLogin yes
PasswordAuthentication yes
Ciphers aes128-cbc,aes256-ctr
"""


INTERNAL = "/etc/ssh/sshd_config.d/internal.cfg"  # not *.conf: the installed Include skips it
ISOLATED = {"network_namespace": True, "pid_namespace": True}


def second_sshd(*options: str) -> Service:
    """A second real sshd in the host: its own config file, `options`, port 2222, in the foreground."""
    return Service("sshd-internal", ("/usr/sbin/sshd", "-D", "-e", "-f", INTERNAL, *options, "-p", "2222"),
                   ready_port=2222)


@pytest.fixture(scope="module")
def fleet(sshd_fleet: FleetOpener) -> Iterator[SshdFleet]:
    require_namespace_support()
    with sshd_fleet("sshfleet") as (fleet, _):
        fleet.start(HostSpec("hardened", files={"/etc/ssh/sshd_config": HARDENED,
                                                "/etc/ssh/sshd_config.d/10-x11.conf": "X11Forwarding no\n"},
                             replace_dirs=("/etc/ssh/sshd_config.d",), **ISOLATED))
        fleet.start(HostSpec("weak", files={"/etc/ssh/sshd_config": WEAK},
                             replace_dirs=("/etc/ssh/sshd_config.d",), **ISOLATED))
        fleet.start(HostSpec("dropin", files={
            "/etc/ssh/sshd_config": HARDENED,
            "/etc/ssh/sshd_config.d/50-cloud-init.conf": "PasswordAuthentication yes\n"},
            replace_dirs=("/etc/ssh/sshd_config.d",), **ISOLATED))
        for name, options in (("second_password", ("-o", "PasswordAuthentication=yes")),
                              ("second_hardened", ())):
            fleet.start(HostSpec(name, files={"/etc/ssh/sshd_config": HARDENED,
                                              "/etc/ssh/sshd_config.d/10-x11.conf": "X11Forwarding no\n",
                                              INTERNAL: HARDENED.replace("Include ", "# Include ")},
                                 replace_dirs=("/etc/ssh/sshd_config.d",), services=(second_sshd(*options),),
                                 **ISOLATED))
        yield fleet


def test_verdicts_through_the_cli(fleet: SshdFleet, tmp_path: Path) -> None:
    # Given a hardened host, a weak one, and a hardened one whose drop-in re-enables passwords
    # When the check runs through the CLI
    done = audit_fleet(fleet, tmp_path, "ssh_hardening")
    results = done.by_host
    # Then the hardened host passes on sshd -T's word
    assert done.result.rc != 0
    assert results["hardened"]["status"] == "pass", results["hardened"]
    assert results["hardened"]["values"]["source"] == "sshd -T"
    assert "X11Forwarding no (/etc/ssh/sshd_config.d/10-x11.conf:1)" in results["hardened"]["details"]
    # And the weak one fails naming each directive with its file and line
    weak = results["weak"]
    assert weak["status"] == "fail"
    for problem in ("PermitRootLogin yes (/etc/ssh/sshd_config:3)",
                    "PasswordAuthentication yes (/etc/ssh/sshd_config:4)",
                    "Ciphers offers aes128-cbc (/etc/ssh/sshd_config:5)"):
        assert problem in weak["details"], weak["details"]
    assert weak["values"]["weak_algorithms"] >= 1
    # And the drop-in, read before the main file's own line, wins
    assert results["dropin"]["status"] == "fail"
    dropin = "PasswordAuthentication yes (/etc/ssh/sshd_config.d/50-cloud-init.conf:1)"
    assert dropin in results["dropin"]["summary"]
    # And the password noted in a comment never left the hosts
    assert_nowhere_in(tmp_path / "reports", NOTE_SECRET)


def test_a_second_daemon_with_its_own_options_is_judged_by_what_it_runs(fleet: SshdFleet,
                                                                        tmp_path: Path) -> None:
    # Given two hosts whose installed sshd_config is hardened, each running a second sshd on port 2222
    # with its own config file (hardened too), one of them with -o PasswordAuthentication=yes
    # When the check runs through the CLI
    done = audit_fleet(fleet, tmp_path, "ssh_hardening")
    results = done.by_host
    # Then the host whose second daemon takes passwords fails, naming that daemon's config file,
    # option and port, and where the setting comes from
    failing = results["second_password"]
    assert failing["status"] == "fail", failing
    assert (f"({INTERNAL}, -o PasswordAuthentication=yes) on 0.0.0.0:2222, [::]:2222: "
            "PasswordAuthentication yes (-o on its command line)") in failing["summary"], failing["summary"]
    assert failing["summary"].startswith("1 problem(s)")
    high = [f for f in failing["findings"] if not f["advisory"] and f["status"] == "fail"]
    assert [f["severity"] for f in high] == ["high"] and "NIST SP 800-63B" in high[0]["ref"]
    # And the host whose daemons are all hardened passes, counting both daemons started with options
    # (the harness's own sshd and the second one); OpenSSH's default MACs of the harness's are advisories
    passing = results["second_hardened"]
    assert passing["status"] == "pass", passing
    assert "and 2 listener(s) with their own options" in passing["summary"]
    assert passing["values"]["listeners"] == 2
    assert all(f["advisory"] and f["severity"] == "low" for f in passing["findings"] if f["status"] == "fail")
