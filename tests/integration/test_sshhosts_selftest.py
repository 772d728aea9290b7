"""Self-test of the real-sshd harness in sshhosts."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import paramiko
import pytest

from tests.integration.fleetrun import FleetOpener

from .sshhosts import HostSpec, Planted, SshdFleet, TestHost, require_sshd_support

DAY = 86400


@pytest.fixture
def fleet(sshd_fleet: FleetOpener) -> Iterator[SshdFleet]:
    with sshd_fleet("fleet") as (running_fleet, _):
        yield running_fleet


def connect(fleet: SshdFleet, host: TestHost, known_hosts: Path) -> paramiko.SSHClient:
    """A strict client: only keys from ``known_hosts`` are trusted."""
    client = paramiko.SSHClient()
    client.load_host_keys(str(known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(
            host.address,
            port=host.port,
            username="root",
            key_filename=str(fleet.client_key),
            look_for_keys=False,
            allow_agent=False,
            timeout=10,
            banner_timeout=10,
            auth_timeout=10,
        )
    except BaseException:
        client.close()
        raise
    return client


def run(client: paramiko.SSHClient, command: str) -> str:
    _, stdout, stderr = client.exec_command(command, timeout=10)
    output = stdout.read().decode()
    status = stdout.channel.recv_exit_status()
    assert status == 0, f"{command!r} exited {status}: {stderr.read().decode()}"
    return output


def fingerprint(path: str) -> tuple[str, float]:
    data = Path(path).read_bytes()
    return hashlib.sha256(data).hexdigest(), os.stat(path).st_mtime


def process_state(pid: int) -> str | None:
    """The /proc state letter of ``pid``, or None if it no longer exists."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return stat_line.rsplit(")", 1)[1].split()[0]


def namespace_members(mnt_ns: str) -> set[int]:
    members = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/ns/mnt") == mnt_ns:
                members.add(int(entry))
        except OSError:
            pass
    return members


def test_planted_files_are_seen_over_ssh_and_real_files_are_untouched(fleet: SshdFleet) -> None:
    # Given a host with a planted login.defs and a replaced /var/log holding
    # one auth.log last modified 90 days ago
    real_login_defs = fingerprint("/etc/login.defs")
    real_var_log = sorted(os.listdir("/var/log"))
    ninety_days_ago = int(time.time()) - 90 * DAY
    host = fleet.start(
        HostSpec(
            "planted",
            files={
                "/etc/login.defs": "ENCRYPT_METHOD MD5\n",
                "/var/log/auth.log": Planted(
                    "sshd[1]: Accepted\n", mode=0o640, mtime=ninety_days_ago
                ),
            },
            replace_dirs=("/var/log",),
        )
    )

    # When we read them over SSH with a strict client
    client = connect(fleet, host, fleet.known_hosts)
    try:
        login_defs = run(client, "cat /etc/login.defs")
        auth_log_mtime = run(client, "stat -c %Y /var/log/auth.log")
        auth_log_mode = run(client, "stat -c %a /var/log/auth.log")
        var_log_listing = run(client, "ls -A /var/log")
        remote_namespace = run(client, "readlink /proc/self/ns/mnt")
        transport = client.get_transport()
        assert transport is not None
        served_key = transport.get_remote_server_key()
    finally:
        client.close()

    # Then the planted view comes back ...
    assert login_defs == "ENCRYPT_METHOD MD5\n"
    assert int(auth_log_mtime) == ninety_days_ago
    assert auth_log_mode.strip() == "640"
    assert var_log_listing.split() == ["auth.log"]
    # ... commands run in the host's private namespace, served by the sshd we track ...
    assert os.readlink(f"/proc/{host.pid}/exe") == "/usr/sbin/sshd"
    assert remote_namespace.strip() == os.readlink(f"/proc/{host.pid}/ns/mnt")
    assert remote_namespace.strip() != os.readlink("/proc/self/ns/mnt")
    # ... known_hosts pins exactly the key the host serves ...
    assert fleet.known_hosts.read_text().splitlines() == [host.known_hosts_line]
    assert host.known_hosts_line.startswith(f"[127.0.0.1]:{host.port} ssh-ed25519 ")
    assert f"{served_key.get_name()} {served_key.get_base64()}" == host.host_public_key
    # ... and the machine's own files never changed.
    assert fingerprint("/etc/login.defs") == real_login_defs
    assert Path("/etc/login.defs").read_text() != "ENCRYPT_METHOD MD5\n"
    assert sorted(os.listdir("/var/log")) == real_var_log


