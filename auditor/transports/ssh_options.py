"""Where and how to reach a host over SSH, as plain settings: the engine and the command line
build these without importing paramiko, which only `auditor.transports.ssh` needs (a run of
local hosts, `auditor list` and `auditor verify` never load it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SshTarget:
    """Where and how to connect, before ssh_config fills in what is not set."""

    address: str
    port: int | None = None
    user: str | None = None
    identity_file: str | None = None
    known_hosts: str | None = None
    connect_timeout: float = 10.0


@dataclass(frozen=True)
class SshOptions:
    accept_new_host_keys: bool = False
    ssh_config: Path | None = None  # None: ~/.ssh/config then /etc/ssh/ssh_config
    passphrase: str | None = None
