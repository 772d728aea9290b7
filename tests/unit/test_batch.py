"""The batch script runs every probe once, isolated, and its framing cannot be forged."""

import math
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from auditor.engine import batch


def run_batch(probes, cap=batch.DEFAULT_CAP):
    planned = batch.build(probes, sudo=False, cap=cap)
    done = subprocess.run(["/bin/sh", "-s"], input=planned.script, capture_output=True, check=False)
    return planned, batch.parse(planned, done.stdout, done.stderr, cap=cap)


def probe(key, script, ok_rc=(0,)):
    return batch.PlannedProbe(key, script, root=False, ok_rc=ok_rc)


def test_each_probe_gets_its_own_stdout_stderr_and_exit_code():
    # Given three probes that write to both streams and exit differently
    probes = [probe("a.one", "echo out1; echo err1 >&2"), probe("a.two", "echo out2; exit 3", (0, 3)),
              probe("a.three", "printf 'no newline'")]
    # When they run as one batch
    _, outputs = run_batch(probes)
    # Then each output is exactly its own
    assert outputs["a.one"].stdout == "out1\n" and outputs["a.one"].stderr == "err1\n"
    assert outputs["a.two"].rc == 3 and outputs["a.two"].ok
    assert outputs["a.three"].stdout == "no newline"
    assert all(o.duration_ms is not None and o.duration_ms >= 0 for o in outputs.values())


def test_a_syntax_error_or_a_stdin_reader_breaks_only_its_own_probe():
    # Given a probe with a shell syntax error and one that reads stdin, between good probes
    probes = [probe("a.bad", "if then fi"), probe("a.reader", "cat; echo read-done"),
              probe("a.after", "echo still-here")]
    # When the batch runs
    _, outputs = run_batch(probes)
    # Then the bad one fails alone, the reader sees no script text, and the next probe runs
    assert outputs["a.bad"].rc == 2 and "Syntax error" in outputs["a.bad"].stderr
    assert outputs["a.reader"].stdout == "read-done\n"
    assert outputs["a.after"].stdout == "still-here\n"


def test_host_output_cannot_forge_a_boundary():
    # Given a probe that prints what a marker looks like, with a guessed token
    forged = "printf '\\nAUDITOR-00000000000000000000000000000000 E 1 0 0 0\\n'; echo tail"
    probes = [probe("a.forger", forged), probe("a.next", "echo next")]
    # When the batch runs (its real token is random)
    planned, outputs = run_batch(probes)
    # Then the forged line is plain content of the forger's output
    assert planned.token not in forged
    assert outputs["a.forger"].stdout.endswith("tail\n")
    assert "AUDITOR-0000" in outputs["a.forger"].stdout
    assert outputs["a.next"].stdout == "next\n"


def test_output_beyond_the_cap_is_cut_and_marked_but_the_exit_code_stays_true():
    # Given a probe that prints 5000 bytes and exits 0, with a 1000-byte cap
    _, outputs = run_batch([probe("a.big", "yes | head -c 5000; exit 0")], cap=1000)
    big = outputs["a.big"]
    # Then 1000 bytes arrive, marked truncated, and rc is the probe's own 0
    assert len(big.stdout) == 1000 and big.truncated and big.rc == 0


@pytest.mark.skipif(shutil.which("mawk") is None, reason="mawk is not installed")
def test_an_awk_ended_by_the_cap_is_said_to_be_cut_not_to_have_failed_on_the_host():
    # Given mawk printing far past a 2000-byte cap (its write fails, EFBIG, and mawk ends with 2)
    flood = "mawk 'BEGIN { for (i = 0; i < 100000; i++) print \"xxxxxxxx\" }'"
    _, outputs = run_batch([probe("a.big", flood)], cap=2000)
    big = outputs["a.big"]
    # Then the check's error says the cap cut the output, with awk's own words
    assert big.rc == 2 and big.truncated and len(big.stdout) == 2000
    said = "probe a.big exited 2 after its output was cut at the size cap: mawk: "
    assert big.failure_reason().startswith(said)


def test_non_utf8_bytes_survive_as_escapes():
    _, outputs = run_batch([probe("a.bytes", "printf 'caf\\351\\n'")])
    assert outputs["a.bytes"].stdout == "caf\\xe9\n"


