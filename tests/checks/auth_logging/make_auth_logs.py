#!/usr/bin/env python3
"""Make real authentication log records: real sshd, rsyslogd, PAM, su and sudo.

    python tests/checks/auth_logging/make_auth_logs.py OUTDIR [--variant info|quiet|stderr|journal]

Runs, inside a private mount + PID namespace (nothing on the machine changes, and every
process started dies with the namespace):

* rsyslogd 8 with imuxsock on a /dev/log of its own (a tmpfs over /dev in the namespace,
  with the real null/zero/random/tty nodes bind-mounted in), writing auth,authpriv.* to
  auth.log (rsyslog 8's default file format, as on Debian 12: RFC 3339 high-precision
  timestamps), auth-traditional.log (RSYSLOG_TraditionalFileFormat: RFC 3164
  "Nov 21 10:05:01") and auth-nostamp.log (a template without any timestamp);
* a real sshd (UsePAM yes, password and key login, on 127.0.0.1 and ::1) that logs through
  syslog at LogLevel INFO (variant info), at LogLevel ERROR as the test harness's sshd
  (variant quiet: no Accepted/Failed lines, only PAM's), or with `-E sshd-E.log`
  (variant stderr: sshd's own lines go to that file, without timestamps; PAM's to syslog);
* or, in variant journal, no rsyslogd but a real systemd-journald (Storage=persistent,
  ReadKMsg=no, its sockets under the namespace's own /run, /dev/log linked to them) with
  sshd at LogLevel INFO: the records land in OUTDIR/journal/<machine-id>/system.journal,
  as on a journald-only host;
* real logins with paramiko: root with its key (accepted), root with a wrong key and a
  wrong password, user alice (planted in /etc/passwd and /etc/shadow, bind-mounted in the
  namespace) with her password and a wrong one, over IPv4 and IPv6, and an unknown user
  whose "name" is a password typed into the user prompt (INVALID_USER below);
* `sudo -u nobody true`, a sudo command line that carries a password
  (`sudo -u nobody curl -u admin:SUDO_SECRET file:///dev/null`, which reads nothing from
  any network) and `su -s /bin/true nobody` as root.

OUTDIR receives the four log files (variant journal: the journal directory). Needs root,
unshare, rsyslogd (or systemd-journald), sshd, mkpasswd.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import paramiko

# A password typed as a user name: it must never leave the host unmasked.
INVALID_USER = "Tr0ub4dor&3-typed-as-user"
ALICE_PASSWORD = "alice-real-password-9"  # noqa: S105 - a test user's password, never logged
WRONG_PASSWORD = "not-alices-password-7"  # noqa: S105
# A password on a sudo command line: sudo logs the whole command (COMMAND=...).
SUDO_SECRET = "Sup3rS3cret-on-sudo-cmdline"  # noqa: S105
ALICE_UID = 4243
LOG_FILES = ("auth.log", "auth-traditional.log", "auth-nostamp.log")
VARIANTS = ("info", "quiet", "stderr", "journal")
JOURNALD_CONF = "[Journal]\nStorage=persistent\nReadKMsg=no\nForwardToSyslog=no\nForwardToWall=no\n"

RSYSLOG_CONF = """\
module(load="imuxsock")
$FileCreateMode 0640
template(name="NoStamp" type="string"
         string="%HOSTNAME% %syslogtag%%msg:::sp-if-no-1st-sp%%msg:::drop-last-lf%\\n")
auth,authpriv.*\t/var/log/auth.log
auth,authpriv.*\taction(type="omfile" file="/var/log/auth-traditional.log"
                        template="RSYSLOG_TraditionalFileFormat")
auth,authpriv.*\taction(type="omfile" file="/var/log/auth-nostamp.log" template="NoStamp")
"""

# Runs as PID 1 of the namespace; $W is the work dir.
NAMESPACE_SCRIPT = r"""
set -e
mkdir -p "$W/olddev" "$W/varlog"
mount --rbind /dev "$W/olddev"
mount -t tmpfs -o mode=755 tmpfs /dev
for n in null zero full random urandom tty; do touch "/dev/$n"; mount --bind "$W/olddev/$n" "/dev/$n"; done
mkdir /dev/pts /dev/shm
mount --bind "$W/olddev/pts" /dev/pts
ln -s pts/ptmx /dev/ptmx
mount -t proc proc /proc
mount -t tmpfs tmpfs /run
mkdir -p /run/sshd
mount --bind "$W/passwd" /etc/passwd
mount --bind "$W/shadow" /etc/shadow
mount --bind "$W/varlog" /var/log
JOURNALD=
if [ "$VARIANT" = journal ]; then
  mkdir -p /var/log/journal
  mount --bind "$W/journald.conf" /etc/systemd/journald.conf
  /lib/systemd/systemd-journald &
  JOURNALD=$!
  ln -s /run/systemd/journal/dev-log /dev/log
else
  rsyslogd -n -f "$W/rsyslog.conf" -i "$W/rsyslogd.pid" &
