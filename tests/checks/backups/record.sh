# Sourced by tests/checks/record_all.sh (uses its record, ago, $W, $NOW, $DAY, $ONLY, FAILED).
# Records the backups check's cases: real Debian cron files (this machine's), planted
# crontabs, cron.daily scripts, systemd units and backup directories aged with touch -d.
#
# Whether a cron job runs depends on a running cron daemon, which a mount namespace does not
# isolate. record_cron therefore runs record.py inside a private PID namespace (with its own
# /proc and a tmpfs /run for cron's pid file) where the real `cron -f` (Debian's cron
# package) runs, reading the same planted crontabs as the probes; the scheduler probe sees
# only that namespace's processes. record_bacula does the same with a real `bacula-fd -f`
# (Debian's bacula-fd package) listening on 127.0.0.1. The machine's own cron and bacula
# are never started.

BK=$W/backups
mkdir -p "$BK"

# record_in_pid_namespace DAEMON_SHELL CHECK CASE ARGS...: like `record`, with DAEMON_SHELL
# started first in a private PID namespace where cron's planted paths are bind-mounted too.
record_in_pid_namespace() {
  local daemon=$1 check=$2 case=$3
  shift 3
  # shellcheck disable=SC2053
  [[ $case == $ONLY ]] || return 0
  echo "=== $check/$case (in a private PID namespace with: $daemon)"
  # The namespace's cron also reads this machine's /etc/crontab, whose run-parts lines fire
  # at 06:25, 06:47 and 06:52: never be running then.
  if [[ $(date +%H%M) > 0619 && $(date +%H%M) < 0656 ]]; then
    echo "record: not recording $case between 06:20 and 06:55 (Debian's cron.daily time)" >&2
    FAILED+=("$check/$case")
    return 0
  fi
  local binds=() args=("$@") i
  for ((i = 0; i < ${#args[@]}; i++)); do
    case ${args[i]} in
      --plant | --plant-dir)
        case ${args[i + 1]} in
          # a cronie spool (no crontabs/): Debian's cron cannot start on it, and never reads it
          /var/spool/cron=*) [ -d "${args[i + 1]#*=}/crontabs" ] && binds+=("${args[i + 1]}") ;;
          /etc/cron* | /var/spool/cron* | /etc/anacrontab*) binds+=("${args[i + 1]}") ;;
        esac ;;
    esac
  done
  unshare --pid --fork --mount --propagation private --mount-proc -- bash -c '
    set -e
    mount -t tmpfs tmpfs /run
    # a path missing here (RHEL-only files) is not the daemon'"'"'s: record.py overlays it for the probes
    while [ "$1" != -- ]; do
      if [ -e "${1%%=*}" ]; then mount --bind "${1#*=}" "${1%%=*}"; fi
      shift
    done
    shift
    daemon=$1; shift
    sh -c "$daemon" &
    sleep 1
    kill -0 $! || { echo "record: the daemon did not start: $daemon" >&2; exit 1; }
    python3 tests/checks/record.py "$@"
  ' bash "${binds[@]}" -- "$daemon" "$check" "$case" "$@" || FAILED+=("$check/$case")
}
record_cron() { record_in_pid_namespace "exec cron -f" "$@"; }

# no_secret_in CASE ERE: a recorded CASE holding a planted secret (ERE) is removed and counted failed.
no_secret_in() {
  # shellcheck disable=SC2053
  [[ $1 == $ONLY ]] || return 0
  local file="tests/checks/backups/$1.yaml"
  if [ -f "$file" ] && grep -q -E "$2" "$file"; then
    echo "record: a planted secret reached $file" >&2
    rm -f "$file"
    FAILED+=("backups/$1")
  fi
}

# A user crontab as `crontab -e` leaves it: mode 600 in /var/spool/cron/crontabs.
spool_with() {  # spool_with DIR USER CONTENT
  mkdir -p "$1"
  printf '%s\n' "$3" >"$1/$2"
  chmod 600 "$1/$2"
}
# A backup directory: a restic-like repository whose newest file is $2 hours old.
backup_dir() {  # backup_dir DIR HOURS
  mkdir -p "$1/restic/data/3f" "$1/restic/snapshots" "$1/db"
  head -c 4096 /dev/urandom >"$1/restic/data/3f/3f9a0c"
  echo '{"time":"snapshot"}' >"$1/restic/snapshots/9c1e7f"
  echo 'dump' >"$1/db/all.sql.gz"
  touch -d "@$((NOW - 30 * DAY))" "$1/restic/data/3f/3f9a0c" "$1/db/all.sql.gz"
  touch -d "@$((NOW - $2 * 3600))" "$1/restic/snapshots/9c1e7f"
}
RUNPARTS_ORACLE="run-parts --test /etc/cron.daily"
DEBIAN_CRON="this machine's own /etc/crontab and /etc/cron.d (Debian 12, cron 3.0pl1-162: run-parts lines for /etc/cron.hourly|daily|weekly|monthly, e2scrub_all)"
FRESH="/srv/backup planted with a restic-like repository directory whose newest file (snapshots/9c1e7f) was touched 3 h before recording, older files 30 days"