def test_a_probe_missing_from_the_output_has_no_exit_code():
    # Given a batch whose output was cut off before the second probe
    planned = batch.build([probe("a.one", "echo 1"), probe("a.two", "echo 2")], sudo=False)
    done = subprocess.run(["/bin/sh", "-s"], input=planned.script, capture_output=True, check=False)
    cut = done.stdout[: done.stdout.index(b" B 1\n")]
    # When it is parsed
    outputs = batch.parse(planned, cut, b"")
    # Then the missing probe is not ok, and says it did not complete
    assert outputs["a.one"].ok and outputs["a.two"].rc is None
    assert "did not complete" in outputs["a.two"].failure_reason()


def test_root_probes_go_through_sudo_only_when_asked():
    root_probe = batch.PlannedProbe("a.root", "cat /etc/shadow", root=True, ok_rc=(0,))
    assert batch.probe_command(root_probe, sudo=True).startswith("sudo -n ")
    assert not batch.probe_command(root_probe, sudo=False).startswith("sudo")
    # And in a batch, every root probe goes to the one sudo of __R, and only when asked
    two = [root_probe, batch.PlannedProbe("b.root", "cat /etc/gshadow", root=True, ok_rc=(0,))]
    script = batch.build(two, sudo=True, probe_timeout=10).script
    # (given 10 s deadlines, the root part's own bound is 2 x (10 + 2) + 2 seconds)
    assert script.count(b"$__sudo ") == 1 and b"\n__R 26\n" in script
    assert b"\n__R " not in batch.build(two, sudo=False).script


def test_durations_are_measured_by_the_host_clock():
    # Given a probe that takes about 300 ms and one that takes none
    probes = [probe("a.slow", "sleep 0.3"), probe("a.fast", "true")]
    # When they run as one batch
    _, outputs = run_batch(probes)
    # Then the slow one's duration shows it (the clock may tick in centiseconds)
    assert 280 <= outputs["a.slow"].duration_ms < 3000, outputs["a.slow"]
    assert outputs["a.fast"].duration_ms < 280


def test_both_clock_formats_give_milliseconds():
    # /proc/uptime gives seconds with centiseconds; date +%s%N gives nanoseconds
    assert batch._duration_ms(b"1234.56", b"1234.81") == 250.0
    assert batch._duration_ms(b"1700000000000000000", b"1700000000250000000") == 250.0
    assert batch._duration_ms(b"", b"12") is None


SHELLS = [shell for shell in (["dash"], ["bash"], ["busybox", "sh"]) if shutil.which(shell[0])]


def run_under(shell, planned, command_input=None, cap=batch.DEFAULT_CAP):
    done = subprocess.run([*shell, "-s"], input=command_input or planned.script, capture_output=True,
                          check=False, timeout=60)
    return batch.parse(planned, done.stdout, done.stderr, cap=cap)


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: " ".join(s))
@pytest.mark.parametrize("spool", [batch.SPOOL_DIRS, ("/nonexistent-auditor-spool",)],
                         ids=["files", "direct"])
def test_the_batch_runs_the_same_under_every_shell_with_or_without_a_spool_directory(shell, spool, tmp_path):
    # Given probes with both streams, an exit code, no final newline and a syntax error
    probes = [probe("a.one", "echo out1; echo err1 >&2"), probe("a.two", "echo out2; exit 3", (0, 3)),
              probe("a.three", "printf 'no newline'"), probe("a.bad", "if then fi"),
              probe("a.reader", "cat; echo read-done")]
    spool = (str(tmp_path),) if spool == batch.SPOOL_DIRS else spool  # a spool directory of its own
    planned = batch.build(probes, sudo=False, spool_dirs=spool)
    # When the batch runs under dash, bash and busybox sh, with files or straight into the streams
    outputs = run_under(shell, planned)
    # Then every probe's output, stderr and exit code are its own
    assert outputs["a.one"].stdout == "out1\n" and outputs["a.one"].stderr == "err1\n"
    assert outputs["a.two"].rc == 3 and outputs["a.two"].stdout == "out2\n"
    assert outputs["a.three"].stdout == "no newline"
    assert outputs["a.bad"].rc == 2
    assert outputs["a.reader"].stdout == "read-done\n"
    # And the private output directory is gone
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: " ".join(s))
def test_no_name_another_local_user_can_see_holds_the_batch_s_token(shell):
    # Given a probe that looks where another local user can look while the batch runs: the names
    # in the spool directories (/dev/shm is world-readable) and its own files' paths
    look = "ls -a " + " ".join(batch.SPOOL_DIRS) + " 2>/dev/null; readlink /proc/self/fd/1 /proc/self/fd/2"
    planned = batch.build([probe("a.look", look)], sudo=False)
    # When the batch runs with its spool directory
    seen = run_under(shell, planned)["a.look"].stdout
    # Then the probe wrote into a spool directory (the look is not vacuous), whose name is not
    # the token that frames every probe's output
    assert "/AUDITOR-" in seen, seen
    assert planned.token not in seen and planned.token.removeprefix("AUDITOR-") not in seen


