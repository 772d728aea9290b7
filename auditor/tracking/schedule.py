"""The scheduling kit: a hardened systemd service + timer, or a cron.d line, for nightly audits.

`auditor schedule --print systemd|cron` prints them; the README shows how to install them.
The service runs as its own unprivileged user with a read-only view of the system and one
writable folder (the reports); `--quiet --baseline previous --fail-on new` keeps the journal
(or cron's mail) to what regressed and the unit "failed" only on a regression. Alert targets
(often holding a secret) go into a separate environment file, never into the unit or command
line. Paths are quoted for the file they land in (systemd's or /bin/sh's rules).
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.errors import UsageError
from auditor.inventory import Host

# systemd calendar shorthands and the cron schedule that means the same
CRON_FOR = {"hourly": "17 * * * *", "daily": "17 2 * * *", "weekly": "17 2 * * 0", "monthly": "17 2 1 * *"}
_SAFE_CALENDAR = re.compile(r"^[A-Za-z0-9 :*./~,-]+$")
# systemd.time(7)'s shorthands, for when systemd-analyze is not there to judge an expression
CALENDAR_WORDS = ("minutely", "hourly", "daily", "weekly", "monthly", "yearly", "annually", "quarterly",
                  "semiannually")
PRIVATE_TMP = ("/tmp/", "/var/tmp/")  # PrivateTmp=yes gives the service its own, empty ones


class UnitError(UsageError):
    """Options that cannot make a working unit or cron line."""


@dataclass(frozen=True)
class UnitPlan:
    inventory: Path
    output: Path
    user: str = "auditor"
    on_calendar: str = "daily"
    binary: str = ""  # absolute path of the auditor program; found when empty
    notify: tuple[str, ...] = ()  # --notify targets, passed in $AUDITOR_NOTIFY
    env_file: Path = Path("/etc/auditor/notify.env")
    policy: str | None = None  # a shipped set's name, or a claims file's absolute path
    waivers: Path | None = None
    checks_dirs: tuple[Path, ...] = ()
    sign_key: Path | None = None  # the run's signing key; else the service user's default key, if any
    timestamp_url: str | None = None  # an RFC 3161 TSA that stamps every nightly manifest
    # the signers a baseline run folder must come from (else the service user's default trust)
    key_fingerprints: tuple[str, ...] = ()
    trusted_signers: tuple[Path, ...] = ()

    def command(self) -> list[str]:
        program = [self.binary] if self.binary else auditor_program()
        extra = [*(["--policy", self.policy] if self.policy else []),
                 *(["--waivers", str(self.waivers.absolute())] if self.waivers else []),
                 *(w for d in self.checks_dirs for w in ("--checks-dir", str(d.absolute()))),
                 *(["--sign-key", str(self.sign_key.absolute())] if self.sign_key else []),
                 *(["--timestamp-url", self.timestamp_url] if self.timestamp_url else []),
                 *(w for f in self.key_fingerprints for w in ("--key-fingerprint", f)),
                 *(w for t in self.trusted_signers for w in ("--trusted-signers", str(t.absolute())))]
        return [*program, "run", "--inventory", str(self.inventory.absolute()),
                "--output", str(self.output.absolute()), *extra, "--quiet", "--format", "none",
                "--baseline", "previous", "--fail-on", "new"]


NOTIFY_ENV = "AUDITOR_NOTIFY"  # space-separated --notify targets (a target has no spaces)


def notify_env(plan: UnitPlan) -> str:
    """The environment file with the alert targets: install it 0600 root, systemd reads it."""
    return (f"# {plan.env_file} — made by `auditor schedule`; install with mode 0600, owner root\n"
            f"{NOTIFY_ENV}={' '.join(plan.notify)}\n")


def auditor_program() -> list[str]:
    """The absolute path of the `auditor` program that is running (its venv's, if any)."""
    beside = Path(sys.executable).parent / "auditor"
    if beside.is_file():
        return [str(beside.absolute())]
    found = shutil.which("auditor")
    return [str(Path(found).absolute())] if found else [sys.executable, "-m", "auditor"]


def _check(plan: UnitPlan) -> None:
    if not re.fullmatch(r"[a-z_][a-z0-9_-]*\$?", plan.user):
        raise UnitError(f"--user {plan.user!r}: not a valid user name")
    if not _SAFE_CALENDAR.match(plan.on_calendar):
        raise UnitError(f"--on-calendar {plan.on_calendar!r}: not a systemd calendar expression")
    if plan.binary and not Path(plan.binary).is_absolute():
        raise UnitError(f"--binary {plan.binary!r}: give the absolute path of the auditor program, "
                            "one the service user may run (not a venv in a private home)")


def check_calendar(expression: str) -> None:
    """systemd must understand OnCalendar=: a typo ("dialy") would make a timer that never fires.
    systemd-analyze judges it when installed; else only the shorthands pass as plain words."""
    analyze = shutil.which("systemd-analyze")
    if analyze is not None:
        try:
            done = subprocess.run([analyze, "calendar", "--", expression], capture_output=True, text=True,
                                  timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            done = None
        if done is not None and done.returncode != 0:
            why = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "rejected"
            raise UnitError(f"--on-calendar {expression!r}: systemd-analyze calendar says: {why} "
                                f"(e.g. {', '.join(CALENDAR_WORDS[1:5])}, 'Mon..Fri 02:30', '*-*-* 03:00')")
        if done is not None:
            return
    if re.fullmatch(r"[A-Za-z]+", expression) and expression.lower() not in CALENDAR_WORDS:
        raise UnitError(f"--on-calendar {expression!r}: not a systemd calendar shorthand (one of "
                            f"{', '.join(CALENDAR_WORDS)}), nor an expression like 'Mon..Fri 02:30'")


def service_warnings(plan: UnitPlan, hosts: Sequence[Host], paths: Sequence[Path] = ()) -> list[str]:
    """What the hardened unit will do differently from the run you tried by hand (`paths`: more
    files the run reads, such as the claims file)."""
    out = []
    local = [h.name for h in hosts if h.transport == "local"]
    if local:
        out.append(f"host(s) {', '.join(local)} use transport: local: under the unit's NoNewPrivileges=yes "
                   f"they are audited as user {plan.user} without sudo, so their root-only checks end in "
                   "error; audit this machine over SSH to localhost instead (README: Scheduling)")
    files = (plan.inventory, plan.output, *([plan.waivers] if plan.waivers else []), *plan.checks_dirs,
             *([plan.sign_key] if plan.sign_key else []), *paths)
    hidden = [str(p.absolute()) for p in files if _in_tmp(str(p.absolute()))]
    hidden += [f"{h.name}: {where}" for h in hosts for where in _host_tmp_paths(h)]
    if hidden:
        out.append("PrivateTmp=yes gives the service its own empty /tmp and /var/tmp, so it cannot see: "
                   f"{'; '.join(hidden)}; move them elsewhere")
    return out


def _in_tmp(path: str) -> bool:
    return any(path.startswith(prefix) or path == prefix.rstrip("/") for prefix in PRIVATE_TMP)


def _host_tmp_paths(host: Host) -> Iterator[str]:
    """A host's files under /tmp the run reads on this machine: its SSH key and known_hosts,
    and for a local host the paths its checks read."""
    for key, value in (("identity_file", host.identity_file), ("known_hosts", host.known_hosts)):
        if value and _in_tmp(value):
            yield f"{key} {value}"
    if host.transport == "local":
        for check_id, params in host.vars.items():
            for key, value in params.items():
                yield from (f"vars.{check_id}.{key} {v}" for v in _strings(value) if _in_tmp(v))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)


def _systemd_word(word: str) -> str:
    """One ExecStart= argument: `%` is a specifier and `$` a variable to systemd, so both double."""
    text = word.replace("%", "%%").replace("$", "$$")
    if re.fullmatch(r"[A-Za-z0-9_@%+=:,./$-]+", text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def systemd(plan: UnitPlan) -> dict[str, str]:
    """{"auditor.service": ..., "auditor.timer": ...}"""
    _check(plan)
    check_calendar(plan.on_calendar)
    output = str(plan.output.absolute())
    service = f"""# /etc/systemd/system/auditor.service — made by `auditor schedule --print systemd`
[Unit]
Description=Security controls audit (auditor)
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
User={plan.user}
Group={plan.user}
ExecStart={' '.join(_systemd_word(w) for w in plan.command())}
{_environment(plan)}UMask=0027
# `systemctl stop` interrupts like Ctrl-C: the run writes its partial report (marked incomplete)
KillSignal=SIGINT
TimeoutStopSec=60
# Read-only view of the system; the reports (and the history database in them) are the one
# writable place. The SSH keys and known_hosts in the user's home stay readable.
ProtectSystem=strict
ProtectHome=read-only
ReadWritePaths={_systemd_word(output)}
PrivateTmp=yes
PrivateDevices=yes
NoNewPrivileges=yes
CapabilityBoundingSet=
AmbientCapabilities=
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
"""
    timer = f"""# /etc/systemd/system/auditor.timer — made by `auditor schedule --print systemd`
[Unit]
Description=Run the security controls audit ({plan.on_calendar})

[Timer]
OnCalendar={plan.on_calendar}
# Spread fleets of auditors over half an hour; catch up after downtime.
RandomizedDelaySec=30min
Persistent=true
AccuracySec=1min

[Install]
WantedBy=timers.target
"""
    return {"auditor.service": service, "auditor.timer": timer}


def _environment(plan: UnitPlan) -> str:
    if not plan.notify:
        return ""
    return (f"# Alert targets ({NOTIFY_ENV}) and SMTP credentials, kept out of this world-readable unit\n"
            f"EnvironmentFile={_systemd_word(str(plan.env_file))}\n")


def cron(plan: UnitPlan) -> str:
    """An /etc/cron.d file (user field included). Its output is what --quiet prints: nothing when
    all is well, else the regressions, which cron mails to the user (MAILTO)."""
    _check(plan)
    when = CRON_FOR.get(plan.on_calendar)
    if when is None:
        raise UnitError(f"--on-calendar {plan.on_calendar!r}: for cron use one of {', '.join(CRON_FOR)}")
    command = " ".join(shlex.quote(w) for w in plan.command())
    command = command.replace("%", "\\%")  # cron turns a bare % into a newline
    env = ""
    if plan.notify:  # cron.d has no environment files: the targets live here, so the file is 0600
        env = (f"# holds alert targets: install with mode 0600 (cron accepts it)\n"
               f"{NOTIFY_ENV}={' '.join(plan.notify)}\n")
    return (f"# /etc/cron.d/auditor — made by `auditor schedule --print cron`\n"
            f"SHELL=/bin/sh\n{env}"
            f"{when} {plan.user} {command}\n")
