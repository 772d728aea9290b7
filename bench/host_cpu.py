"""What one audit costs the audited host: host CPU of the full batch and of each probe.

    python bench/host_cpu.py                      # full batch, then every probe alone
    python bench/host_cpu.py --only backups.timers,ssh_hardening.sshd_t --times 20
    python bench/host_cpu.py --no-probes          # the full batch only (a few seconds)

Needs root, sshd and namespaces (as the integration tests). It starts ONE sshd test host in
its own mount and PID namespace, so that, like a real server, it sees its own processes only
(bench/fleet.py's hosts share this machine's /proc, so every process-walking probe there
sees every other test host's sshd too). Host CPU is what sshd's listener and every process
it forked used (user + sys, from the listener's /proc stat after its children are reaped):
the handshake, the login shell, the batch wrapper and the probes.

The numbers, each the mean over `--times` runs on one connection:
  connection   a connection that runs nothing (handshake, authentication); once per host
  empty batch  one exec of an empty batch: the login shell, gzip and the batch wrapper
  full batch   every probe of the full catalogue, as `auditor run` sends it
  per host     connection + full batch: the issue's "host CPU per host"
  per probe    each probe alone in a batch, less the empty batch (so it holds the wrapper's
               cost for one probe: its fork, its files, its share of the `cat`)
The clock ticks at 100 Hz, so a single figure under ~2 ms is noise; raise --times.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import fleet  # noqa: E402 - the sshd harness, the CPU reading and the batch runner live there

from auditor import inventory  # noqa: E402
from auditor.engine import batch, plan, registry  # noqa: E402


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Host CPU of one audit, whole and per probe.")
    parser.add_argument("--times", type=int, default=10, help="runs per figure (default 10)")
    parser.add_argument("--only", default="", help="comma-separated probe keys to profile alone")
    parser.add_argument("--no-probes", action="store_true", help="full batch only, no probe alone")
    parser.add_argument("--top", type=int, default=25, help="probes listed (default 25)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    sshhosts = fleet.harness()
    problem = sshhosts.sshd_support_problem() or sshhosts.namespace_support_problem()
    if problem is not None:
        print(f"host_cpu.py: cannot start an sshd test host: {problem}", file=sys.stderr)
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="auditor-hostcpu-"))
    with sshhosts.SshdFleet(tmp) as hosts:
        planted = {"/etc/logrotate.conf": fleet.LOGROTATE_CONF}
        if Path(fleet.ROOT_BASHRC).is_file():
            planted[fleet.ROOT_BASHRC] = "# planted by bench/host_cpu.py\n"  # see bench/fleet.py
        server = hosts.start(sshhosts.HostSpec("cpu0", files=planted, pid_namespace=True))
        pids = [server.pid]
        setup = fleet.write_setup(tmp, 0.0, [server.port], hosts.host_public_key, hosts.client_key,
                                  1, 1, tmp / "scripts", None, 0)
        known_hosts = tmp / "known_hosts.rtt0"
        loaded = registry.load([])
        host = inventory.load(setup.inventory, loaded.checks).hosts[0]
        probes, _ = plan.plan(host, loaded.select([]))
        on_host = [p for p in probes if isinstance(p, batch.PlannedProbe)]
        timeout = batch.probe_timeout_for(host.command_timeout)

        def mean_ms(run: Callable[[], None]) -> float:
            fleet.wait_sshd_idle(pids)
            before = fleet._server_cpu_s(pids)
            run()
            fleet.wait_sshd_idle(pids)
            return float(fleet._server_cpu_s(pids) - before) * 1000 / args.times

        def batch_of(chosen: list[batch.PlannedProbe]) -> Callable[[], None]:
            built = batch.build(chosen, sudo=False, probe_timeout=timeout)
            return lambda: fleet._exec_batches(host.address, server.port, hosts.client_key, known_hosts,
                                               built, args.times)

        def connections() -> None:
            for _ in range(args.times):
                fleet._exec_batches(host.address, server.port, hosts.client_key, known_hosts,
                                    batch.build([], sudo=False), 0)

        connection = mean_ms(connections)
        empty = mean_ms(batch_of([]))
        full = mean_ms(batch_of(on_host))
        built = batch.build(on_host, sudo=False, probe_timeout=timeout)
        print(f"{len(on_host)} probes, batch script {len(built.script)} bytes ({len(built.payload)} sent)")
        print(f"connection    {connection:7.1f} ms")
        print(f"empty batch   {empty:7.1f} ms")
        print(f"full batch    {full:7.1f} ms")
        print(f"per host      {connection + full:7.1f} ms   (goal <= 150)")
        if args.no_probes:
            return 0
        wanted = {key for key in args.only.split(",") if key}
        chosen = [p for p in on_host if not wanted or p.key in wanted]
        costs = sorted(((mean_ms(batch_of([p])) - empty, p.key) for p in chosen), reverse=True)
        for line in fleet.render_profile(costs, top=args.top):
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
