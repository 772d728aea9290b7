"""One shell script per host: every probe of every selected check, one round trip.

The script is fed to `/bin/sh -s` on stdin (never on the command line, so it does not
show in `ps`). Each probe runs in its own `sh -c` so that a syntax error in one probe
cannot break the others, with stdin from /dev/null so that no probe can swallow the rest
of the script. Its stdout and stderr are cut on the host at `cap` bytes (the remainder is
drained so the probe's exit code stays true) and framed by marker lines that carry a
per-run random token, so output from the host cannot forge a boundary.
"""

from __future__ import annotations

import re
import secrets
import shlex
from dataclasses import dataclass

from auditor.check import ProbeOutput

DEFAULT_CAP = 1 << 20  # bytes per probe per stream


@dataclass(frozen=True)
class PlannedProbe:
    """A probe with its shell text rendered for one host."""

    key: str  # "<check_id>.<probe_name>", unique within a host
    script: str
    root: bool
    ok_rc: tuple[int, ...]


@dataclass(frozen=True)
class Batch:
    token: str
    script: bytes
    probes: tuple[PlannedProbe, ...]


def new_token() -> str:
    return "AUDITOR-" + secrets.token_hex(16)


def probe_command(probe: PlannedProbe, sudo: bool) -> str:
    """The command line that runs one probe; also used by the one-channel-per-probe mode."""
    command = "/bin/sh -c " + shlex.quote(probe.script)
    return ("sudo -n " + command) if (probe.root and sudo) else command


def build(probes: list[PlannedProbe], sudo: bool, cap: int = DEFAULT_CAP) -> Batch:
    token = new_token()
    lines = [
        f"# auditor batch {token}",
        "__auditor_batch() {",
        "export LC_ALL=C",
        f"T={token}",
        # A root login needs no sudo; anyone else gets it only for probes that ask.
        'if [ "$(id -u)" = 0 ]; then __sudo=""; else __sudo="sudo -n"; fi',
        f"__cap() {{ head -c {cap + 1}; cat >/dev/null; }}",
        # The clock without a fork where Linux offers it (centiseconds); date(1) elsewhere.
        "if [ -r /proc/uptime ]; then __now() { read -r __t __x </proc/uptime; }; "
        "else __now() { __t=$(date +%s%N 2>/dev/null); }; fi",
        "exec 4>&1 6>&2",
        "__run() {",
        "  printf '\\n%s B %s\\n' \"$T\" \"$1\"; printf '\\n%s B %s\\n' \"$T\" \"$1\" >&2",
        "  __now; __s=$__t",
        # rc travels through fd 5 into $(...); stdout and stderr each pass their own cap.
        '  __rc=$( { { { "$2" </dev/null; echo $? >&5; } | __cap >&4; } 2>&1 | __cap >&6; } 5>&1 )',
        "  __now; __e=$__t",
        "  printf '\\n%s E %s %s %s %s\\n' \"$T\" \"$1\" \"${__rc:--}\" \"$__s\" \"$__e\"",
        "  printf '\\n%s E %s\\n' \"$T\" \"$1\" >&2",
        "}",
    ]
    for index, probe in enumerate(probes):
        runner = "$__sudo " if (probe.root and sudo) else ""
        lines.append(f"__p{index}() {{ {runner}/bin/sh -c {shlex.quote(probe.script)}; }}")
        lines.append(f"__run {index} __p{index}")
    lines += ["}", "__auditor_batch </dev/null", ""]
    return Batch(token, "\n".join(lines).encode(), tuple(probes))


def _frames(stream: bytes, token: str, with_status: bool) -> dict[int, tuple[bytes, list[bytes]]]:
    """Probe index -> (content, fields of the end marker)."""
    tok = re.escape(token.encode())
    end_fields = rb" (\S+) (\S*) (\S*)" if with_status else rb""
    pattern = re.compile(
        rb"\n" + tok + rb" B (\d+)\n(.*?)\n" + tok + rb" E \1" + end_fields + rb"\n", re.DOTALL
    )
    frames: dict[int, tuple[bytes, list[bytes]]] = {}
    for match in pattern.finditer(stream):
        frames[int(match.group(1))] = (match.group(2), list(match.groups()[2:]))
    return frames


def decode(data: bytes) -> str:
    # Lossless for ASCII, visible for anything else: non-UTF-8 bytes stay as \xNN.
    return data.decode("utf-8", errors="backslashreplace")


def _cut(data: bytes, cap: int) -> tuple[bytes, bool]:
    return (data[:cap], True) if len(data) > cap else (data, False)


def _duration_ms(start: bytes, end: bytes) -> float | None:
    """Clock readings are seconds with a fraction (/proc/uptime) or nanoseconds (date +%s%N)."""
    try:
        if b"." in start or b"." in end:
            return round((float(end) - float(start)) * 1000, 3)
        return round((int(end) - int(start)) / 1e6, 3)
    except ValueError:
        return None


def parse(batch: Batch, stdout: bytes, stderr: bytes, cap: int = DEFAULT_CAP) -> dict[str, ProbeOutput]:
    """Split a batch's output back into per-probe outputs, keyed by probe key."""
    out_frames = _frames(stdout, batch.token, with_status=True)
    err_frames = _frames(stderr, batch.token, with_status=False)
    results: dict[str, ProbeOutput] = {}
    for index, probe in enumerate(batch.probes):
        out, fields = out_frames.get(index, (b"", []))
        err, _ = err_frames.get(index, (b"", []))
        out, out_cut = _cut(out, cap)
        err, err_cut = _cut(err, cap)
        rc: int | None = None
        duration = None
        if fields:
            rc = int(fields[0]) if fields[0].lstrip(b"-").isdigit() else None
            duration = _duration_ms(fields[1], fields[2])
        results[probe.key] = ProbeOutput(
            name=probe.key,
            stdout=decode(out),
            stderr=decode(err),
            rc=rc,
            duration_ms=duration,
            truncated=out_cut or err_cut,
            ok_rc=probe.ok_rc,
        )
    return results