spool_with "$BK/spool.restic" root '30 2 * * * restic -r /srv/backup/restic backup /srv/data --password-file /root/.restic-pw'
backup_dir "$BK/srv.fresh" 3
backup_dir "$BK/srv.stale" 73
mkdir -p "$BK/srv.empty/backup"
mkdir "$BK/srv.fresh.top" && mv "$BK/srv.fresh" "$BK/srv.fresh.top/backup"
mkdir "$BK/srv.stale.top" && mv "$BK/srv.stale" "$BK/srv.stale.top/backup"

record_cron backups pass_root_crontab_restic --plant-dir /var/spool/cron/crontabs="$BK/spool.restic" \
  --plant-dir /srv="$BK/srv.fresh.top" --param 'paths=[/srv/backup]' \
  --source "A root crontab (mode 600) running 'restic -r /srv/backup/restic backup /srv/data' at 30 2 * * *; $DEBIAN_CRON; $FRESH; Debian's cron -f running in the recorder's PID namespace" \
  --expect-status pass --expect-summary "daily backup job: restic in /var/spool/cron/crontabs/root:1" \
  --expect-summary "daily at 02:30" --expect-summary "newest backup is 3.0 h old" \
  --expect-value jobs_found=1 --expect-value newest_backup_age_hours=3.0

record_cron backups manual_no_paths_configured --plant-dir /var/spool/cron/crontabs="$BK/spool.restic" \
  --source "As pass_root_crontab_restic, without vars.backups.paths: the backups' age cannot be judged" \
  --expect-status manual --expect-summary "daily backup job: restic" \
  --expect-summary "no backup paths configured"

record_cron backups fail_stale_backup --plant-dir /var/spool/cron/crontabs="$BK/spool.restic" \
  --plant-dir /srv="$BK/srv.stale.top" --param 'paths=[/srv/backup]' \
  --source "As pass_root_crontab_restic, but the newest file in /srv/backup was touched 73 h before recording" \
  --expect-status fail --expect-summary "newest backup in /srv/backup is 73 h old (max 26 h)" \
  --expect-value newest_backup_age_hours=73.0

record_cron backups fail_missing_and_empty_paths --plant-dir /var/spool/cron/crontabs="$BK/spool.restic" \
  --plant-dir /srv="$BK/srv.empty" --param 'paths=[/srv/backup, /srv/nothing-here]' \
  --source "As pass_root_crontab_restic; vars.backups.paths names /srv/backup, planted as an empty directory, and /srv/nothing-here, which does not exist" \
  --expect-status fail --expect-summary "backup path /srv/nothing-here does not exist" \
  --expect-summary "backup path /srv/backup holds no files"

record backups fail_cron_not_running --plant-dir /var/spool/cron/crontabs="$BK/spool.restic" \
  --plant-dir /srv="$BK/srv.fresh.top" --param 'paths=[/srv/backup]' \
  --source "As pass_root_crontab_restic, recorded WITHOUT a cron daemon (this machine runs none): the job never runs" \
  --expect-status fail --expect-summary "never runs: no cron daemon is running"

record backups fail_no_job_debian_default \
  --source "Nothing planted: $DEBIAN_CRON, /etc/cron.daily (apt-compat, dpkg, logrotate, man-db) and the systemd units of Debian 12 with postgresql-common's templated pg_dump@.timer (no instance enabled); no backup tool anywhere" \
  --expect-status fail --expect-summary "no backup job found"

# cron.daily: run-parts runs 'backup' but never 'backup.sh' (Debian's run-parts naming rule).
mkdir -p "$BK/daily.dotted" "$BK/daily.plain"
cp -a /etc/cron.daily/. "$BK/daily.dotted/"
cp -a /etc/cron.daily/. "$BK/daily.plain/"
BORG_SCRIPT='#!/bin/sh
# nightly borg archive of /srv/data
set -e
export BORG_REPO=/srv/backup/borg
borg create --stats ::{hostname}-{now} /srv/data
borg prune --keep-daily 7 --keep-weekly 4'
printf '%s\n' "$BORG_SCRIPT" >"$BK/daily.dotted/backup.sh"
printf '%s\n' "$BORG_SCRIPT" >"$BK/daily.plain/backup"
chmod 755 "$BK/daily.dotted/backup.sh" "$BK/daily.plain/backup"
record_cron backups fail_cron_daily_dotted_name --plant-dir /etc/cron.daily="$BK/daily.dotted" \
  --plant-dir /srv="$BK/srv.fresh.top" --param 'paths=[/srv/backup]' --oracle "$RUNPARTS_ORACLE" \
  --source "Debian's /etc/cron.daily plus an executable /etc/cron.daily/backup.sh running 'borg create'; $DEBIAN_CRON; $FRESH; cron -f running. run-parts ignores names with a dot, so the backup never runs although the artefacts are fresh" \
  --expect-status fail --expect-summary "backup.sh" --expect-summary "(no dots)"

record_cron backups pass_cron_daily_script --plant-dir /etc/cron.daily="$BK/daily.plain" \
  --plant-dir /srv="$BK/srv.fresh.top" --param 'paths=[/srv/backup]' --oracle "$RUNPARTS_ORACLE" \
  --source "As fail_cron_daily_dotted_name, with the script named /etc/cron.daily/backup (no dot): run-parts runs it from /etc/crontab's 25 6 * * * line (anacron is not installed)" \
  --expect-status pass --expect-summary "daily backup job: borg in /etc/cron.daily/backup" \
  --expect-summary "daily at 06:25"

