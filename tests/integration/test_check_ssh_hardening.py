"""ssh_hardening end to end: the hosts' configured sshd (a planted /etc/ssh/sshd_config and
sshd_config.d, judged by the machine's real `sshd -T` over SSH), through the CLI.

The test sshd itself runs from the harness's generated config; the check audits the
host's configured one, as on a real server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.fleetrun import FleetOpener, assert_nowhere_in, audit_fleet
from tests.integration.sshhosts import HostSpec, SshdFleet

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


@pytest.fixture(scope="module")
def fleet(sshd_fleet: FleetOpener) -> Iterator[SshdFleet]:
    with sshd_fleet("sshfleet") as (fleet, _):
        fleet.start(HostSpec("hardened", files={"/etc/ssh/sshd_config": HARDENED,
                                                "/etc/ssh/sshd_config.d/10-x11.conf": "X11Forwarding no\n"},
                             replace_dirs=("/etc/ssh/sshd_config.d",)))
        fleet.start(HostSpec("weak", files={"/etc/ssh/sshd_config": WEAK},
                             replace_dirs=("/etc/ssh/sshd_config.d",)))
        fleet.start(HostSpec("dropin", files={
            "/etc/ssh/sshd_config": HARDENED,
            "/etc/ssh/sshd_config.d/50-cloud-init.conf": "PasswordAuthentication yes\n"},
            replace_dirs=("/etc/ssh/sshd_config.d",)))
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
