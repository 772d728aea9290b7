"""One shell script per host: every probe of every selected check, one round trip.

The script is sent gzip-compressed on stdin to `/bin/sh`, which reads it from `gzip -dc`
and runs it (never on the command line, so it does not show in `ps`); a host without
gzip(1) says so and gets the plain text from cat(1) instead. Each probe runs in a
process of its own, so that a syntax error in one probe cannot break the others: a fork
of the wrapper's shell that drops the wrapper's traps, variables, functions and arguments
before it reads the probe's text (`eval`). Its stdin is
/dev/null so that no probe can swallow the rest of the script, and it runs under a
deadline of its own (a watchdog sends TERM, then KILL, to a probe and its children once it
runs past it) so that one hung probe costs only itself.

What a probe costs on the host is what the wrapper forks: one fork of the shell (no exec),
nothing else; the watchdog is one process per batch, started with its first probe and
waking once a second. The probe's stdout and stderr go to files in a private directory on
/dev/shm (else /tmp, /var/tmp) whose size `ulimit -f` caps near `cap` bytes (SIGXFSZ is
ignored, so the probe sees a failed write, not a signal); one `cat` per group of probes
sends the files with the markers between them. The clock is read from /proc/uptime, and
the uid from /proc/self/status, by the shell itself. Marker lines carry a per-run random
token, so output from a probe cannot forge a boundary. Where no directory is writable the
probes write straight into the batch's streams, uncapped on the host (the auditor still
cuts at `cap`).

With `become: sudo` and a login that is not root, the probes that need root all run
through ONE `sudo -n`, before the others: the same script, handed to `sudo -n /bin/sh -s
auditor-root-probes` on its stdin, runs the root probes as the wrapper runs the others
(their deadline, caps, spool directory, framing), under a token that root draws on the
host and announces first, so that no unprivileged probe, even one that learns the batch's
token, can frame a root probe's output (see __R). Where sudo refuses, every root probe
gets its exit code and its stderr, as when each had a sudo of its own.

Probes with the same script and privilege run once; every key that asked gets the output.
Parsing is one pass over the output, linear in its size whatever a hostile host sends.
"""

from __future__ import annotations

import functools
import gzip
import math
import re
import secrets
import shlex
from dataclasses import dataclass

from auditor.check import ProbeOutput
from auditor.parsers.credentials import MASK_AWK
from auditor.probes import effective_uid

DEFAULT_CAP = 1 << 20  # bytes per probe per stream
DEFAULT_PROBE_TIMEOUT = 150.0  # seconds; the runner derives a host's from its command_timeout
SPOOL_DIRS = ("/dev/shm", "/tmp", "/var/tmp")
FLUSH_EVERY = 16  # probes whose files one `cat` sends: a run cut short keeps whole groups sent
NO_GZIP_RC = 97  # the compressed form's command exits with this where gzip(1) is missing
# Both keep the script's text in __S: with `become: sudo` the batch hands it to its one sudo.
PLAIN_COMMAND = "/bin/sh -c '__S=$(cat); eval \"$__S\"'"
# Run by the login shell, whatever it is: only quoting every shell understands. The shell that
# checks for gzip runs the script itself (eval), rather than a second shell behind a pipe.
COMPRESSED_COMMAND = (
    "/bin/sh -c 'command -v gzip >/dev/null 2>&1 || exit " + str(NO_GZIP_RC)
    + "; __S=$(gzip -dc); eval \"$__S\"'"
)
ROOT_ARGUMENT = "auditor-root-probes"  # what sudo logs: COMMAND=/bin/sh -s auditor-root-probes
# What a probe ended at its deadline exits with: killed by TERM, or by KILL a second later.
_KILLED_RCS = (143, 137)


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
    script: bytes  # the plain shell text
    probes: tuple[PlannedProbe, ...]
    runs: tuple[int, ...] = ()  # probes[i] is run number runs[i] (identical probes share one)
    probe_timeout: float = DEFAULT_PROBE_TIMEOUT
    head_size: int = 0  # script[:head_size] holds the token; the rest is the same for every host
    root_runs: frozenset[int] = frozenset()  # runs left to the one sudo (become: sudo, not a root login)

    @property
    def payload(self) -> bytes:
        """What COMPRESSED_COMMAND reads on stdin: two gzip members, which gzip -d (GNU, busybox)
        writes out one after the other. The second holds all but the token, so it is compressed
        once per run, not once per host (mtime 0: the same text, the same bytes)."""
        head = self.script[:self.head_size]
        return (gzip.compress(head, compresslevel=9, mtime=0) if head else b"") + _compressed(
            self.script[self.head_size:])


