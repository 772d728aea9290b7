"""`auditor run --dispatch` with real parts: a real redis-server, real Celery workers each in a
network namespace of its own that reaches only its segment's sshd hosts, and the coordinator
through the command line.

    root namespace: redis-server on 127.0.0.1 and on each worker link's near end; the
                    coordinator; every sshd host reachable (the single-process reference run)
    worker netns:   a veth to the root namespace (redis only: no route beyond that /30) and a
                    veth straight into each sshd host of its segment, with a /32 route to it

There is no forwarding between links, so a worker can reach nothing of the other segment:
the test proves it by connecting from inside each namespace. A worker killed with SIGKILL
mid-shard has its shard handed to another worker of its segment (acks_late, and Redis's
visibility timeout, set short here); the merged run is then identical to the single run, as
test_distributed_ssh defines it (verdicts, and evidence without the fields that say when).
A shard whose segment has no worker is reported lost at the deadline, and SIGTERM on the
coordinator writes the merged partial report.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from auditor import AuditRequest, audit
from auditor.evidence import pack, signing
from tests.conftest import NO_CONFIG, REPO, run_folder
from tests.integration import fleetrun
from tests.integration.sshhosts import HostSpec, TestHost
from tests.integration.sshhosts.network import _free_port, _random_free_subnet, _socket_in_netns
from tests.unit.test_distributed import observed, verdicts

pytestmark = pytest.mark.integration
SEGMENTS = {"east": ("east1", "east2"), "west": ("west1",)}
# Seconds a dead worker's shard waits before another worker gets it; a shard still running past
# it is handed out again (the shards here take 2.3-2.5 s under load).
REDELIVER_AFTER = 8
SLOW_CHECK = '''
"""Takes a while, so that a worker can be killed while it audits."""
from auditor.check import Check, Status, result
from auditor.probes import shell

CHECK = Check(id="takes_a_while", title="Answers after two seconds", claims=("demo",),
              controls=("ISO27001:2022 A.8.16",), probes=(shell("wait", "sleep 2; echo done"),))

def evaluate(out, params):
    said = out.require("wait").stdout.strip()
    return result(Status.PASS if said == "done" else Status.FAIL, f"it said {said!r}", evidence=["wait"])
'''
CHECKS = ("password_hashing", "ssh_hardening", "takes_a_while")


def setup_module() -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed; scripts/test.sh installs it")
    pytest.importorskip("celery", reason="the celery extra is not installed (pip install -e '.[celery]')")


@dataclass
class Parts:
    """Every process and link the test starts, stopped by PID at the end, also on failure."""

    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, argv: list[str], log: Path, env: dict[str, str] | None = None,
              stdin: int | None = None) -> subprocess.Popen[bytes]:
        with log.open("wb") as out:
            process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=stdin, cwd=REPO,
                                       env=env)
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
        if process.poll() is None:
            process.send_signal(sig)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def close(self) -> None:
        for process in reversed(self.processes):
            self.stop(process, signal.SIGKILL)
            if process.stdin:
                process.stdin.close()


def ip(*args: str, pid: int | None = None) -> None:
    prefix = ["nsenter", "-t", str(pid), "-n", "--"] if pid else []
    subprocess.run([*prefix, "ip", *args], check=True, capture_output=True, text=True)


@dataclass
class Worker:
    name: str
    segment: str
    process: subprocess.Popen[bytes]
    log: Path
    broker_address: str  # redis's address on this worker's link

    @property
    def pid(self) -> int:
        return self.process.pid


def open_namespace(parts: Parts, name: str, segment: str, hosts: list[TestHost], tmp: Path) -> Worker:
    """A process waiting in a new network namespace, linked to the root namespace and to `hosts`."""
    waiter = parts.start(["setpriv", "--pdeathsig", "KILL", "--", "unshare", "--net", "--",
                          "sh", "-c", 'read broker && exec "$@" --broker "$broker"', "sh",
                          *worker_command(name, segment)],
                         tmp / f"{name}.log", env=worker_env(tmp), stdin=subprocess.PIPE)
    pid = waiter.pid
    deadline = time.monotonic() + 10
    while os.readlink(f"/proc/{pid}/ns/net") == os.readlink("/proc/self/ns/net"):  # unshare not done yet
        assert time.monotonic() < deadline, "unshare did not make a namespace"
        time.sleep(0.02)
    ip("link", "set", "lo", "up", pid=pid)
    subnet = _random_free_subnet()  # to the root namespace: redis only
    outside = f"cb{pid}"
    ip("link", "add", outside, "type", "veth", "peer", "name", "root0", "netns", str(pid))
    ip("addr", "add", f"{subnet[1]}/30", "dev", outside)
    ip("link", "set", outside, "up")
    ip("addr", "add", f"{subnet[2]}/30", "dev", "root0", pid=pid)
    ip("link", "set", "root0", "up", pid=pid)
    for index, host in enumerate(hosts):  # straight into each sshd host of the segment
        link = _random_free_subnet()
        near, far = f"h{index}", f"w{pid}"
        ip("link", "add", near, "type", "veth", "peer", "name", far, "netns", str(host.pid), pid=pid)
        ip("addr", "add", f"{link[1]}/30", "dev", near, pid=pid)
        ip("link", "set", near, "up", pid=pid)
        ip("route", "add", f"{host.address}/32", "dev", near, "src", str(link[1]), pid=pid)
        ip("addr", "add", f"{link[2]}/30", "dev", far, pid=host.pid)
        ip("link", "set", far, "up", pid=host.pid)
    return Worker(name, segment, waiter, tmp / f"{name}.log", str(subnet[1]))


def worker_command(name: str, segment: str) -> list[str]:
    return [sys.executable, "-m", "auditor", "worker", "--celery", "--segment", segment,
            "--name", f"{name}@test",
            "--redeliver-after", str(REDELIVER_AFTER)]


def worker_env(tmp: Path) -> dict[str, str]:
    # TMPDIR in the test's own folder: the worker this test SIGKILLs mid-shard never removes its
    # shard's temporary folder, and the test must not leave it in /tmp.
    scratch = tmp / "worker-tmp"
    scratch.mkdir(exist_ok=True)
    return {**os.environ, "XDG_CONFIG_HOME": str(NO_CONFIG), "AUDITOR_SIGNING_KEY": str(tmp / "worker.pem"),
            "AUDITOR_CHECKS_DIRS": str(tmp / "checks"), "TMPDIR": str(scratch)}


def go(worker: Worker, port: int) -> None:
    """Let the waiting namespace exec the Celery worker, with redis's address on its own link."""
    assert worker.process.stdin is not None
    worker.process.stdin.write(f"redis://{worker.broker_address}:{port}/0\n".encode())
    worker.process.stdin.flush()


