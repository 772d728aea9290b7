"""Jobs distributions schedule to keep the system itself in order: package database copies,
log rotation, index rebuilds, filesystem scrubs. Some say "backup" in their names or lines
(Debian's dpkg-db-backup keeps copies of the package database in /var/backups) but none backs
up a service's data, so a check about backups neither counts them nor lists them.
"""

from __future__ import annotations

# Names of the run-parts scripts, timers (without .timer), services and programs, as
# Debian/Ubuntu, the RHEL family and Alpine install them.
HOUSEKEEPING = frozenset({
    "0anacron", "0hourly", "apt", "apt-compat", "apt-daily", "apt-daily-upgrade", "apt.systemd.daily",
    "aptitude", "apport", "bsdmainutils", "certbot", "checkarray", "chkrootkit", "cracklib-runtime",
    "debian-sa1", "dnf-makecache", "dpkg", "dpkg-db-backup", "e2scrub", "e2scrub_all", "e2scrub_all_cron",
    "e2scrub_reap", "exim4-base", "fstrim", "fwupd-refresh", "locate", "logrotate", "logwatch",
    "man-db", "mandb", "mdadm", "mlocate", "mlocate-updatedb", "motd-news", "ntp", "passwd", "php",
    "phpsessionclean", "plocate", "plocate-updatedb", "popularity-contest", "quota", "raid-check",
    "rkhunter", "sa1", "sa2", "sessionclean", "snapd", "spamassassin", "sysstat", "sysstat-collect",
    "sysstat-summary", "systemd-tmpfiles-clean", "texlive-base", "tmpreaper", "ua-timer",
    "unattended-upgrades", "unbound-anchor", "update-notifier-common", "updatedb",
})


def is_housekeeping(name: str) -> bool:
    """Whether a run-parts script, unit or program (a path or a name; `x.timer`, `x@i.service`)
    is system housekeeping."""
    base = name.rstrip("/").rsplit("/", 1)[-1]
    for suffix in (".timer", ".service", ".sh"):
        base = base.removesuffix(suffix)
    return base.split("@", 1)[0] in HOUSEKEEPING
