"""dump_files_script reads every file of a dump in one awk; what parse_dump makes of its output
is what it made of the one-`cat`-per-file form it replaced, under dash and bash with GNU tools
and under busybox sh with only busybox applets on PATH, as root and as an unprivileged user.
Real files in a temporary directory, real shells."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.engine import registry
from auditor.parsers.files import HEADER, UNREADABLE, dump_files_script, parse_dump
from auditor.parsers.syslog import busybox

GNU_PATH = "/usr/local/bin:/usr/bin:/bin"
APPLETS = ("sh", "awk", "cat", "readlink", "printf", "echo", "ls")


def _one_cat_per_file(*paths: str, more_paths: str | None = None) -> str:
    """The form dump_files_script had before: one `cat` per file, one `readlink` per link."""
    quoted = " ".join(shlex.quote(p) for p in paths)
    lines = [
        "__seen=' '",
        "masked() { [ -L \"$1\" ] && [ \"$(readlink -f \"$1\")\" = /dev/null ]; }",
        "emit() { case \"$__seen\" in *\" $1 \"*) return;; esac; __seen=\"$__seen$1 \"; "
        f"if masked \"$1\"; then printf '\\n%s%s\\n' {shlex.quote(HEADER)} \"$1\"; "
        f"elif [ -r \"$1\" ]; then printf '\\n%s%s\\n' {shlex.quote(HEADER)} \"$1\"; cat -- \"$1\"; "
        f"else printf '\\n%s%s\\n' {shlex.quote(UNREADABLE)} \"$1\"; fi; }}",
        "dump() { for f in \"$@\"; do if [ -d \"$f\" ]; then for g in \"$f\"/* \"$f\"/.[!.]*; do "
        "if masked \"$g\" || [ -f \"$g\" ]; then emit \"$g\"; fi; done; "
        "elif [ -f \"$f\" ]; then emit \"$f\"; fi; done; }",
        f"dump {quoted}",
    ]
    if more_paths:
        lines.append(f"dump $({more_paths})")
    lines.append("exit 0")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def shells() -> Iterator[list[tuple[str, list[str], str]]]:
    """(label, shell argv, PATH): dash and bash with GNU tools, busybox sh with busybox applets
    (in a directory under /tmp, which the unprivileged user may use too)."""
    found = [(name, [shell], GNU_PATH) for name in ("dash", "bash") if (shell := shutil.which(name))]
    applets = Path(tempfile.mkdtemp(prefix="auditor-applets-", dir="/tmp"))
    try:
        if box := shutil.which("busybox"):
            for applet in APPLETS:
                (applets / applet).symlink_to(box)
            os.chmod(applets, 0o755)
            found.append(("busybox", [box, "sh"], str(applets)))
        if len(found) < 2:
            pytest.skip("fewer than two of dash, bash and busybox are installed")
        yield found
    finally:
        shutil.rmtree(applets)


@pytest.fixture
def tree() -> Iterator[Path]:
    """Every kind of entry a dump meets: plain, empty, no final newline, CRLF and trailing blank
    lines, a masked file, links, a dangling link, a hidden file, a FIFO, a subdirectory, a file
    nobody but root may read, a name with blanks. Under /tmp, where any user may look."""
    top = Path(tempfile.mkdtemp(prefix="auditor-dump-", dir="/tmp"))
    try:
        yield _plant(top)
    finally:
        shutil.rmtree(top)


def _plant(top: Path) -> Path:
    (top / "d" / "sub").mkdir(parents=True)
    d = top / "d"
    (d / "one").write_text("a\nb\n")
    (d / "empty").write_text("")
    (d / "nonl").write_text("no newline")
    (d / "crlf").write_bytes(b"crlf\r\n\n\n")
    (d / "tabs and blanks").write_text("\tx = 1  \n")
    (d / ".hidden").write_text("hid\n")
    (d / "secret").write_text("root only\n")
    (d / "masked").symlink_to("/dev/null")
    (d / "link").symlink_to("one")
    (d / "dangling").symlink_to("/nonexistent-auditor-target")
    (d / "sub" / "deeper").write_text("not read: one level deep only\n")
    os.mkfifo(d / "fifo")
    (top / "top file").write_text("top\n")
    for path in [top, d, d / "sub"]:
        os.chmod(path, 0o755)
    for path in d.iterdir():
        if path.is_file() and not path.is_symlink():
            os.chmod(path, 0o644)
    os.chmod(d / "secret", 0o000)
    return top


def _run(shell: list[str], path: str, script: str, as_nobody: bool) -> str:
    drop = [SETPRIV, "--reuid=nobody", "--regid=nogroup", "--clear-groups"] if as_nobody else []
    done = subprocess.run([*drop, *shell, "-c", script], capture_output=True, timeout=60,
                          env={"PATH": path, "LC_ALL": "C"}, check=False, cwd="/")
    assert done.returncode == 0, done.stderr
    return done.stdout.decode("utf-8", errors="backslashreplace")


SETPRIV = shutil.which("setpriv") or "setpriv"
USERS = ["root", "nobody"] if os.geteuid() == 0 and shutil.which("setpriv") else ["self"]


@pytest.mark.parametrize("user", USERS)
def test_one_awk_reads_what_one_cat_per_file_read(shells, tree, user):
    # Given a directory of every kind of entry, a file with blanks in its name, a missing path,
    # and more paths (printed by shell) that lead again to files already dumped
    paths = (str(tree / "d"), str(tree / "top file"), str(tree / "missing"))
    more = f"echo {tree / 'd' / 'one'} {tree / 'd' / 'secret'} {tree / 'd' / 'link'}"
    for label, shell, path in shells:
        # When the dump and the form it replaced run under this shell, as this user
        before = _run(shell, path, _one_cat_per_file(*paths, more_paths=more), user == "nobody")
        after = _run(shell, path, dump_files_script(*paths, more_paths=more), user == "nobody")
        # Then parse_dump reads the same files, contents, order and unreadable paths from both
        files, unreadable = parse_dump(after)
        assert (files, unreadable) == parse_dump(before), label
        assert list(files) == list(parse_dump(before)[0]), label
        # And every kind of entry is there as expected
        d = str(tree / "d")
        assert files[f"{d}/nonl"] == "no newline\n" and files[f"{d}/link"] == "a\nb\n"
        assert files[f"{d}/masked"] == files[f"{d}/empty"] == "\n"  # a header alone, as parse_dump reads it
        assert files[f"{d}/crlf"] == "crlf\r\n" and files[f"{d}/.hidden"] == "hid\n"
        assert f"{d}/fifo" not in files and f"{d}/dangling" not in files and f"{d}/sub/deeper" not in files
        assert files[str(tree / "top file")] == "top\n"
        assert (unreadable == [f"{d}/secret"]) == (user == "nobody"), label
        assert after.count(f"{d}/one\n") == 1 and after.count(f"{d}/secret\n") == 1, label


def test_a_dump_of_nothing_starts_no_process(shells, tmp_path):
    # Given only paths that do not exist, and an empty directory
    (tmp_path / "empty").mkdir()
    script = dump_files_script(str(tmp_path / "missing"), str(tmp_path / "empty"))
    for label, shell, _ in shells:
        # When the dump runs with nothing on PATH
        out = _run(shell, "/nonexistent-auditor-path", script, as_nobody=False)
        # Then it prints nothing, and needed no command
        assert out == "", label


# rsyslog's include reader as it ran before auth_logging's dump read the include lines itself.
_RSYSLOG_INCLUDES_AWK = r"""awk '
  tolower($1) == "$includeconfig" { print $2 }
  { while (match($0, /include\([^)]*file="[^"]*"/)) { s = substr($0, RSTART, RLENGTH); sub(/.*file="/, "", s);
      sub(/"$/, "", s); print s; $0 = substr($0, RSTART + RLENGTH) } }' \
  /etc/rsyslog.conf /etc/rsyslog.d/*.conf 2>/dev/null"""


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """An empty directory under /tmp, where any user may look."""
    top = Path(tempfile.mkdtemp(prefix="auditor-rsyslog-", dir="/tmp"))
    os.chmod(top, 0o755)
    try:
        yield top
    finally:
        shutil.rmtree(top)


@pytest.mark.parametrize("user", USERS)
def test_rsyslog_includes_read_by_the_dump_give_what_their_own_awk_gave(shells, open_dir, user):
    # Given an rsyslog layout: a main file including a directory glob (legacy), a file outside
    # (RainerScript, twice on one line), a glob matching nothing; drop-ins, one including a
    # further file, a dotfile and a non-.conf file whose include lines rsyslog does not read
    etc = open_dir / "etc"
    (etc / "rsyslog.d").mkdir(parents=True)
    (etc / "extra").mkdir()
    (etc / "rsyslog.conf").write_text(
        f"$IncludeConfig {etc}/rsyslog.d/*.conf\n"
        f'include(file="{etc}/extra/a.conf") include(file="{etc}/extra/b.conf" mode="optional")\n'
        f"$IncludeConfig {etc}/none/*.conf\nauth,authpriv.* /var/log/auth.log\n")
    (etc / "rsyslog.d" / "10-x.conf").write_text(f"  $IncludeConfig {etc}/extra/c.conf\n*.* -/var/log/x\n")
    (etc / "rsyslog.d" / "20-y.conf").write_text("mail.* /var/log/mail.log")
    (etc / "rsyslog.d" / ".hidden.conf").write_text(f"$IncludeConfig {etc}/extra/hidden-only.conf\n")
    (etc / "rsyslog.d" / "notes.txt").write_text(f"$IncludeConfig {etc}/extra/txt-only.conf\n")
    for name in ("a.conf", "b.conf", "c.conf", "hidden-only.conf", "txt-only.conf"):
        (etc / "extra" / name).write_text(f"# {name}\n")
    for d in (etc, etc / "rsyslog.d", etc / "extra"):
        os.chmod(d, 0o755)
    check = registry.load(plugins=False).checks["auth_logging"]
    now = next(p for p in check.probes if p.name == "rsyslog_conf").render(check.default_params())
    before = dump_files_script("/etc/rsyslog.conf", "/etc/rsyslog.d", *busybox.CONFIG_FILES,
                               more_paths=_RSYSLOG_INCLUDES_AWK)
    now, before = (s.replace("/etc/rsyslog", f"{etc}/rsyslog") for s in (now, before))
    for label, shell, path in shells:
        # When the probe and the form with its own include awk run
        out_now = _run(shell, path, now, user == "nobody")
        out_before = _run(shell, path, before, user == "nobody")
        # Then they print the same bytes: the same files, in the same order, each once
        assert out_now == out_before, label
        files, _ = parse_dump(out_now)
        assert list(files) == [f"{etc}/rsyslog.conf", f"{etc}/rsyslog.d/10-x.conf",
                               f"{etc}/rsyslog.d/20-y.conf", f"{etc}/rsyslog.d/notes.txt",
                               f"{etc}/rsyslog.d/.hidden.conf",
                               f"{etc}/extra/a.conf", f"{etc}/extra/b.conf", f"{etc}/extra/c.conf"], label