# /etc/cron.d: a weekly job, a dotted file name, a group-writable file.
mkdir -p "$BK/crond.weekly" "$BK/crond.dotted"
cp -a /etc/cron.d/. "$BK/crond.weekly/"
cp -a /etc/cron.d/. "$BK/crond.dotted/"
printf '# weekly restic\n0 3 * * 0 root restic -r /srv/backup/restic backup /srv/data\n' >"$BK/crond.weekly/restic"
printf '# daily borg\n15 1 * * * root borg create /srv/backup/borg::{now} /srv/data\n' >"$BK/crond.dotted/borg.cron"
chmod 644 "$BK/crond.weekly/restic" "$BK/crond.dotted/borg.cron"
record_cron backups fail_weekly_only --plant-dir /etc/cron.d="$BK/crond.weekly" \
  --plant-dir /srv="$BK/srv.fresh.top" --param 'paths=[/srv/backup]' \
  --source "Debian's /etc/cron.d plus /etc/cron.d/restic running 'restic backup' at 0 3 * * 0 (Sundays only); $FRESH; cron -f running" \
  --expect-status fail --expect-summary "weekly on Sun at 03:00" --expect-summary "less often than every 24 h"

record_cron backups fail_cron_d_dotted_name --plant-dir /etc/cron.d="$BK/crond.dotted" \
  --plant-dir /srv="$BK/srv.fresh.top" --param 'paths=[/srv/backup]' \
  --source "Debian's /etc/cron.d plus /etc/cron.d/borg.cron (root, 644) running 'borg create' at 15 1 * * *; $FRESH; cron -f running. Debian's cron ignores /etc/cron.d files whose names hold a dot (checked on this machine: such a job never ran in a private namespace)" \
  --expect-status fail --expect-summary "cron ignores /etc/cron.d/borg.cron"

spool_with "$BK/spool.mode" root '30 2 * * * restic -r /srv/backup/restic backup /srv/data'
chmod 644 "$BK/spool.mode/root"
record_cron backups fail_user_crontab_mode --plant-dir /var/spool/cron/crontabs="$BK/spool.mode" \
  --plant-dir /srv="$BK/srv.fresh.top" --param 'paths=[/srv/backup]' \
  --source "A root crontab with a daily restic job but mode 644 (crontab -e makes 600); $FRESH; cron -f running. Debian's cron refuses it (checked on this machine: a 644 user crontab's job never ran)" \
  --expect-status fail --expect-summary "must have mode 600"

# A systemd timer: OnCalendar=daily and a service running borg, enabled. systemd is not
# PID 1 on the recording machine, so the timer cannot fire.
# timer_unit DIR NAME CALENDAR SERVICE_LINES: this machine's /etc/systemd/system plus an enabled
# NAME.timer (OnCalendar=CALENDAR, Persistent=true) and NAME.service (oneshot, SERVICE_LINES),
# with the timers.target.wants link that `systemctl enable` makes.
timer_unit() {
  mkdir -p "$1/timers.target.wants"
  cp -a /etc/systemd/system/. "$1/"
  printf '[Unit]\nDescription=%s\n\n[Timer]\nOnCalendar=%s\nPersistent=true\n\n[Install]\nWantedBy=timers.target\n' \
    "$2" "$3" >"$1/$2.timer"
  printf '[Unit]\nDescription=%s\n\n[Service]\nType=oneshot\n%s\n' "$2" "$4" >"$1/$2.service"
  ln -sf "/etc/systemd/system/$2.timer" "$1/timers.target.wants/$2.timer"
}
timer_unit "$BK/systemd" borg-backup daily 'Environment=BORG_REPO=/srv/backup/borg
ExecStart=/usr/bin/borg create --stats ::{hostname}-{now} /srv/data'
record backups fail_timer_without_systemd --plant-dir /etc/systemd/system="$BK/systemd" \
  --plant-dir /srv="$BK/srv.fresh.top" --param 'paths=[/srv/backup]' \
  --source "This machine's /etc/systemd/system plus borg-backup.timer (OnCalendar=daily, Persistent=true), borg-backup.service (ExecStart=/usr/bin/borg create ...) and the timers.target.wants link that systemctl enable makes; $FRESH. PID 1 of the recording machine is not systemd, so no timer fires" \
  --expect-status fail --expect-summary "borg in borg-backup.timer → borg-backup.service never runs" \
  --expect-summary "systemd is not running"

# Copy tools: tar into a backup path counts, rsync to a mirror does not.
mkdir -p "$BK/crond.tar"
cp -a /etc/cron.d/. "$BK/crond.tar/"
printf '%s\n' '5 1 * * * root rsync -a /srv/www/ /srv/mirror/www/' \
  '40 0 * * * root tar czf /srv/backup/etc-$(date +\%F).tgz /etc 2>/dev/null' >"$BK/crond.tar/etc-archive"
