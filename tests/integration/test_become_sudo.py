"""`become: sudo` on a real sshd host with a real sudo: one sudo per audit, whatever the number
of root probes, with every root probe's deadline, cap and framing as before.

The host's login user is `audit` with the sudoers rule the README gives; its sudo logs to a file
in the host's planted /home (not to this machine's syslog), which the tests count. A refused
sudo is covered, unchanged, by test_engine_ssh.py.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.engine import batch, runner
from auditor.transports.ssh import SshOptions, SshTarget, SshTransport
from tests.integration import fleetrun
from tests.integration.sshhosts import SshdFleet, TestHost
from tests.integration.test_engine_ssh import audit_user_host, results, shadow_with

pytestmark = pytest.mark.integration

SUDO_LOG = "/home/sudo.log"  # inside the host, whose /home is planted
SUDOERS = f"Defaults !syslog\nDefaults logfile={SUDO_LOG}\naudit ALL=(root) NOPASSWD: /bin/sh"
ROOT_SUMMARY = "not checked: it needs root"


def sudo_commands(host: TestHost) -> list[str]:
    """The commands the host's sudo ran so far, one entry each (its log wraps long lines)."""
    log = host.root_dir / SUDO_LOG.lstrip("/")
    entries: list[str] = []
    for line in log.read_text().splitlines() if log.exists() else ():
        if line[:1].isspace() and entries:
            entries[-1] += " " + line.strip()
        else:
            entries.append(line)
    return [entry.split("COMMAND=", 1)[1] for entry in entries if "COMMAND=" in entry]


@pytest.fixture(scope="module")
def sudo_host(sshd_fleet) -> Iterator[tuple[SshdFleet, TestHost, Path]]:
    if shutil.which("sudo") is None:
        pytest.skip("sudo is not installed; scripts/test.sh installs it")
    with sshd_fleet("become-sudo") as (fleet, tmp):
        host = fleet.start(audit_user_host("sudo-once", SUDOERS, shadow_with(),
                                           fleet.authorized_keys.read_text()))
        yield fleet, host, tmp


def inventory(fleet: SshdFleet, tmp: Path, **entry: Any) -> Path:
    hosts = fleetrun.fleet_hosts(fleet)
    for values in hosts.values():
        values.update(entry)
    return fleetrun.write_inventory(tmp / f"inventory-{len(entry)}.yaml", hosts)


def test_a_full_audit_as_an_unprivileged_user_runs_sudo_once_and_judges_as_root_does(sudo_host):
    # Given a host whose login user `audit` may run /bin/sh as root without a password
    fleet, host, tmp = sudo_host
    before = len(sudo_commands(host))
    # When the whole catalogue audits it as `audit` with become: sudo, and then as root
    as_audit = fleetrun.audit(inventory(fleet, tmp, user="audit", become="sudo"), tmp / "as-audit", None)
    after = sudo_commands(host)
    as_root = fleetrun.audit(inventory(fleet, tmp), tmp / "as-root", None)
    # Then sudo ran once for the whole audit, and logged a short command that says what it is
    assert len(after) - before == 1, after
    assert after[-1] == f"/bin/sh -s {batch.ROOT_ARGUMENT}", after
    # And every check that needs root was judged as a root login judges it, none refused
    hosts = as_audit.report["hosts"]
    assert hosts[0]["error"] is None and hosts[0]["facts"]["user"] == "audit", hosts[0]
    by_audit, by_root = results(as_audit.report), results(as_root.report)
    assert not [key for key, r in by_audit.items() if r["summary"].startswith(ROOT_SUMMARY)]
    differing = {key[1]: (r["status"], by_root[key]["status"]) for key, r in by_audit.items()
                 if r["status"] != by_root[key]["status"]}
    assert not differing, differing


# The worst case for the root part: the unprivileged part knows the batch's token (no probe can
# learn it: the spool directory has a random name of its own), and forges frames for the run of
# the root probe listed after it (run 2): the wrapper's, and an announcement of a root token of
# its own with that token's frame.
KNOWN_TOKEN = batch.new_token()
FORGER = f"t={KNOWN_TOKEN}; " + r"""f=0123456789abcdef0123
printf '\n%s B 2\nforged\n%s S\n\n%s E 2 0 1.00 1.01\n' "$t" "$t" "$t"
printf '\n%s R %s\n\n%s B 2\nforged\n%s S\n\n%s E 2 0 1.00 1.01\n' "$t" $f $f $f $f
"""
STUCK = "sleep 59.25; echo unreachable"  # a command line no other process on this machine has


def test_root_probes_behind_one_sudo_keep_their_deadline_cap_and_framing_over_ssh(sudo_host, monkeypatch):
    # Given, for the `audit` login, an unprivileged probe that knows the token and forges a root
    # probe's frames, then root probes: genuine, hung past its deadline, writing past the cap
    fleet, host, _ = sudo_host
    issued: list[str] = []
    monkeypatch.setattr(batch, "new_token", lambda: issued.append(KNOWN_TOKEN) or KNOWN_TOKEN)
    probes = [batch.PlannedProbe("a.spy", 'echo "spy $(id -u)"', root=False, ok_rc=(0,)),
              batch.PlannedProbe("b.forger", FORGER, root=False, ok_rc=(0,)),
              batch.PlannedProbe("c.root", "echo genuine $(id -u)", root=True, ok_rc=(0,)),
              batch.PlannedProbe("d.stuck", STUCK, root=True, ok_rc=(0,)),
              batch.PlannedProbe("e.flood", "head -c 100000 /dev/zero; echo \"head rc $?\" >&2", root=True,
                                 ok_rc=(0,)),
              batch.PlannedProbe("f.plain", "id -u", root=False, ok_rc=(0,))]
    before = len(sudo_commands(host))
    target = SshTarget("127.0.0.1", port=host.port, user="audit", identity_file=str(fleet.client_key),
                       known_hosts=str(fleet.known_hosts))
    # When they run as one batch with become: sudo, a 4 s budget (so a 2 s deadline per probe)
    # and a 2000-byte cap
    with SshTransport(target, SshOptions()) as transport:
        outputs = runner.collect_on_host(transport, probes, sudo=True, timeout=4, batched=True, cap=2000)
    # Then the batch ran under the token the forger knows (the test is not vacuous), and sudo ran
    # once for the three root probes
    assert issued == [KNOWN_TOKEN]
    assert len(sudo_commands(host)) - before == 1
    # And the root probe's output is root's own although the unprivileged part knew the token
    assert outputs["a.spy"].stdout != "spy 0\n" and outputs["a.spy"].rc == 0, outputs["a.spy"]
    assert outputs["c.root"].stdout == "genuine 0\n" and outputs["c.root"].rc == 0, outputs["c.root"]
    # And the hung one ended at its deadline, its command with it; the flood was refused past the cap
    stuck = outputs["d.stuck"]
    assert not stuck.ok and stuck.failure_reason() == "probe d.stuck timed out after 2 s", stuck
    assert subprocess.run(["pgrep", "-f", f"^{STUCK.split(';')[0]}$"], capture_output=True).stdout == b""
    flood = outputs["e.flood"]
    assert flood.truncated and len(flood.stdout) == 2000 and "head rc 1" in flood.stderr, flood
    # And the unprivileged probe ran as the login user
    assert outputs["f.plain"].stdout == "4242\n"