@functools.lru_cache(maxsize=16)
def _compressed(script: bytes) -> bytes:
    return gzip.compress(script, compresslevel=9, mtime=0)


def new_token() -> str:
    return "AUDITOR-" + secrets.token_hex(16)


def probe_timeout_for(command_timeout: float) -> float:
    """Half the host's whole budget: one hung probe leaves time for all the others."""
    return max(1.0, command_timeout / 2)


def probe_command(probe: PlannedProbe, sudo: bool) -> str:
    """The command line that runs one probe; also used by the one-channel-per-probe mode."""
    command = "/bin/sh -c " + shlex.quote(probe.script)
    return ("sudo -n " + command) if (probe.root and sudo) else command


def _quoted(text: str) -> str:
    """Single-quoted for any POSIX shell; `'\\''` is the shortest escape of a quote."""
    return "'" + text.replace("'", "'\\''") + "'"


_HEAD_LINES = 2  # the prelude's lines that hold the token


_FORGET = "@FORGET@"  # where the wrapper's names go, once the prelude's text is known
_WRAPPER_NAME = re.compile(r"(?<![\w$])__[A-Za-z_]\w*")


def _forget(prelude: list[str]) -> list[str]:
    """The prelude with `_FORGET` replaced by the unset of every name it defines (T, and all
    its __ names), variables and functions alike: a probe forked from the wrapper's shell
    starts from what a fresh shell holds, whatever names the wrapper comes to use."""
    names = " ".join(["T", *sorted(set(_WRAPPER_NAME.findall("\n".join(prelude))))])
    return [line.replace(_FORGET, f"unset -v {names}; unset -f {names}") for line in prelude]


