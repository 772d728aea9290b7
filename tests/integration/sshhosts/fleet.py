"""``SshdFleet``: a set of sshd test hosts sharing one client key and one known_hosts file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType

from .network import (
    _connect_veth,
    _free_port,
)
from .planting import _check_services, _plan, _stage, _with_stock_shell_rc
from .processes import (
    _children,
    _namespace,
    _owned_dirs,
    _pin_mount_namespace,
    _registry_lock,
    _Running,
    _running,
    _terminate,
)
from .spec import (
    _HOST_NAME_RE,
    LOOPBACK,
    NETNS_SSH_PORT,
    POLL_INTERVAL_S,
    PORT_ATTEMPTS,
    ROOT_USER,
    SSHD,
    STOCK_ENV,
    STOCK_SSHD_CONFIG,
    HostSpec,
    Service,
    SshdStartError,
    TestHost,
    _nsenter,
)
from .startup import (
    _await_marker,
    _can_arm_pdeathsig,
    _log_tail,
    _only_child,
    _readiness,
    _run_setup,
    _service_exited,
    _service_ready,
    _sshd_config,
    _wait_until_ready,
)
from .support import namespace_support_problem, sshd_support_problem


def _generate_key(path: Path, comment: str) -> str:
    """Make an ed25519 key pair (OpenSSH format, no passphrase); return the public key."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
    )
    key_type, key_data = path.with_name(path.name + ".pub").read_text().split()[:2]
    return f"{key_type} {key_data}"


