# monitoring cases, sourced by tests/checks/record_all.sh (uses $W, $ONLY, FAILED).
#
# What the check reads -- the process list -- belongs to a PID namespace, which a mount
# namespace does not isolate; and other people's tests may run a node_exporter on this
# machine at any time. So each case gets fresh PID, network and mount namespaces of its own
# (`unshare --pid --fork --kill-child --mount-proc --net --mount`): the real agents are
# started in there (Debian's prometheus-node-exporter on 127.0.0.1:9100 of the private
# network namespace, smartd), and record.py runs in there too, so `ps` and /proc show
# exactly those processes. Everything in the namespace dies with it when the case ends;
# unit files and start links are this machine's own unless planted (bind mounts, read-only,
# in record.py's private mount namespace).
#
# This machine's disks are virtual (virtio vda, zram, loop): no case has a physical disk.

MON_EXPORTER=/usr/bin/prometheus-node-exporter

# mon_case CASE "SETUP SHELL" RECORD.PY-ARGS...: SETUP runs first inside the namespaces
# (start servers with `&`, wait with `listening PORT`).
mon_case() {
  local case=$1 setup=$2
  shift 2
  # shellcheck disable=SC2053
  [[ $case == $ONLY ]] || return 0
  echo "=== monitoring/$case"
  unshare --pid --fork --kill-child --mount-proc --net --mount --propagation private bash -euc '
    listening() {
      for _ in $(seq 200); do [ -n "$(ss -H -ltn "sport = :$1")" ] && return 0; sleep 0.05; done
      echo "nothing listens on :$1" >&2; return 1
    }
    ip link set lo up
    eval "$1"
    shift
    python3 tests/checks/record.py monitoring "$@"
  ' _ "$setup" "$case" "$@" || FAILED+=("monitoring/$case")
}

EXPORTER_START="$MON_EXPORTER --web.listen-address=127.0.0.1:9100 >/dev/null 2>&1 & listening 9100"

mon_case fail_no_agent ":" \
  --source "this machine, in fresh PID, network and mount namespaces where nothing but the recorder runs (no monitoring agent); this machine's unit files: prometheus-node-exporter.service and smartmontools.service are enabled (Debian packages installed, services not started)" \
  --expect-status fail --expect-summary "no monitoring agent running (looked for node_exporter, zabbix agent" \
  --expect-value agents_running=0

mon_case pass_node_exporter "$EXPORTER_START" \
  --source "this machine, in fresh PID, network and mount namespaces, with Debian's prometheus-node-exporter 1.5 (/usr/bin/prometheus-node-exporter --web.listen-address=127.0.0.1:9100) started and listening; its unit prometheus-node-exporter.service is enabled in this machine's /etc/systemd/system/multi-user.target.wants (systemd is not PID 1 here)" \
  --expect-status pass --expect-summary "node_exporter is running" \
  --expect-summary "starts at boot (prometheus-node-exporter.service is enabled)" \
  --expect-summary "disks are virtual" --expect-value agents_running=1

mkdir -p "$W/mon-wants"
for link in /etc/systemd/system/multi-user.target.wants/*; do
  [ "${link##*/}" = prometheus-node-exporter.service ] || cp -P "$link" "$W/mon-wants/"
done
mon_case fail_node_exporter_disabled "$EXPORTER_START" \
  --plant-dir /etc/systemd/system/multi-user.target.wants="$W/mon-wants" \
  --source "as pass_node_exporter (prometheus-node-exporter running on 127.0.0.1:9100 in private namespaces), with /etc/systemd/system/multi-user.target.wants replaced by a copy of this machine's that lacks the prometheus-node-exporter.service link, as after systemctl disable: the unit is disabled, so the exporter would not come back after a reboot" \
  --expect-status fail --expect-summary "node_exporter runs" \
  --expect-summary "does not start at boot: prometheus-node-exporter.service is disabled"

mkdir -p "$W/mon-bin"
cp /bin/sleep "$W/mon-bin/acme-monitor"
mon_case pass_custom_agent_boot_unknown "'$W/mon-bin/acme-monitor' 100000 &" \
  --param 'agents=["acme-monitor"]' \
  --source "this machine, in fresh PID, network and mount namespaces, running a program named acme-monitor (a copy of /bin/sleep at $W/mon-bin/acme-monitor, standing in for an in-house agent) and no known agent; agents: [acme-monitor]; there is no acme-monitor.service unit nor an init script for it" \
  --expect-status pass --expect-summary "acme-monitor is running" \
  --expect-summary "cannot tell whether it starts at boot"

mon_case pass_node_exporter_and_smartd "$EXPORTER_START; /usr/sbin/smartd -n -q never >/dev/null 2>&1 &" \
  --source "as pass_node_exporter, plus smartd (smartmontools 7.3: /usr/sbin/smartd -n -q never, this machine's /etc/smartd.conf with DEVICESCAN) running although the only disk, virtio vda, has no SMART; smartmontools.service is enabled here" \
  --expect-status pass --expect-summary "node_exporter is running" --expect-value smartd_running=true

printf 'not a program\n' >"$W/mon-ps-not-executable"
mon_case error_ps_unusable "$EXPORTER_START" --plant /usr/bin/ps="$W/mon-ps-not-executable" \
  --source "as pass_node_exporter (prometheus-node-exporter running), with /usr/bin/ps replaced by a text file without execute permission (mode 0644), as on a host where procps is broken: the shell cannot run ps, so no process list comes back" \
  --expect-status error --expect-summary "could not read the process list"