def test_the_compressed_form_runs_what_the_plain_one_does():
    # Given a batch
    planned = batch.build([probe("a.one", "echo 'quoted' \"twice\"; echo e >&2")], sudo=False)
    # When its payload goes through the command the runner sends
    done = subprocess.run(["/bin/sh", "-c", batch.COMPRESSED_COMMAND], input=planned.payload,
                          capture_output=True, check=False, timeout=60)
    outputs = batch.parse(planned, done.stdout, done.stderr)
    # Then it is smaller than the script and gives the same outputs
    assert len(planned.payload) < len(planned.script)
    assert outputs["a.one"].stdout == "quoted twice\n" and outputs["a.one"].stderr == "e\n"


GUNZIPS = [tool for tool in (["gzip", "-dc"], ["busybox", "gzip", "-dc"]) if shutil.which(tool[0])]


@pytest.mark.parametrize("gunzip", GUNZIPS, ids=lambda t: " ".join(t))
def test_the_payload_is_the_script_and_only_its_token_part_differs_between_hosts(gunzip):
    # Given the same probes built for two hosts (two tokens)
    probes = [probe("a.one", "echo one"), probe("a.two", "echo two")]
    first, second = batch.build(probes, sudo=False), batch.build(probes, sudo=False)
    # When each payload is decompressed by GNU gzip and by busybox gzip
    for planned in (first, second):
        done = subprocess.run(gunzip, input=planned.payload, capture_output=True, check=True, timeout=60)
        # Then it gives the plain script back, byte for byte
        assert done.stdout == planned.script
    # And the token sits in the head alone, so the rest is compressed once for both
    assert first.token != second.token
    assert first.token.encode() in first.script[:first.head_size]
    assert first.token.encode() not in first.script[first.head_size:]
    assert first.script[first.head_size:] == second.script[second.head_size:]
    assert first.payload.endswith(batch._compressed(first.script[first.head_size:]))


def test_identical_probes_run_once_and_both_keys_get_the_output():
    # Given two checks asking for the same script
    probes = [probe("a.lsblk", "echo $$"), probe("b.lsblk", "echo $$", ok_rc=(0, 1))]
    planned = batch.build(probes, sudo=False)
    # When the batch runs
    _, outputs = run_batch(probes)
    # Then the script appears once, and both keys hold the one run's output with their own ok_rc
    assert planned.script.count(b"echo $$") == 1
    assert outputs["a.lsblk"].stdout == outputs["b.lsblk"].stdout != ""
    assert outputs["b.lsblk"].ok_rc == (0, 1)


def test_probes_carrying_the_masking_awk_run_together_and_each_key_keeps_its_own_output():
    # Given probes interleaved: some carry the shared credential-masking awk, some do not
    from auditor.parsers.credentials import MASK_AWK
    masked = "awk '" + MASK_AWK.replace("'", "'\\''") + " { print mask_credentials($0, \"***\", 1) }'"
    probes = [probe("_host.facts", "echo facts"), probe("a.masked", f"echo 'password=S3cret' | {masked}"),
              probe("b.plain", "echo plain"), probe("c.masked", f"echo 'token=T0ken' | {masked} # c"),
              probe("d.plain", "echo last")]
    planned = batch.build(probes, sudo=False)
    # When the batch runs
    _, outputs = run_batch(probes)
    # Then the two masking probes are neighbours in the script, after the others in their order
    script = planned.script.decode()
    at = {p.key: script.index(p.script.replace("'", "'\\''")) for p in probes}
    assert at["_host.facts"] < at["b.plain"] < at["d.plain"] < at["a.masked"] < at["c.masked"]
    # And every key still gets its own output, masked where it was asked to be
    assert outputs["_host.facts"].stdout == "facts\n" and outputs["d.plain"].stdout == "last\n"
    assert "S3cret" not in outputs["a.masked"].stdout and "password=" in outputs["a.masked"].stdout
    assert "T0ken" not in outputs["c.masked"].stdout and outputs["b.plain"].stdout == "plain\n"