def reaches(pid: int, address: str, port: int = 22) -> bool:
    with _socket_in_netns(pid, socket.AF_INET) as sock:
        sock.settimeout(2)
        return sock.connect_ex((address, port)) == 0


def wait_for_line(log: Path, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text(errors="replace"):
        tail = log.read_text(errors="replace")[-3000:]
        assert time.monotonic() < deadline, f"{text!r} not in {log}:\n{tail}"
        time.sleep(0.05)


@dataclass
class Setup:
    parts: Parts
    tmp: Path
    inventory: Path
    port: int
    hosts: dict[str, TestHost]
    workers: dict[str, Worker]
    single: Path  # the single-process reference run with full reach


@pytest.fixture(scope="module")
def setup(sshd_fleet) -> Iterator[Setup]:
    parts = Parts()
    with sshd_fleet("celery", namespaces=True) as (fleet, tmp):
        try:
            yield build(parts, fleet, tmp)
        finally:
            parts.close()


def build(parts: Parts, fleet, tmp: Path) -> Setup:
    (tmp / "checks").mkdir()
    (tmp / "checks" / "takes_a_while.py").write_text(SLOW_CHECK)
    key = signing.generate(tmp / "worker.pem", None)
    (tmp / "trusted-signers").write_text(f"{signing.fingerprint(key.public_key())} segment-workers\n")
    hosts = {}
    for names in SEGMENTS.values():
        for name in names:
            method = "SHA512" if name != "east2" else "MD5"  # one host fails password_hashing
            hosts[name] = fleet.start(HostSpec(name, network_namespace=True,
                                               files={"/etc/login.defs": f"ENCRYPT_METHOD {method}\n"}))
    entries = fleetrun.fleet_hosts(fleet)
    for segment, names in SEGMENTS.items():
        for name in names:
            entries[name]["segment"] = segment
    inventory = fleetrun.write_inventory(tmp / "inventory.yaml", entries)
    single = audit(AuditRequest(inventory=inventory, checks=CHECKS, checks_dirs=(tmp / "checks",),
                                output=tmp / "single")).run_dir
    workers = {name: open_namespace(parts, name, segment, [hosts[h] for h in SEGMENTS[segment]], tmp)
               for name, segment in (("east-a", "east"), ("east-b", "east"), ("west-a", "west"))}
    port = _free_port()
    addresses = ["127.0.0.1", *(w.broker_address for w in workers.values())]
    parts.start(["redis-server", "--port", str(port), "--bind", *addresses, "--save", "",
                 "--appendonly", "no", "--protected-mode", "no", "--dir", str(tmp)], tmp / "redis.log")
    wait_for_line(tmp / "redis.log", "Ready to accept connections", 15)
    return Setup(parts, tmp, inventory, port, hosts, workers, single)


def dispatch(setup: Setup, out: str, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(NO_CONFIG)}
    env.pop("AUDITOR_SIGNING_KEY", None)
    return setup.parts.start(
        [sys.executable, "-m", "auditor", "run", "-i", str(setup.inventory),
         "--checks-dir", str(setup.tmp / "checks"),
         *(a for c in CHECKS for a in ("--check", c)), "-o", str(setup.tmp / out), "--format", "json",
         "--no-history", "--no-sign", "--dispatch", f"redis://127.0.0.1:{setup.port}/0", "--shard-size", "1",
         "--trusted-signers", str(setup.tmp / "trusted-signers"), *extra],
        setup.tmp / f"{out}.log", env=env)


def report_of(setup: Setup, out: str) -> tuple[Path, dict]:
    run_dir = run_folder(setup.tmp / out)
    return run_dir, json.loads((run_dir / "report.json").read_text())


def test_each_worker_reaches_only_its_segment(setup):
    # Given each worker's namespace, before its worker runs
    for worker in setup.workers.values():
        for segment, names in SEGMENTS.items():
            for name in names:
                # Then it reaches the sshd hosts of its own segment, and no other
                assert reaches(worker.pid, setup.hosts[name].address) == (segment == worker.segment), \
                    (worker.name, name)
        # And redis only on its own link
        assert not reaches(worker.pid, "127.0.0.1", setup.port)


def test_shards_go_to_their_segment_survive_a_killed_worker_and_merge_into_the_single_run(setup):
    # Given one worker of each segment serving its queue (east-b is not started yet)
    east_a, east_b, west_a = (setup.workers[n] for n in ("east-a", "east-b", "west-a"))
    go(east_a, setup.port)
    go(west_a, setup.port)
    for worker in (east_a, west_a):
        wait_for_line(worker.log, "ready.", 30)
    # When the coordinator dispatches one shard per host
    coordinator = dispatch(setup, "dispatched", "--shard-deadline", "60")
    # And east-a is killed with SIGKILL while it audits its shard
    wait_for_line(east_a.log, "Task auditor.audit_shard", 30)
    time.sleep(0.5)  # the shard's slow probe runs for two seconds
    assert east_a.process.poll() is None, "east-a finished before it could be killed"
    east_a.process.send_signal(signal.SIGKILL)
    east_a.process.wait(timeout=10)
    killed_log = east_a.log.read_text(errors="replace")
    assert "succeeded" not in killed_log
    # And the segment's other worker starts
    go(east_b, setup.port)
    assert coordinator.wait(timeout=75) == 1, (setup.tmp / "dispatched.log").read_text()  # east2 fails
    # Then every shard came back, east-a's from east-b, signed by the trusted worker key
    run_dir, report = report_of(setup, "dispatched")
    fates = {f["id"]: f for f in json.loads((run_dir / pack.MANIFEST).read_text())["run"]["shards"]}
    assert {f["status"] for f in fates.values()} == {"merged"}
    assert {f["id"]: f["worker"] for f in fates.values()} == {
        "east-0001": "east-b@test", "east-0002": "east-b@test", "west-0001": "west-a@test"}
    assert all(f["trust"].startswith("trusted") for f in fates.values())
    assert east_b.log.read_text(errors="replace").count("succeeded") == 2
    # And the merged run is the single-process run: verdicts, and what the evidence observed
    single = json.loads((setup.single / "report.json").read_text())
    assert verdicts(report) == verdicts(single)
    assert observed(run_dir) == observed(setup.single)
    assert report["run"]["complete"] is True


def test_a_segment_without_workers_is_lost_at_the_deadline_and_sigterm_writes_the_partial_report(setup):
    # Given no worker serving the west segment any more (east-b still serves east)
    west_a = setup.workers["west-a"]
    setup.parts.stop(west_a.process)
    # When a run is dispatched with a short deadline
    coordinator = dispatch(setup, "deadline", "--shard-deadline", "12")
    assert coordinator.wait(timeout=60) == 1, (setup.tmp / "deadline.log").read_text()  # east2 fails
    # Then the west host is reported as not reached, and the east hosts are audited
    _, report = report_of(setup, "deadline")
    errors = {h["name"]: h["error"] for h in report["hosts"]}
    assert errors == {"east1": None, "east2": None,
                      "west1": "not reached (shard west-0001 lost: no worker of segment west returned it)"}
    # And given no worker at all, SIGTERM on the coordinator writes the merged partial report
    setup.parts.stop(setup.workers["east-b"].process)
    coordinator = dispatch(setup, "stopped", "--shard-deadline", "60")
    log = setup.tmp / "stopped.log"
    waited = time.monotonic() + 60  # a loaded machine takes a while to import and prepare
    while "dispatched" not in log.read_text() and time.monotonic() < waited and coordinator.poll() is None:
        time.sleep(0.2)
    assert "shard(s) dispatched" in log.read_text(), log.read_text()
    coordinator.send_signal(signal.SIGTERM)
    assert coordinator.wait(timeout=30) == 143, log.read_text()  # 143: stopped by SIGTERM
    _, report = report_of(setup, "stopped")
    assert report["run"]["complete"] is False
    assert {h["name"] for h in report["hosts"]} == {"east1", "east2", "west1"}
    assert all(h["error"].startswith("not reached (shard ") for h in report["hosts"])