def _prelude(token: str, cap: int, deadline: int, spool_dirs: tuple[str, ...]) -> list[str]:
    blocks = math.ceil((cap + 1) / 512)  # ulimit -f counts 512-byte blocks (bash: 1024, so 2x)
    return _forget([
        f"# auditor batch {token}",
        f"T={token}",
        "__auditor_batch() {",
        "export LC_ALL=C",
        # A root login needs no sudo; anyone else gets it only for probes that ask. The
        # effective uid from /proc without a fork (`id -u` where there is no /proc).
        effective_uid("__u"),
        'if [ "$__u" = 0 ]; then __sudo=; else __sudo="sudo -n"; fi',
        # Which probes this shell runs: __r skips those flagged $__o. A login that is not root
        # leaves its root probes (flag 1) to __R; the shell __R starts through sudo, the same
        # script with ROOT_ARGUMENT, runs those alone (it skips flag 0) under a token of its own
        # that it draws itself and announces first (see __R). A root login runs every probe.
        # __n names the spool directory: a random name drawn here, never a token, since any
        # local user can list /dev/shm and a token known to them could frame a probe's output.
        "__rnd() { { read -r __i </proc/sys/kernel/random/uuid; } 2>/dev/null || "
        "__i=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \\n'); }",
        "__rnd; __n=AUDITOR-$__i; __o=",
        f'if [ "$1" = {ROOT_ARGUMENT} ]; then __o=0',
        "  __rnd; [ ${#__i} -ge 16 ] || exit 1; printf '\\n%s R %s\\n' \"$T\" \"$__i\"; T=$__i",
        "  __rnd; __n=AUDITOR-$__i",
        'elif [ -n "$__sudo" ]; then __o=1; fi',
        # Without /proc or od no random name: the batch runs without a spool directory.
        '[ ${#__i} -ge 16 ] || __n=',
        # The clock without a fork where Linux offers it (centiseconds); date(1) elsewhere.
        "if [ -r /proc/uptime ]; then __now() { read -r __t __x </proc/uptime; }; "
        "else __now() { __t=$(date +%s%N 2>/dev/null); }; fi",
        # __y SCRIPT, in a fork of this shell (no exec: the shell is not loaded again), is what a
        # new shell running the probe would be: it drops the wrapper's traps that are not ignored
        # (the EXIT trap would remove the spool directory), ignores INT and QUIT as any
        # background command does, and forgets the arguments and every variable and function of
        # the wrapper before it reads the probe's text. A syntax error ends that fork alone.
        "__y() { trap - EXIT HUP TERM; trap '' INT QUIT; __e=$1; set --",
        f'  eval "{_FORGET}',
        '$__e"; }',
        # __x SCRIPT RUN runs one probe in the background, so that a deadline can end it: with a
        # spool directory one watchdog per batch (below), else one per probe. Its files are
        # opened by the background command itself: a function called with them would have its
        # shell restore the batch's streams before the probe's own EXIT trap runs (dash, busybox).
        '__x() { if [ -n "$__d" ]; then { __y "$1"; } </dev/null >"$__d/$2.o" 2>"$__d/$2.e" &',
        f'  else {{ __y "$1"; }} </dev/null & fi; __p=$!; __v {deadline} "$__d/$2.e"; }}',
        # __v SECONDS WORDS waits for $__p, which TERM, then KILL, end past SECONDS.
        '__v() { if [ -z "$__d" ]; then',
        "    (sleep $1; __k TERM $__p; sleep 1; __k KILL $__p) </dev/null >/dev/null 2>&1 & __w=$!",
        # Reaped under 2>/dev/null: bash would report the killed watchdog in the probe's stderr.
        # The watchdog with its sleep (kill -9 of the subshell alone would leave the sleep behind).
        '    wait $__p; __c=$?; { __k KILL $__w; wait $__w; } 2>/dev/null; return $__c',
        "  fi",
        # The batch's watchdog starts with its first probe (an empty batch needs none).
        '  [ -n "$__wdp" ] || { __wd </dev/null >/dev/null 2>&1 & __wdp=$!; }',
        # What the shell says of the probe's end (dash: "Terminated") goes to WORDS (its stderr).
        '  echo "$__p $1" >"$__d/run"; wait $__p 2>>"$2"; __c=$?; : >"$__d/run"; return $__c; }',
        # __k SIGNAL PID: the probe and what it started.
        # The probe's shell is stopped first, so that it cannot go on to its next command nor
        # end (and wake the batch) before its children have had the signal.
        # Every descendant, not only children: a probe's command substitutions and pipelines
        # run its commands as grandchildren. A process's parent is read from the PPid line of
        # its status (its stat holds its name unescaped: blanks, parentheses, newlines); passes
        # over /proc go on while they find more.
        "__k() { kill -STOP \"$2\" 2>/dev/null; __ch=\" $2 \"; __m=1; while [ -n \"$__m\" ]; do __m=",
        '  for __f in /proc/[0-9]*/status; do __a=${__f#/proc/}; __a=${__a%/status}',
        '    case "$__ch" in *" $__a "*) continue ;; esac',
        '    { while read -r __q __r; do [ "$__q" = PPid: ] && break; done <"$__f"; } 2>/dev/null',
        '    case "$__ch" in *" $__r "*) __ch="$__ch$__a "; __m=1 ;; esac',
        '  done; done; kill -"$1" $__ch 2>/dev/null; kill -CONT "$2" 2>/dev/null; }',
        # __on: the probe running now ($__wr, and its deadline $__wl) as __v wrote it; none: empty.
        "__on() { __wr=; { read -r __wr __wl <\"$__d/run\"; } 2>/dev/null; }",
        # Polls once a second: a probe seen running past its deadline gets TERM, then KILL.
        "__wd() { __wn=; __wc=0; while [ -d \"$__d\" ]; do sleep 1; __on",
        '  if [ -n "$__wr" ] && [ "$__wr" = "$__wn" ]; then __wc=$((__wc + 1)); else __wn=$__wr; __wc=1; fi',
        '  if [ -n "$__wr" ] && [ $__wc -gt $((__wl + 1)) ]; then __k KILL "$__wr";',
        '  elif [ -n "$__wr" ] && [ $__wc -gt "$__wl" ]; then __k TERM "$__wr"; fi; done; }',
        "__d=; __wdp=",
        f"for __b in {' '.join(map(_quoted, spool_dirs))}; do",
        '  if [ -n "$__n" ] && [ -d "$__b" ] && [ -w "$__b" ] && mkdir -m 700 "$__b/$__n" 2>/dev/null; then',
        "    __d=$__b/$__n; break",
        "  fi",
        "done",
        'if [ -n "$__d" ]; then',
        # Stopped by a signal, the shell ends the probe it runs first: nothing else would once the
        # EXIT trap has removed the directory the watchdog polls (root's part, TERMed through
        # sudo when it overruns, would leave a hung root probe behind).
        '  __stop() { __on; [ -z "$__wr" ] || __k KILL "$__wr"; exit $1; }',
        "  trap 'rm -rf \"$__d\"' EXIT; trap '__stop 129' HUP; trap '__stop 130' INT; trap '__stop 143' TERM",
        # Past the cap a write fails (EFBIG) instead of killing the probe with SIGXFSZ.
        f"  trap '' XFSZ; ulimit -S -f {blocks} 2>/dev/null",
        "  printf '\\n%s S\\n' \"$T\" >\"$__d/s\"",
        "fi",
        "__l=",
        # __r N ROOT SCRIPT: run N (unless this shell leaves it to the other); in the private
        # directory its files are sent by __f.
        "__r() {",
        '  [ "$2" = "$__o" ] && return',
        "  __now; __s=$__t",
        '  if [ -n "$__d" ]; then',
        "    printf '\\n%s B %s\\n' \"$T\" \"$1\" >\"$__d/$1.b\"",
        '    __x "$3" "$1"; __rc=$?',
        "    __now; printf '\\n%s E %s %s %s %s\\n' \"$T\" \"$1\" \"$__rc\" \"$__s\" \"$__t\" >\"$__d/$1.x\"",
        '    __l="$__l $1.b $1.o s $1.e $1.x"',
        "  else",
        "    printf '\\n%s B %s\\n' \"$T\" \"$1\"; printf '\\n%s B %s\\n' \"$T\" \"$1\" >&2",
        '    __x "$3" "$1"; __rc=$?',
        "    __now; printf '\\n%s E %s %s %s %s\\n' \"$T\" \"$1\" \"$__rc\" \"$__s\" \"$__t\"",
        "    printf '\\n%s E %s\\n' \"$T\" \"$1\" >&2",
        "  fi",
        "}",
        # __R SECONDS, before any other probe: every root probe through ONE `sudo -n`, a second run of this
        # very script (its text, __S, on sudo's stdin) as root with ROOT_ARGUMENT, which runs
        # the root probes with the wrapper's per-probe deadline, caps, spool and framing, and
        # writes its frames straight into the batch's streams. So sudo runs once, logs one
        # short line (COMMAND=/bin/sh -s auditor-root-probes), and no script text reaches a
        # command line. Trust: the text comes from the login user, who may already run any
        # /bin/sh as root through that sudoers rule; it travels on a pipe, never through a
        # file another user could touch. The root shell's token is drawn on the host by root
        # and announced before any unprivileged probe has run, so no unprivileged output can
        # frame a root probe's. The Q markers carry sudo's exit and stderr (a refusal's
        # words), which become each root probe's when sudo never ran the root shell. SECONDS,
        # the sum of the root probes' deadlines, bounds a sudo that hangs (a stalled PAM or
        # sudoers lookup), so that the unprivileged probes still run.
        '__R() { [ "$__o" = 1 ] || return 0',
        "  __now; __s=$__t; printf '\\n%s Q\\n' \"$T\" >&2",
        f'  {{ printf "%s\\n" "$__S"; }} 2>/dev/null | $__sudo /bin/sh -s {ROOT_ARGUMENT} & __p=$!',
        '  __v "$1" /dev/null',
        "  __z=$?; __now; printf '\\n%s Q %s %s %s\\n' \"$T\" \"$__z\" \"$__s\" \"$__t\"; }",
        # One fork sends a group of probes' files, markers and all, in order.
        '__f() { if [ -n "$__l" ]; then (cd "$__d" && exec cat $__l); __l=; fi; }',
    ])


