"""auditor/parsers/sshd.py, checked against the real sshd: what the parser says a config
means must be what `sshd -T -f <config>` says (OpenSSH on this machine, as root)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from auditor.parsers import sshd

SSHD = Path("/usr/sbin/sshd")
needs_sshd = pytest.mark.skipif(os.geteuid() != 0 or not SSHD.exists(),
                                reason="needs root and /usr/sbin/sshd (sshd -T reads the host keys)")


def sshd_t(config: Path, *connection: str) -> dict[str, list[str]]:
    args = [str(SSHD), "-T", "-f", str(config)] + (["-C", ",".join(connection)] if connection else [])
    return sshd.parse_sshd_t(subprocess.run(args, capture_output=True, text=True, check=True).stdout)


def read_tree(root: Path) -> dict[str, str]:
    return {str(p): p.read_text(errors="backslashreplace") for p in root.rglob("*") if p.is_file()}


@needs_sshd
def test_first_value_wins_across_includes_and_match_ends_with_its_file(tmp_path: Path) -> None:
    # Given a main file that includes drop-ins (one with a Match block) before its own lines
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "10-a.conf").write_text(
        "passwordauthentication=yes\nMatch User bob\n  PermitRootLogin no\n")
    (tmp_path / "d" / "20-b.conf").write_text("PasswordAuthentication no\nMaxAuthTries 2\n")
    (tmp_path / "d" / "30-c.txt").write_text("MaxAuthTries 9\n")
    main = tmp_path / "sshd_config"
    main.write_text(f"# comment\nInclude {tmp_path}/d/*.conf\nPERMITROOTLOGIN yes\nMaxAuthTries 5\n"
                    "AllowUsers alice\nAllowUsers bob carol\n")
    # When the parser and sshd -T read it
    config = sshd.parse_config(read_tree(tmp_path), main=str(main))
    real = sshd_t(main)
    # Then they agree on every value the parser found, and on where each came from
    assert config.first("passwordauthentication") == sshd.Setting(
        "passwordauthentication", "yes", f"{tmp_path}/d/10-a.conf:1")
    assert real["passwordauthentication"] == ["yes"]
    assert config.first("permitrootlogin").value == "yes" and real["permitrootlogin"] == ["yes"]
    assert config.first("maxauthtries").value == "2" and real["maxauthtries"] == ["2"]
    assert [s.value for s in config.settings["allowusers"]] == ["alice", "bob carol"]
    assert real["allowusers"] == ["alice", "bob", "carol"]
    # And the Match block, which ended with its file, holds only its own line
    assert [(m.criteria, [s.keyword for s in m.settings]) for m in config.matches] == [
        ("User bob", ["permitrootlogin"])]
    assert sshd_t(main, "user=bob")["permitrootlogin"] == ["no"]


@needs_sshd
@pytest.mark.parametrize("configured", ["+aes128-cbc", "-aes*-ctr", "^aes256-ctr", "aes256-gcm@openssh.com"])
def test_algorithm_list_syntax_as_sshd_applies_it(tmp_path: Path, configured: str) -> None:
    # Given a Ciphers line in +, -, ^ or plain form
    config = tmp_path / "sshd_config"
    config.write_text(f"Ciphers {configured}\n")
    # When the parser resolves it against the compiled-in defaults
    resolved = sshd.resolve_algorithms(configured, sshd.COMPILED_DEFAULTS["ciphers"])
    # Then it is the list sshd -T prints (when this sshd is the version the defaults are from)
    version = subprocess.run([str(SSHD), "-V"], capture_output=True, text=True).stderr
    if not version.startswith(sshd.COMPILED_DEFAULTS_VERSION):
        pytest.skip(f"defaults are {sshd.COMPILED_DEFAULTS_VERSION}'s, this is {version.strip()}")
    assert ",".join(resolved) == sshd_t(config)["ciphers"][0]


@needs_sshd
def test_compiled_defaults_are_what_sshd_prints_for_an_empty_config() -> None:
    version = subprocess.run([str(SSHD), "-V"], capture_output=True, text=True).stderr
    if not version.startswith(sshd.COMPILED_DEFAULTS_VERSION):
        pytest.skip(f"defaults are {sshd.COMPILED_DEFAULTS_VERSION}'s, this is {version.strip()}")
    real = sshd_t(Path("/dev/null"))
    assert {k: real[k][0] for k in sshd.COMPILED_DEFAULTS} == sshd.COMPILED_DEFAULTS


def test_relative_include_is_relative_to_etc_ssh_and_globs_do_not_cross_slashes() -> None:
    files = {
        "/etc/ssh/sshd_config": "Include sshd_config.d/*.conf\nPasswordAuthentication no\n",
        "/etc/ssh/sshd_config.d/50-cloud-init.conf": "PasswordAuthentication yes\n",
        "/etc/ssh/sshd_config.d/sub/60-deeper.conf": "PermitRootLogin yes\n",
    }
    config = sshd.parse_config(files)
    assert config.first("passwordauthentication").where == "/etc/ssh/sshd_config.d/50-cloud-init.conf:1"
    assert config.first("permitrootlogin") is None
    assert config.files_read == ["/etc/ssh/sshd_config", "/etc/ssh/sshd_config.d/50-cloud-init.conf"]


def test_aliases_quotes_and_a_missing_main_file() -> None:
    config = sshd.parse_config({"/etc/ssh/sshd_config": 'ChallengeResponseAuthentication yes\n'
                                                        'Banner "/etc/issue net"\n'})
    assert config.first("kbdinteractiveauthentication").value == "yes"
    assert config.first("banner").value == "/etc/issue net"
    assert sshd.parse_config({}).problems == ["/etc/ssh/sshd_config could not be read"]


def test_sshd_t_garbage_is_refused() -> None:
    with pytest.raises(ValueError):
        sshd.parse_sshd_t("sshd: no hostkeys available -- exiting.\n")
