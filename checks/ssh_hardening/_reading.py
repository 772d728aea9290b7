"""Reading the ssh_hardening probes: each setting sshd applies and where it comes from, per
listening daemon (its own -f and -o) or for the installed configuration.
"""

from __future__ import annotations

from typing import NamedTuple

from auditor.parsers import sshd

from ._probes import RC_LINE

ALGORITHM_KEYWORDS = {
    "ciphers": ("Ciphers", "weak_ciphers"),
    "macs": ("MACs", "weak_macs"),
    "kexalgorithms": ("KexAlgorithms", "weak_kex"),
    "gssapikexalgorithms": ("GSSAPIKexAlgorithms", "weak_kex"),
    "hostkeyalgorithms": ("HostKeyAlgorithms", "weak_host_key_algorithms"),
    "pubkeyacceptedalgorithms": ("PubkeyAcceptedAlgorithms", "weak_host_key_algorithms"),
}


class Setting(NamedTuple):
    value: str
    where: str  # "file:line", "default", or "" (sshd -T for a setting no file sets)


Effective = dict[str, Setting]  # by lower-case keyword


def _value(settings: Effective, keyword: str, default: str) -> str:
    found = settings.get(keyword)
    return found.value if found else default


class Judged(NamedTuple):
    """The settings judged, the source they came from, and notes about that source."""

    effective: Effective
    source: str  # "sshd -T" or "sshd_config"
    notes: list[str]


class SshdUnreadable(Exception):
    """Neither sshd -T nor the configuration files could be read."""


def _joined(keyword: str, values: list[str]) -> str:
    return " ".join(values) if keyword in sshd.ACCUMULATING else values[0]


def _where(location: str) -> str:
    return f" ({location})" if location else ""


def _second_factor_only(methods: str) -> bool:
    """AuthenticationMethods makes every login start with a public key."""
    lists = methods.split()
    return bool(lists) and methods != "any" and all(
        any(m.split(":")[0] == "publickey" for m in one.split(",")) for one in lists)


def _sshd_t_settings(lines: list[str], located: dict[str, str]) -> Effective:
    values = sshd.parse_sshd_t("\n".join(ln for ln in lines if not ln.startswith("#sshd")))
    if "permitrootlogin" not in values or "ciphers" not in values:
        raise ValueError("sshd -T output lacks PermitRootLogin or Ciphers")
    return {k: Setting(_joined(k, v), located.get(k, "")) for k, v in values.items()}


def _effective(text: str, stderr: str, config: sshd.SshdConfig, unreadable: list[str]) -> Judged:
    lines = text.splitlines()
    rc_line = next((ln for ln in reversed(lines) if ln.startswith(RC_LINE)), None)
    if rc_line is None:
        raise ValueError("the sshd -T probe printed no exit status line")
    located = {k: v[0].where for k, v in config.settings.items()}
    rc = rc_line[len(RC_LINE):].strip()
    if rc == "0":
        return Judged(_sshd_t_settings(lines, located), "sshd -T", [])
    first_error = next((ln.strip() for ln in stderr.splitlines() if ln.strip()), "")
    note = f"sshd -T exited {rc}" + (f": {first_error}" if first_error else "")
    if not config.files_read:
        raise SshdUnreadable(f"{note}, and the configuration could not be read: "
                             + ("; ".join(config.problems) or "no sshd_config"))
    if unreadable:  # an unread drop-in may set anything, and one read earlier wins
        raise SshdUnreadable(f"{note}, and the configuration could not be read in full: cannot read "
                             + ", ".join(unreadable) + "; what sshd applies is unknown")
    effective = {}
    for keyword, default in sshd.COMPILED_DEFAULTS.items():
        setting = config.first(keyword)
        if keyword in ALGORITHM_KEYWORDS:
            resolved = sshd.resolve_algorithms(setting.value if setting else None, default)
            effective[keyword] = Setting(",".join(resolved), setting.where if setting else "")
        else:
            effective[keyword] = Setting(setting.value if setting else default,
                                         setting.where if setting else "default")
    for keyword, found in config.settings.items():
        effective.setdefault(keyword, Setting(_joined(keyword, [s.value for s in found]), found[0].where))
    notes = [f"{note}; judged from the configuration files, with {sshd.COMPILED_DEFAULTS_VERSION}'s "
             "compiled-in defaults for what they do not set"]
    return Judged(effective, "sshd_config", notes)


def _other_binary(daemon: sshd.Daemon, installed: str) -> bool:
    """The daemon runs a binary known to differ from `installed`, the one that printed the installed
    configuration (evidence from before the probe printed `exe=` says neither)."""
    return bool(daemon.exe and installed and daemon.exe != installed)


def _daemon_label(daemons: sshd.Daemons, daemon: sshd.Daemon, installed: str) -> str:
    """"sshd pid 812 (/etc/ssh/sshd_config_internal, -o PasswordAuthentication=yes) on 0.0.0.0:2222";
    a binary other than the installed one is named too ("sshd pid 812 (/opt/sbin/sshd, its default
    sshd_config) on 0.0.0.0:22")."""
    config = [daemon.config_file]
    if _other_binary(daemon, installed):  # without -f it reads its own compiled-in path
        config = [daemon.exe] + (config if "-f" in daemon.options else ["its default sshd_config"])
    how = ", ".join(config + [f"-o {o}" for o in daemon.command_line_options])
    return f"sshd pid {daemon.pid} ({how}) on {', '.join(daemons.endpoints(daemon)) or 'no port'}"


def _daemon_settings(daemon: sshd.Daemon, config: sshd.SshdConfig, installed: str) -> Effective:
    """A daemon's sshd -T settings, located in sshd_config when it reads that file (another binary
    may read another file by default), or on its command line."""
    located = ({k: v[0].where for k, v in config.settings.items()}
               if daemon.config_file == sshd.MAIN_CONFIG and not _other_binary(daemon, installed) else {})
    located.update({k: "-o on its command line" for k in daemon.option_keywords()})
    return _sshd_t_settings(daemon.output, located)


def _runs_installed(daemon: sshd.Daemon, installed: str) -> bool:
    """A daemon started without -f or -o by the installed binary (`installed`) runs the installed
    configuration, judged already (the probe says `#runs-installed` instead of printing the same
    sshd -T twice). Another binary may read another file or have other defaults: one the probe
    ran `sshd -T` for is judged from that output; one with no output of its own, or whose binary
    is not known, counts as the installed one."""
    if daemon.runs_installed:
        return True
    return not daemon.options and (daemon.rc is None or not _other_binary(daemon, installed))


def own_count(listening: list[sshd.Daemon], installed: str) -> int:
    return sum(1 for d in listening if not _runs_installed(d, installed))