def test_host_missing_from_known_hosts_is_refused(fleet: SshdFleet) -> None:
    # Given two hosts and a known_hosts file that lists only the second one
    unknown = fleet.start(HostSpec("unknown"))
    known = fleet.start(HostSpec("known"))
    partial_known_hosts = fleet.known_hosts_without(unknown)

    # When / Then the unlisted host is rejected by RejectPolicy
    with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
        connect(fleet, unknown, partial_known_hosts)
    # and the listed one still connects, so the file itself is sound
    client = connect(fleet, known, partial_known_hosts)
    try:
        assert run(client, "echo ok") == "ok\n"
    finally:
        client.close()


def test_changed_host_key_is_refused(fleet: SshdFleet) -> None:
    # Given a host with its own host key, and a known_hosts pinning another key
    shared = fleet.start(HostSpec("shared"))
    distinct = fleet.start(HostSpec("distinct"), own_host_key=True)
    assert distinct.host_public_key != shared.host_public_key
    changed_known_hosts = fleet.known_hosts_with_changed_key(distinct)

    # When / Then connecting reports the key mismatch
    with pytest.raises(paramiko.BadHostKeyException):
        connect(fleet, distinct, changed_known_hosts)
    # while the up-to-date known_hosts accepts that same distinct key
    client = connect(fleet, distinct, fleet.known_hosts)
    client.close()


def test_fleet_exit_leaves_no_process_and_no_files(tmp_path: Path) -> None:
    require_sshd_support()
    # The host's mount namespace is held open until the end, so that its id cannot pass
    # to a namespace another test process creates meanwhile.
    with ExitStack() as pins:
        # The client is closed only after the fleet is gone (ExitStack exits last).
        with ExitStack() as client_cleanup, SshdFleet(tmp_path) as fleet:
            # Given a running host with an open SSH session running a long command
            host = fleet.start(HostSpec("doomed"))
            pinned = os.open(f"/proc/{host.pid}/ns/mnt", os.O_RDONLY)
            pins.callback(os.close, pinned)
            mnt_ns = f"mnt:[{os.fstat(pinned).st_ino}]"
            client = connect(fleet, host, fleet.known_hosts)
            client_cleanup.callback(client.close)
            client.exec_command("sleep 600")
            deadline = time.monotonic() + 10
            while len(members := namespace_members(mnt_ns)) < 3 and time.monotonic() < deadline:
                time.sleep(0.01)  # listener + session sshd + sleep
            assert len(members) >= 3, members
            fleet_dir = fleet.dir
            # When the fleet exits with the session still open

        # Then every process of the host is gone (or a zombie awaiting init) ...
        assert host.pid in members
        for pid in members:
            state = process_state(pid)
            assert state in (None, "Z"), f"pid {pid} still {state}"
        with pytest.raises(ProcessLookupError):
            os.kill(host.pid, 0)  # the listener was our child, so it was reaped
        assert namespace_members(mnt_ns) == set()
        # ... and its files are removed.
        assert not fleet_dir.exists()


@pytest.mark.parametrize(
    "root_entry",
    [
        "root:!:19000:0:99999:7:::",
        "root:!$6$salt$hash:19000:0:99999:7:::",
        "root:*:19000:0:99999:7::1:",  # account expired in 1970
    ],
)
def test_shadow_that_would_block_root_login_is_rejected(fleet: SshdFleet, root_entry: str) -> None:
    # Given a planted /etc/shadow in which sshd would refuse root
    shadow = f"{root_entry}\nalice:!:19000:0:99999:7:::\n"

    # When / Then starting the host fails loudly instead of rewriting the evidence
    with pytest.raises(ValueError, match="root"):
        fleet.start(HostSpec("locked", files={"/etc/shadow": Planted(shadow, mode=0o640)}))
    assert fleet.hosts == []


def test_shadow_with_usable_root_is_planted(fleet: SshdFleet) -> None:
    # Given a planted /etc/shadow where only another account is locked
    shadow = "root:*:19000:0:99999:7:::\nalice:!:19000:0:99999:7:::\n"
    host = fleet.start(HostSpec("shadowed", files={"/etc/shadow": Planted(shadow, mode=0o640)}))

    # When we read it over SSH
    client = connect(fleet, host, fleet.known_hosts)
    try:
        remote_shadow = run(client, "cat /etc/shadow")
    finally:
        client.close()

    # Then root still logged in and sees the planted file
    assert remote_shadow == shadow


def test_file_without_existing_target_asks_for_replace_dirs(fleet: SshdFleet) -> None:
    # Given / When a file is planted where nothing exists to bind-mount over
    # Then the error tells the author to replace its parent directory
    with pytest.raises(ValueError, match="replace_dirs"):
        fleet.start(HostSpec("nowhere", files={"/etc/sshhosts-no-such-dir/x.conf": "x\n"}))
