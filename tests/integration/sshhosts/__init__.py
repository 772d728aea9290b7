"""Real OpenSSH test hosts for integration tests.

Each test host is one ``/usr/sbin/sshd -D -e -f <config>`` process.  By default it
listens on 127.0.0.1:<free port> and is started inside its own private mount
namespace::

    setpriv --pdeathsig KILL -- \\
        unshare --mount --propagation private \\
                [--net] [--pid --fork --kill-child --mount-proc] -- \\
        sh -c 'set -e; mount --bind ...; echo mounted; read go; exec /usr/sbin/sshd -D -e -f cfg'

Inside that namespace the planted files are bind-mounted over the real paths,
so every command run over SSH on the host sees the planted ``/etc/shadow``,
``/etc/login.defs``, ``/var/log/`` ... instead of the machine's own.  The
mounts are private to the namespace and vanish with its last process; the
harness never writes the machine's real files.  Paths that are *not* planted
are the machine's real ones, though: a command run over SSH (as root) that
writes there changes the real machine.

Between ``mounted`` and ``go`` the harness prepares the host from outside
(in this order), then lets the shell exec sshd:

* ``network_namespace=True``: the host gets a network namespace of its own
  (``unshare --net``; it dies with its last process, so nothing can outlive the
  host).  A veth pair joins it to the test machine: ``sshh<random>`` here,
  ``eth0`` inside, a random free /30 of 10.213.0.0/16 (the machine side gets the
  first address, the host the second: ``TestHost.address``).  Loopback is up
  inside; there is no default route, no NAT and no forwarding, so the host can
  reach nothing but the test machine's end of its veth.  sshd listens on
  ``<address>:22`` only.  Servers bound to 0.0.0.0 inside are reachable from
  the test machine at ``<address>:<port>`` and not on its 127.0.0.1; firewall
  rules loaded inside affect only the host.  The host gets a fresh sysfs (as
  ``ip netns exec`` does), so ``/sys/class/net`` lists its own interfaces; the
  machine's sysfs submounts (``/sys/fs/cgroup``) are not there.  The veth pair
  is deleted when the host stops (and goes with the namespace in any case).
* ``pid_namespace=True``: the host gets its own PID namespace and its own
  ``/proc``, so ``ps``, ``pgrep``, ``/proc/*`` and ``ss -p`` over SSH see only
  the host's processes (sshd is PID 1 there).  When that PID 1 dies, the kernel
  kills everything in the namespace.
* ``setup`` commands run as root inside all of the host's namespaces (a
  non-zero exit fails ``start()`` with its output), then each ``Service`` is
  started there, in order, and waited for (``ready_port``/``ready_path``);
  its stdout and stderr go to ``<host dir>/<service>.log``.
* ``TestHost.run(argv)`` runs a command the same way after start-up
  (``nsenter -t <sshd> -m [-n] [-p]``).

Commands started by the harness inside a host (setup, services, ``run``) get a
stock environment (``STOCK_ENV`` plus the service's ``env``), not the test's.

Planting rules (see ``HostSpec``):

* A planted file outside every ``replace_dirs`` entry is bind-mounted over an
  existing regular file.  Bind mounts need an existing target, so if the real
  path does not exist a ``ValueError`` asks you to list its parent directory in
  ``replace_dirs`` instead.
* A directory listed in ``replace_dirs`` is replaced by a fresh directory that
  holds only the planted files under it (list a nested directory too, e.g.
  ``/var/log/journal``, to get it as an empty directory).  Replacing ``/run``
  is fine: the harness recreates the empty ``/run/sshd`` that sshd needs.
* Only root logs in (with ``client_key``).  With ``UsePAM no`` sshd refuses
  public-key logins to accounts whose shadow password field starts with ``!``
  (locked) or whose account expiry date has passed.  A planted ``/etc/shadow``
  that would do that to root raises ``ValueError``: the harness never rewrites
  planted evidence behind the test's back.  Likewise a planted ``/etc/passwd``
  must keep a usable root entry.
* The test sshd reads only its own generated config, so planting
  ``/etc/ssh/sshd_config`` is safe (it is just evidence for the checks).
* sshd records logins in ``/var/log/wtmp`` and ``/var/log/lastlog`` only for
  sessions with a pty; plain ``exec`` sessions (what paramiko's
  ``exec_command`` uses) leave planted log files untouched.

Usage::

    require_sshd_support()            # pytest.skip()s without root / sshd
    require_namespace_support()       # ... and without netns/veth/pidns, for hosts using them
    with SshdFleet(tmp_path) as fleet:
        host = fleet.start(HostSpec("web1", files={"/etc/login.defs": "..."}))
        db = fleet.start(HostSpec("db1", network_namespace=True, pid_namespace=True,
                                  services=(Service("listener", ("socat", ...), ready_port=5432),)))
        ...  # connect to host.address:host.port as root with fleet.client_key,
             # trusting fleet.known_hosts

Every started process is killed (and waited for) by ``SshdFleet.stop`` /
``__exit__``: the host's processes are found by their mount namespace, which
everything the harness starts in a host joins (the harness holds it open until
then, so its id cannot pass to another test process's host).  An ``atexit`` hook is the
safety net for fleets that were never closed, and ``--pdeathsig KILL`` covers a
test process that dies outright (it reaches sshd and every service process the
harness started; with ``pid_namespace=True`` also everything they forked, as
the namespace dies with its PID 1; use it for services that fork workers).

The package, in the order a host comes up (each module imports only those above it):

* ``spec``: ``HostSpec``, ``Planted``, ``Service``, ``TestHost``, ``SshdStartError`` and constants;
* ``support``: ``sshd_support_problem``/``require_sshd_support`` and the namespace pair;
* ``processes``: the bookkeeping of every started host, its termination and the ``atexit`` sweep;
* ``planting``: checking and staging a host's planted files;
* ``network``: listeners, sockets in a host's network namespace, veth pairs;
* ``startup``: the steps between a host's namespace and its sshd (marker, setup, services, config);
* ``fleet``: ``SshdFleet``.
"""

