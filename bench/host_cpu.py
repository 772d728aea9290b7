"""What one audit costs the audited host: host CPU of the full batch and of each probe.

    python bench/host_cpu.py                      # full batch, then every probe alone
    python bench/host_cpu.py --only backups.timers,ssh_hardening.sshd_t --times 20
    python bench/host_cpu.py --no-probes          # the full batch only (a few seconds)
    python bench/host_cpu.py --no-probes --become # as an unprivileged user with `become: sudo`

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

--become logs in as `audit` (uid 4242), which holds `NOPASSWD: /bin/sh` in the host's sudoers, as
the README recommends, and audits with `become: sudo`: the root probes then go through sudo. The
host's sudo logs to a file of its own (not to this machine's syslog), and the bench counts its
lines: "sudo runs per audit" is what one audit writes to a host's auth log (each also opens and
closes a PAM session, which on a stock host logs two lines more).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import fleet  # noqa: E402 - the sshd harness, the CPU reading and the batch runner live there
import yaml  # noqa: E402

AUDIT_USER, AUDIT_UID = "audit", 4242
SUDO_LOG = "/home/sudo.log"  # inside the host (its /home is planted), written by sudo as root


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Host CPU of one audit, whole and per probe.")
    parser.add_argument("--times", type=int, default=10, help="runs per figure (default 10)")
    parser.add_argument("--only", default="", help="comma-separated probe keys to profile alone")
    parser.add_argument("--no-probes", action="store_true", help="full batch only, no probe alone")
    parser.add_argument("--top", type=int, default=25, help="probes listed (default 25)")
    parser.add_argument("--become", action="store_true",
                        help=f"log in as {AUDIT_USER} with become: sudo (NOPASSWD: /bin/sh), not as root")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    sshhosts = fleet.harness()
    problem = sshhosts.sshd_support_problem() or sshhosts.namespace_support_problem()
    if problem is not None:
        print(f"host_cpu.py: cannot start an sshd test host: {problem}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, fleet._raise_interrupt)  # the host is stopped on SIGTERM as on Ctrl-C
    tmp = Path(tempfile.mkdtemp(prefix="auditor-hostcpu-"))
    try:
        return _measure(args, sshhosts, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _measure(args: argparse.Namespace, sshhosts: Any, tmp: Path) -> int:
    with sshhosts.SshdFleet(tmp) as hosts:
        planted = {"/etc/logrotate.conf": fleet.LOGROTATE_CONF}
        if Path(fleet.ROOT_BASHRC).is_file():
            planted[fleet.ROOT_BASHRC] = "# planted by bench/host_cpu.py\n"  # see bench/fleet.py
        extra = _audit_user(hosts.authorized_keys.read_text()) if args.become else {}
        server = hosts.start(sshhosts.HostSpec("cpu0", files={**planted, **extra.get("files", {})},
                                               pid_namespace=True, stock_daemon=True,
                                               replace_dirs=extra.get("replace_dirs", ()),
                                               extra_sshd_config=extra.get("sshd", "")))
        setup = fleet.write_setup(tmp, 0.0, [server.port], hosts.host_public_key, hosts.client_key,
                                  1, 1, tmp / "scripts", None, 0)
        if args.become:
            inv = yaml.safe_load(setup.inventory.read_text())
            inv["defaults"].update(user=AUDIT_USER, become="sudo")
            setup.inventory.write_text(yaml.safe_dump(inv, sort_keys=False))
        cpu = fleet.HostCpu(setup.inventory, tmp / "known_hosts.rtt0", hosts.client_key, [server.pid],
                            args.times)
        sudo_log = server.root_dir / SUDO_LOG.lstrip("/")
        connection = cpu.cost(None)
        # A batch figure's runs share one connection: its share is not the batch's.
        empty = cpu.cost([]) - connection / args.times
        logged = _sudo_runs(sudo_log)
        full = cpu.cost(cpu.on_host) - connection / args.times
        sudo_runs = (_sudo_runs(sudo_log) - logged) / args.times
        built = cpu.built(cpu.on_host)
        print(f"{len(cpu.on_host)} probes, batch script {len(built.script)} bytes "
              f"({len(built.payload)} sent)")
        print(f"connection    {connection:7.1f} ms")
        print(f"empty batch   {empty:7.1f} ms")
        print(f"full batch    {full:7.1f} ms")
        print(f"per host      {connection + full:7.1f} ms   (goal <= 150)")
        if args.become:
            print(f"as {AUDIT_USER}, become: sudo: {sum(p.root for p in built.probes)} root probes, "
                  f"{sudo_runs:g} sudo runs per audit (lines in the host's sudo log)")
        if not args.no_probes:
            costs = cpu.per_probe({key for key in args.only.split(",") if key})
            for line in fleet.render_profile(costs, top=args.top):
                print(line)
    return 0


def _audit_user(public_key: str) -> dict[str, Any]:
    """The planted files of an unprivileged login user with the sudoers rule the README gives."""
    planted = fleet.harness().Planted
    shadow = Path("/etc/shadow").read_text() + f"{AUDIT_USER}:*:19700:0:99999:7:::\n"
    return {
        "files": {
            "/etc/passwd": Path("/etc/passwd").read_text()
            + f"{AUDIT_USER}:x:{AUDIT_UID}:{AUDIT_UID}::/home/{AUDIT_USER}:/bin/sh\n",
            "/etc/shadow": planted(shadow, mode=0o640, gid=42),
            "/etc/sudoers": planted("Defaults env_reset\nDefaults !syslog\n"
                                    f"Defaults logfile={SUDO_LOG}\nroot ALL=(ALL:ALL) ALL\n"
                                    f"{AUDIT_USER} ALL=(root) NOPASSWD: /bin/sh\n", mode=0o440),
            f"/home/{AUDIT_USER}/.ssh/authorized_keys": planted(public_key, mode=0o600, uid=AUDIT_UID,
                                                                gid=AUDIT_UID),
        },
        "replace_dirs": ("/home",),
        "sshd": f"Match User {AUDIT_USER}\n    AuthorizedKeysFile /home/{AUDIT_USER}/.ssh/authorized_keys\n",
    }


def _sudo_runs(log: Path) -> int:
    """Commands the host's sudo ran so far; a refusal in its log stops the bench (a refused
    sudo costs the host less, and would make a false figure)."""
    text = log.read_text() if log.is_file() else ""
    if "password is required" in text or "NOT in sudoers" in text or "command not allowed" in text:
        raise SystemExit(f"host_cpu.py: the host's sudo refused the audit user:\n{text[-500:]}")
    return text.count("COMMAND=")


if __name__ == "__main__":
    raise SystemExit(main())
