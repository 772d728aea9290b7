"""Fleet benchmark: how fast, how hungry, and how close to the floor is `auditor run`?

Needs root, sshd and mount namespaces (the same as the integration tests). Run it with

    python bench/fleet.py --hosts 100              # table on stdout, progress on stderr
    python bench/fleet.py --hosts 100 --json       # raw numbers as JSON on stdout instead

What it does. It starts `--sshd` real OpenSSH test hosts (tests/integration/sshhosts/;
each in its own mount and PID namespace, with a small /etc/logrotate.conf and an empty
/root/.bashrc planted) and writes an
inventory of `--hosts` hosts whose distinct names are aliased round-robin onto them:
100 hosts = 100 SSH connections and 100 batches, served by 4 sshd listeners (the harness
sets MaxStartups 200, MaxSessions 50).
For a second set of runs a delaying TCP relay on 127.0.0.1 sits in front of each sshd and
holds every chunk `--rtt`/2 ms in each direction, so a round trip costs `--rtt` ms
(default 20) as it would across a network; that inventory and its known_hosts point at
the relays' ports. Each mode below runs `--repeat` times (default 3) per RTT, the modes
interleaved, and the table shows the median of each number:

  batched    `auditor run -i INV -o TMP --format none -j J`: the real thing, one SSH
             exec per host, evidence and reports written.
  no-batch   the same with `--no-batch`: one exec channel per probe.
  floor      bench/floor.py: bare paramiko, same concurrency and TCP_NODELAY, running the
             very batch script the auditor would send (auditor.engine.batch.build over
             auditor.engine.plan.plan) on one exec channel per host, reading the output, and
             nothing more. The auditor cannot beat it by more than noise.

The numbers. wall s: start of the process to its exit, interpreter start-up included.
hosts/s: hosts / wall. CPU ms/host: user+sys CPU of that one process (os.wait4), divided
by the hosts; it excludes sshd and the relays, which run on the same cores. server CPU
ms/host: sshd and every probe command it ran (the listeners' reaped children), per host.
The "hosts" share the cores with the client: when server CPU x hosts / cores comes near
the wall time, the run is bound by the test hosts, not by the auditor or the RTT, and the
client's own CPU ms/host is the number to watch. peak RSS MB: ru_maxrss of the process.
A run counts only if every host came back reachable and without a host error in
report.json (for the floor: every batch ran and printed); otherwise the cell is VOID, and
so are the targets that use it. Check results of `error` are noted, not voiding.

`--known-hosts-lines M` pads known_hosts with M unrelated entries, as the known_hosts of a
real fleet has one per host (the auditor reads known_hosts once per connection).

Targets (PASS/MISS): batched wall <= 2x floor at every RTT; batched >= 4x faster than
no-batch at `--rtt`; batched CPU <= 25 ms/host; batched peak RSS <= 250 MB.

Everything started here (sshd hosts, relays, child processes, temp dirs) is removed at
the end, on Ctrl-C and on SIGTERM too. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

import paramiko
import yaml

from auditor import inventory
from auditor.engine import batch, plan, registry

REPO = Path(__file__).resolve().parent.parent
FLOOR_SCRIPT = Path(__file__).with_name("floor.py")
PROFILE_SCRIPT = Path(__file__).with_name("profile_threads.py")
LOOPBACK = "127.0.0.1"
MODES = ("batched", "no-batch", "floor")
LOGROTATE_CONF = "weekly\nrotate 13\ncreate\ncompress\n"
ROOT_BASHRC = "/root/.bashrc"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# Targets the numbers are judged against.
MAX_FLOOR_RATIO = 2.0
MIN_BATCH_SPEEDUP = 4.0
MAX_CPU_MS_PER_HOST = 25.0
MAX_RSS_MB = 250.0

# Relay bounds: a stray client cannot make it hold unbounded memory or connections.
RELAY_CHUNK = 65536
RELAY_QUEUE_CHUNKS = 64  # per direction: at most 4 MiB in flight
RELAY_MAX_CONNECTIONS = 1024


def harness() -> ModuleType:
    """tests/integration/sshhosts/; the repository root is not on sys.path by itself."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import tests.integration.sshhosts as sshhosts

    return sshhosts


# --------------------------------------------------------------------------
# The delaying relay
# --------------------------------------------------------------------------