chmod 644 "$BK/crond.tar/etc-archive"
record_cron backups pass_tar_into_backup_path --plant-dir /etc/cron.d="$BK/crond.tar" \
  --plant-dir /srv="$BK/srv.fresh.top" --param 'paths=[/srv/backup]' \
  --source "Debian's /etc/cron.d plus /etc/cron.d/etc-archive: 'rsync -a /srv/www/ /srv/mirror/www/' (a mirror, not a backup destination) and 'tar czf /srv/backup/etc-\$(date +\\%F).tgz /etc' daily at 00:40 (a backup path); $FRESH; cron -f running" \
  --expect-status pass --expect-summary "daily backup job: tar in /etc/cron.d/etc-archive:2" \
  --expect-value jobs_found=1

# The tools parameter: a wrapper script whose name says nothing.
mkdir -p "$BK/crond.wrapper"
cp -a /etc/cron.d/. "$BK/crond.wrapper/"
printf '20 3 * * * root /usr/local/sbin/site-archive --all\n' >"$BK/crond.wrapper/site"
chmod 644 "$BK/crond.wrapper/site"
record_cron backups pass_tools_param --plant-dir /etc/cron.d="$BK/crond.wrapper" \
  --plant-dir /srv="$BK/srv.fresh.top" --param 'paths=[/srv/backup]' --param 'tools=[site-archive]' \
  --source "Debian's /etc/cron.d plus /etc/cron.d/site running '/usr/local/sbin/site-archive --all' daily at 03:20, with vars.backups.tools = [site-archive]; $FRESH; cron -f running" \
  --expect-status pass --expect-summary "daily backup job: site-archive in /etc/cron.d/site:1"

record_cron backups fail_wrapper_without_tools_param --plant-dir /etc/cron.d="$BK/crond.wrapper" \
  --plant-dir /srv="$BK/srv.fresh.top" --param 'paths=[/srv/backup]' \
  --source "As pass_tools_param without the tools parameter: site-archive is no known backup tool" \
  --expect-status fail --expect-summary "no backup job found"

# % ends cron's command: what follows is the job's stdin, not something it runs.
spool_with "$BK/spool.percent" root '0 2 * * * mail -s nightly root%restic backup /srv/data%'
record_cron backups fail_tool_only_in_stdin --plant-dir /var/spool/cron/crontabs="$BK/spool.percent" \
  --plant-dir /srv="$BK/srv.fresh.top" --param 'paths=[/srv/backup]' \
  --source "A root crontab whose only job is 'mail -s nightly root%restic backup /srv/data%': cron runs 'mail -s nightly root' and feeds 'restic backup /srv/data' to it as stdin; $FRESH; cron -f running" \
  --expect-status fail --expect-summary "no backup job found"

# Secrets on job lines: masked on the host; no planted secret may reach the case file.
spool_with "$BK/spool.secrets" root "BORG_PASSPHRASE=Borg-Passphrase-77
30 1 * * * PGPASSWORD='Pg-Secret-91' pg_dumpall -h 127.0.0.1 -U postgres | gzip > /srv/backup/db/all.sql.gz
45 1 * * * mysqldump -uroot -pMy-Db-Pw-42 --all-databases > /srv/backup/db/my.sql
50 1 * * * restic -r sftp://backup:Sftp-Pw-13@10.0.0.9/repo backup /etc"
record_cron backups pass_secrets_masked_on_host --plant-dir /var/spool/cron/crontabs="$BK/spool.secrets" \
  --plant-dir /srv="$BK/srv.fresh.top" --param 'paths=[/srv/backup]' \
  --source "A root crontab with secrets: an environment line BORG_PASSPHRASE=..., a pg_dumpall job with PGPASSWORD='...', a mysqldump job with -p..., a restic job with user:password@ in its sftp URL; $FRESH; cron -f running. The probe drops environment lines and masks the values as *** on the host" \
  --expect-status pass --expect-summary "daily backup job: pg_dumpall in /var/spool/cron/crontabs/root:2" \
  --expect-value jobs_found=3
no_secret_in pass_secrets_masked_on_host 'Borg-Passphrase-77|Pg-Secret-91|My-Db-Pw-42|Sftp-Pw-13'

# Transfer credentials given as user<sep>password options: masked on the host too.
spool_with "$BK/spool.transfer" root "10 1 * * * tar czf /srv/backup/etc.tgz /etc && curl -u backup:Curl-Pw-27 -T /srv/backup/etc.tgz ftp://127.0.0.1/
20 1 * * * lftp -u backup,Lftp-Pw-38 -e 'mirror -R /srv/backup /backup; quit' 127.0.0.1
30 1 * * * smbclient //127.0.0.1/backup -U 'WORKGROUP\\backup\\%Smb-Pw-49' -c 'prompt; recurse; mput /srv/backup/*'"
record_cron backups pass_transfer_credentials_masked --plant-dir /var/spool/cron/crontabs="$BK/spool.transfer" \
  --plant-dir /srv="$BK/srv.fresh.top" --param 'paths=[/srv/backup]' \
  --source "A root crontab whose jobs upload backups with credentials on the command line: tar then 'curl -u user:password -T', 'lftp -u user,password', \"smbclient -U 'DOMAIN\\user\\%password' (cron needs the % escaped)\"; $FRESH; cron -f running. The probe masks each password as *** on the host" \
  --expect-status pass --expect-summary "daily backup job: tar in /var/spool/cron/crontabs/root:1"
no_secret_in pass_transfer_credentials_masked 'Curl-Pw-27|Lftp-Pw-38|Smb-Pw-49'