_MASKING_AWK = MASK_AWK.strip().splitlines()[0]  # its first line, as every probe carrying it holds it


def build(probes: list[PlannedProbe], sudo: bool, cap: int = DEFAULT_CAP,
          probe_timeout: float = DEFAULT_PROBE_TIMEOUT, spool_dirs: tuple[str, ...] = SPOOL_DIRS) -> Batch:
    """`spool_dirs`: where the probes' output files may go, the first writable one."""
    token = new_token()
    deadline = max(1, math.ceil(probe_timeout))
    lines = _prelude(token, cap, deadline, spool_dirs)
    first_probe_line = len(lines)
    run_of: dict[tuple[str, bool], int] = {}
    runs = [0] * len(probes)
    root_runs: set[int] = set()
    # The probes that carry the credential-masking awk run one after the other, so that gzip's
    # 32 KB window finds each copy's twin (full catalogue: 24.8 -> 23.5 KB sent); the others keep
    # their order, the facts probe first.
    for index in sorted(range(len(probes)), key=lambda i: _MASKING_AWK in probes[i].script):
        probe = probes[index]
        as_root = probe.root and sudo
        run = run_of.get((probe.script, as_root))
        if run is None:
            run = run_of[(probe.script, as_root)] = len(run_of)
            lines.append(f"__r {run} {int(as_root)} {_quoted(probe.script)}")
            if as_root:
                root_runs.add(run)
            if (run + 1) % FLUSH_EVERY == 0:
                lines.append("__f")
        runs[index] = run
    if root_runs:
        # Each root probe may take its deadline, a second to die and a second of the root
        # watchdog's polling; past their sum the root part itself is overdue.
        lines.insert(first_probe_line, f"__R {len(root_runs) * (deadline + 2) + 2}")
    lines += ["__f", '[ -z "$__wdp" ] || kill $__wdp 2>/dev/null', "}", '__auditor_batch "$@" </dev/null', ""]
    head = "\n".join(lines[:_HEAD_LINES]) + "\n"
    return Batch(token, (head + "\n".join(lines[_HEAD_LINES:])).encode(), tuple(probes), tuple(runs),
                 float(deadline), head_size=len(head), root_runs=frozenset(root_runs))