class DelayRelays:
    """TCP relays 127.0.0.1:new -> 127.0.0.1:upstream, each direction delayed by `one_way_s`.

    Delay, not bandwidth: every chunk is forwarded `one_way_s` after it was read, whatever
    came before it, so a round trip costs 2 x one_way_s. One asyncio loop in a daemon
    thread serves all relays; it stops itself after `lifetime_s` even if nobody calls
    stop(), and dies with the process in any case.
    """

    def __init__(self, upstream_ports: list[int], one_way_s: float, lifetime_s: float) -> None:
        self.upstream_ports = upstream_ports
        self.one_way_s = one_way_s
        self.lifetime_s = lifetime_s
        self.ports: list[int] = []
        self.echo_relay_port = 0  # a relay in front of an echo server, to measure the RTT
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._live: set[asyncio.Task[None]] = set()
        self._thread = threading.Thread(target=self._thread_main, name="delay-relays", daemon=True)

    def start(self) -> DelayRelays:
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            raise RuntimeError(f"delay relays did not start: {self._error}")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop may have closed meanwhile
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def measure_rtt_ms(self, rounds: int = 7) -> float:
        """Median time of a 1-byte ping-pong through a relay."""
        times = []
        with socket.create_connection((LOOPBACK, self.echo_relay_port), timeout=5) as conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for _ in range(rounds):
                began = time.perf_counter()
                conn.sendall(b"x")
                if conn.recv(1) != b"x":
                    raise RuntimeError("echo through the relay failed")
                times.append((time.perf_counter() - began) * 1000)
        return statistics.median(times)

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported by start(); the thread must not die silently
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        echo = await asyncio.start_server(self._echo, LOOPBACK, 0)
        servers = [echo]
        for upstream in [*self.upstream_ports, _port_of(echo)]:
            server = await asyncio.start_server(functools.partial(self._relay, upstream), LOOPBACK, 0)
            servers.append(server)
            self.ports.append(_port_of(server))
        self.echo_relay_port = self.ports.pop()
        self._ready.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), self.lifetime_s)
        for server in servers:
            server.close()
        for task in self._live:
            task.cancel()
        await asyncio.gather(*self._live, return_exceptions=True)

    @staticmethod
    async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(RELAY_CHUNK):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _relay(self, upstream: int, client_r: asyncio.StreamReader,
                     client_w: asyncio.StreamWriter) -> None:
        if len(self._live) >= RELAY_MAX_CONNECTIONS:
            client_w.close()
            return
        # asyncio holds tasks and stream readers weakly: once the client half-closes, nothing
        # else would keep this relay alive, and the GC would destroy it mid-transfer.
        me = asyncio.current_task()
        assert me is not None
        self._live.add(me)
        try:
            up_r, up_w = await asyncio.open_connection(LOOPBACK, upstream)
            try:
                await self._both_ways(client_r, client_w, up_r, up_w)
            finally:
                up_w.close()
        except (OSError, asyncio.CancelledError):
            # Refused upstream: the client sees the connection close. Cancelled: stop();
            # end quietly, as Python 3.11's stream callback logs cancelled handlers.
            pass
        finally:
            self._live.discard(me)
            client_w.close()

    async def _both_ways(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter,
                         up_r: asyncio.StreamReader, up_w: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.TaskGroup() as group:  # one failing direction ends both
                for reader, writer in ((client_r, up_w), (up_r, client_w)):
                    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(RELAY_QUEUE_CHUNKS)
                    group.create_task(self._take(reader, queue))
                    group.create_task(self._give(queue, writer))
        except* OSError:
            pass  # a reset connection is how some clients say goodbye

    async def _take(self, reader: asyncio.StreamReader, queue: asyncio.Queue[tuple[float, bytes]]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            data = await reader.read(RELAY_CHUNK)
            await queue.put((loop.time() + self.one_way_s, data))  # b"" = EOF, delayed too
            if not data:
                return

    @staticmethod
    async def _give(queue: asyncio.Queue[tuple[float, bytes]], writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due, data = await queue.get()
            await asyncio.sleep(max(0.0, due - loop.time()))
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()  # half-close: sshd still sends its exit status
                return
            writer.write(data)
            await writer.drain()


def _port_of(server: asyncio.Server) -> int:
    return int(server.sockets[0].getsockname()[1])


# --------------------------------------------------------------------------
# Measuring one child process
# --------------------------------------------------------------------------


@dataclass
class Sample:
    wall_s: float
    cpu_s: float  # user + sys of the measured process
    maxrss_mb: float
    server_cpu_s: float  # user + sys of sshd and the probe commands it ran
    bench_cpu_s: float  # this process meanwhile: mostly the relays
    rc: int
    ok_hosts: int
    problems: list[str] = field(default_factory=list)  # any of these voids the sample
    notes: list[str] = field(default_factory=list)  # worth knowing, but the work was done


class Children:
    """The child being measured, so that Ctrl-C can kill it."""

    current: subprocess.Popen[bytes] | None = None

    @classmethod
    def kill(cls) -> None:
        proc = cls.current
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, ChildProcessError):
                proc.kill()
                os.waitpid(proc.pid, 0)
        cls.current = None


def _server_cpu_s(pids: list[int]) -> float:
    """CPU of sshd listeners plus their reaped children (every connection is one)."""
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            ticks += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return ticks / CLOCK_TICKS


def _children_of(pids: list[int]) -> list[int]:
    wanted = set(pids)
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()
                if int(fields[1]) in wanted:
                    found.append(int(entry))
    return found


def wait_sshd_idle(pids: list[int], timeout: float = 10.0) -> None:
    """Until every connection of the last run has ended: its CPU is then counted, and
    the next run does not share the cores with it."""
    deadline = time.monotonic() + timeout
    while _children_of(pids) and time.monotonic() < deadline:
        time.sleep(0.02)


def measure(command: list[str], workdir: Path, label: str, sshd_pids: list[int], timeout: float,
            ) -> tuple[Sample, Path]:
    """Run `command` to its end; returns its sample (hosts not yet checked) and stdout file."""
    wait_sshd_idle(sshd_pids)
    stdout_path, stderr_path = workdir / f"{label}.stdout", workdir / f"{label}.stderr"
    sshd_before = _server_cpu_s(sshd_pids)
    self_before = time.process_time()
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        began = time.perf_counter()
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=workdir,
                                env={**os.environ, "NO_COLOR": "1"})
        Children.current = proc
        watchdog = threading.Timer(timeout, proc.kill)  # a hung run must not hang the bench
        watchdog.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            watchdog.cancel()
        wall = time.perf_counter() - began
        proc.returncode = os.waitstatus_to_exitcode(status)
        Children.current = None
    self_cpu = time.process_time() - self_before
    wait_sshd_idle(sshd_pids)
    sample = Sample(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        maxrss_mb=usage.ru_maxrss / 1024,  # KiB on Linux
        server_cpu_s=_server_cpu_s(sshd_pids) - sshd_before,
        bench_cpu_s=self_cpu,
        rc=proc.returncode,
        ok_hosts=0,
    )
    if wall >= timeout:
        sample.problems.append(f"killed after {timeout:g} s")
    if proc.returncode < 0 or proc.returncode in (2, 130):
        tail = stderr_path.read_text(errors="replace").strip().splitlines()[-5:]
        sample.problems.append(f"exit status {proc.returncode}: " + " | ".join(tail))
    return sample, stdout_path


def newest_run_folder(out_dir: Path) -> Path | None:
    """The newest run folder under `out_dir` that holds a report.json. The output folder
    also holds history.sqlite (and its -wal/-shm files), which are not runs."""
    runs = [p for p in out_dir.iterdir() if p.is_dir() and (p / "report.json").is_file()] \
        if out_dir.is_dir() else []
    return max(runs, key=lambda p: (p.stat().st_mtime_ns, p.name), default=None)


def check_auditor_report(sample: Sample, out_dir: Path, n_hosts: int, batched: bool) -> None:
    """Every host reachable and error-free, or the sample is void."""
    run_dir = newest_run_folder(out_dir)
    if run_dir is None:
        sample.problems.append(f"no report.json in {out_dir}")
        return
    report = json.loads((run_dir / "report.json").read_text())
    hosts = report["hosts"]
    bad = [h for h in hosts if not h["reachable"] or h["error"]]
    sample.ok_hosts = len(hosts) - len(bad)
    sample.problems += [f"{h['name']}: {h['error_kind']}: {h['error']}" for h in bad[:5]]
    if len(bad) > 5:
        sample.problems.append(f"... and {len(bad) - 5} more hosts")
    if len(hosts) != n_hosts:
        sample.problems.append(f"report.json lists {len(hosts)} hosts, not {n_hosts}")
    if not report["run"]["complete"] or report["run"]["batched"] != batched:
        sample.problems.append("report.json: run incomplete or batched flag wrong")
    errors = report["totals"]["error"]
    if errors and not bad:  # every host answered, so the round trips measured are the real ones
        sample.notes.append(f"{errors} check results are 'error'")


def check_floor_output(sample: Sample, stdout_path: Path, n_hosts: int) -> None:
    try:
        result = json.loads(stdout_path.read_text())
    except ValueError:
        sample.problems.append("floor printed no result")
        return
    sample.ok_hosts = int(result["ok"])
    sample.problems += result["failures"][:5]
    if sample.ok_hosts != n_hosts:
        sample.problems.append(f"floor: {sample.ok_hosts}/{n_hosts} hosts ran their batch")


# --------------------------------------------------------------------------
# Setting up the fleet
# --------------------------------------------------------------------------


@dataclass
class Setup:
    """Files for one RTT: inventory, known_hosts and the floor's spec."""

    rtt_ms: float
    measured_rtt_ms: float | None
    inventory: Path
    floor_spec: Path


def write_setup(tmp: Path, rtt_ms: float, ports: list[int], host_key: str, client_key: Path,
                n_hosts: int, jobs: int, scripts: Path, measured: float | None, pad_known_hosts: int,
                ) -> Setup:
    tag = f"rtt{rtt_ms:g}"
    known_hosts = tmp / f"known_hosts.{tag}"
    # Padding stands for the other hosts a real known_hosts lists; .invalid names never resolve.
    padding = [f"pad{i:05d}.invalid {host_key}\n" for i in range(pad_known_hosts)]
    known_hosts.write_text("".join(padding + [f"[{LOOPBACK}]:{port} {host_key}\n" for port in ports]))
    names = [f"h{i:03d}" for i in range(n_hosts)]
    hosts = {name: {"address": LOOPBACK, "port": ports[i % len(ports)]} for i, name in enumerate(names)}
    inv = tmp / f"inventory.{tag}.yaml"
    inv.write_text(yaml.safe_dump({
        "defaults": {"transport": "ssh", "user": "root", "identity_file": str(client_key),
                     "known_hosts": str(known_hosts), "connect_timeout": 30},
        "hosts": hosts,
    }, sort_keys=False))
    spec = tmp / f"floor.{tag}.json"
    spec.write_text(json.dumps({
        "jobs": jobs, "user": "root", "key": str(client_key), "known_hosts": str(known_hosts),
        "timeout": 60,
        "hosts": [{"name": name, "address": LOOPBACK, "port": entry["port"],
                   "script": str(scripts / f"{name}.sh.gz")} for name, entry in hosts.items()],
        "command": batch.COMPRESSED_COMMAND,
    }))
    return Setup(rtt_ms, measured, inv, spec)


def planned_batch(host: inventory.Host, checks: list[Any]) -> batch.Batch:
    """The batch the auditor builds for `host`: same checks, same plan, same build."""
    probes, broken = plan.plan(host, checks)
    if broken:
        raise RuntimeError(f"probes do not render for {host.name}: {broken}")
    on_host = [p for p in probes if isinstance(p, batch.PlannedProbe)]
    return batch.build(on_host, sudo=host.become == "sudo",
                       probe_timeout=batch.probe_timeout_for(host.command_timeout))


def write_batch_scripts(inventory_path: Path, scripts: Path) -> tuple[int, int]:
    """What each host would be sent (the compressed payload, for the floor); returns the
    size of the plain script and of what goes over the wire."""
    loaded = registry.load([])
    checks = loaded.select([])  # all checks, as `auditor run` without --check
    inv = inventory.load(inventory_path, loaded.checks)
    scripts.mkdir()
    sizes = (0, 0)
    for host in inv.hosts:
        built = planned_batch(host, checks)
        payload = built.payload
        (scripts / f"{host.name}.sh.gz").write_bytes(payload)
        sizes = (len(built.script), len(payload))
    return sizes


def _exec_batches(address: str, port: int, key_path: Path, known_hosts: Path, built: batch.Batch,
                  times: int, user: str = "root") -> None:
    """One SSH connection running `built` `times` times, one exec channel each."""
    key = paramiko.Ed25519Key.from_private_key_file(str(key_path))
    client = paramiko.SSHClient()
    client.load_host_keys(str(known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(address, port=port, username=user, pkey=key, allow_agent=False, look_for_keys=False,
                   timeout=30)
    try:
        for _ in range(times):
            stdin, stdout, _ = client.exec_command(batch.COMPRESSED_COMMAND, timeout=120)
            stdin.write(built.payload)
            stdin.close()  # also what tells the shell its script has ended
            stdout.read()
            if stdout.channel.recv_exit_status() != 0:
                raise RuntimeError("a profiling batch failed")
    finally:
        client.close()


@dataclass
class HostCpu:
    """Host CPU (sshd's listener and everything it forked) of batches run on one host, in ms."""

    inventory_path: Path
    known_hosts: Path
    key_path: Path
    sshd_pids: list[int]
    times: int = 10  # runs per figure, on one connection; the figure is their mean

    def __post_init__(self) -> None:
        loaded = registry.load([])
        self.host = inventory.load(self.inventory_path, loaded.checks).hosts[0]
        probes, _ = plan.plan(self.host, loaded.select([]))  # all checks, as `auditor run`
        self.on_host = [p for p in probes if isinstance(p, batch.PlannedProbe)]
        self.timeout = batch.probe_timeout_for(self.host.command_timeout)

    def built(self, chosen: list[batch.PlannedProbe]) -> batch.Batch:
        return batch.build(chosen, sudo=self.host.become == "sudo", probe_timeout=self.timeout)

    def cost(self, chosen: list[batch.PlannedProbe] | None) -> float:
        """Mean ms of one exec of a batch of `chosen` (`times` execs on one connection); None: of
        one connection that runs nothing (`times` connections)."""
        wait_sshd_idle(self.sshd_pids)
        before = _server_cpu_s(self.sshd_pids)
        at = (self.host.address, self.host.port or 22, self.key_path, self.known_hosts)
        user = self.host.user or "root"
        if chosen is None:
            for _ in range(self.times):
                _exec_batches(*at, self.built([]), 0, user)
        else:
            _exec_batches(*at, self.built(chosen), self.times, user)
        wait_sshd_idle(self.sshd_pids)
        return float(_server_cpu_s(self.sshd_pids) - before) * 1000 / self.times

    def per_probe(self, only: set[str] | None = None) -> list[tuple[float, str]]:
        """Each probe alone, less an empty batch (so with the wrapper's cost for one probe)."""
        empty = self.cost([])
        return sorted(((self.cost([p]) - empty, p.key) for p in self.on_host if not only or p.key in only),
                      reverse=True)


def render_profile(costs: list[tuple[float, str]], top: int = 10) -> list[str]:
    by_check: dict[str, float] = {}
    for ms, key in costs:
        by_check[key.partition(".")[0]] = by_check.get(key.partition(".")[0], 0.0) + ms
    checks = sorted(((ms, name) for name, ms in by_check.items()), reverse=True)
    return [f"host CPU per probe, alone, less an empty batch (sum {sum(ms for ms, _ in costs):.1f} ms), "
            f"top {top}:",
            *(f"  {ms:7.1f} ms  {key}" for ms, key in costs[:top]),
            f"host CPU per check, top {top}:",
            *(f"  {ms:7.1f} ms  {name}" for ms, name in checks[:top])]


# --------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------


@dataclass
class Cell:
    mode: str
    rtt_ms: float
    samples: list[Sample] = field(default_factory=list)

    @property
    def void(self) -> bool:
        return not self.samples or any(s.problems for s in self.samples)

    def median(self, name: str) -> float:
        return float(statistics.median(getattr(s, name) for s in self.samples))


def table(cells: dict[tuple[str, float], Cell], n_hosts: int) -> list[str]:
    head = (f"{'mode':<9} {'RTT ms':>6} {'wall s':>8} {'hosts/s':>8} {'CPU ms/host':>11} "
            f"{'peak RSS MB':>11} {'server CPU ms/host':>18}  ok")
    lines = [head, "-" * len(head)]
    for (mode, rtt), cell in cells.items():
        if not cell.samples:
            continue
        wall = cell.median("wall_s")
        ok = f"{min(s.ok_hosts for s in cell.samples)}/{n_hosts}" + ("  VOID" if cell.void else "")
        lines.append(f"{mode:<9} {rtt:>6g} {wall:>8.2f} {n_hosts / wall:>8.1f} "
                     f"{cell.median('cpu_s') * 1000 / n_hosts:>11.1f} {cell.median('maxrss_mb'):>11.0f} "
                     f"{cell.median('server_cpu_s') * 1000 / n_hosts:>18.1f}  {ok}")
    return lines


def targets(cells: dict[tuple[str, float], Cell], rtts: list[float], rtt: float, n_hosts: int,
            ) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def judge(name: str, value: float, limit: float, at_most: bool, used: list[Cell], unit: str) -> None:
        void = any(c.void for c in used)
        met = value <= limit if at_most else value >= limit
        found.append({"target": name, "value": round(value, 3), "limit": limit, "unit": unit,
                      "verdict": "VOID" if void else ("PASS" if met else "MISS")})

    for r in rtts:
        full, floor = cells[("batched", r)], cells[("floor", r)]
        judge(f"full run vs floor @ {r:g} ms", full.median("wall_s") / floor.median("wall_s"),
              MAX_FLOOR_RATIO, True, [full, floor], "x")
    if rtt in rtts:
        full, single = cells[("batched", rtt)], cells[("no-batch", rtt)]
        judge(f"batched vs --no-batch @ {rtt:g} ms", single.median("wall_s") / full.median("wall_s"),
              MIN_BATCH_SPEEDUP, False, [full, single], "x faster")
    for r in rtts:
        full = cells[("batched", r)]
        judge(f"CPU per host @ {r:g} ms", full.median("cpu_s") * 1000 / n_hosts,
              MAX_CPU_MS_PER_HOST, True, [full], "ms")
        judge(f"peak RSS @ {r:g} ms", full.median("maxrss_mb"), MAX_RSS_MB, True, [full], "MB")
    return found


def render_targets(found: list[dict[str, Any]]) -> list[str]:
    lines = []
    for t in found:
        sign = "<=" if t["target"].startswith(("full", "CPU", "peak")) else ">="
        lines.append(f"  {t['verdict']:<4}  {t['target']:<30} {t['value']:>8.2f} {t['unit']:<8} "
                     f"(target {sign} {t['limit']:g})")
    return lines


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Benchmark `auditor run` on a fleet of real sshd hosts.")
    parser.add_argument("--hosts", type=int, default=100, help="inventory hosts (default 100)")
    parser.add_argument("--sshd", type=int, default=4, help="sshd processes behind them (default 4)")
    parser.add_argument("-j", "--jobs", type=int, default=16, help="hosts at a time (default 16)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per mode and RTT; median shown")
    parser.add_argument("--rtt", type=float, default=20.0,
                        help="emulated round trip in ms for the second set of runs; 0 = skip (default 20)")
    parser.add_argument("--modes", default=",".join(MODES), help=f"subset of {','.join(MODES)}")
    parser.add_argument("--known-hosts-lines", type=int, default=0, metavar="M",
                        help="pad known_hosts with M unrelated entries, as a real fleet's has (default 0)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds one run may take")
    parser.add_argument("--profile", type=int, default=10, metavar="N",
                        help="host CPU of each probe alone, over N runs; 0 = skip (default 10)")
    parser.add_argument("--json", action="store_true", help="raw numbers as JSON on stdout; table to stderr")
    parser.add_argument("--cprofile", type=Path, metavar="DIR",
                        help="run the auditor under cProfile (every thread), one .prof per run in DIR "
                             "(its CPU figures then include the profiler's overhead)")
    return parser


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    if min(args.hosts, args.sshd, args.jobs, args.repeat) < 1 or min(args.rtt, args.known_hosts_lines) < 0:
        print("fleet.py: --hosts, --sshd, --jobs, --repeat must be >= 1; --rtt, --known-hosts-lines >= 0",
              file=sys.stderr)
        return 2
    if not set(modes) <= set(MODES):
        print(f"fleet.py: --modes takes {','.join(MODES)}", file=sys.stderr)
        return 2
    sshhosts = harness()
    problem = sshhosts.sshd_support_problem()
    if problem is not None:
        print(f"fleet.py: cannot start sshd test hosts: {problem}", file=sys.stderr)
        return 2
    if args.cprofile is not None:
        args.cprofile = args.cprofile.resolve()
        args.cprofile.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _raise_interrupt)  # cleanup runs on SIGTERM as on Ctrl-C

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    rtts = [0.0] + ([args.rtt] if args.rtt > 0 else [])
    tmp = Path(tempfile.mkdtemp(prefix="auditor-bench-"))
    relays: DelayRelays | None = None
    try:
        with sshhosts.SshdFleet(tmp) as fleet:
            began = time.monotonic()
            planted = {"/etc/logrotate.conf": LOGROTATE_CONF}
            if Path(ROOT_BASHRC).is_file():
                # sshd runs every exec through root's bash, which reads ~/.bashrc; this
                # machine's runs `pyenv init` (tens of ms of CPU per exec, and a lock that a
                # killed session leaves behind stalls every later exec for 60 s). A server's
                # root has no such thing: plant an empty one, inside the hosts' namespaces.
                planted[ROOT_BASHRC] = "# planted by bench/fleet.py\n"
            # Each in its own PID namespace: a probe that walks /proc sees its own host's
            # processes only, as on a real server, not every test host's sshd.
            servers = [fleet.start(sshhosts.HostSpec(f"sshd{i}", files=planted, pid_namespace=True,
                                                       stock_daemon=True))
                       for i in range(args.sshd)]
            sshd_pids = [s.pid for s in servers]
            say(f"started {len(servers)} sshd in {time.monotonic() - began:.1f} s on ports "
                f"{', '.join(str(s.port) for s in servers)}")
            host_key = fleet.host_public_key
            setups = {0.0: write_setup(tmp, 0.0, [s.port for s in servers], host_key, fleet.client_key,
                                       args.hosts, args.jobs, tmp / "scripts", None,
                                       args.known_hosts_lines)}
            script_size, wire_size = write_batch_scripts(setups[0.0].inventory, tmp / "scripts")
            profile: list[tuple[float, str]] = []
            if args.profile > 0:
                say(f"profiling each probe alone ({args.profile} runs each)")
                profile = HostCpu(setups[0.0].inventory, tmp / "known_hosts.rtt0", fleet.client_key,
                                  sshd_pids, args.profile).per_probe()
            if args.rtt > 0:
                runs_total = args.repeat * len(modes) * len(rtts) + 2
                relays = DelayRelays([s.port for s in servers], args.rtt / 2000,
                                     lifetime_s=runs_total * args.timeout).start()
                measured = relays.measure_rtt_ms()
                say(f"delay relays on ports {', '.join(map(str, relays.ports))}: "
                    f"measured RTT {measured:.1f} ms (asked {args.rtt:g})")
                setups[args.rtt] = write_setup(tmp, args.rtt, relays.ports, host_key, fleet.client_key,
                                               args.hosts, args.jobs, tmp / "scripts", measured,
                                               args.known_hosts_lines)

            def command(mode: str, setup: Setup, out_dir: Path, only: tuple[str, ...] = ()) -> list[str]:
                if mode == "floor":
                    return [sys.executable, str(FLOOR_SCRIPT), str(setup.floor_spec)]
                profiled = [str(PROFILE_SCRIPT), str(args.cprofile / f"{out_dir.parent.name}.prof")] \
                    if args.cprofile is not None else []
                cmd = [sys.executable, *profiled, "-m", "auditor", "run", "-i", str(setup.inventory),
                       "-o", str(out_dir), "--format", "none", "-j", str(args.jobs)]
                cmd += [arg for name in only for arg in ("--host", name)]
                return cmd + (["--no-batch"] if mode == "no-batch" else [])

            # Warm-up (not counted): byte-compiled modules, page cache, sshd binaries.
            warm = tmp / "warmup"
            warm.mkdir()
            measure(command("batched", setups[0.0], warm / "out", ("h000",)), warm, "auditor", sshd_pids,
                    args.timeout)
            # The floor's warm-up is one host too: a full warm-up fleet costs a whole run at 1,000 hosts.
            spec = json.loads(setups[0.0].floor_spec.read_text())
            warm_spec = warm / "floor.json"
            warm_spec.write_text(json.dumps({**spec, "hosts": spec["hosts"][:1]}))
            measure([sys.executable, str(FLOOR_SCRIPT), str(warm_spec)], warm, "floor", sshd_pids,
                    args.timeout)

            cells = {(m, r): Cell(m, r) for r in rtts for m in modes}
            for rep in range(args.repeat):
                for rtt in rtts:
                    for mode in modes:
                        label = f"{mode}-rtt{rtt:g}-{rep}"
                        work = tmp / "runs" / label
                        work.mkdir(parents=True)
                        sample, stdout = measure(command(mode, setups[rtt], work / "out"), work, label,
                                                 sshd_pids, args.timeout)
                        if mode == "floor":
                            check_floor_output(sample, stdout, args.hosts)
                        else:
                            check_auditor_report(sample, work / "out", args.hosts, mode == "batched")
                        cells[(mode, rtt)].samples.append(sample)
                        flag = "" if not sample.problems else "  VOID: " + "; ".join(sample.problems)
                        flag += "".join(f"  (note: {n})" for n in sample.notes)
                        say(f"[{rep + 1}/{args.repeat}] {mode:<8} @ {rtt:>3g} ms: {sample.wall_s:6.2f} s, "
                            f"cpu {sample.cpu_s:5.2f} s, rss {sample.maxrss_mb:4.0f} MB, "
                            f"{sample.ok_hosts}/{args.hosts} ok{flag}")
                        shutil.rmtree(work)  # evidence of 100 hosts x 3 runs adds up
    except KeyboardInterrupt:
        Children.kill()
        say("fleet.py: interrupted; everything it started is stopped")
        return 130
    finally:
        Children.kill()
        if relays is not None:
            relays.stop()
        shutil.rmtree(tmp, ignore_errors=True)

    found = targets(cells, rtts, args.rtt, args.hosts) if set(modes) == set(MODES) else []
    void = [c for c in cells.values() if c.void]
    lines = [
        f"auditor fleet benchmark: {args.hosts} hosts on {args.sshd} sshd, -j {args.jobs}, "
        f"median of {args.repeat}, batch script {script_size} bytes "
        f"({wire_size} sent, gzip), {os.cpu_count()} CPUs"
        + (f", known_hosts padded with {args.known_hosts_lines} lines" if args.known_hosts_lines else ""),
        *(f"emulated RTT {s.rtt_ms:g} ms: measured {s.measured_rtt_ms:.1f} ms"
          for s in setups.values() if s.measured_rtt_ms is not None),
        "",
        *table(cells, args.hosts),
        "",
        "targets:",
        *render_targets(found),
        *([""] + render_profile(profile) if profile else []),
    ]
    if void:
        lines += ["", "!" * 78,
                  f"!! VOID: {len(void)} cell(s) had unreachable hosts or failed runs; "
                  "their numbers mean nothing:",
                  *(f"!!   {c.mode} @ {c.rtt_ms:g} ms: {p}"
                    for c in void for s in c.samples for p in s.problems),
                  "!" * 78]
    if args.json:
        print("\n".join(lines), file=sys.stderr)
        json.dump({
            "config": {"hosts": args.hosts, "sshd": args.sshd, "jobs": args.jobs, "repeat": args.repeat,
                       "rtt_ms": args.rtt, "modes": modes, "batch_script_bytes": script_size,
                       "batch_sent_bytes": wire_size,
                       "known_hosts_padding": args.known_hosts_lines},
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "paramiko": paramiko.__version__},
            "measured_rtt_ms": {f"{s.rtt_ms:g}": s.measured_rtt_ms for s in setups.values()},
            "cells": [{"mode": c.mode, "rtt_ms": c.rtt_ms, "void": c.void,
                       "samples": [asdict(s) for s in c.samples]} for c in cells.values()],
            "targets": found,
            "probe_host_cpu_ms": [{"probe": key, "ms": round(ms, 2)} for ms, key in profile],
        }, sys.stdout, indent=2)
        print()
    else:
        print("\n".join(lines))
    return 1 if void else 0


if __name__ == "__main__":
    sys.exit(main())