# A configured path with no line in the artefacts probe's output (cut at a line boundary,
# or its find/awk step failed) must be an error, never "0.0 h old": derived from the
# recorded pass_root_crontab_restic by derive_cases.py.
if [[ garbled_artefacts_cut_short == $ONLY ]]; then
  echo "=== backups/garbled_artefacts_cut_short"
  python3 tests/checks/backups/derive_cases.py || FAILED+=(backups/garbled_artefacts_cut_short)
fi

# Odd input: comments, lines cron cannot read, non-UTF-8 bytes, an empty crontab, CRLF.
spool_with "$BK/spool.garbled" root "# m h dom mon dow command
61 25 * * * restic backup /srv/never-valid
*/0 * * * * restic backup /srv/step-zero
@sometimes restic backup /srv/unknown-nickname
0 2 * * * restic backup /srv/too-few-fields-follow
0 2 * *
MAILTO=\"\""
printf '0 4 * * * restic backup /srv/caf\351 --tag \377\n' >>"$BK/spool.garbled/root"
printf '30 3 * * mon restic forget --prune\r\n' >>"$BK/spool.garbled/root"
spool_with "$BK/spool.garbled" www-data ''
record_cron backups garbled_crontab_lines --plant-dir /var/spool/cron/crontabs="$BK/spool.garbled" \
  --plant-dir /srv="$BK/srv.fresh.top" --param 'paths=[/srv/backup]' \
  --source "A root crontab with a comment, a minute 61 / hour 25 line, a */0 step, an unknown @sometimes nickname, a line with only four time fields, an empty MAILTO, a daily restic line with non-UTF-8 bytes (latin-1 e-acute and 0xff) in its arguments and a CRLF-ended weekly line; an empty www-data crontab; $FRESH; cron -f running" \
  --expect-status pass --expect-summary "daily backup job: restic in /var/spool/cron/crontabs/root" \
  --expect-summary "daily at 02:00"

# A huge crontab: 20 000 job lines that are no backup, then one daily borg line.
mkdir -p "$BK/spool.huge"
awk 'BEGIN { for (i = 0; i < 20000; i++) printf "%d %d * * * /usr/local/bin/report --shard %05d --output /var/tmp/report-%05d.csv\n", i % 60, i % 24, i, i }' \
  >"$BK/spool.huge/root"
echo '10 1 * * * borg create /srv/backup/borg::{now} /srv/data' >>"$BK/spool.huge/root"
chmod 600 "$BK/spool.huge/root"
record_cron backups garbled_huge_crontab --plant-dir /var/spool/cron/crontabs="$BK/spool.huge" \
  --plant-dir /srv="$BK/srv.fresh.top" --param 'paths=[/srv/backup]' \
  --source "A 1.7 MB root crontab: 20 000 report jobs, then one daily 'borg create' line (the 20 001st); $FRESH; cron -f running. The probe sends only job lines about backups, plus the count" \
  --expect-status pass --expect-summary "daily backup job: borg in /var/spool/cron/crontabs/root:20001"

record backups error_spool_unreadable --run-as nobody \
  --source "Nothing planted; the probes run as nobody, who cannot list /var/spool/cron/crontabs (root:crontab 1730) and so cannot see the user crontabs; no other backup job on this machine" \
  --expect-status error --expect-summary "cannot list the user crontabs"

# Bacula: a real bacula-fd, no local job: the director holds the schedule.
if command -v bacula-fd >/dev/null; then
  mkdir -p "$BK/bacula-work"
  BACULA_PORT=$((20000 + RANDOM % 20000))
  cat >"$BK/bacula-fd.conf" <<EOF
Director {
  Name = backup-dir
  Password = "planted-director-password"
}
FileDaemon {
  Name = recorder-fd
  FDport = $BACULA_PORT
  FDAddress = 127.0.0.1
  WorkingDirectory = $BK/bacula-work
  Pid Directory = $BK/bacula-work
}
Messages {
  Name = Standard
  director = backup-dir = all, !skipped, !restored
}
EOF
  record_in_pid_namespace "exec bacula-fd -f -P -c $BK/bacula-fd.conf" backups manual_bacula_fd_only \
    --source "No local backup job; a real bacula-fd (Debian bacula-fd 9.6.7) running in the recorder's PID namespace with a planted config listening on 127.0.0.1:$BACULA_PORT; $DEBIAN_CRON" \
    --expect-status manual --expect-summary "Bacula file daemon is running" --expect-summary "director"
else
  echo "record_all: bacula-fd is not installed (apt-get install -y bacula-fd); backups/manual_bacula_fd_only NOT recorded" >&2
  FAILED+=(backups/manual_bacula_fd_only)
fi

