"""ssh_config resolution agrees with `ssh -G` (the real OpenSSH client; it only resolves, no network)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from auditor.transports import ssh_config
from auditor.transports.ssh_config import SshConfigError, resolve

FIELDS = ("hostname", "user", "port", "identityfile", "proxyjump", "proxycommand")


def ssh_g(config: Path, host: str, *extra: str) -> dict[str, list[str]]:
    if shutil.which("ssh") is None:
        pytest.skip("the OpenSSH client is not installed")
    done = subprocess.run(["ssh", "-G", "-F", str(config), *extra, host], capture_output=True, text=True,
                          check=True, stdin=subprocess.DEVNULL)
    values: dict[str, list[str]] = {}
    for line in done.stdout.splitlines():
        key, _, value = line.partition(" ")
        if key.lower() in FIELDS:
            values.setdefault(key.lower(), []).append(value)
    return values


def expanded(value: str, ssh: dict[str, list[str]]) -> str:
    """ssh -G prints ProxyCommand and IdentityFile before %-expansion; expand as ssh would."""
    tokens = {"h": ssh["hostname"][0], "p": ssh["port"][0], "r": ssh["user"][0], "%": "%"}
    out, index = [], 0
    while index < len(value):
        if value[index] == "%" and index + 1 < len(value):
            out.append(tokens.get(value[index + 1], value[index:index + 2]))
            index += 2
        else:
            out.append(value[index])
            index += 1
    return "".join(out)


def assert_agrees(config: Path, host: str, port: int | None = None, user: str | None = None) -> None:
    extra = [*(["-p", str(port)] if port else []), *(["-l", user] if user else [])]
    ssh = ssh_g(config, host, *extra)
    ours = resolve(host, config, port, user)
    assert ours.hostname == ssh["hostname"][0]
    assert ours.user == ssh["user"][0]
    assert str(ours.port) == ssh["port"][0]
    assert ours.proxyjump == (ssh["proxyjump"][0] if "proxyjump" in ssh else None)
    assert ours.proxycommand == (expanded(ssh["proxycommand"][0], ssh) if "proxycommand" in ssh else None)
    if ours.identities:  # with none configured, ssh -G lists its defaults; paramiko looks for those itself
        assert list(ours.identities) == [expanded(i, ssh) for i in ssh["identityfile"]]


@pytest.fixture
def configs(tmp_path: Path) -> Path:
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "10-web.conf").write_text(
        "Host web-*\n  User incuser\n  IdentityFile /keys/id_%h\n")
    (tmp_path / "conf.d" / "20-db.conf").write_text(
        "Host db\n  HostName 10.0.0.5\n  ProxyJump admin@bastion:2200\n  ProxyCommand nc %h %p\n")
    (tmp_path / "never.conf").write_text("Host *\n  User never-applied\n  Port 1\n")
    (tmp_path / "config").write_text(
        f"Host nomatch\n  Include {tmp_path}/never.conf\n"
        "Host web-* !web-9\n  HostName %h.example.internal\n  Port 2222\n"
        f"Match all\n  Include {tmp_path}/conf.d/*.conf\n"
        "Host web-1\n  IdentityFile /keys/second\n  User ignored-second-value\n"
        "Match host alias-*\n  HostName 127.0.0.9\n"
        "Host *\n  User fallback\n  ProxyCommand sh -c \"exec socat - TCP:%h:%p\"\n")
    return tmp_path / "config"


@pytest.mark.parametrize(("host", "port", "user"), [
    ("web-1", None, None), ("WEB-9", 2200, None), ("web-3", None, "cli-user"), ("db", None, None),
    ("alias-x", None, None), ("other.example", 2022, None), ("nomatch", None, None),
])
def test_resolution_agrees_with_ssh_dash_g(configs: Path, host: str, port: int | None,
                                           user: str | None) -> None:
    # Given a config with Host negation, globbed Includes (one inside a block that does not apply),
    # first-value-wins, accumulating IdentityFiles, Match host, ProxyJump before ProxyCommand
    # When one host is resolved by us and by ssh -G (with -p/-l standing in for the inventory)
    # Then both say the same
    assert_agrees(configs, host, port, user)


def test_an_include_inside_a_block_that_does_not_apply_is_ignored(configs: Path) -> None:
    # Given "Host nomatch" holding an Include of "Host * / Port 1"
    # When another host is resolved, Then the included Port does not leak out of its block
    assert resolve("web-1", configs).port == 2222
    assert resolve("zzz", configs).port == 22
    # And the host the block names does get it
    assert resolve("nomatch", configs).port == 1


def test_relative_includes_resolve_against_dot_ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a home whose ~/.ssh/config includes "config.d/*" (relative)
    home = tmp_path / "home"
    (home / ".ssh" / "config.d").mkdir(parents=True)
    (home / ".ssh" / "config.d" / "a").write_text("Host rel\n  HostName 127.0.0.3\n")
    (home / ".ssh" / "config").write_text("Include config.d/*\n")
    monkeypatch.setenv("HOME", str(home))
    # When the user's file is resolved (no --ssh-config)
    monkeypatch.setattr(ssh_config, "SYSTEM_CONFIG", tmp_path / "none")
    # Then the relative path was taken from ~/.ssh
    assert resolve("rel", None).hostname == "127.0.0.3"


def test_the_system_file_is_read_after_the_users_with_its_own_includes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a user file that sets the user, and a system file that sets it too and includes ssh_config.d
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "config").write_text("Host sys-*\n  User from-user-file\n")
    etc = tmp_path / "etc-ssh"
    (etc / "ssh_config.d").mkdir(parents=True)
    (etc / "ssh_config.d" / "50-site.conf").write_text("Host sys-*\n  HostName 127.0.0.4\n  Port 2201\n")
    (etc / "ssh_config").write_text("Include ssh_config.d/*.conf\nHost *\n  User from-system\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setattr(ssh_config, "SYSTEM_CONFIG", etc / "ssh_config")
    # When a host is resolved
    resolved = resolve("sys-1", None)
    # Then the user's file wins where both speak, the system file (and its include) fills the rest
    assert (resolved.user, resolved.hostname, resolved.port) == ("from-user-file", "127.0.0.4", 2201)


@pytest.mark.parametrize("address", ["127.0.0.7$(touch /tmp/x)", "a;b", "a`id`", "-oProxyCommand=x",
                                     "a b", "a|b"])
def test_a_host_name_with_shell_syntax_never_reaches_proxycommand(tmp_path: Path, address: str) -> None:
    # Given a ProxyCommand that puts %h into a shell
    config = tmp_path / "config"
    config.write_text('Host *\n  ProxyCommand sh -c "exec socat - TCP:%h:%p"\n')
    # When a host name carrying shell syntax is resolved, Then it is refused, saying why
    with pytest.raises(SshConfigError, match="shell metacharacters"):
        resolve(address, config)


def test_proxycommand_port_is_the_port_actually_used(tmp_path: Path) -> None:
    # Given a config port and an inventory port
    config = tmp_path / "config"
    config.write_text("Host h\n  Port 2222\n  ProxyCommand nc %h %p\n")
    # Then %p is the inventory's port when given, the config's otherwise
    assert resolve("h", config, port=2200).proxycommand == "nc h 2200"
    assert resolve("h", config).proxycommand == "nc h 2222"


def test_an_include_loop_is_an_error_not_a_hang(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(f"Include {config}\n")
    with pytest.raises(SshConfigError, match="nested"):
        resolve("h", config)