@dataclass
class _Frame:
    stdout: bytes = b""
    stderr: bytes | None = None  # from the stdout stream's S section, when the files were used
    fields: tuple[bytes, ...] = ()  # rc, start and end clock of the end marker


def _frames(stream: bytes, token: str, with_status: bool) -> dict[int, _Frame]:
    """Run number -> its frame; one split and one pass, so linear in the stream.

    The stream is cut at every marker prefix; a piece is then `B N`, `S` or `E N ...`
    followed by content. Only B, optional S, E of the same number in that order make a
    frame, and the first complete frame of a number is kept: forged or stray markers cost
    one look each and never a rescan.
    """
    complete: dict[int, _Frame] = {}
    open_run: int | None = None
    frame = _Frame()
    pieces = stream.split(b"\n" + token.encode() + b" ")
    for piece in pieces[1:]:
        header, _, body = piece.partition(b"\n")
        words = header.split(b" ")
        kind = words[0]
        if kind == b"B" and len(words) == 2 and words[1].isdigit():
            open_run, frame = int(words[1]), _Frame(stdout=body)
        elif kind == b"S" and len(words) == 1 and open_run is not None and frame.stderr is None:
            frame.stderr = body
        elif (kind == b"E" and open_run is not None and len(words) >= 2 and words[1].isdigit()
              and int(words[1]) == open_run):
            if with_status and len(words) != 5:
                open_run = None
                continue
            if open_run not in complete:
                frame.fields = tuple(words[2:])
                complete[open_run] = frame
            open_run = None
        else:
            open_run = None  # anything else breaks the frame it is in
    return complete


def _refused(root: _RootPart) -> _Frame:
    """A root probe with no frame of the root shell's: sudo's stderr, and its exit code where
    it never ran that shell (a refusal: rc 1); otherwise it did not complete (no rc)."""
    fields = root.sudo_exit.fields
    if root.announced or not fields or fields[0] == b"0":
        fields = (b"",) + fields[1:] if fields else ()
    return _Frame(stdout=b"", stderr=root.sudo_exit.stdout, fields=fields)


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