# --- Jobs that run a site script (followed on the host: the script and what it names) -------
SHOP_BACKUP='#!/bin/sh
# nightly archive of the shop
set -e
DEST=/srv/backup/shop
mkdir -p "$DEST"
tar czf "$DEST/shop-$(date +%F).tgz" -C /srv shop'
# wrapper_job TAG SCRIPT SCRIPT_TEXT CRON_FILE CRON_LINE [MODE]: $BK/sbin.TAG/SCRIPT holding
# SCRIPT_TEXT (mode 755, or MODE), and $BK/crond.TAG: Debian's /etc/cron.d plus CRON_FILE
# holding CRON_LINE (root's, 644).
wrapper_job() {
  mkdir -p "$BK/sbin.$1" "$BK/crond.$1"
  printf '%s\n' "$3" >"$BK/sbin.$1/$2"
  chmod "${6:-755}" "$BK/sbin.$1/$2"
  cp -a /etc/cron.d/. "$BK/crond.$1/"
  printf '%s\n' "$5" >"$BK/crond.$1/$4"
  chmod 644 "$BK/crond.$1/$4"
}
wrapper_job shop shop-backup "$SHOP_BACKUP" shop '58 10 * * * root /usr/local/sbin/shop-backup >> /var/log/shop-backup.log 2>&1'
wrapper_job shop.weekly shop-backup "$SHOP_BACKUP" shop '0 4 * * 0 root /usr/local/sbin/shop-backup >> /var/log/shop-backup.log 2>&1'
wrapper_job noop backup '#!/bin/sh
# the real backup is not set up yet
echo "backups are not configured yet" >&2' backup '0 3 * * * root /usr/local/sbin/backup'
wrapper_job nightly nightly-backup "$SHOP_BACKUP" nightly '45 0 * * * root /usr/local/sbin/nightly-backup' 700
wrapper_job mysql my-backup '#!/bin/sh
set -e
mysqldump -uroot -pWrapper-Db-Pw-61 --all-databases | gzip > /srv/backup/db/my.sql.gz' mysql \
  '15 1 * * * root chronic su -c "/usr/local/sbin/my-backup --all" mysql'
mkdir -p "$BK/daily.shop" "$BK/crond.garbled" "$BK/sbin.garbled"
cp -a /etc/cron.d/. "$BK/crond.garbled/"
WRAPPED="/usr/local/sbin/shop-backup (mode 755) is a shell script running 'tar czf \"\$DEST/shop-\$(date +%F).tgz\" -C /srv shop' with DEST=/srv/backup/shop"

record_cron backups pass_wrapper_script_tar --plant-dir /etc/cron.d="$BK/crond.shop" \
  --plant-dir /usr/local/sbin="$BK/sbin.shop" --plant-dir /srv="$BK/srv.fresh.top" --param 'paths=[/srv/backup]' \
  --source "Debian's /etc/cron.d plus /etc/cron.d/shop: '58 10 * * * root /usr/local/sbin/shop-backup >> /var/log/shop-backup.log 2>&1' (the issue's line); $WRAPPED; $FRESH; cron -f running. The probe reads the script on the host and finds tar in it" \
  --expect-status pass --expect-summary "daily backup job: tar in /etc/cron.d/shop:1 (user root) through /usr/local/sbin/shop-backup" \
  --expect-summary "daily at 10:58"

record_cron backups fail_weekly_wrapper --plant-dir /etc/cron.d="$BK/crond.shop.weekly" \
  --plant-dir /usr/local/sbin="$BK/sbin.shop.weekly" --plant-dir /srv="$BK/srv.fresh.top" --param 'paths=[/srv/backup]' \
  --source "As pass_wrapper_script_tar, but the job runs at 0 4 * * 0 (Sundays only)" \
  --expect-status fail --expect-summary "through /usr/local/sbin/shop-backup runs weekly on Sun at 04:00"

record_cron backups fail_backup_script_runs_no_tool --plant-dir /etc/cron.d="$BK/crond.noop" \
  --plant-dir /usr/local/sbin="$BK/sbin.noop" --plant-dir /srv="$BK/srv.empty" --param 'paths=[/srv/backup]' \
  --source "Debian's /etc/cron.d plus /etc/cron.d/backup running /usr/local/sbin/backup daily at 03:00, a script that only prints a message; /srv/backup planted empty; cron -f running" \
  --expect-status fail --expect-summary "no backup job found" --expect-summary "backup path /srv/backup holds no files"

record_cron backups pass_unreadable_script_fresh_artefacts --run-as nobody --plant-dir /etc/cron.d="$BK/crond.nightly" \
  --plant-dir /usr/local/sbin="$BK/sbin.nightly" --plant-dir /srv="$BK/srv.fresh.top" --param 'paths=[/srv/backup]' \
  --source "Debian's /etc/cron.d plus /etc/cron.d/nightly running /usr/local/sbin/nightly-backup daily at 00:45; the script is root's, mode 700; the probes run as nobody, who cannot read it (nor list the user crontabs); $FRESH; cron -f running. The fresh artefacts carry the verdict" \
  --expect-status pass --expect-summary "runs /usr/local/sbin/nightly-backup, which was not read (-rwx------ root" \
  --expect-summary "credited on the fresh backups in paths"

