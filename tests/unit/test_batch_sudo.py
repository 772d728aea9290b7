"""`become: sudo`: every root probe of a batch runs through ONE real `sudo -n`, with the same
deadline, cap and framing as any probe, and the unprivileged part cannot frame a root probe's
output. The login user is `nobody` in a private mount namespace whose /etc/sudoers is ours."""

import contextlib
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from auditor.engine import batch

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(tool) for tool in ("unshare", "setpriv", "sudo")),
    reason="needs root, unshare, setpriv and sudo (scripts/test.sh installs sudo)")

SHELLS = [shell for shell in (["dash"], ["bash"], ["busybox", "sh"]) if shutil.which(shell[0])]
SPOOLS = [batch.SPOOL_DIRS, ("/nonexistent-auditor-spool",)]
ALLOWED = "nobody ALL=(root) NOPASSWD: /bin/sh"  # the README's rule, for the login user
# Mounts our sudoers over the machine's, in a mount namespace of its own, then becomes nobody.
AS_NOBODY = ("mount --bind \"$0\" /etc/sudoers && "
             "exec setpriv --reuid=nobody --regid=nogroup --clear-groups \"$@\"")


def probe(key, script, root=False, ok_rc=(0,)):
    return batch.PlannedProbe(key, script, root=root, ok_rc=ok_rc)


def run_as_nobody(planned, tmp_path, shell=("dash",), rule=ALLOWED, cap=batch.DEFAULT_CAP):
    """The batch as the runner sends it (PLAIN_COMMAND's shell text, under `shell`), logged in as
    nobody; returns the outputs and the COMMAND lines sudo logged."""
    log = tmp_path / "sudo.log"
    sudoers = tmp_path / "sudoers"
    sudoers.write_text(f"Defaults env_reset\nDefaults !syslog\nDefaults logfile={log}\n"
                       f"root ALL=(ALL:ALL) ALL\n{rule}\n")
    sudoers.chmod(0o440)
    command = shlex.split(batch.PLAIN_COMMAND)[2]
    done = subprocess.run(["unshare", "-m", "sh", "-c", AS_NOBODY, str(sudoers), *shell, "-c", command],
                          input=planned.script, capture_output=True, check=False, timeout=120, cwd="/")
    logged = log.read_text() if log.exists() else ""
    return batch.parse(planned, done.stdout, done.stderr, cap=cap), logged


@pytest.fixture
def shared_spool():
    """A spool directory like /dev/shm (sticky, writable by all), this test's alone: what the
    batch leaves in it is the batch's, whatever else runs on the machine."""
    folder = Path(tempfile.mkdtemp(prefix="auditor-test-spool-", dir="/dev/shm"))
    folder.chmod(0o1777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def private(spool, shared_spool):
    return (str(shared_spool),) if spool == batch.SPOOL_DIRS else spool


def assert_no_spool_left(shared_spool):
    assert not any(shared_spool.iterdir()), list(shared_spool.iterdir())


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: " ".join(s))
@pytest.mark.parametrize("spool", SPOOLS, ids=["files", "direct"])
def test_every_root_probe_runs_through_one_sudo_and_the_others_stay_unprivileged(shell, spool, tmp_path,
                                                                                  shared_spool):
    # Given a batch of probes as nobody: three that need root (one with stderr and its own exit
    # code, one that reads a root-only file), and two that do not, around them
    probes = [probe("_host.facts", "echo user $(id -u)"),
              probe("a.root", "echo root $(id -u); echo to-stderr >&2; exit 3", root=True, ok_rc=(0, 3)),
              probe("b.root", "head -c 5 /etc/shadow", root=True),
              probe("c.plain", "echo plain $(id -u)"),
              probe("d.root", "echo d ${SUDO_USER-no}", root=True)]
    planned = batch.build(probes, sudo=True, spool_dirs=private(spool, shared_spool))
    # When it runs with a sudoers rule that lets nobody run /bin/sh as root
    outputs, logged = run_as_nobody(planned, tmp_path, shell)
    # Then the root probes ran as root, each with its own stdout, stderr and exit code
    assert outputs["a.root"].stdout == "root 0\n" and outputs["a.root"].stderr == "to-stderr\n"
    assert outputs["a.root"].rc == 3 and outputs["a.root"].ok
    assert outputs["b.root"].stdout == Path("/etc/shadow").read_text()[:5] and outputs["b.root"].rc == 0
    assert outputs["d.root"].stdout == "d nobody\n"
    # And the others as nobody
    assert outputs["_host.facts"].stdout == "user 65534\n" and outputs["c.plain"].stdout == "plain 65534\n"
    # And sudo ran once, logging a short command that names what it is
    assert logged.count("COMMAND=") == 1, logged
    assert "COMMAND=/bin/sh -s" in logged and batch.ROOT_ARGUMENT in " ".join(logged.split())
    assert_no_spool_left(shared_spool)