def test_the_wrapper_forks_at_most_two_processes_per_probe():
    # Given a batch of 40 probes that fork nothing themselves, run under strace counting forks
    if not shutil.which("strace"):
        pytest.skip("strace is not installed")
    probes = [probe(f"a.p{i}", f"echo {i}") for i in range(40)]
    planned = batch.build(probes, sudo=False)
    done = subprocess.run(["strace", "-f", "-qq", "-e", "trace=clone,clone3,fork,vfork", "-o", "/dev/stderr",
                           "dash", "-s"], input=planned.script, capture_output=True, check=False, timeout=60)
    forks = sum(1 for line in done.stderr.splitlines() if b"clone" in line or b"fork" in line)
    # Then the forks are two per probe plus a few per batch
    assert forks <= 2 * len(probes) + 12, forks


# Adversarial framing: a hostile host knows the token (it reads the script) and may send anything.
def _hostile_streams(token):
    mark = b"\n" + token.encode() + b" "
    size = batch.DEFAULT_CAP
    yield "15000 begin markers", (mark + b"B 1\n") * 15000
    yield "begin markers to the cap", (mark + b"B 1\nx") * (size // (len(mark) + 5))
    yield "begins and stderr markers", (mark + b"B 2\n" + mark + b"S\n") * (size // (2 * len(mark) + 6))
    yield "ends without begins", (mark + b"E 1 0 1 2\n") * (size // (len(mark) + 11))
    yield "nested numbers", b"".join(mark + b"B %d\n" % i for i in range(size // (len(mark) + 8)))
    yield "one huge frame", mark + b"B 0\n" + b"y" * size + mark + b"E 0 0 1 2\n"
    yield "no newline at all", b"\x00" * size


def test_parsing_hostile_output_of_the_cap_s_size_is_linear():
    # Given a batch and, for each adversarial framing, output of about the cap's size
    planned = batch.build([probe(f"a.p{i}", f"true {i}") for i in range(3)], sudo=False)
    for name, stream in _hostile_streams(planned.token):
        # When it is parsed (as stdout and as stderr)
        started = time.process_time()
        outputs = batch.parse(planned, stream, stream)
        spent = time.process_time() - started
        # Then it finishes far within what the quadratic parse took (~40 s), with every key
        assert spent < 2.0, (name, spent)
        assert set(outputs) == {"a.p0", "a.p1", "a.p2"}


def test_a_forged_frame_counts_once_and_a_huge_one_is_cut():
    # Given a stream where a number's frame comes twice and one frame is over the cap
    planned = batch.build([probe("a.p0", "true 0"), probe("a.p1", "true 1")], sudo=False)
    mark = b"\n" + planned.token.encode() + b" "
    stream = (mark + b"B 0\nfirst" + mark + b"S\nerr" + mark + b"E 0 0 1.00 1.50\n"
              + mark + b"B 0\nsecond" + mark + b"E 0 5 1 2\n"
              + mark + b"B 1\n" + b"z" * 2000 + mark + b"E 1 0 1 2\n")
    # When it is parsed with a 1000-byte cap
    outputs = batch.parse(planned, stream, b"", cap=1000)
    # Then the first frame wins, with its stderr, and the big one is cut and marked
    assert outputs["a.p0"].stdout == "first" and outputs["a.p0"].stderr == "err"
    assert outputs["a.p0"].rc == 0 and outputs["a.p0"].duration_ms == 500.0
    assert len(outputs["a.p1"].stdout) == 1000 and outputs["a.p1"].truncated


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: " ".join(s))
@pytest.mark.parametrize("spool", [batch.SPOOL_DIRS, ("/nonexistent-auditor-spool",)],
                         ids=["batch watchdog", "per-probe watchdog"])
def test_a_hung_probe_costs_only_its_own_deadline(shell, spool, tmp_path):
    # Given a probe blocked on a FIFO nobody writes, between two good probes, a 1 s deadline
    fifo = tmp_path / "never"
    os.mkfifo(fifo)
    probes = [probe("a.before", "echo before"), probe("a.stuck", f"cat {fifo}; echo unreachable"),
              probe("a.after", "echo after; echo late >&2")]
    planned = batch.build(probes, sudo=False, probe_timeout=1, spool_dirs=spool)
    # When the batch runs
    started = time.monotonic()
    done = subprocess.run([*shell, "-s"], input=planned.script, capture_output=True, check=False,
                          timeout=60)
    elapsed = time.monotonic() - started
    outputs = batch.parse(planned, done.stdout, done.stderr)
    # Then the others' outputs arrive, the stuck one is an error naming its deadline, and the
    # batch took about the deadline, not forever, leaving nothing behind
    assert outputs["a.before"].stdout == "before\n"
    assert outputs["a.after"].stdout == "after\n" and outputs["a.after"].stderr == "late\n"
    stuck = outputs["a.stuck"]
    assert not stuck.ok and stuck.failure_reason() == "probe a.stuck timed out after 1 s"
    assert elapsed < 10, elapsed
    assert subprocess.run(["pgrep", "-f", f"^cat {fifo}$"], capture_output=True).stdout == b""


def _hung_descendant_is_ended(shell, spool, tmp_path, program: str, command: str) -> None:
    """Runs `command` (which starts `program` with a unique argument, hung) as a probe with a 1 s
    deadline, and checks that the probe timed out and left no process of `program` behind."""
    marker = f"{time.time_ns() % 10**9}.5"  # its argument: found by pgrep afterwards, never reached
    planned = batch.build([probe("a.stuck", command.replace("@MARKER@", marker))], sudo=False,
                          probe_timeout=1, spool_dirs=spool)
    try:
        done = subprocess.run([*shell, "-s"], input=planned.script, capture_output=True, check=False,
                              timeout=30)
    finally:
        left = subprocess.run(["pgrep", "-f", f" {marker}$"], capture_output=True, text=True).stdout.split()
        for pid in left:
            os.kill(int(pid), signal.SIGKILL)
    assert batch.parse(planned, done.stdout, done.stderr)["a.stuck"].failure_reason() == (
        "probe a.stuck timed out after 1 s")
    assert left == [], program


SPOOLS = pytest.mark.parametrize("spool", [batch.SPOOL_DIRS, ("/nonexistent-auditor-spool",)],
                                 ids=["batch watchdog", "per-probe watchdog"])


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: " ".join(s))
@SPOOLS
@pytest.mark.parametrize("name", ["x) S 1 (y", "x\n1 (y"], ids=["blanks and parentheses", "a newline"])
def test_a_hung_probe_s_child_is_ended_whatever_it_calls_itself(shell, spool, name, tmp_path):
    # Given a probe whose child names itself so (its kernel name: the link it was run through;
    # /proc/<pid>/stat holds it unescaped) and hangs, with a 1 s deadline
    named = tmp_path / name
    named.symlink_to(shutil.which("sleep") or "/bin/sleep")
    # When the batch runs, then the probe timed out and its child was ended with it
    _hung_descendant_is_ended(shell, spool, tmp_path, name, f"'{named}' @MARKER@; echo unreachable")


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: " ".join(s))
@SPOOLS
def test_a_hung_grandchild_of_a_probe_is_ended(shell, spool, tmp_path):
    # Given a probe whose hung command runs in a command substitution (a grandchild of the
    # probe's shell, as the reruns of an awk over /proc are), with a 1 s deadline
    # When the batch runs, then the probe timed out and the grandchild was ended with it
    _hung_descendant_is_ended(shell, spool, tmp_path, "sleep", "x=$(sleep @MARKER@; :); echo unreachable")


def _wrapper_names(planned):
    """Every name the wrapper's own text defines or uses: T and the __-prefixed ones."""
    text = planned.script.decode()
    wrapper = text[:text.index("\n__r 0 ")]  # the prelude, before the first probe
    return sorted(set(re.findall(r"(?<![\w$])(__[A-Za-z_]\w*)", wrapper)) | {"T"})


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: " ".join(s))
@pytest.mark.parametrize("spool", [batch.SPOOL_DIRS, ("/nonexistent-auditor-spool",)],
                         ids=["files", "direct"])
def test_a_probe_starts_from_what_a_fresh_shell_holds(shell, spool):
    # Given a probe that looks for every name of the wrapper, as a variable or a function, and
    # for arguments (a probe looping over "$@" must find none)
    planned = batch.build([probe("a.p", "true")], sudo=False, spool_dirs=spool)
    names = _wrapper_names(planned)
    assert {"T", "__d", "__sudo", "__x", "__r", "__auditor_batch"} <= set(names)
    look = ("for n in " + " ".join(names) + "; do eval \"[ -z \\\"\\${$n+x}\\\" ]\" || echo \"var $n\"; "
            "command -v \"$n\" >/dev/null 2>&1 && echo \"function $n\"; done; echo \"args $#\"; "
            "for a; do echo \"arg $a\"; done")
    # When it runs in a batch under dash, bash and busybox sh
    outputs = run_under(shell, batch.build([probe("a.look", look)], sudo=False, spool_dirs=spool))
    # Then it sees none of them, and no argument
    assert outputs["a.look"].stdout == "args 0\n", outputs["a.look"]
    assert outputs["a.look"].rc == 0


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: " ".join(s))
def test_a_probe_cannot_run_the_wrapper_s_traps_nor_leave_its_own_behind(shell):
    # Given probes that end in every way a probe can: exit, a syntax error after output, an EXIT
    # trap of its own, TERM sent to its own shell; and one that defines a function and a variable
    killer = "echo before; kill -TERM $(sh -c 'echo $PPID'); echo after"
    probes = [probe("a.exit", "echo x; exit 4", (4,)), probe("a.syntax", "echo y\nif then fi", (2,)),
              probe("a.trap", "trap 'echo own-trap' EXIT; echo z"), probe("a.term", killer, (143,)),
              probe("a.defines", "echo() { :; }; X=1; printf 'defined\\n'"),
              probe("a.after", "echo after-all; echo \"X=${X-unset}\"")]
    planned = batch.build(probes, sudo=False)
    # When they run as one batch, with its spool directory and EXIT trap
    outputs = run_under(shell, planned)
    # Then each ended alone: the spool directory outlived them all (the last probe's output came
    # back through it), its own EXIT trap ran, and nothing it defined reached the next probe
    assert outputs["a.exit"].rc == 4 and outputs["a.exit"].stdout == "x\n"
    assert outputs["a.syntax"].rc == 2 and outputs["a.syntax"].stdout == "y\n"
    assert outputs["a.trap"].stdout == "z\nown-trap\n"
    assert outputs["a.term"].rc == 143 and outputs["a.term"].stdout == "before\n"
    assert outputs["a.defines"].stdout == "defined\n"
    assert outputs["a.after"].stdout == "after-all\nX=unset\n" and outputs["a.after"].rc == 0
    assert not any(Path(d, planned.token).exists() for d in batch.SPOOL_DIRS)


