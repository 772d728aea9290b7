"""known_hosts as OpenSSH reads it: markers, certificates signed by a real OpenSSH CA, revocation."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import paramiko
import pytest

from auditor.transports.base import HostKeyError
from auditor.transports.known_hosts import KnownHosts, Verdict, host_matches

NAME = "[127.0.0.5]:2222"
PRINCIPAL = "127.0.0.5"


def keygen(*args: str) -> None:
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen (OpenSSH) is not installed")
    subprocess.run(["ssh-keygen", "-q", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("keys")
    for name in ("ca", "other_ca", "host"):
        keygen("-t", "ed25519", "-N", "", "-f", str(folder / name))
    keygen("-s", str(folder / "ca"), "-h", "-I", "host-cert", "-n", PRINCIPAL, str(folder / "host.pub"))
    (folder / "host-cert.pub").rename(folder / "good-cert.pub")
    keygen("-s", str(folder / "ca"), "-h", "-I", "wrong-name", "-n", "10.9.9.9", str(folder / "host.pub"))
    (folder / "host-cert.pub").rename(folder / "wrong-name-cert.pub")
    keygen("-s", str(folder / "ca"), "-h", "-I", "expired", "-n", PRINCIPAL, "-V", "20000101:20000102",
           str(folder / "host.pub"))
    (folder / "host-cert.pub").rename(folder / "expired-cert.pub")
    keygen("-s", str(folder / "ca"), "-I", "user-cert", "-n", PRINCIPAL, str(folder / "host.pub"))
    (folder / "host-cert.pub").rename(folder / "user-cert.pub")
    keygen("-s", str(folder / "other_ca"), "-h", "-I", "other", "-n", PRINCIPAL, str(folder / "host.pub"))
    (folder / "host-cert.pub").rename(folder / "other-cert.pub")
    return folder


def public(keys: Path, name: str) -> str:
    key_type, blob, *_ = (keys / f"{name}.pub").read_text().split(" ")
    return f"{key_type} {blob}"


def server_key(keys: Path, cert: str | None = None) -> paramiko.PKey:
    """The key as the server presents it: plain, or with a certificate."""
    key = paramiko.Ed25519Key(filename=str(keys / "host"))
    if cert is not None:
        key.load_certificate(str(keys / f"{cert}-cert.pub"))
    return paramiko.Ed25519Key(data=key.public_blob.key_blob) if cert else paramiko.Ed25519Key(
        data=key.asbytes())


def known(tmp_path: Path, text: str) -> KnownHosts:
    path = tmp_path / "known_hosts"
    path.write_text(text)
    return KnownHosts.load([path])


def test_a_marker_line_anywhere_does_not_break_plain_keys(keys: Path, tmp_path: Path) -> None:
    # Given known_hosts with a @cert-authority and a @revoked line for other hosts, and the plain key
    hosts = known(tmp_path, f"@cert-authority *.corp {public(keys, 'ca')}\n"
                            f"@revoked other {public(keys, 'ca')}\n{NAME} {public(keys, 'host')}\n")
    # Then the plain key is known
    assert hosts.judge(NAME, PRINCIPAL, server_key(keys)) is Verdict.KNOWN


def test_a_certificate_from_a_trusted_ca_is_known(keys: Path, tmp_path: Path) -> None:
    # Given only the CA, trusted for 127.0.0.*
    hosts = known(tmp_path, f"@cert-authority [127.0.0.*]:* {public(keys, 'ca')}\n")
    # Then a host certificate naming the host is accepted, and the bare key is not known
    assert hosts.judge(NAME, PRINCIPAL, server_key(keys, "good")) is Verdict.KNOWN
    assert hosts.judge(NAME, PRINCIPAL, server_key(keys)) is Verdict.UNKNOWN


@pytest.mark.parametrize(("cert", "reason"), [
    ("wrong-name", "names 10.9.9.9, not 127.0.0.5"),
    ("expired", "outside its validity period"),
    ("user", "user certificate"),
])
def test_an_invalid_certificate_is_refused_saying_why(keys: Path, tmp_path: Path, cert: str,
                                                      reason: str) -> None:
    hosts = known(tmp_path, f"@cert-authority * {public(keys, 'ca')}\n")
    with pytest.raises(HostKeyError, match=reason):
        hosts.judge(NAME, PRINCIPAL, server_key(keys, cert))


def test_a_certificate_from_an_untrusted_ca_falls_back_to_the_plain_key(keys: Path, tmp_path: Path) -> None:
    # Given a CA trusted for the host, but the host's certificate comes from another CA
    hosts = known(tmp_path, f"@cert-authority * {public(keys, 'ca')}\n")
    assert hosts.judge(NAME, PRINCIPAL, server_key(keys, "other")) is Verdict.UNKNOWN
    # And when the plain key is listed, it is known (as ssh retries with the plain key)
    hosts = known(tmp_path, f"@cert-authority * {public(keys, 'ca')}\n{NAME} {public(keys, 'host')}\n")
    assert hosts.judge(NAME, PRINCIPAL, server_key(keys, "other")) is Verdict.KNOWN


def test_a_forged_certificate_signature_is_refused(keys: Path, tmp_path: Path) -> None:
    # Given a good certificate whose key id was changed after signing
    key = server_key(keys, "good")
    blob = bytearray(key.public_blob.key_blob)  # type: ignore[union-attr]
    at = blob.index(b"host-cert")
    blob[at:at + 9] = b"evil-cert"
    forged = paramiko.Ed25519Key(data=bytes(blob))
    hosts = known(tmp_path, f"@cert-authority * {public(keys, 'ca')}\n")
    with pytest.raises(HostKeyError, match="signature does not verify"):
        hosts.judge(NAME, PRINCIPAL, forged)


@pytest.mark.parametrize("revoked", ["host", "ca"])
def test_a_revoked_key_or_ca_is_refused_naming_the_line(keys: Path, tmp_path: Path, revoked: str) -> None:
    # Given the host key listed and trusted, and then revoked (the key itself, or its CA) on line 3
    hosts = known(tmp_path, f"{NAME} {public(keys, 'host')}\n@cert-authority * {public(keys, 'ca')}\n"
                            f"@revoked * {public(keys, revoked)}\n")
    with pytest.raises(HostKeyError, match=r"@revoked at .*known_hosts:3"):
        hosts.judge(NAME, PRINCIPAL, server_key(keys, "good"))
    if revoked == "host":
        with pytest.raises(HostKeyError, match="@revoked"):
            hosts.judge(NAME, PRINCIPAL, server_key(keys))


def test_a_changed_plain_key_is_refused(keys: Path, tmp_path: Path) -> None:
    hosts = known(tmp_path, f"{NAME} {public(keys, 'other_ca')}\n")
    with pytest.raises(HostKeyError, match="CHANGED"):
        hosts.judge(NAME, PRINCIPAL, server_key(keys))


def test_hashed_names_wildcards_and_negation(keys: Path, tmp_path: Path) -> None:
    # Given a hashed entry made by ssh-keygen -H
    path = tmp_path / "hashed"
    path.write_text(f"{NAME} {public(keys, 'host')}\n")
    keygen("-H", "-f", str(path))
    assert path.read_text().startswith("|1|")
    assert KnownHosts.load([path]).judge(NAME, PRINCIPAL, server_key(keys)) is Verdict.KNOWN
    # And patterns as OpenSSH matches them
    assert host_matches("10.0.0.*,!10.0.0.7", "10.0.0.6")
    assert not host_matches("10.0.0.*,!10.0.0.7", "10.0.0.7")
    assert host_matches("[127.0.0.?]:22*", "[127.0.0.5]:2222")
    assert not host_matches("web[1]", "web1")  # brackets are literal, not a character class