# A systemd timer whose service runs the wrapper: followed the same way (systemd is not PID 1
# on the recording machine, so the timer cannot fire: a fail that names the tool it found).
timer_unit "$BK/systemd.shop" shop-archive '*-*-* 10:58' 'ExecStartPre=-/usr/bin/install -d /srv/backup/shop
ExecStart=/usr/bin/nice -n 10 /usr/local/sbin/shop-backup'
record backups fail_timer_service_runs_wrapper --plant-dir /etc/systemd/system="$BK/systemd.shop" \
  --plant-dir /usr/local/sbin="$BK/sbin.shop" --plant-dir /srv="$BK/srv.fresh.top" --param 'paths=[/srv/backup]' \
  --source "This machine's /etc/systemd/system plus shop-archive.timer (OnCalendar=*-*-* 10:58, enabled) whose shop-archive.service has ExecStart=/usr/bin/nice -n 10 /usr/local/sbin/shop-backup; $WRAPPED; $FRESH. PID 1 of the recording machine is not systemd, so no timer fires" \
  --expect-status fail --expect-summary "tar in shop-archive.timer → shop-archive.service through /usr/local/sbin/shop-backup never runs" \
  --expect-summary "systemd is not running"

# A run-parts script that hands over to the wrapper: the second level.
cp -a /etc/cron.daily/. "$BK/daily.shop/"
printf '#!/bin/sh\n# run by cron.daily\n[ -x /usr/local/sbin/shop-backup ] && /usr/local/sbin/shop-backup\n' >"$BK/daily.shop/shop"
chmod 755 "$BK/daily.shop/shop"
record_cron backups pass_run_parts_calls_wrapper --plant-dir /etc/cron.daily="$BK/daily.shop" \
  --plant-dir /usr/local/sbin="$BK/sbin.shop" --plant-dir /srv="$BK/srv.fresh.top" --param 'paths=[/srv/backup]' \
  --oracle "$RUNPARTS_ORACLE" \
  --source "Debian's /etc/cron.daily plus /etc/cron.daily/shop, which runs /usr/local/sbin/shop-backup; $WRAPPED; /etc/crontab's 25 6 * * * line runs cron.daily (anacron is not installed); $FRESH; cron -f running" \
  --expect-status pass --expect-summary "daily backup job: tar in /etc/cron.daily/shop" --expect-summary "daily at 06:25"

# su -c and a password on the wrapper's mysqldump line: masked on the host.
record_cron backups pass_wrapper_secret_masked_on_host --plant-dir /etc/cron.d="$BK/crond.mysql" \
  --plant-dir /usr/local/sbin="$BK/sbin.mysql" --plant-dir /srv="$BK/srv.fresh.top" --param 'paths=[/srv/backup]' \
  --source "Debian's /etc/cron.d plus /etc/cron.d/mysql: '15 1 * * * root chronic su -c \"/usr/local/sbin/my-backup --all\" mysql'; my-backup runs 'mysqldump -uroot -p<password> --all-databases | gzip > ...'; $FRESH; cron -f running. The script's line leaves the host with the password as ***" \
  --expect-status pass --expect-summary "daily backup job: mysqldump in /etc/cron.d/mysql:1 (user root) through /usr/local/sbin/my-backup as mysql"
no_secret_in pass_wrapper_secret_masked_on_host 'Wrapper-Db-Pw-61'

# Odd scripts: an unbalanced quote on the job line, a binary named like a backup, a script
# longer than the probe reads whose only tool line is past the cap, and one with CRLF line
# ends and latin-1 bytes that runs restic.
cp /bin/true "$BK/sbin.garbled/backup-blob"
{ printf '#!/bin/sh\n'; awk 'BEGIN { for (i = 0; i < 40000; i++) printf "echo padding line %05d of a long script\n", i }'
  echo 'borg create /srv/backup/borg::{now} /srv/data'; } >"$BK/sbin.garbled/huge-backup"
printf '#!/bin/sh\r\n# caf\351 \377\r\nrestic -r /srv/backup/restic backup /srv/data --tag caf\351\r\n' >"$BK/sbin.garbled/crlf-backup"
chmod 755 "$BK/sbin.garbled/"*
printf '%s\n' '10 0 * * * root sh -c "/usr/local/sbin/backup-blob --now' '20 0 * * * root /usr/local/sbin/huge-backup' \
  '30 0 * * * root timeout 2h /usr/local/sbin/crlf-backup' >"$BK/crond.garbled/odd"
chmod 644 "$BK/crond.garbled/odd"
record_cron backups garbled_wrapper_scripts --plant-dir /etc/cron.d="$BK/crond.garbled" \
  --plant-dir /usr/local/sbin="$BK/sbin.garbled" --plant-dir /srv="$BK/srv.fresh.top" --param 'paths=[/srv/backup]' \
  --source "Debian's /etc/cron.d plus /etc/cron.d/odd: a job with an unbalanced quote running backup-blob (a copy of /bin/true: no #!, not read), huge-backup (1.6 MB; its only tool line, borg, is past the probe's 256 KiB), and crlf-backup (CRLF line ends, latin-1 bytes) running restic behind timeout 2h; $FRESH; cron -f running" \
  --expect-status pass --expect-summary "daily backup job: restic in /etc/cron.d/odd:3 (user root) through /usr/local/sbin/crlf-backup"