def _signal_masks(text):
    return {line.split(":")[0]: line.split(":")[1].strip() for line in text.splitlines()
            if line.startswith(("SigIgn", "SigCgt", "SigBlk"))}


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: " ".join(s))
def test_a_probe_s_commands_get_the_signals_and_file_limit_a_new_shell_gave_them(shell):
    # Given a probe whose command prints its signal dispositions and the file-size limit, and
    # the same command as a probe ran before: `/bin/sh -c` in the background of a shell with the
    # wrapper's traps (EXIT, HUP, INT, TERM caught; XFSZ ignored) and its ulimit
    command = "grep -E '^Sig(Ign|Cgt|Blk)' /proc/self/status; grep 'Max file size' /proc/self/limits"
    cap = 4096
    planned = batch.build([probe("a.sig", command)], sudo=False, cap=cap)
    before = subprocess.run(
        [*shell, "-c", "trap 'rm -f /nonexistent' EXIT; trap 'exit 129' HUP; trap 'exit 130' INT; "
         f"trap 'exit 143' TERM; trap '' XFSZ; ulimit -S -f {math.ceil((cap + 1) / 512)}; "
         "/bin/sh -c \"$0\" </dev/null & wait $!", command],
        capture_output=True, text=True, check=True, timeout=60).stdout
    # When it runs in a batch
    outputs = run_under(shell, planned)
    # Then its command sees what the new shell's did: INT and QUIT ignored (a background
    # command's), XFSZ ignored (a write past the cap fails, no signal), no handler, the same limit
    assert _signal_masks(outputs["a.sig"].stdout) == _signal_masks(before)
    assert outputs["a.sig"].stdout.splitlines()[-1] == before.splitlines()[-1]


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: " ".join(s))
def test_a_write_past_the_cap_fails_in_the_probe_and_the_next_probe_runs(shell):
    # Given a probe writing far past a 2000-byte cap, and a probe after it
    probes = [probe("a.flood", "head -c 100000 /dev/zero; echo \"head rc $?\" >&2"),
              probe("a.next", "echo next")]
    planned = batch.build(probes, sudo=False, cap=2000)
    # When the batch runs
    outputs = run_under(shell, planned, cap=2000)
    # Then head was refused the write (EFBIG: rc 1, not killed by SIGXFSZ), what came is cut at
    # the cap, and the next probe ran
    flood = outputs["a.flood"]
    assert "head rc 1" in flood.stderr and flood.truncated and len(flood.stdout) == 2000
    assert outputs["a.next"].stdout == "next\n"


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root and setpriv")
@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: " ".join(s))
def test_the_wrapper_reads_its_uid_itself_and_asks_sudo_only_when_not_root(shell, tmp_path):
    # Given a root probe in a batch built for `become: sudo`, which names the uid it ran as and
    # whether sudo ran it (sudo sets SUDO_USER)
    script = "echo \"uid $(id -u) sudo ${SUDO_USER:-no}\""
    planned = batch.build([batch.PlannedProbe("a.root", script, root=True, ok_rc=(0,))], sudo=True)
    # When the batch runs as root, and as nobody (sudo -n there either refuses or is missing)
    as_root = run_under(shell, planned)["a.root"]
    done = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *shell, "-s"],
                          input=planned.script, capture_output=True, check=False, timeout=60, cwd=tmp_path)
    as_nobody = batch.parse(planned, done.stdout, done.stderr)["a.root"]
    # Then root runs it itself, and nobody goes through sudo, which does not let it through
    assert as_root.stdout == "uid 0 sudo no\n" and as_root.rc == 0
    assert as_nobody.rc != 0 and "uid 0" not in as_nobody.stdout and "sudo" in as_nobody.stderr.lower()


