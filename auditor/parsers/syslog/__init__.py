"""syslog: where rsyslog sends a facility, and what an authentication log record says.

Two halves, both pure:

* `parse_rsyslog(files)` reads rsyslog's configuration in its own order (the main file,
  each `$IncludeConfig` / `include(file=...)` read in place, a glob's files in name order):
  legacy selector lines (`auth,authpriv.* /var/log/auth.log`, `&` continuation actions,
  `~` / `stop`), RainerScript `action(...)` objects, `if prifilt("...")` and
  `if $syslogfacility-text == '...'` blocks, and `ruleset(...) { }` blocks. `destinations()`
  then answers "which files does a message of this facility and priority end up in".
  What it does not interpret (other `if` conditions, property filters) is listed in
  `notes`, never silently dropped.
* `parse_auth_record(line)` takes one line of an authentication log — RFC 3164
  (`Nov 21 10:05:01 host sshd[123]: ...`), RFC 3339 (`2026-11-21T10:05:01.123456+00:00 host
  ...`), journalctl's short-iso, or no timestamp at all — and extracts the date and time,
  the program, the event (sshd Accepted/Failed/Invalid user, PAM authentication failures
  and sessions, login, su, sudo), the user and the source address.

The parts, each importing only those above it: `selectors` (facilities, priorities,
selector matching), `rsyslog` (the configuration), `auth_records` (log lines). Every public name
is importable from `auditor.parsers.syslog`.
"""

from __future__ import annotations

from auditor.parsers.syslog.auth_records import MONTHS, NETWORK_EVENTS, AuthRecord, is_ip, parse_auth_record
from auditor.parsers.syslog.rsyslog import DEFAULT_RULESET, Action, RsyslogConfig, Rule, parse_rsyslog
from auditor.parsers.syslog.selectors import FACILITIES, PRIORITIES, selector_matches

__all__ = [
    "Action",
    "AuthRecord",
    "DEFAULT_RULESET",
    "FACILITIES",
    "MONTHS",
    "NETWORK_EVENTS",
    "PRIORITIES",
    "RsyslogConfig",
    "Rule",
    "is_ip",
    "parse_auth_record",
    "parse_rsyslog",
    "selector_matches",
]