fi
i=0; while [ ! -S /dev/log ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
if [ -n "$JOURNALD" ]; then
  # What systemd-journal-flush.service does at boot: from now on write to /var/log/journal.
  kill -USR1 "$JOURNALD"
  i=0; while [ -z "$(ls /var/log/journal)" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
fi
if [ "$VARIANT" = stderr ]; then
  /usr/sbin/sshd -D -f "$W/sshd_config" -E /var/log/sshd-E.log &
else
  /usr/sbin/sshd -D -f "$W/sshd_config" &
fi
"$PYTHON" "$SELF" --_logins "$W"
cd /
sudo -u nobody true
sudo -u nobody curl -s -o /dev/null -u "admin:$SUDO_SECRET" file:///dev/null
su -s /bin/true nobody
sleep 1
# journald flushes and closes its files cleanly on SIGTERM.
if [ -n "$JOURNALD" ]; then kill -TERM "$JOURNALD"; wait "$JOURNALD" || true; fi
"""


def sshd_config(work: Path, port: int, log_level: str, listen_v6: bool) -> str:
    listen = [f"ListenAddress 127.0.0.1:{port}"] + ([f"ListenAddress [::1]:{port}"] if listen_v6 else [])
    return "\n".join([
        *listen,
        f"HostKey {work}/host_key",
        "PidFile none",
        "UsePAM yes",
        "PermitRootLogin prohibit-password",
        "PubkeyAuthentication yes",
        "PasswordAuthentication yes",
        "KbdInteractiveAuthentication no",
        f"AuthorizedKeysFile {work}/authorized_keys",
        "StrictModes no",
        "PrintMotd no",
        "SyslogFacility AUTH",
        f"LogLevel {log_level}",
        "",
    ])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"make_auth_logs: sshd on port {port} never came up")


def attempt(address: str, port: int, user: str, *, key: Path | None = None,
            password: str | None = None) -> bool:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507 - our own throw-away sshd
    try:
        client.connect(address, port=port, username=user, password=password,
                       key_filename=str(key) if key else None, look_for_keys=False, allow_agent=False,
                       timeout=10, banner_timeout=10, auth_timeout=10)
        client.exec_command("true")[1].channel.recv_exit_status()
        return True
    except paramiko.AuthenticationException:
        return False
    finally:
        client.close()


def logins(work: Path) -> None:
    port = int((work / "port").read_text())
    wait_port(port)
    good, wrong = work / "client_key", work / "wrong_key"
    v6 = (work / "v6").read_text() == "yes"
    expected = [
        attempt("127.0.0.1", port, "root", key=good),
        not attempt("127.0.0.1", port, "root", key=wrong),
        not attempt("127.0.0.1", port, "root", password=WRONG_PASSWORD),
        attempt("127.0.0.1", port, "alice", password=ALICE_PASSWORD),
        not attempt("127.0.0.1", port, "alice", password=WRONG_PASSWORD),
        not attempt("127.0.0.1", port, INVALID_USER, password=WRONG_PASSWORD),
    ]
    if v6:
        expected += [attempt("::1", port, "alice", password=ALICE_PASSWORD),
                     not attempt("::1", port, "root", password=WRONG_PASSWORD)]
    if not all(expected):
        raise SystemExit(f"make_auth_logs: a login did not go as planned: {expected}")


def make(out: Path, variant: str) -> None:
    work = Path(tempfile.mkdtemp(prefix="auth-logs-"))
    try:
        for name in ("host_key", "client_key", "wrong_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(work / name)],
                           check=True)
        shutil.copy(work / "client_key.pub", work / "authorized_keys")
        hashed = subprocess.run(["mkpasswd", "-m", "yescrypt", ALICE_PASSWORD], check=True,
                                capture_output=True, text=True).stdout.strip()
        (work / "passwd").write_text(Path("/etc/passwd").read_text()
                                     + f"alice:x:{ALICE_UID}:{ALICE_UID}::/nonexistent:/bin/sh\n")
        (work / "shadow").write_text(Path("/etc/shadow").read_text() + f"alice:{hashed}:19700:0:99999:7:::\n")
        os.chmod(work / "shadow", 0o640)
        v6 = socket.has_ipv6 and Path("/proc/net/if_inet6").exists() and "00000000000000000000000000000001" \
            in Path("/proc/net/if_inet6").read_text()
        port = free_port()
        (work / "port").write_text(str(port))
        (work / "v6").write_text("yes" if v6 else "no")
        level = "ERROR" if variant == "quiet" else "INFO"
        (work / "sshd_config").write_text(sshd_config(work, port, level, v6))
        (work / "rsyslog.conf").write_text(RSYSLOG_CONF)
        (work / "journald.conf").write_text(JOURNALD_CONF)
        env = {**os.environ, "W": str(work), "PYTHON": sys.executable, "SELF": str(Path(__file__).resolve()),
               "VARIANT": variant, "SUDO_SECRET": SUDO_SECRET}
        done = subprocess.run(["unshare", "--mount", "--propagation", "private", "--pid", "--fork",
                               "--kill-child", "sh", "-c", NAMESPACE_SCRIPT], env=env, capture_output=True,
                              text=True,
                              timeout=120, check=False)
        if done.returncode != 0:
            raise SystemExit(f"make_auth_logs: namespace run failed ({done.returncode}): "
                             f"{done.stderr[-2000:]}")
        out.mkdir(parents=True, exist_ok=True)
        if variant == "journal":
            shutil.copytree(work / "varlog" / "journal", out / "journal", dirs_exist_ok=True)
            return
        for name in LOG_FILES + (("sshd-E.log",) if variant == "stderr" else ()):
            shutil.copy(work / "varlog" / name, out / name)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--_logins"]:
        logins(Path(argv[1]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--variant", choices=VARIANTS, default="info",
                        help="sshd logs through syslog at INFO, at ERROR (quiet), or to a file with -E")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("make_auth_logs: needs root (namespaces, bind mounts)")
    make(args.outdir, args.variant)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