_ROOT_TOKEN = re.compile(rb"[0-9A-Za-z-]{16,64}")


@dataclass(frozen=True)
class _RootPart:
    """What the one sudo of a batch left: the root shell's frames, and sudo's exit and stderr."""

    out_frames: dict[int, _Frame]
    err_frames: dict[int, _Frame]
    announced: bool  # the root shell ran and drew its token
    sudo_exit: _Frame  # fields: sudo's exit, start and end clock; stdout: its stderr (cut)


def _root_part(stdout: bytes, stderr: bytes, token: str, cap: int) -> _RootPart | None:
    """None where the wrapper ran the root probes itself (a root login: no Q marker).

    Only a token announced before the wrapper's Q line counts: nothing unprivileged has run by
    then, so no probe's output can announce one (nor know the real one, which root drew)."""
    mark = b"\n" + token.encode() + b" "
    ended = stdout.find(mark + b"Q ")
    if ended < 0:
        return None
    fields = tuple(_line_at(stdout, ended + len(mark) + 2).split(b" "))
    said = stderr.find(mark + b"Q\n")
    sudo_stderr = b""
    if said >= 0:
        start = said + len(mark) + 2
        end = stderr.find(mark, start)
        sudo_stderr = stderr[start:min(end if end >= 0 else len(stderr), start + cap)]
    exit_frame = _Frame(stdout=sudo_stderr, fields=fields if len(fields) == 3 else ())
    at = stdout.find(mark + b"R ", 0, ended)
    root_token = _line_at(stdout, at + len(mark) + 2) if at >= 0 else b""
    if not _ROOT_TOKEN.fullmatch(root_token):
        return _RootPart({}, {}, False, exit_frame)
    theirs = root_token.decode()
    return _RootPart(_frames(stdout, theirs, with_status=True), _frames(stderr, theirs, with_status=False),
                     True, exit_frame)


def _line_at(data: bytes, start: int, longest: int = 200) -> bytes:
    """The marker line's words from `start` to its newline (a marker line is short)."""
    return data[start:start + longest].split(b"\n", 1)[0]


def parse(batch: Batch, stdout: bytes, stderr: bytes, cap: int = DEFAULT_CAP) -> dict[str, ProbeOutput]:
    """Split a batch's output back into per-probe outputs, keyed by probe key.

    A probe left to the batch's one sudo is read from the root shell's frames only; where that
    shell never ran (sudo refused), it gets sudo's exit code and stderr, as when it had its own."""
    out_frames = _frames(stdout, batch.token, with_status=True)
    err_frames = _frames(stderr, batch.token, with_status=False)
    root = _root_part(stdout, stderr, batch.token, cap) if batch.root_runs else None
    runs = batch.runs or tuple(range(len(batch.probes)))
    results: dict[str, ProbeOutput] = {}
    for probe, run in zip(batch.probes, runs, strict=True):
        frame = out_frames.get(run, _Frame())
        err_frame = err_frames.get(run)
        if root is not None and run in batch.root_runs:
            frame = root.out_frames.get(run) or _refused(root)
            err_frame = root.err_frames.get(run)
        err_bytes = frame.stderr if frame.stderr is not None else (err_frame.stdout if err_frame else b"")
        out, out_cut = _cut(frame.stdout, cap)
        err, err_cut = _cut(err_bytes, cap)
        rc: int | None = None
        duration = None
        timed_out: float | None = None
        if frame.fields:
            rc = int(frame.fields[0]) if frame.fields[0].lstrip(b"-").isdigit() else None
            duration = _duration_ms(frame.fields[1], frame.fields[2])
            # Killed at the deadline (the clock has centiseconds; allow for them).
            if rc in _KILLED_RCS and duration is not None and duration >= batch.probe_timeout * 1000 - 50:
                rc, timed_out = None, batch.probe_timeout
        results[probe.key] = ProbeOutput(
            name=probe.key,
            stdout=decode(out),
            stderr=decode(err),
            rc=rc,
            duration_ms=duration,
            truncated=out_cut or err_cut,
            ok_rc=probe.ok_rc,
            timed_out_s=timed_out,
        )
    return results
