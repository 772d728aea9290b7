"""OpenSSH habits against real sshd: ~/.ssh/config aliases, ProxyJump, encrypted keys."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from tests.conftest import run_cli
from tests.integration.sshhosts import HostSpec, SshdFleet

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fleet(sshd_fleet):
    with sshd_fleet("fleet") as (fleet, _):
        fleet.start(HostSpec("jump"))
        # Same as "jump" but refusing to forward: proves the audit really goes through the hop.
        fleet.start(HostSpec("jump-noforward", extra_sshd_config="AllowTcpForwarding no\n"))
        fleet.start(HostSpec("target"))
        fleet.start(HostSpec("ctr-only", extra_sshd_config="Ciphers aes256-ctr\n"))
        yield fleet


def host(fleet: SshdFleet, name: str):
    return next(h for h in fleet.hosts if h.name == name)


def audit(tmp_path, inventory: dict, *args: str, env: dict | None = None):
    path = tmp_path / "inv.yaml"
    path.write_text(yaml.safe_dump({"hosts": inventory}))
    return run_cli("run", "-i", str(path), "-o", str(tmp_path / "r"), "--check", "password_hashing",
                   "--format", "json", *args, env=env)


def test_an_ssh_config_alias_supplies_hostname_port_user_and_key(fleet, tmp_path):
    # Given an ssh config that knows the host as "web-alias"
    target = host(fleet, "target")
    config = tmp_path / "ssh_config"
    config.write_text(f"Host web-alias\n  HostName 127.0.0.1\n  Port {target.port}\n  User root\n"
                      f"  IdentityFile {fleet.client_key}\n  UserKnownHostsFile {fleet.known_hosts}\n")
    # When the inventory names only the alias
    result = audit(tmp_path, {"web": {"address": "web-alias"}}, "--ssh-config", str(config))
    # Then the host is reached with everything the config says
    web = result.json()["hosts"][0]
    assert web["error"] is None, web["error"]
    assert web["facts"]["user"] == "root"


def audit_through(fleet, tmp_path, jump_name: str):
    jump, target = host(fleet, jump_name), host(fleet, "target")
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host behind-jump\n  HostName 127.0.0.1\n  Port {target.port}\n"
        f"  ProxyJump root@127.0.0.1:{jump.port}\n"
        f"Host 127.0.0.1\n  IdentityFile {fleet.client_key}\n  UserKnownHostsFile {fleet.known_hosts}\n"
    )
    result = audit(tmp_path, {"behind": {"address": "behind-jump", "user": "root",
                                         "identity_file": str(fleet.client_key),
                                         "known_hosts": str(fleet.known_hosts)}},
                   "--ssh-config", str(config))
    return result.json()["hosts"][0]


def test_proxyjump_reaches_the_target_through_the_jump_host(fleet, tmp_path):
    # Given a target reachable through a ProxyJump hop, when it is audited by its alias
    behind = audit_through(fleet, tmp_path, "jump")
    # Then it is audited
    assert behind["error"] is None, behind["error"]
    assert behind["results"][0]["status"] in ("pass", "fail")


def test_a_jump_host_that_refuses_forwarding_blocks_the_target(fleet, tmp_path):
    # Given the same live target behind a hop whose sshd forbids TCP forwarding
    behind = audit_through(fleet, tmp_path, "jump-noforward")
    # Then the target cannot be reached: the connection really goes through the hop
    assert behind["error_kind"] == "unreachable"
    assert "could not reach 127.0.0.1" in behind["error"]


def test_proxyjump_to_a_dead_jump_host_is_unreachable(fleet, tmp_path):
    target = host(fleet, "target")
    config = tmp_path / "ssh_config"
    config.write_text(f"Host behind-dead\n  HostName 127.0.0.1\n  Port {target.port}\n"
                      "  ProxyJump root@127.0.0.1:1\n")
    result = audit(tmp_path, {"behind": {"address": "behind-dead", "identity_file": str(fleet.client_key),
                                         "known_hosts": str(fleet.known_hosts)}},
                   "--ssh-config", str(config))
    behind = result.json()["hosts"][0]
    assert behind["error_kind"] == "unreachable" and "127.0.0.1:1" in behind["error"]


@pytest.fixture(scope="module")
def encrypted_key(fleet, tmp_path_factory):
    key = tmp_path_factory.mktemp("key") / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "correct horse", "-f", str(key)],
                   check=True)
    with fleet.authorized_keys.open("a") as handle:
        handle.write(key.with_suffix(".pub").read_text())
    return key


def test_an_encrypted_key_opens_with_the_passphrase_from_the_environment(fleet, encrypted_key, tmp_path):
    target = host(fleet, "target")
    entry = {"address": "127.0.0.1", "port": target.port, "user": "root",
             "identity_file": str(encrypted_key), "known_hosts": str(fleet.known_hosts)}
    result = audit(tmp_path, {"t": entry}, env={"AUDITOR_SSH_PASSPHRASE": "correct horse",
                                                "HOME": str(tmp_path)})
    assert result.json()["hosts"][0]["error"] is None


def test_an_encrypted_key_without_a_passphrase_says_how_to_give_one(fleet, encrypted_key, tmp_path):
    # Given no terminal and no passphrase (HOME emptied so no default key can stand in)
    target = host(fleet, "target")
    entry = {"address": "127.0.0.1", "port": target.port, "user": "root",
             "identity_file": str(encrypted_key), "known_hosts": str(fleet.known_hosts)}
    result = audit(tmp_path, {"t": entry}, env={"AUDITOR_SSH_PASSPHRASE": "", "HOME": str(tmp_path),
                                                "SSH_AUTH_SOCK": ""})
    t = result.json()["hosts"][0]
    assert t["error_kind"] == "authentication"
    assert "AUDITOR_SSH_PASSPHRASE" in t["error"]
    assert result.rc == 3


def test_the_session_uses_aes_gcm_and_falls_back_where_the_server_has_none(fleet):
    from auditor.transports.ssh import SshOptions, SshTarget, SshTransport

    target = host(fleet, "target")

    def cipher(transport: SshTransport) -> str:
        assert transport._client is not None
        session = transport._client.get_transport()
        assert session is not None
        return str(session.local_cipher)

    # Given the real sshd, which offers AES-GCM like any OpenSSH; When the auditor connects
    where = SshTarget("127.0.0.1", port=target.port, user="root", identity_file=str(fleet.client_key),
                      known_hosts=str(fleet.known_hosts))
    with SshTransport(where, SshOptions()) as transport:
        # Then the session cipher is AES-GCM (no MAC computed in Python per packet), and it works
        assert cipher(transport) == "aes128-gcm@openssh.com"
        assert transport.run("echo ok", b"", timeout=30).stdout == b"ok\n"
    # Given a server that offers only CTR with an HMAC (AES-GCM not among its Ciphers)
    only_ctr = SshTarget("127.0.0.1", port=host(fleet, "ctr-only").port, user="root",
                         identity_file=str(fleet.client_key), known_hosts=str(fleet.known_hosts))
    # When the auditor connects, Then it takes what the server has, and works as well
    with SshTransport(only_ctr, SshOptions()) as transport:
        assert cipher(transport) == "aes256-ctr"
        assert transport.run("echo ok", b"", timeout=30).stdout == b"ok\n"
