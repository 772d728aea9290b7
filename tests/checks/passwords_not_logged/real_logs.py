#!/usr/bin/env python3
"""Make real log files by driving real servers on 127.0.0.1, for passwords_not_logged cases.

    python real_logs.py sshd OUT_FILE NAME...   # sshd -E OUT_FILE; a password login per NAME
    python real_logs.py nginx OUT_FILE PATH...  # nginx access_log OUT_FILE; a GET per PATH

sshd: /usr/sbin/sshd -D -E OUT_FILE with its own config and host key (LogLevel INFO,
PasswordAuthentication yes, UsePAM no), then one paramiko password login per NAME with
the wrong password: sshd itself writes "Invalid user NAME from ..." and "Failed password
for invalid user NAME from ...". nginx: `nginx -g 'daemon off;'` with its own config whose
access_log is OUT_FILE, then one raw HTTP/1.1 request per PATH (sent as is, so a path may
hold characters a client library would encode). Both servers are started by this script,
listen on free loopback ports, and are killed by their PID when it is done. Needs root
(sshd), paramiko (the project's venv) and Debian's openssh-server and nginx.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import paramiko

READY_S = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"real_logs: server exited with {server.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"real_logs: nothing listens on 127.0.0.1:{port}")


def stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(5)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def sshd_log(out: Path, names: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="real-sshd-") as tmp:
        key = Path(tmp) / "host_key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        port = free_port()
        config = Path(tmp) / "sshd_config"
        config.write_text(f"ListenAddress 127.0.0.1:{port}\nHostKey {key}\nPidFile none\nUsePAM no\n"
                          "PasswordAuthentication yes\nKbdInteractiveAuthentication no\nLogLevel INFO\n"
                          "MaxAuthTries 2\n")
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        server = subprocess.Popen(["/usr/sbin/sshd", "-D", "-E", str(out), "-f", str(config)],
                                  stdin=subprocess.DEVNULL)
        try:
            wait_for_port(port, server)
            for name in names:
                client = paramiko.SSHClient()
                client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # a throw-away key
                try:
                    client.connect("127.0.0.1", port, username=name, password="not-the-password",
                                   look_for_keys=False, allow_agent=False, timeout=10)
                except paramiko.AuthenticationException:
                    pass
                finally:
                    client.close()
            time.sleep(0.5)  # sshd writes the last lines as the connection closes
        finally:
            stop(server)


def nginx_log(out: Path, paths: list[str]) -> None:
    with tempfile.TemporaryDirectory(prefix="real-nginx-") as tmp:
        port = free_port()
        config = Path(tmp) / "nginx.conf"
        temps = " ".join(f"{kind}_temp_path {tmp}/{kind};" for kind in
                         ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        config.write_text(f"pid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\nevents {{}}\n"
                          f"http {{\n  access_log {out};\n  {temps}\n"
                          f"  server {{ listen 127.0.0.1:{port}; "
                          f"location / {{ return 200 \"ok\\n\"; }} }}\n}}\n")
        server = subprocess.Popen(["nginx", "-c", str(config), "-p", tmp, "-g", "daemon off;"],
                                  stdin=subprocess.DEVNULL)
        try:
            wait_for_port(port, server)
            for path in paths:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
                    conn.sendall(f"GET {path} HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: real_logs.py\r\n"
                                 "Connection: close\r\n\r\n".encode())
                    while conn.recv(4096):
                        pass
            time.sleep(0.2)
        finally:
            stop(server)


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[0] not in ("sshd", "nginx"):
        raise SystemExit(__doc__)
    out = Path(argv[1]).resolve()
    (sshd_log if argv[0] == "sshd" else nginx_log)(out, argv[2:])
    if not out.is_file() or out.stat().st_size == 0:
        raise SystemExit(f"real_logs: {argv[0]} wrote nothing to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