from __future__ import annotations

from .fleet import (
    SshdFleet,
)
from .spec import (
    LOG_TAIL_LINES,
    LOOPBACK,
    MOUNTED_MARKER,
    NETNS_RANGE,
    NETNS_SSH_PORT,
    POLL_INTERVAL_S,
    PORT_ATTEMPTS,
    PROBE_BANNER,
    READY_TIMEOUT_S,
    ROOT_USER,
    SERVICE_READY_TIMEOUT_S,
    SETUP_TIMEOUT_S,
    SSHD,
    STOCK_ENV,
    STOP_GRACE_S,
    VETH_ATTEMPTS,
    VETH_INSIDE,
    VETH_PREFIX,
    HostSpec,
    Planted,
    Service,
    SshdStartError,
    TestHost,
)
from .support import (
    namespace_support_problem,
    require_namespace_support,
    require_sshd_support,
    sshd_support_problem,
)

__all__ = [
    "LOG_TAIL_LINES",
    "MOUNTED_MARKER",
    "POLL_INTERVAL_S",
    "PORT_ATTEMPTS",
    "PROBE_BANNER",
    "READY_TIMEOUT_S",
    "SERVICE_READY_TIMEOUT_S",
    "SETUP_TIMEOUT_S",
    "STOP_GRACE_S",
    "VETH_ATTEMPTS",
    "VETH_INSIDE",
    "VETH_PREFIX",
    "HostSpec",
    "LOOPBACK",
    "NETNS_RANGE",
    "NETNS_SSH_PORT",
    "Planted",
    "ROOT_USER",
    "SSHD",
    "STOCK_ENV",
    "Service",
    "SshdFleet",
    "SshdStartError",
    "TestHost",
    "namespace_support_problem",
    "require_namespace_support",
    "require_sshd_support",
    "sshd_support_problem",
]
