"""Self-test of the harness's network and PID namespaces, setup commands and services.

Every property is checked on real hosts: real sshd, real veth pairs, real nftables,
real servers; the machine's side is inspected through /proc, /sys and ``ip``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.integration.fleetrun import FleetOpener, assert_nowhere_in, fleet_hosts, write_inventory

from .sshhosts import (
    NETNS_RANGE,
    HostSpec,
    Planted,
    Service,
    SshdFleet,
    SshdStartError,
    TestHost,
    require_namespace_support,
)
from .test_sshhosts_selftest import connect, run

pytestmark = pytest.mark.integration

# For servers inside hosts; tests that rely on the machine not listening there say so.
INSIDE_PORT = 47321


@pytest.fixture
def fleet(sshd_fleet: FleetOpener) -> Iterator[SshdFleet]:
    with sshd_fleet("fleet", namespaces=True) as (running_fleet, _):
        yield running_fleet


def socat_listener(port: int = INSIDE_PORT) -> Service:
    return Service("listener", ("socat", f"TCP-LISTEN:{port},fork,reuseaddr", "/dev/null"), ready_port=port)


def ssh(fleet: SshdFleet, host: TestHost, command: str) -> str:
    client = connect(fleet, host, fleet.known_hosts)
    try:
        return run(client, command)
    finally:
        client.close()


def connect_error(address: str, port: int, timeout: float = 1.0) -> str | None:
    """None if a TCP connection succeeds, else the kind of failure."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return None
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "timeout"


def machine_listens_on(port: int) -> bool:
    listing = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True, check=True)
    return bool(listing.stdout.strip())


