"""ssh_hardening on OpenSSH 10 (Debian 13, Ubuntu 25.04+, Fedora 42): no OpenSSH 10 binary runs
here (Debian 12's libc is too old for Debian 13's), so its `sshd -T` output is derived from a real
recorded one of OpenSSH 9.2 (tests/checks/ssh_hardening/pass_debian_stock_macs_advisory.yaml)
with exactly the changes OpenSSH 10.0p2's source makes to it: the server's default KexAlgorithms
(myproposal.h KEX_SERVER_KEX: mlkem768x25519-sha256 first, finite-field DH no longer offered), DSA
gone, and the keywords servconf.c's dump_config prints since 9.2 (pamservicename,
refuseconnection, sshdsessionpath, sshdauthpath, persourcepenalties, persourcepenaltyexemptlist).
"""

from __future__ import annotations

import re

import yaml

from auditor.check import Severity, Status
from tests.unit.test_check_cases import CASES_DIR, run_case

OPENSSH_10_KEX = ("mlkem768x25519-sha256,sntrup761x25519-sha512,sntrup761x25519-sha512@openssh.com,"
                  "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,"
                  "ecdh-sha2-nistp521")
OPENSSH_10_NEW_LINES = (
    "pamservicename sshd\n"
    "refuseconnection no\n"
    "sshdsessionpath /usr/lib/openssh/sshd-session\n"
    "sshdauthpath /usr/lib/openssh/sshd-auth\n"
    "persourcepenaltyexemptlist none\n"
    "persourcepenalties crash:90 authfail:5 noauth:1 grace-exceeded:10 refuseconnection:10 max:600 min:15 "
    "max-sources4:65536 max-sources6:65536 overflow:permissive overflow6:permissive\n"
)


def openssh10_case(password_authentication: str) -> dict:
    case = yaml.safe_load((CASES_DIR / "ssh_hardening" / "pass_debian_stock_macs_advisory.yaml").read_text())
    out = case["outputs"]["sshd_t"]["stdout"]
    out = out.replace("OpenSSH_9.2, OpenSSL 3.0.19 27 Jan 2026",
                      "OpenSSH_10.0p2 Debian-7, OpenSSL 3.5.1 1 Jul 2025")
    out = re.sub(r"(?m)^kexalgorithms .*$", f"kexalgorithms {OPENSSH_10_KEX}", out)
    out = re.sub(r"(?m)^passwordauthentication .*$", f"passwordauthentication {password_authentication}", out)
    out = out.replace("#sshd-T-rc 0", OPENSSH_10_NEW_LINES + "#sshd-T-rc 0")
    assert "ssh-dss" not in out and "diffie-hellman-group14" not in out
    case["outputs"]["sshd_t"]["stdout"] = out
    return case


def test_openssh10_defaults_pass_with_the_mac_advisory_and_new_keywords_are_read():
    # Given OpenSSH 10.0's sshd -T for Debian's stock configuration with password logins turned off
    case = openssh10_case("no")
    # When the check judges it
    got = run_case("ssh_hardening", case)
    # Then it passes: ML-KEM and the new keywords are no finding; the only advisory is OpenSSH's own
    # default MACs (unchanged in 10.0: umac-64 and hmac-sha1, with and without -etm), at low
    assert got.status is Status.PASS, got.summary
    assert "sshd: /usr/sbin/sshd OpenSSH_10.0p2" in " ".join(f.text for f in got.findings)
    advisories = [f for f in got.findings if f.severity is Severity.LOW]
    assert len(advisories) == 1 and "MACs offers" in advisories[0].text and "mlkem" not in got.summary
    assert got.values["weak_algorithms"] == 4


def test_openssh10_with_password_logins_fails_high():
    # Given the same daemon where no file turns PasswordAuthentication off (Debian 13's stock sshd_config)
    case = openssh10_case("yes")
    # When the check judges it
    got = run_case("ssh_hardening", case)
    # Then the password login is a high failure
    assert got.status is Status.FAIL
    assert any(f.severity is Severity.HIGH and "PasswordAuthentication yes" in f.text for f in got.findings)