@pytest.mark.parametrize("spool", SPOOLS, ids=["batch watchdog", "per-probe watchdog"])
def test_a_root_probe_keeps_its_deadline_and_its_cap(spool, tmp_path, shared_spool):
    # Given root probes behind one sudo: one blocked on a FIFO nobody writes (a child of the
    # probe's shell), one writing far past a 2000-byte cap, and a root probe after them
    fifo = tmp_path / "never"
    os.mkfifo(fifo)
    probes = [probe("a.stuck", f"cat {fifo}; echo unreachable", root=True),
              probe("a.flood", "head -c 100000 /dev/zero; echo \"head rc $?\" >&2", root=True),
              probe("a.after", "echo after $(id -u)", root=True), probe("a.plain", "echo plain")]
    planned = batch.build(probes, sudo=True, cap=2000, probe_timeout=1,
                          spool_dirs=private(spool, shared_spool))
    # When the batch runs as nobody
    started = time.monotonic()
    outputs, logged = run_as_nobody(planned, tmp_path, cap=2000)
    elapsed = time.monotonic() - started
    # Then the stuck one ended at its deadline with its child, the flood was cut at the cap
    # (with a spool directory, head's write past it failed instead), and the others ran
    stuck = outputs["a.stuck"]
    assert not stuck.ok and stuck.failure_reason() == "probe a.stuck timed out after 1 s", stuck
    assert subprocess.run(["pgrep", "-f", f"^cat {fifo}$"], capture_output=True).stdout == b""
    flood = outputs["a.flood"]
    assert flood.truncated and len(flood.stdout) == 2000
    if spool == batch.SPOOL_DIRS:
        assert "head rc 1" in flood.stderr
    assert outputs["a.after"].stdout == "after 0\n" and outputs["a.plain"].stdout == "plain\n"
    assert elapsed < 20, elapsed
    assert logged.count("COMMAND=") == 1, logged
    assert_no_spool_left(shared_spool)


# The worst case for the root part: an unprivileged probe that knows the batch's token (no probe
# can learn it: the spool directory has a random name of its own, see test_batch). It prints every
# frame it could hope to pass off as the root probe's (run 2): the wrapper's
# own frame for run 2, an announcement of a root token of its choosing with its frame, a Q line.
KNOWN_TOKEN = batch.new_token()
FORGER = f"t={KNOWN_TOKEN}; " + r"""f=0123456789abcdef0123
printf '\n%s B 2\nforged\n%s S\n\n%s E 2 0 1.00 1.01\n' "$t" "$t" "$t"
printf '\n%s R %s\n\n%s B 2\nforged\n%s S\n\n%s E 2 0 1.00 1.01\n' "$t" $f $f $f $f
printf '\n%s Q 0 1.00 1.01\n' "$t"
"""


@pytest.mark.parametrize("rule", [ALLOWED, ""], ids=["sudo allowed", "sudo refused"])
def test_an_unprivileged_probe_cannot_frame_a_root_probe_s_output(rule, tmp_path, monkeypatch):
    # Given an unprivileged probe that knows the batch's token and prints forged frames for the
    # run of the root probe listed after it
    monkeypatch.setattr(batch, "new_token", lambda: KNOWN_TOKEN)
    probes = [probe("a.spy", "echo spy"), probe("b.forger", FORGER),
              probe("c.root", "echo genuine $(id -u)", root=True)]
    planned = batch.build(probes, sudo=True)
    assert planned.token == KNOWN_TOKEN  # the forger's token is the batch's: the test is not vacuous
    # When the batch runs as nobody, with sudo allowed or refused
    outputs, _ = run_as_nobody(planned, tmp_path, rule=rule)
    # Then the unprivileged part ran
    assert outputs["a.spy"].stdout == "spy\n", outputs["a.spy"]
    # And the root probe's output is root's own, or sudo's refusal, never the forgery
    root = outputs["c.root"]
    assert "forged" not in root.stdout
    if rule:
        assert root.stdout == "genuine 0\n" and root.rc == 0
    else:
        assert root.rc == 1 and not root.ok and root.stdout == ""
        assert root.stderr.startswith("sudo: ") and "password is required" in root.stderr


@pytest.mark.parametrize("defaults", ["Defaults use_pty", "Defaults use_pty, log_input, log_output"],
                         ids=["use_pty", "I/O logging"])