def _atomic_write(path: Path, text: str) -> None:
    # Readers (paramiko in another thread) never see a half-written file.
    tmp = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class SshdFleet:
    """A set of sshd test hosts sharing one client key and one known_hosts file.

    ``with SshdFleet(tmp_path) as fleet:`` -- all files live in a fresh
    directory under ``workdir`` (default: the system temp dir) that is removed
    on exit unless ``keep_workdir`` is set.  ``start`` may be called from any
    thread; the parent-death safety signal is armed only for the main thread,
    because Linux sends it when the *thread* that started sshd exits.
    """

    def __init__(self, workdir: Path | None = None, *, keep_workdir: bool = False) -> None:
        problem = sshd_support_problem()
        if problem is not None:
            raise RuntimeError(f"cannot run sshd test hosts: {problem}")
        self.dir = Path(tempfile.mkdtemp(prefix="sshd-fleet-", dir=workdir))
        self.keep_workdir = keep_workdir
        if not keep_workdir:
            with _registry_lock:
                _owned_dirs.add(self.dir)
        self._lock = threading.Lock()
        self._hosts: dict[str, TestHost] = {}
        self._reserved: set[str] = set()  # names being started right now
        self._closed = False

        self.client_key = self.dir / "client_ed25519"
        client_public = _generate_key(self.client_key, "sshhosts-client")
        self.authorized_keys = self.dir / "authorized_keys"
        self.authorized_keys.write_text(client_public + "\n")
        self.host_key = self.dir / "ssh_host_ed25519_key"
        self.host_public_key = _generate_key(self.host_key, "sshhosts-fleet-host")
        self.known_hosts = self.dir / "known_hosts"
        self._write_known_hosts()
        self._impostor_public_key: str | None = None
        # The package normally creates sshd's privilege-separation directory.
        Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)

    # -- context manager -------------------------------------------------

    def __enter__(self) -> SshdFleet:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop every host this fleet started and remove its directory."""
        with self._lock:
            self._closed = True
            hosts = list(self._hosts.values())
        errors: list[BaseException] = []
        for host in hosts:
            try:
                self.stop(host)
            except Exception as error:  # keep stopping the others
                errors.append(error)
        if not self.keep_workdir:
            shutil.rmtree(self.dir, ignore_errors=True)
            with _registry_lock:
                _owned_dirs.discard(self.dir)
        if errors:
            raise errors[0]

    # -- hosts -----------------------------------------------------------

    @property
    def hosts(self) -> list[TestHost]:
        with self._lock:
            return list(self._hosts.values())

    def start(self, spec: HostSpec, *, own_host_key: bool = False) -> TestHost:
        """Start one host; ``own_host_key`` gives it a host key no other host has."""
        if not _HOST_NAME_RE.match(spec.name):
            raise ValueError(f"host name {spec.name!r} must match {_HOST_NAME_RE.pattern}")
        _check_services(spec)
        if spec.network_namespace or spec.pid_namespace:
            problem = namespace_support_problem()
            if problem is not None:
                raise RuntimeError(f"cannot run namespaced sshd test hosts: {problem}")
        with self._lock:
            if self._closed:
                raise RuntimeError("fleet is closed")
            if spec.name in self._hosts or spec.name in self._reserved:
                raise ValueError(f"a host named {spec.name!r} is already running")
            self._reserved.add(spec.name)
        try:
            host = self._start(spec, own_host_key)
        finally:
            with self._lock:
                self._reserved.discard(spec.name)
        with self._lock:
            closed = self._closed
            if not closed:
                self._hosts[host.name] = host
                self._write_known_hosts()
        if closed:  # close() ran meanwhile and will not know about this host
            self.stop(host)
            raise RuntimeError("fleet was closed while the host was starting")
        return host

    def _start(self, spec: HostSpec, own_host_key: bool) -> TestHost:
        began = time.monotonic()
        host_dir = self.dir / "hosts" / spec.name
        spec = _with_stock_shell_rc(spec)
        plan = _plan(
            spec,
            needed_by_sshd=(str(self.dir), str(SSHD), "/etc/passwd"),
            dirs_for_sshd=("/run/sshd",),
        )
        shutil.rmtree(host_dir, ignore_errors=True)  # an earlier run of this name
        root_dir = host_dir / "root"
        _stage(plan, root_dir)

        host_key, public_key = self.host_key, self.host_public_key
        if own_host_key:
            host_key = host_dir / "ssh_host_ed25519_key"
            public_key = _generate_key(host_key, f"sshhosts-{spec.name}-host")

        config_path = host_dir / "sshd_config"
        log_path = host_dir / "sshd.log"
        mounts = [(root_dir / d.lstrip("/"), d) for d in plan.mounted_dirs]
        mounts += [(root_dir / f.lstrip("/"), f) for f in plan.mounted_files]
        # The shell mounts, reports, waits for the harness to prepare the host
        # (network, setup, services, sshd_config), then becomes sshd.  The TERM
        # trap matters as PID 1 of a pid namespace, which ignores signals it has
        # no handler for.  A network namespace gets its own sysfs, as with
        # `ip netns exec`, so that /sys/class/net lists the host's interfaces.
        fresh_sysfs = ["mount -t sysfs sysfs /sys"] if spec.network_namespace else []
        script = "; ".join(
            ["set -e", "trap 'exit 143' TERM", *fresh_sysfs]
            + [f"mount --bind {shlex.quote(str(src))} {shlex.quote(dst)}" for src, dst in mounts]
            + ["echo mounted", "exec >&2", "read go", "exec </dev/null"]
            + ([f"mount --bind {shlex.quote(str(config_path))} {STOCK_SSHD_CONFIG}",
                 f"exec {shlex.quote(str(SSHD))} -D -e"] if spec.stock_daemon
               else [f"exec {shlex.quote(str(SSHD))} -D -e -f {shlex.quote(str(config_path))}"])
        )
        unshare = ["unshare", "--mount", "--propagation", "private"]
        if spec.network_namespace:
            unshare.append("--net")
        if spec.pid_namespace:
            # --kill-child: if unshare dies, PID 1 and with it the whole namespace die.
            unshare += ["--pid", "--fork", "--kill-child", "--mount-proc"]
        command = [*unshare, "--", "sh", "-c", script]
        if _can_arm_pdeathsig():
            # If the test process dies without running atexit, sshd dies too.
            command = ["setpriv", "--pdeathsig", "KILL", "--", *command]

        attempts = 1 if spec.network_namespace else PORT_ATTEMPTS
        for _ in range(attempts):
            record = self._spawn(command, log_path)
            try:
                started = self._prepare_and_exec(
                    spec, record, host_dir, config_path, log_path, host_key
                )
            except BaseException:
                self._forget(record)
                raise
            if started is not None:
                break
            self._forget(record)  # lost the port to someone else: try another
        else:
            raise SshdStartError(
                f"sshd for host {spec.name!r} could not bind a free port in "
                f"{attempts} attempts; last log:\n{_log_tail(log_path)}"
            )
        address, port, service_pids = started
        assert record.inner_pid is not None

        return TestHost(
            name=spec.name,
            address=address,
            port=port,
            pid=record.inner_pid,
            root_dir=root_dir,
            host_public_key=public_key,
            log_path=log_path,
            startup_seconds=time.monotonic() - began,
            network_namespace=spec.network_namespace,
            pid_namespace=spec.pid_namespace,
            service_pids=service_pids,
        )

    def _prepare_and_exec(
        self,
        spec: HostSpec,
        record: _Running,
        host_dir: Path,
        config_path: Path,
        log_path: Path,
        host_key: Path,
    ) -> tuple[str, int, dict[str, int]] | None:
        """Bring one spawned host up; None if sshd lost its loopback port to another process."""
        popen = record.popen
        assert popen.stdin is not None and popen.stdout is not None
        _await_marker(spec.name, popen, log_path)
        popen.stdout.close()
        if spec.pid_namespace:
            record.inner_pid = _only_child(spec.name, popen.pid)
            record.pid_ns = _namespace(record.inner_pid, "pid")
        else:
            record.inner_pid = popen.pid  # unshare and sh exec into sshd
        _pin_mount_namespace(record, record.inner_pid)
        if record.mnt_ns is None:
            raise SshdStartError(f"host {spec.name!r} is not in a private mount namespace")

        if spec.network_namespace:
            address, port = _connect_veth(spec.name, record), NETNS_SSH_PORT
        else:
            address, port = LOOPBACK, _free_port()
        for argv in spec.setup:
            _run_setup(spec, record.inner_pid, argv)
        started = [(s, *self._start_service(spec, record, s, address, host_dir)) for s in spec.services]

        config = _sshd_config(address, port, host_key, self.authorized_keys, spec.extra_sshd_config)
        config_path.write_text(config)
        try:
            popen.stdin.write(b"go\n")
            popen.stdin.close()
        except BrokenPipeError as error:
            raise SshdStartError(
                f"host {spec.name!r} exited before sshd started; log tail:\n{_log_tail(log_path)}"
            ) from error
        if not _wait_until_ready(spec.name, record, address, port, log_path):
            return None
        for service, _, helper in started:  # e.g. those without a readiness condition
            if helper.poll() is not None:
                raise _service_exited(spec.name, service, helper, host_dir)
        return address, port, {service.name: pid for service, pid, _ in started}

    def _start_service(
        self, spec: HostSpec, record: _Running, service: Service, address: str, host_dir: Path
    ) -> tuple[int, subprocess.Popen[bytes]]:
        """Start ``service`` inside the host and wait until it is ready; return its PID and process."""
        assert record.inner_pid is not None and record.mnt_ns is not None
        log_path = host_dir / f"{service.name}.log"
        command = [*_nsenter(record.inner_pid, spec.network_namespace, spec.pid_namespace), *service.argv]
        if _can_arm_pdeathsig():
            command = ["setpriv", "--pdeathsig", "KILL", "--", *command]
        with open(log_path, "wb") as log:
            helper = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**STOCK_ENV, **dict(service.env)},
                start_new_session=True,
            )
        with _registry_lock:
            record.helpers.append(helper)

        service_pid: int | None = None if spec.pid_namespace else helper.pid  # nsenter -p forks
        deadline = time.monotonic() + service.ready_timeout
        while True:
            if helper.poll() is not None:
                raise _service_exited(spec.name, service, helper, host_dir)
            if service_pid is None:
                children = _children(helper.pid)
                service_pid = children[0] if children else None
            if service_pid is not None and _service_ready(spec, record, service, address):
                return service_pid, helper
            if time.monotonic() >= deadline:
                raise SshdStartError(
                    f"service {service.name!r} of host {spec.name!r} not ready after "
                    f"{service.ready_timeout:g}s ({_readiness(service)}); log tail:\n{_log_tail(log_path)}"
                )
            time.sleep(POLL_INTERVAL_S)

    @staticmethod
    def _spawn(command: list[str], log_path: Path) -> _Running:
        with open(log_path, "wb") as log:
            popen = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,  # carries only the "mounted" marker
                stderr=log,
                start_new_session=True,  # terminal Ctrl-C goes to pytest, which cleans up
            )
        record = _Running(popen=popen, mnt_ns=None)
        with _registry_lock:
            _running[popen.pid] = record
        return record

    @staticmethod
    def _forget(record: _Running) -> None:
        _terminate(record)
        for pipe in (record.popen.stdin, record.popen.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        with _registry_lock:
            _running.pop(record.popen.pid, None)

    def stop(self, host: TestHost) -> None:
        """Kill the host's processes and remove its veth; its mounts go with its namespace."""
        with _registry_lock:
            launcher = next((pid for pid, r in _running.items() if r.inner_pid == host.pid), None)
            record = _running.get(launcher) if launcher is not None else None
        if record is not None:
            _terminate(record)
            with _registry_lock:
                _running.pop(record.popen.pid, None)
        with self._lock:
            if self._hosts.get(host.name) == host:
                del self._hosts[host.name]
                self._write_known_hosts()

    # -- client-side data ------------------------------------------------

    def inventory_hosts(self) -> dict[str, dict[str, object]]:
        """Running hosts in the shape of inventory entries."""
        return {
            host.name: {
                "address": host.address,
                "port": host.port,
                "user": ROOT_USER,
                "identity_file": str(self.client_key),
                "transport": "ssh",
            }
            for host in self.hosts
        }

    def known_hosts_without(self, *hosts: TestHost) -> Path:
        """A known_hosts file listing every running host except ``hosts``."""
        left_out = {host.name for host in hosts}
        path = self.dir / f"known_hosts.without-{'-'.join(sorted(left_out))}"
        _atomic_write(
            path, "".join(f"{h.known_hosts_line}\n" for h in self.hosts if h.name not in left_out)
        )
        return path

    def known_hosts_with_changed_key(self, host: TestHost) -> Path:
        """A known_hosts file where ``host`` is pinned to a key no host serves."""
        with self._lock:
            if self._impostor_public_key is None:
                self._impostor_public_key = _generate_key(self.dir / "impostor_ed25519", "impostor")
            impostor = self._impostor_public_key
        lines = [
            dataclasses.replace(h, host_public_key=impostor).known_hosts_line
            if h.name == host.name
            else h.known_hosts_line
            for h in self.hosts
        ]
        path = self.dir / f"known_hosts.changed-{host.name}"
        _atomic_write(path, "".join(f"{line}\n" for line in lines))
        return path

    def _write_known_hosts(self) -> None:  # caller holds self._lock (or is __init__)
        _atomic_write(
            self.known_hosts, "".join(f"{h.known_hosts_line}\n" for h in self._hosts.values())
        )
