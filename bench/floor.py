"""The floor for bench/fleet.py: the least a paramiko client must do to collect a fleet.

Per host, with `jobs` hosts at a time (threads, like the auditor): TCP connect with
TCP_NODELAY and AES-GCM first (as auditor/transports/ssh.py does), SSH handshake, host key compared with
known_hosts, public-key login, ONE exec channel running the already built batch (sent
compressed, with the auditor's command), read stdout and stderr to EOF, and the exit status. Nothing else: no
ssh_config, no parsing, no redaction, no evidence files, no evaluation, no reports.
Known hosts and the client key are loaded once, not per host.

Run by bench/fleet.py as its own process so that its wall time, CPU and peak RSS can be
set beside the auditor's:

    python bench/floor.py SPEC.json     # prints one JSON object on stdout

SPEC.json: {"jobs": 16, "user": "root", "key": PATH, "known_hosts": PATH, "timeout": 60,
"command": the auditor's batch command (auditor.engine.batch.COMPRESSED_COMMAND),
"hosts": [{"name": "h000", "address": "127.0.0.1", "port": 2222, "script": PATH}, ...]}
"""

from __future__ import annotations

import json
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import paramiko

AEAD_FIRST = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")


def collect(host: dict[str, Any], spec: dict[str, Any], key: paramiko.PKey,
            known: paramiko.HostKeys) -> dict[str, Any]:
    """Run one host's batch; return what came back, sizes only."""
    timeout = float(spec["timeout"])
    script = Path(host["script"]).read_bytes()
    sock = socket.create_connection((host["address"], int(host["port"])), timeout=timeout)
    # paramiko leaves Nagle on; every small SSH packet would wait for an ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    transport = paramiko.Transport(sock)
    # The auditor's cipher order (auditor/transports/ssh.py: AES-GCM first), so the floor does the same work.
    options = transport.get_security_options()
    options.ciphers = tuple(c for c in AEAD_FIRST if c in options.ciphers) + tuple(
        c for c in options.ciphers if c not in AEAD_FIRST)
    try:
        transport.start_client(timeout=timeout)
        server_key = transport.get_remote_server_key()
        name = f"[{host['address']}]:{host['port']}" if int(host["port"]) != 22 else host["address"]
        expected = known.lookup(name)
        if expected is None or expected.get(server_key.get_name()) != server_key:
            raise RuntimeError(f"host key of {name} is not the one in known_hosts")
        transport.auth_publickey(spec["user"], key)
        channel = transport.open_session(timeout=timeout)
        channel.settimeout(timeout)
        channel.exec_command(spec["command"])
        channel.sendall(script)
        channel.shutdown_write()
        # Outputs here are a few KiB: stderr waits in paramiko's buffer while stdout drains.
        stdout = channel.makefile("rb").read()
        stderr = channel.makefile_stderr("rb").read()
        rc = channel.recv_exit_status()
        channel.close()
    finally:
        transport.close()
    return {"name": host["name"], "rc": rc, "stdout": len(stdout), "stderr": len(stderr)}


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[1]).read_text())
    key = paramiko.Ed25519Key.from_private_key_file(spec["key"])
    known = paramiko.HostKeys(spec["known_hosts"])
    started = time.perf_counter()
    failures: list[str] = []
    done: list[dict[str, Any]] = []

    def one(host: dict[str, Any]) -> None:
        try:
            done.append(collect(host, spec, key, known))
        except Exception as exc:  # a failed host voids the run; say which and why
            failures.append(f"{host['name']}: {type(exc).__name__}: {exc or 'timed out'}")

    with ThreadPoolExecutor(max_workers=int(spec["jobs"])) as pool:
        list(pool.map(one, spec["hosts"]))
    json.dump({
        "ok": sum(1 for d in done if d["rc"] == 0 and d["stdout"] > 0),
        "failures": failures + [f"{d['name']}: rc {d['rc']}, {d['stdout']} bytes" for d in done
                                if d["rc"] != 0 or d["stdout"] == 0],
        "stdout_bytes": sum(d["stdout"] for d in done),
        "seconds": round(time.perf_counter() - started, 3),
    }, sys.stdout)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
