"""ssh_hardening's sshd_config probe (one awk per file: its text, comment lines blanked, and its
Include arguments) under dash and bash with GNU tools and busybox sh with only busybox
applets. Real files in a temporary directory stand for /etc/ssh."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from auditor.parsers import sshd
from auditor.parsers.files import parse_dump
from checks.ssh_hardening import SSHD_CONFIG

GNU_PATH = "/usr/local/bin:/usr/bin:/bin"


@pytest.fixture(scope="module")
def shells(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, list[str], str]]:
    found = [(name, [name], GNU_PATH) for name in ("dash", "bash") if shutil.which(name)]
    if box := shutil.which("busybox"):
        applets = tmp_path_factory.mktemp("busybox-applets")
        for applet in ("sh", "awk"):
            (applets / applet).symlink_to(box)
        found.append(("busybox", [box, "sh"], str(applets)))
    if len(found) < 2:
        pytest.skip("fewer than two of dash, bash and busybox are installed")
    return found


def _run(argv: list[str], path: str, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*argv, "-c", script], capture_output=True, text=True, timeout=60,
                          env={"PATH": path, "LC_ALL": "C"}, check=False)


def test_each_file_and_what_it_includes_is_dumped_with_comments_blanked(shells, tmp_path):
    # Given an sshd_config whose comments (indented too) hold text, with Include lines in three
    # spellings (relative glob, quoted absolute path, `=`), a commented-out Include, drop-ins of
    # which one includes a further file, and a last line without a newline
    etc = tmp_path / "ssh"
    (etc / "d").mkdir(parents=True)
    main = etc / "sshd_config"
    main.write_text("# secret note\nInclude d/*.conf\n  include \"" + str(etc / "extra.conf") + "\"\n"
                    "Include=" + str(etc / "eq.conf") + "\n#Include /etc/passwd\n"
                    "PermitRootLogin no\n\t# indented note\nPasswordAuthentication no")
    (etc / "d" / "10-a.conf").write_text("Ciphers aes256-ctr # trailing words stay\nInclude nested.conf\n")
    (etc / "d" / "20-b.conf").write_text("MaxAuthTries 3\n")
    (etc / "nested.conf").write_text("X11Forwarding no\n")
    (etc / "extra.conf").write_text("# only a comment\n")
    (etc / "eq.conf").write_text("LoginGraceTime 30\n")
    script = SSHD_CONFIG.replace(sshd.MAIN_CONFIG, str(main)).replace(sshd.CONFIG_DIR, str(etc))
    outputs = []
    for label, argv, path in shells:
        # When the probe runs
        done = _run(argv, path, script)
        # Then every file is dumped once, comment lines blank (line numbers kept), other text as is
        assert done.returncode == 0 and done.stderr == "", (label, done.stderr)
        files, unreadable = parse_dump(done.stdout)
        assert unreadable == [], label
        assert files == {
            str(main): "\nInclude d/*.conf\n  include \"" + str(etc / "extra.conf") + "\"\n"
                       "Include=" + str(etc / "eq.conf") + "\n"
                       "\nPermitRootLogin no\n\nPasswordAuthentication no\n",
            str(etc / "d" / "10-a.conf"): "Ciphers aes256-ctr # trailing words stay\nInclude nested.conf\n",
            str(etc / "d" / "20-b.conf"): "MaxAuthTries 3\n",
            str(etc / "extra.conf"): "\n",
            str(etc / "eq.conf"): "LoginGraceTime 30\n",
            str(etc / "nested.conf"): "X11Forwarding no\n",
        }, label
        assert "secret note" not in done.stdout and "/etc/passwd" not in done.stdout, label
        outputs.append(done.stdout)
    # And every shell printed the same bytes
    assert all(out == outputs[0] for out in outputs), outputs