def test_parsing_hostile_output_for_a_batch_with_root_probes_is_linear():
    # Given a batch for `become: sudo` with root probes, and streams of the cap's size made of
    # the markers the root part adds (announcements, sudo's Q lines), besides the others
    probes = [batch.PlannedProbe(f"a.p{i}", f"true {i}", root=i > 0, ok_rc=(0,)) for i in range(3)]
    planned = batch.build(probes, sudo=True)
    mark = b"\n" + planned.token.encode() + b" "
    root_mark = b"\n0123456789abcdef0123 "
    size = batch.DEFAULT_CAP
    announced = mark + b"R 0123456789abcdef0123\n" + (root_mark + b"B 1\n") * (size // (len(root_mark) + 4))
    streams = [*_hostile_streams(planned.token), ("announcements", (mark + b"R 0123456789abcdef\n") * 30000),
               ("sudo exits", (mark + b"Q 0 1 2\n") * 40000),
               ("root begin markers", announced + mark + b"Q 0 1 2\n")]
    for name, stream in streams:
        # When it is parsed (as stdout and as stderr)
        started = time.process_time()
        outputs = batch.parse(planned, stream, stream)
        spent = time.process_time() - started
        # Then it finishes within a bound linear parsing keeps, with every key
        assert spent < 2.0, (name, spent)
        assert set(outputs) == {"a.p0", "a.p1", "a.p2"}


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: " ".join(s))
def test_without_a_spool_directory_each_probe_s_watchdog_goes_with_its_sleep(shell):
    # Given a batch with no spool directory (a watchdog per probe) and a deadline no other
    # process on this machine sleeps for
    planned = batch.build([probe("a.quick", "echo quick")], sudo=False, probe_timeout=317,
                          spool_dirs=("/nonexistent-auditor-spool",))
    # When the probe ends long before its deadline
    outputs = run_under(shell, planned)
    # Then its watchdog is gone, sleep and all (kill -9 of the watchdog alone left `sleep 317`)
    assert outputs["a.quick"].stdout == "quick\n"
    left = subprocess.run(["pgrep", "-x", "-f", "sleep 317"], capture_output=True, text=True).stdout.split()
    for pid in left:  # this test's own sleeps (no other process sleeps 317 s): gone even on a failure
        os.kill(int(pid), 9)
    assert left == []
