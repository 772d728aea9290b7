"""The batch script runs every probe once, isolated, and its framing cannot be forged."""

import subprocess

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
    assert b"$__sudo /bin/sh -c" in batch.build([root_probe], sudo=True).script


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