# RHEL family (cronie + cronie-anacron): /etc/cron.d/0hourly runs run-parts /etc/cron.hourly,
# whose 0anacron starts anacron, whose /etc/anacrontab runs cron.daily every day; run-parts is
# the crontabs package's shell script (runs dotted names); root's crontab is /var/spool/cron/root.
# No cronie here: Debian's cron -f runs in the recorder's PID namespace as the cron daemon, and
# Debian's anacron binary (its package, unpacked) is planted at /usr/sbin/anacron.
RH=tests/checks/backups/rhel
mkdir -p "$BK/rh.cron.d" "$BK/rh.hourly" "$BK/rh.daily" "$BK/rh.spool" "$BK/rh.anacron.deb" "$BK/rh.bin"
cp "$RH/0hourly" "$BK/rh.cron.d/0hourly"
install -m 755 "$RH/0anacron" "$BK/rh.hourly/0anacron"
printf '#!/bin/sh\nexec tar czf /srv/backup/etc-$(date +%%F).tgz /etc\n' >"$BK/rh.daily/site-backup.sh"
chmod 755 "$BK/rh.daily/site-backup.sh"
printf '#!/usr/bin/bash\n# stand-in for the crontabs package'"'"'s run-parts script (see rhel/README.md)\nexit 0\n' >"$BK/rh.bin/run-parts"
chmod 755 "$BK/rh.bin/run-parts"
(cd "$BK/rh.anacron.deb" && apt-get download -q anacron >/dev/null 2>&1 && dpkg -x anacron_*.deb x) || true
printf '%s\n' '30 2 * * * PGPASSWORD=Rhel-Pg-Pw-5 pg_dumpall -h 127.0.0.1 -U postgres | gzip > /srv/backup/db/all.sql.gz' \
  '45 2 * * * mysqldump -u root -pRhel-My-Pw-6 shop | gzip > /srv/backup/db/shop.sql.gz' >"$BK/rh.spool/root"
chmod 600 "$BK/rh.spool/root"
RHCRON="RHEL-family cron layout (no RHEL machine here; planted on this Debian 12 one): the crontabs package's /etc/crontab (no job), cronie's /etc/cron.d/0hourly, cronie-anacron's /etc/cron.hourly/0anacron and /etc/anacrontab (cron.daily: 1 day, nice run-parts), a stand-in for the crontabs package's /usr/bin/run-parts script, Debian's anacron binary at /usr/sbin/anacron; sources in tests/checks/backups/rhel/README.md; Debian's cron -f stands for crond in the recorder's PID namespace"
# The RHEL cron layout, bar cron.daily and /srv: crontab, 0hourly, 0anacron, anacrontab, run-parts, anacron.
RH_CRON=(--plant /etc/crontab="$RH/crontab" --plant-dir /etc/cron.d="$BK/rh.cron.d"
  --plant-dir /etc/cron.hourly="$BK/rh.hourly" --plant /etc/anacrontab="$RH/anacrontab"
  --plant /usr/bin/run-parts="$BK/rh.bin/run-parts" --plant /usr/sbin/anacron="$BK/rh.anacron.deb/x/usr/sbin/anacron")
record_cron backups pass_rhel_anacron_daily_dotted_script "${RH_CRON[@]}" --plant-dir /etc/cron.daily="$BK/rh.daily" \
  --plant-dir /srv="$BK/srv.fresh.top" --param 'paths=[/srv/backup]' \
  --source "$RHCRON; /etc/cron.daily/site-backup.sh (a dotted name, which RHEL's run-parts runs and Debian's would not) runs tar czf /srv/backup/etc-DATE.tgz /etc; $FRESH" \
  --expect-status pass --expect-summary "daily backup job: tar in /etc/cron.daily/site-backup.sh"

record_cron backups pass_rhel_cronie_spool_secrets_masked --plant /etc/crontab="$RH/crontab" \
  --plant-dir /var/spool/cron="$BK/rh.spool" \
  --plant-dir /etc/cron.d="$BK/rh.cron.d" --plant /etc/anacrontab="$RH/anacrontab" \
  --plant /usr/sbin/anacron="$BK/rh.anacron.deb/x/usr/sbin/anacron" \
  --plant-dir /srv="$BK/srv.fresh.top" --param 'paths=[/srv/backup]' \
  --source "$RHCRON; root's cronie crontab /var/spool/cron/root (mode 600, no crontabs/ directory) with 'PGPASSWORD=... pg_dumpall ... | gzip > /srv/backup/db/all.sql.gz' at 30 2 * * * and 'mysqldump -u root -p... shop | gzip' at 45 2; the probe masks both passwords on the host (shared deny-by-default rules); $FRESH" \
  --expect-status pass --expect-summary "daily backup job: pg_dumpall in /var/spool/cron/root:1" \
  --expect-value jobs_found=2
no_secret_in pass_rhel_cronie_spool_secrets_masked 'Rhel-Pg-Pw-5|Rhel-My-Pw-6'

mkdir -p "$BK/rh.daily.rpmsave"
cp "$BK/rh.daily/site-backup.sh" "$BK/rh.daily.rpmsave/site-backup.rpmsave"
record_cron backups fail_rhel_run_parts_skips_rpmsave "${RH_CRON[@]}" --plant-dir /etc/cron.daily="$BK/rh.daily.rpmsave" \
  --plant-dir /srv="$BK/srv.stale.top" --param 'paths=[/srv/backup]' \
  --source "As pass_rhel_anacron_daily_dotted_script, with the script left as /etc/cron.daily/site-backup.rpmsave (what rpm leaves beside a changed config), which RHEL's run-parts skips, and /srv/backup's newest file 73 h old" \
  --expect-status fail --expect-summary "RHEL's run-parts skips editor and rpm leftovers"