def pids_in(namespace_kind: str, namespace: str) -> set[int]:
    """Processes of the test machine in the given namespace (e.g. "net", "net:[4026532300]")."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/{namespace_kind}") == namespace:
                    found.add(int(entry))
            except OSError:
                pass
    return found


@contextlib.contextmanager
def pinned_namespaces(pid: int, *kinds: str) -> Iterator[dict[str, str]]:
    """``pid``'s namespaces, held open so that their ids stay theirs.

    The kernel gives a freed namespace's inode number to the next new namespace
    (another test process's host, say); a reference keeps the number unique
    while the test looks for processes that are still in it.
    """
    with contextlib.ExitStack() as stack:
        found = {}
        for kind in kinds:
            fd = os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY)
            stack.callback(os.close, fd)
            found[kind] = f"{kind}:[{os.fstat(fd).st_ino}]"
        yield found


def processes_mentioning(text: str) -> dict[int, str]:
    """Live processes whose command line contains ``text`` (zombies have an empty one)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if text in cmdline.decode(errors="replace"):
            found[int(entry)] = cmdline.decode(errors="replace")
    return found


def interface_indexes() -> dict[int, str]:
    return {int((p / "ifindex").read_text()): p.name for p in Path("/sys/class/net").iterdir()}


def wait_until_gone(pids: set[int], timeout: float = 5.0) -> set[int]:
    """The PIDs of ``pids`` still alive (not zombies) after at most ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        alive = set()
        for pid in pids:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except FileNotFoundError:
                continue
            if state != "Z":
                alive.add(pid)
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.02)


def test_netns_host_is_reached_over_its_veth_and_its_servers_only_there(fleet: SshdFleet) -> None:
    # Given a host in its own network namespace running a server bound to 0.0.0.0,
    # on a port the test machine itself does not listen on
    assert not machine_listens_on(INSIDE_PORT)
    host = fleet.start(HostSpec("isolated", network_namespace=True, services=(socat_listener(),)))

    # When we look at it from the test machine and over SSH
    ssh_listeners = ssh(fleet, host, "ss -Hltn | awk '{print $4}'")
    addresses = ssh(fleet, host, "ip -o -4 addr show | awk '{print $2, $4}'")
    routes = ssh(fleet, host, "ip -4 route show")
    from_machine = connect_error(host.address, INSIDE_PORT)
    on_machine_loopback = connect_error("127.0.0.1", INSIDE_PORT)

    # Then SSH is served on the namespace's veth address, port 22, with a pinned key ...
    assert host.port == 22
    assert ipaddress.ip_address(host.address) in NETNS_RANGE
    assert host.known_hosts_line.startswith(f"{host.address} ssh-ed25519 ")
    # ... the host sees only its own listeners: sshd on its address and the server ...
    assert sorted(ssh_listeners.split()) == sorted([f"{host.address}:22", f"0.0.0.0:{INSIDE_PORT}"])
    # ... it has loopback and one veth end, and no route beyond its /30 ...
    assert addresses.splitlines() == ["lo 127.0.0.1/8", f"eth0 {host.address}/30"]
    assert "default" not in routes and len(routes.splitlines()) == 1, routes
    # ... and its server is reachable from the test machine at its address only.
    assert from_machine is None
    assert on_machine_loopback == "refused"


def test_netns_service_bound_to_loopback_is_ready_and_unreachable_from_outside(fleet: SshdFleet) -> None:
    # Given a netns host whose server listens on its own loopback only, as a restricted database would
    service = Service("local-only", ("socat", f"TCP-LISTEN:{INSIDE_PORT},bind=127.0.0.1,fork", "/dev/null"),
                      ready_port=INSIDE_PORT, ready_timeout=5)

    # When it starts
    host = fleet.start(HostSpec("restricted", network_namespace=True, services=(service,)))

    # Then the server counted as ready, listens on the host's 127.0.0.1, and the machine cannot reach it
    listeners = ssh(fleet, host, "ss -Hltn | awk '{print $4}'").split()
    assert f"127.0.0.1:{INSIDE_PORT}" in listeners
    assert connect_error(host.address, INSIDE_PORT) == "refused"
    assert host.run(["socat", "-u", "/dev/null", f"TCP:127.0.0.1:{INSIDE_PORT}"]).returncode == 0


def test_netns_host_does_not_see_the_machines_listeners(fleet: SshdFleet) -> None:
    # Given a listener on the test machine's loopback, a plain host and a netns host
    with socket.socket() as machine_listener:
        machine_listener.bind(("127.0.0.1", 0))
        machine_listener.listen()
        machine_port = machine_listener.getsockname()[1]
        plain = fleet.start(HostSpec("plain"))
        isolated = fleet.start(HostSpec("isolated", network_namespace=True))

        # When both list their TCP listeners over SSH
        plain_view = ssh(fleet, plain, "ss -Hltn")
        isolated_view = ssh(fleet, isolated, "ss -Hltn")

    # Then the plain host shares the machine's stack (the control) and the netns host does not
    assert f"127.0.0.1:{machine_port} " in plain_view
    assert f"127.0.0.1:{plain.port} " in plain_view
    assert f":{machine_port} " not in isolated_view
    assert f":{plain.port} " not in isolated_view
    assert [line.split()[3] for line in isolated_view.splitlines()] == [f"{isolated.address}:22"]


def test_pid_namespace_host_sees_only_its_own_processes(fleet: SshdFleet) -> None:
    # Given a host with network and PID namespaces running one service
    host = fleet.start(HostSpec(
        "contained", network_namespace=True, pid_namespace=True, services=(socat_listener(),)
    ))
    service_pid = host.service_pids["listener"]

    # When we list processes and listeners over SSH
    processes = ssh(fleet, host, "ps ax -o pid=,comm=")
    proc_entries = ssh(fleet, host, "ls /proc | grep -c '^[0-9]'")
    listeners = ssh(fleet, host, "ss -Hltnp")

    # Then only a handful of processes exist: sshd as PID 1, its session, the shell, ps, the service
    by_pid = {int(pid): comm for pid, comm in (line.split(None, 1) for line in processes.splitlines())}
    assert by_pid[1] == "sshd"
    assert len(by_pid) <= 8, by_pid
    assert int(proc_entries) <= 8
    assert "socat" in by_pid.values()
    # ... nothing of the machine (not the test runner) ...
    assert set(by_pid.values()) <= {"sshd", "bash", "sh", "ps", "socat"}, by_pid
    # ... the service PID we were given is that socat, seen by its inner PID inside ...
    status = Path(f"/proc/{service_pid}/status").read_text()
    outer_pid, inner_pid = (int(p) for p in re.search(r"^NSpid:\s+(\d+)\s+(\d+)$", status, re.M).groups())
    assert outer_pid == service_pid and by_pid[inner_pid] == "socat"
    assert Path(f"/proc/{service_pid}/comm").read_text().strip() == "socat"
    # ... and ss -p names it with its inner PID.
    assert f'users:(("socat",pid={inner_pid},' in listeners
    assert os.readlink(f"/proc/{host.pid}/exe") == "/usr/sbin/sshd"


def test_nft_rules_from_setup_apply_to_that_host_only(fleet: SshdFleet) -> None:
    # Given a host whose setup loads a planted ruleset dropping the server's port from its veth,
    # and a second netns host without rules
    ruleset = (
        "table inet sshhosts_selftest {\n"
        "  chain input {\n"
        "    type filter hook input priority 0; policy accept;\n"
        f'    iifname "eth0" tcp dport {INSIDE_PORT} drop\n'
        "  }\n"
        "}\n"
    )
    walled = fleet.start(HostSpec(
        "walled",
        network_namespace=True,
        files={"/etc/nftables.conf": Planted(ruleset, mode=0o755)},
        setup=(("nft", "-f", "/etc/nftables.conf"),),
        services=(socat_listener(),),
    ))
    open_host = fleet.start(HostSpec("open", network_namespace=True, services=(socat_listener(),)))

    # When we list the rulesets over SSH and on the machine, and try the port from outside
    walled_rules = ssh(fleet, walled, "nft list ruleset")
    open_rules = ssh(fleet, open_host, "nft list ruleset")
    machine_rules = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True, check=True)
    from_inside = walled.run(["socat", "-u", "/dev/null", f"TCP:{walled.address}:{INSIDE_PORT}"])

    # Then the rules exist on the walled host only, and they take effect there
    assert "table inet sshhosts_selftest" in walled_rules
    assert f'iifname "eth0" tcp dport {INSIDE_PORT} drop' in walled_rules
    assert "sshhosts_selftest" not in open_rules
    assert "sshhosts_selftest" not in machine_rules.stdout
    assert connect_error(walled.address, INSIDE_PORT, timeout=0.5) == "timeout"
    assert connect_error(open_host.address, INSIDE_PORT) is None
    assert from_inside.returncode == 0, from_inside.stderr  # the server itself is up


def test_failing_setup_command_raises_with_its_output(fleet: SshdFleet) -> None:
    # Given a planted ruleset with a syntax error, loaded by a setup command
    broken = "table inet broken {\n  chain input { type filter hook input priority 0; nonsense }\n}\n"
    spec = HostSpec(
        "broken",
        network_namespace=True,
        pid_namespace=True,
        files={"/etc/nftables.conf": broken},
        setup=(("nft", "-f", "/etc/nftables.conf"),),
    )

    # When / Then start() raises with nft's own message, and nothing is registered
    with pytest.raises(SshdStartError, match=r"(?s)nft -f /etc/nftables.conf.*status 1.*Error: syntax error"):
        fleet.start(spec)
    assert fleet.hosts == []


def test_service_that_exits_fails_start_with_its_log(fleet: SshdFleet) -> None:
    # Given a service that prints a line and exits before it is ready
    spec = HostSpec("quitter", services=(
        Service("quitter", ("sh", "-c", "echo giving-up-now; exit 7"), ready_port=INSIDE_PORT),
    ))

    # When / Then start() reports its exit status and log tail
    with pytest.raises(SshdStartError, match=r"(?s)'quitter'.*status 7.*giving-up-now"):
        fleet.start(spec)
    assert fleet.hosts == []


def test_ready_path_is_awaited_in_the_hosts_view(fleet: SshdFleet) -> None:
    # Given a service that creates its readiness file in a replaced /run after a delay
    flag = "/run/sshhosts-selftest-ready"
    spec = HostSpec(
        "flagged",
        pid_namespace=True,
        replace_dirs=("/run",),
        services=(Service(
            "flagger",
            ("sh", "-c", f"sleep 0.3; echo up > {flag}; exec sleep 600"),
            ready_path=flag,
        ),),
    )

    # When the host starts
    began = time.monotonic()
    host = fleet.start(spec)
    waited = time.monotonic() - began

    # Then start() waited for the file, which exists in the host only, and sshd still works in a new /run
    assert waited >= 0.3
    assert ssh(fleet, host, f"cat {flag}") == "up\n"
    assert not os.path.exists(flag)
    assert host.run(["test", "-d", "/run/sshd"]).returncode == 0


def test_stop_leaves_no_namespace_veth_or_process(fleet: SshdFleet) -> None:
    # Given a netns + pidns host with a service and an open SSH session running a long command
    host = fleet.start(HostSpec(
        "doomed", network_namespace=True, pid_namespace=True, services=(socat_listener(),)
    ))
    veth_index = int(host.run(["cat", "/sys/class/net/eth0/iflink"]).stdout)
    assert interface_indexes()[veth_index].startswith("sshh")
    with pinned_namespaces(host.pid, "mnt", "net", "pid") as namespaces:
        client = connect(fleet, host, fleet.known_hosts)
        try:
            client.exec_command("sleep 600")
            deadline = time.monotonic() + 10
            while len(pids_in("pid", namespaces["pid"])) < 4 and time.monotonic() < deadline:
                time.sleep(0.01)
            members = pids_in("mnt", namespaces["mnt"]) | pids_in("net", namespaces["net"])
            assert {host.pid, host.service_pids["listener"]} <= members

            # When the host is stopped with the session still open
            fleet.stop(host)
        finally:
            client.close()

        # Then no process is left in any of its namespaces, and its veth pair is gone
        assert wait_until_gone(members, timeout=0) == set()
        for kind, namespace in namespaces.items():
            assert pids_in(kind, namespace) == set(), kind
    assert veth_index not in interface_indexes()
    assert fleet.hosts == []


def test_service_never_ready_leaves_nothing_behind(fleet: SshdFleet) -> None:
    # Given a service that reports its veth, then never becomes ready; its command line
    # carries a token no other process has
    token = f"sshhosts-stuck-{os.getpid()}-{time.monotonic_ns()}"
    spec = HostSpec("stuck", network_namespace=True, pid_namespace=True, services=(
        Service("stuck", ("sh", "-c", "cat /sys/class/net/eth0/iflink; sleep 600", token),
                ready_path="/never", ready_timeout=0.5),
    ))

    # When start() gives up on it
    with pytest.raises(SshdStartError, match=r"(?s)'stuck'.*not ready after 0.5s") as failure:
        fleet.start(spec)

    # Then neither the service nor the host's sshd/unshare (whose command lines name the
    # host's directory) is left, and the veth pair the service saw is gone
    veth_index = int(re.search(r"^(\d+)$", str(failure.value), re.M).group(1))
    assert processes_mentioning(token) == {}
    assert processes_mentioning(str(fleet.dir / "hosts" / "stuck")) == {}
    assert veth_index not in interface_indexes()
    assert fleet.hosts == []


def test_hosts_started_in_parallel_get_distinct_subnets(fleet: SshdFleet) -> None:
    # Given six netns hosts started at the same time from worker threads
    with ThreadPoolExecutor(max_workers=6) as pool:
        hosts = list(pool.map(
            lambda i: fleet.start(HostSpec(f"par{i}", network_namespace=True)), range(6)
        ))

    # When each is asked for its own address over SSH
    seen = [ssh(fleet, host, "ip -o -4 addr show dev eth0 | awk '{print $4}'").strip() for host in hosts]

    # Then each answers on its own address, from its own /30
    assert seen == [f"{host.address}/30" for host in hosts]
    assert len({host.address for host in hosts}) == 6


def test_cli_audits_a_netns_host_on_port_22(fleet: SshdFleet, tmp_path: Path) -> None:
    # Given a netns host with a planted shadow holding one yescrypt hash, in an inventory
    # written like the other integration tests write theirs
    if shutil.which("mkpasswd") is None:
        pytest.skip("mkpasswd (Debian package whois) is not installed; scripts/test.sh installs it")
    hashed = subprocess.run(["mkpasswd", "-m", "yescrypt", "Netns-pw-7"], capture_output=True, text=True,
                            check=True).stdout.strip()
    shadow = Planted(f"root:*:19000:0:99999:7:::\nalice:{hashed}:19000:0:99999:7:::\n", mode=0o640, gid=42)
    host = fleet.start(HostSpec("audited", network_namespace=True, pid_namespace=True,
                                files={"/etc/shadow": shadow}))
    hosts = fleet_hosts(fleet)
    inventory = write_inventory(tmp_path / "inventory.yaml", hosts)

    # When the real CLI audits it with strict host-key checking
    result = run_cli("run", "-i", str(inventory), "-o", str(tmp_path / "reports"), "--format", "json",
                     "--check", "password_hashing")

    # Then the host was reached at its veth address on port 22 and judged
    report = result.json()
    [audited] = report["hosts"]
    assert (audited["name"], audited["reachable"]) == ("audited", True), audited
    assert hosts["audited"]["address"] == host.address and hosts["audited"]["port"] == 22
    [check] = audited["results"]
    assert (check["check"], check["status"]) == ("password_hashing", "pass"), check
    assert check["values"]["accounts_by_scheme"] == {"yescrypt": 1}
    assert_nowhere_in(tmp_path / "reports", hashed)


def test_loopback_service_readiness_ignores_a_strangers_listener(fleet: SshdFleet) -> None:
    # Given a listener of the test machine's own (a stranger to the host) on a loopback port,
    # and a host whose service is supposed to listen on that port but never does
    with socket.socket() as stranger:
        stranger.bind(("127.0.0.1", 0))
        stranger.listen()
        port = stranger.getsockname()[1]
        spec = HostSpec("impostor", services=(
            Service("sleeper", ("sleep", "600"), ready_port=port, ready_timeout=0.5),
        ))

        # When / Then the stranger's accepting connections does not make the service ready
        assert connect_error("127.0.0.1", port) is None
        not_ready = rf"'sleeper'.*not ready after 0.5s \(waiting for TCP port {port}\)"
        with pytest.raises(SshdStartError, match=not_ready):
            fleet.start(spec)


def test_loopback_host_runs_its_own_service(fleet: SshdFleet) -> None:
    # Given a plain (loopback) host with a server on a free port
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    host = fleet.start(HostSpec("local", services=(socat_listener(port),)))

    # When we look at the service from the machine and from inside the host
    service_pid = host.service_pids["listener"]
    inside = host.run(["readlink", "/proc/self/ns/mnt"])

    # Then it is the socat we asked for, in the host's mount namespace, serving the port
    assert Path(f"/proc/{service_pid}/comm").read_text().strip() == "socat"
    assert os.readlink(f"/proc/{service_pid}/ns/mnt") == inside.stdout.strip()
    assert os.readlink(f"/proc/{service_pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
    assert connect_error("127.0.0.1", port) is None


ORPHAN_SCRIPT = """
import json, sys, time
from pathlib import Path
from tests.integration.sshhosts import HostSpec, Service, SshdFleet

def listener():
    return (Service("listener", ("socat", "TCP-LISTEN:47321,fork,reuseaddr", "/dev/null"), ready_port=47321),)

fleet = SshdFleet(Path(sys.argv[1]))
report = {}
specs = (HostSpec("contained", network_namespace=True, pid_namespace=True, services=listener()),
         HostSpec("netonly", network_namespace=True, services=listener()))
for host in [fleet.start(spec) for spec in specs]:
    report[host.name] = {
        "pids": [host.pid, *host.service_pids.values()],
        "veth": int(host.run(["cat", "/sys/class/net/eth0/iflink"]).stdout),
    }
print(json.dumps(report), flush=True)
time.sleep(600)
"""


def test_a_test_process_killed_outright_takes_its_hosts_with_it(tmp_path: Path) -> None:
    # Given a separate test process running a netns+pidns host and a netns-only host,
    # each with a service
    require_namespace_support()
    import json
    import signal
    import sys

    from tests.conftest import REPO

    stderr_path = tmp_path / "orphan_maker.stderr"
    with open(stderr_path, "w") as stderr:
        orphan_maker = subprocess.Popen(
            [sys.executable, "-c", ORPHAN_SCRIPT, str(tmp_path)],
            cwd=REPO, stdout=subprocess.PIPE, stderr=stderr, text=True,
        )
    try:
        line = orphan_maker.stdout.readline()
        assert line, f"the test process did not start its hosts: {stderr_path.read_text()}"
        hosts = json.loads(line)

        # When that process is killed with SIGKILL (no atexit, no cleanup of its own)
        orphan_maker.send_signal(signal.SIGKILL)
        orphan_maker.wait()
    finally:
        if orphan_maker.poll() is None:
            orphan_maker.kill()
            orphan_maker.wait()

    # Then every process it started dies, and the network namespaces go with them: the
    # kernel removes a veth pair (nobody else did here) only once its namespace has no
    # process left and is dismantled, asynchronously (slow on a busy machine)
    for name, host in hosts.items():
        assert wait_until_gone(set(host["pids"]), timeout=10) == set(), name
        deadline = time.monotonic() + 30
        while host["veth"] in interface_indexes() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert host["veth"] not in interface_indexes(), (name, interface_indexes())
    assert processes_mentioning(str(tmp_path)) == {}