def test_the_root_part_reaches_root_through_sudo_s_pty_and_io_logging(defaults, tmp_path):
    # Given sudoers as Debian ships it (use_pty), and with I/O logging, and a root probe that
    # reads its stdin (which must be empty, not the rest of the script)
    rule = f"{defaults}\nDefaults iolog_dir={tmp_path}/io\n{ALLOWED}"
    probes = [probe("a.root", "echo root $(id -u); cat; echo after-cat", root=True),
              probe("b.plain", "echo b")]
    planned = batch.build(probes, sudo=True)
    # When the batch runs as nobody
    outputs, logged = run_as_nobody(planned, tmp_path, rule=rule)
    # Then root ran it, once, with nothing on its stdin
    assert outputs["a.root"].stdout == "root 0\nafter-cat\n" and outputs["a.root"].rc == 0
    assert outputs["b.plain"].stdout == "b\n" and logged.count("COMMAND=") == 1


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: " ".join(s))
@pytest.mark.parametrize("spool", SPOOLS, ids=["files", "direct"])
def test_a_sudo_that_wants_a_tty_is_each_root_probe_s_error_with_its_words(shell, spool, tmp_path):
    # Given sudoers with requiretty, and two root probes and one that needs no root
    probes = [probe("a.root", "id -u", root=True), probe("b.root", "true", root=True),
              probe("c.plain", "echo c")]
    planned = batch.build(probes, sudo=True, spool_dirs=spool)
    # When the batch runs as nobody (no terminal) under dash, bash and busybox sh
    outputs, _ = run_as_nobody(planned, tmp_path, shell, rule=f"Defaults requiretty\n{ALLOWED}")
    # Then each root probe fails with sudo's exit code and words, and the other runs
    for key in ("a.root", "b.root"):
        assert outputs[key].rc == 1 and outputs[key].stdout == "", outputs[key]
        assert outputs[key].stderr == "sudo: sorry, you must have a tty to run sudo\n"
    assert outputs["c.plain"].stdout == "c\n"


def test_a_sudo_that_hangs_is_ended_and_the_other_probes_still_run(tmp_path):
    # Given a login whose sudo hangs before it runs anything (a stalled PAM or sudoers lookup:
    # here a `sudo` first on PATH that sleeps), a root probe, and one that needs no root, 1 s
    # deadlines: the root part is overdue past 1 x (1 + 2) + 2 = 5 s
    fake = Path(tempfile.mkdtemp(prefix="auditor-fake-sudo-", dir="/tmp"))
    try:
        fake.chmod(0o755)
        (fake / "sudo").write_text("#!/bin/sh\nexec sleep 59.75\n")
        (fake / "sudo").chmod(0o755)
        probes = [probe("a.root", "echo root", root=True), probe("b.plain", "echo plain")]
        planned = batch.build(probes, sudo=True, probe_timeout=1)
        # When the batch runs as nobody with that sudo
        started = time.monotonic()
        with pytest.MonkeyPatch.context() as env:
            env.setenv("PATH", f"{fake}:{os.environ['PATH']}")
            outputs, _ = run_as_nobody(planned, tmp_path)
        elapsed = time.monotonic() - started
    finally:
        shutil.rmtree(fake)
    # Then sudo was ended near that bound, the root probe is an error, and the other ran after it
    assert elapsed < 15, elapsed
    assert not outputs["a.root"].ok and outputs["a.root"].stdout == ""
    assert outputs["b.plain"].stdout == "plain\n"
    assert subprocess.run(["pgrep", "-f", "^sleep 59.75$"], capture_output=True).stdout == b""


def test_a_root_part_ended_at_its_bound_ends_the_root_probe_it_was_running(tmp_path, shared_spool):
    # Given a login whose sudo is slow to start the root part (here a `sudo` first on PATH that
    # waits 5.5 s), so that the part has started a root probe blocked on a FIFO nobody writes
    # (5 s deadline, which would end it near 10.5 s) when the part's own bound, 1 x (5 + 2) + 2
    # = 9 s, ends it through sudo (3.5 s for sudo to start the root shell: under load it took
    # 0.1 s, and a 7 s bound left too little)
    fifo, started = tmp_path / "never", tmp_path / "started"
    os.mkfifo(fifo)
    fake = Path(tempfile.mkdtemp(prefix="auditor-slow-sudo-", dir="/tmp"))
    try:
        fake.chmod(0o755)
        (fake / "sudo").write_text(f"#!/bin/sh\nsleep 5.5\nexec {shutil.which('sudo')} \"$@\"\n")
        (fake / "sudo").chmod(0o755)
        probes = [probe("a.root", f"touch {started}; cat {fifo}", root=True), probe("b.plain", "echo plain")]
        planned = batch.build(probes, sudo=True, probe_timeout=5, spool_dirs=(str(shared_spool),))
        # When the batch runs as nobody with that sudo
        with pytest.MonkeyPatch.context() as env:
            env.setenv("PATH", f"{fake}:{os.environ['PATH']}")
            outputs, _ = run_as_nobody(planned, tmp_path)
    finally:
        shutil.rmtree(fake)
    # Then the root probe had started (the test is not vacuous) and the other probe ran
    assert started.exists()
    assert outputs["b.plain"].stdout == "plain\n"
    # And no root process is left reading the FIFO (before, the root shell exited on sudo's TERM
    # and left its probe running for good), nor a spool directory
    reading = ["pgrep", "-f", f"^cat {fifo}$"]
    deadline = time.monotonic() + 5
    try:
        while subprocess.run(reading, capture_output=True).stdout and time.monotonic() < deadline:
            time.sleep(0.1)
        assert subprocess.run(reading, capture_output=True).stdout == b""
    finally:  # a reader left behind gets its end of file, so that a failing run leaves nothing
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert_no_spool_left(shared_spool)
