"""Real nginx HTTPS servers for the tls check's tests, with certificates made for real.

`TestPki` makes a test CA and leaf certificates with `cryptography` (good, expired,
expiring, self-signed, for another name, 1024-bit RSA, SHA-1 signed). `NginxSites` starts
one Debian nginx master (`/usr/sbin/nginx -p DIR -c DIR/nginx.conf -g 'daemon off;'`) from
a temporary directory, serving every `Site` on its own 127.0.0.1 ports: an HTTPS port with
the site's certificate, protocols and HSTS header, and a plain-HTTP port that redirects to
https, serves 200, or is left closed. Logs and the pid file stay in that directory.
nginx is stopped by the PID of the process this module started (SIGTERM, then SIGKILL),
never by name, also when a test fails (use it as a context manager).

`nginx_config` and `nginx_argv` render the same sites for any listen address, e.g. for an
nginx `Service` inside a network-namespaced sshd test host (ports 443 and 80 of its own
address), which the sshd harness starts and stops.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

NGINX = "/usr/sbin/nginx"
GNUTLS_SERV = "/usr/bin/gnutls-serv"
SHOP = "shop.example.test"
START_TIMEOUT_S = 10.0
STOP_GRACE_S = 5.0
DAY = dt.timedelta(days=1)
HSTS_YEAR = "max-age=31536000; includeSubDomains"


def nginx_problem() -> str | None:
    """Why nginx servers cannot be started here, or None."""
    if not Path(NGINX).is_file():
        return f"{NGINX} is missing (apt-get install -y nginx; scripts/test.sh installs it)"
    if os.geteuid() != 0:
        return "nginx test servers need root (they run the master as this user)"
    return None


def free_port() -> int:
    """A 127.0.0.1 port nobody listens on right now (closed: connecting is refused)."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct 127.0.0.1 ports nobody listens on right now. Each is held until all are
    chosen: one at a time, the kernel may hand out a port just freed again (for 16 ports, 1 draw
    in 120 had a pair, and nginx then refused to start or one site answered for another)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


# --------------------------------------------------------------------------
# Certificates
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key, written as PEM files."""

    name: str
    cert_file: Path
    key_file: Path
    cert_pem: str
    key_pem: str  # secret: the tests assert it never reaches a run folder


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "auditor tests"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class TestPki:
    """A test CA in `directory` and the leaf certificates it (or nobody) signs."""

    __test__ = False  # not a pytest test class

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = _name("auditor test CA")
        self.ca_cert = (
            x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
            .public_key(self.ca_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(self.now - DAY).not_valid_after(self.now + 3650 * DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(self.ca_key, hashes.SHA256())
        )
        self.ca_file = directory / "test-ca.pem"
        self.ca_file.write_bytes(self.ca_cert.public_bytes(serialization.Encoding.PEM))
        self.issued: list[Issued] = []

    def issue(self, name: str, *, dns_names: tuple[str, ...] = (SHOP,), ip_addresses: tuple[str, ...] = (),
              valid_from_days: int = -1, valid_to_days: int = 3650, rsa_bits: int = 2048,
              digest: str = "sha256", self_signed: bool = False, common_name: str | None = None,
              send_ca: bool = False) -> Issued:
        """A leaf certificate for `dns_names` and `ip_addresses`, valid from/to that many days
        from now, signed by the test CA (or by itself)."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
        subject = _name(common_name or [*dns_names, *ip_addresses][0])
        issuer = subject if self_signed else self.ca_cert.subject
        builder = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(self.now + valid_from_days * DAY)
            .not_valid_after(self.now + valid_to_days * DAY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        )
        sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
        sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        if not self_signed:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca_key.public_key()), critical=False)
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
        cert_file, key_file = self.directory / f"{name}.pem", self.directory / f"{name}.key"
        key_file.write_text(key_pem)
        key_file.chmod(0o600)
        if digest == "sha1":
            cert_pem = self._openssl_sha1(name, key, dns_names, valid_to_days)
        else:
            cert_pem = builder.sign(key if self_signed else self.ca_key, hashes.SHA256()).public_bytes(
                serialization.Encoding.PEM).decode()
        # nginx sends every certificate of its ssl_certificate file: with send_ca, the root too.
        ca_pem = self.ca_cert.public_bytes(serialization.Encoding.PEM).decode()
        cert_file.write_text(cert_pem + (ca_pem if send_ca else ""))
        issued = Issued(name, cert_file, key_file, cert_pem, key_pem)
        self.issued.append(issued)
        return issued

    def _openssl_sha1(self, name: str, key: rsa.RSAPrivateKey, dns_names: tuple[str, ...],
                      valid_to_days: int) -> str:
        """A CA-signed certificate with an ECDSA-with-SHA1 signature, made by `openssl x509`:
        cryptography no longer signs with SHA-1."""
        csr = (x509.CertificateSigningRequestBuilder().subject_name(_name(dns_names[0]))
               .sign(key, hashes.SHA256()))
        csr_file, ca_key_file = self.directory / f"{name}.csr", self.directory / "test-ca.key"
        ext_file = self.directory / f"{name}.ext"
        csr_file.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
        ca_key_file.write_text(self._ca_key_pem())
        ca_key_file.chmod(0o600)
        ext_file.write_text("basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n"
                            "subjectAltName=" + ",".join(f"DNS:{n}" for n in dns_names) + "\n")
        done = subprocess.run(["openssl", "x509", "-req", "-in", str(csr_file), "-CA", str(self.ca_file),
                               "-CAkey", str(ca_key_file), "-CAcreateserial", "-sha1",
                               "-days", str(valid_to_days), "-extfile", str(ext_file)],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0 or "BEGIN CERTIFICATE" not in done.stdout:
            raise RuntimeError(f"openssl x509 -sha1 failed: {done.stderr.strip()}")
        return done.stdout[done.stdout.index("-----BEGIN CERTIFICATE-----"):]

    def _ca_key_pem(self) -> str:
        return self.ca_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()).decode()

    def private_key_texts(self) -> list[str]:
        """Every private key this PKI made, PEM and the base64 lines inside it, CA included."""
        texts = []
        for pem in [self._ca_key_pem(), *(i.key_pem for i in self.issued)]:
            texts.append(pem)
            texts += [line for line in pem.splitlines() if len(line) == 64]
        return texts


# --------------------------------------------------------------------------
# nginx
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    """One HTTPS site: certificate, protocols, HSTS header, and what plain HTTP does."""

    name: str
    cert: Issued
    protocols: str = "TLSv1.2 TLSv1.3"
    legacy_ciphers: bool = False  # OpenSSL 3 needs @SECLEVEL=0 to speak TLS 1.0/1.1
    hsts: str | None = HSTS_YEAR
    http: str | None = "redirect"  # "redirect", "plain" (serves 200) or None (port closed)
    ecdh_curve: str | None = None  # e.g. secp384r1: a client's x25519 key share then gets a HelloRetryRequest
    ciphers: str | None = None  # nginx's ssl_ciphers (replaces legacy_ciphers' DEFAULT:@SECLEVEL=0)
    dhparam: Path | None = None  # ssl_dhparam: a DH group turns the DHE suites on
    prefer_server_ciphers: bool = False  # ssl_prefer_server_ciphers on: the server's order, not the client's


@dataclass
class RunningSite:
    site: Site
    https_port: int
    http_port: int  # closed when site.http is None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.https_port}"


def _server_blocks(running: RunningSite, listen: str) -> str:
    site = running.site
    lines = [
        "  server {",
        f"    listen {listen}:{running.https_port} ssl;",
        f"    server_name {SHOP};",
        f"    ssl_certificate {site.cert.cert_file};",
        f"    ssl_certificate_key {site.cert.key_file};",
        f"    ssl_protocols {site.protocols};",
    ]
    if site.ciphers:
        lines.append(f"    ssl_ciphers {site.ciphers};")
    elif site.legacy_ciphers:
        lines.append("    ssl_ciphers DEFAULT:@SECLEVEL=0;")
    if site.dhparam:
        lines.append(f"    ssl_dhparam {site.dhparam};")
    if site.prefer_server_ciphers:
        lines.append("    ssl_prefer_server_ciphers on;")
    if site.ecdh_curve:
        lines.append(f"    ssl_ecdh_curve {site.ecdh_curve};")
    if site.hsts:
        lines.append(f'    add_header Strict-Transport-Security "{site.hsts}" always;')
    lines += [f'    location / {{ default_type text/plain; return 200 "{site.name} over https\\n"; }}', "  }"]
    if site.http == "redirect":
        lines += ["  server {", f"    listen {listen}:{running.http_port};",
                  "    return 301 https://$host$request_uri;", "  }"]
    elif site.http == "plain":
        body = f"{site.name} over plain http\\n"
        lines += ["  server {", f"    listen {listen}:{running.http_port};",
                  f'    location / {{ default_type text/plain; return 200 "{body}"; }}', "  }"]
    return "\n".join(lines)


def nginx_config(directory: Path, sites: list[RunningSite], listen: str = "127.0.0.1") -> Path:
    """Write `directory`/nginx.conf serving `sites` on `listen`; logs and temp files stay in
    `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    temp = " ".join(f"{kind}_temp_path {directory}/{kind};"
                    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = directory / "nginx.conf"
    conf.write_text("\n".join([
        "worker_processes 1;",
        f"error_log {directory}/error.log info;",
        f"pid {directory}/nginx.pid;",
        "events { worker_connections 128; }",
        "http {",
        f"  access_log {directory}/access.log;",
        f"  {temp}",
        *(_server_blocks(r, listen) for r in sites),
        "}",
        "",
    ]))
    return conf


def nginx_argv(directory: Path, conf: Path) -> tuple[str, ...]:
    """nginx in the foreground (the caller's process is its master), from `directory`."""
    return (NGINX, "-p", f"{directory}/", "-c", str(conf), "-e", str(directory / "error.log"),
            "-g", "daemon off;")


@dataclass
class NginxSites:
    """One nginx master serving `sites` from `directory`; a context manager."""

    directory: Path
    sites: list[Site]
    running: dict[str, RunningSite] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> NginxSites:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def __getitem__(self, name: str) -> RunningSite:
        return self.running[name]

    @property
    def error_log(self) -> Path:
        return self.directory / "error.log"

    def start(self) -> None:
        problem = nginx_problem()
        if problem:
            raise RuntimeError(problem)
        self.directory.mkdir(parents=True, exist_ok=True)
        ports = iter(free_ports(2 * len(self.sites)))
        for site in self.sites:
            self.running[site.name] = RunningSite(site, next(ports), next(ports))
        conf = nginx_config(self.directory, list(self.running.values()))
        self.process = subprocess.Popen(nginx_argv(self.directory, conf), stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        ports = [r.https_port for r in self.running.values()] + [
            r.http_port for r in self.running.values() if r.site.http]
        deadline = time.monotonic() + START_TIMEOUT_S
        while not all(_listening(p) for p in ports):
            if self.process.poll() is not None or time.monotonic() > deadline:
                stderr = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                log = self.error_log.read_text(errors="replace") if self.error_log.exists() else ""
                raise RuntimeError(f"nginx did not start (rc {self.process.poll()}): {stderr}\n{log[-2000:]}")
            time.sleep(0.05)

    def close(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)  # the master we started stops its workers
        try:
            process.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(STOP_GRACE_S)


def dh_params(directory: Path, bits: int) -> Path:
    """A `bits`-bit DH group made by `openssl dhparam -dsaparam` (a DSA-style prime: made in
    well under a second, where a safe prime of 2048 bits takes minutes)."""
    path = directory / f"dh{bits}.pem"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        subprocess.run(["openssl", "dhparam", "-dsaparam", "-out", str(path), str(bits)],
                       capture_output=True, check=True, timeout=120)
    return path


# Suites planted on the cipher-suite sites (OpenSSL names; nginx's ssl_ciphers). OpenSSL 3.0 as
# Debian 12 builds it has no RC4, DES, 3DES or EXPORT suites at all (`openssl ciphers RC4` says
# "no cipher match", even with the legacy provider): those are served by GnuTLS, below.
MODERN_SUITE = "ECDHE-RSA-AES128-GCM-SHA256"


def catalogue(pki: TestPki, only: tuple[str, ...] = ()) -> list[Site]:
    """The sites the tls tests use (all, or those named in `only`): one good configuration
    and one of each fault. Certificates are issued only for the sites returned."""
    sites: dict[str, Callable[[], Site]] = {
        "good": lambda: Site("good", pki.issue("good")),
        "full_chain": lambda: Site("full_chain", pki.issue("full_chain", send_ca=True)),
        "port80_closed": lambda: Site("port80_closed", pki.issue("port80_closed"), http=None),
        "p384_only": lambda: Site("p384_only", pki.issue("p384_only"), ecdh_curve="secp384r1"),
        "wildcard": lambda: Site("wildcard", pki.issue("wildcard", dns_names=("*.example.test",))),
        "ip_san": lambda: Site("ip_san", pki.issue("ip_san", dns_names=(), ip_addresses=("127.0.0.1",))),
        "tls10": lambda: Site("tls10", pki.issue("tls10"), protocols="TLSv1 TLSv1.1 TLSv1.2",
                              legacy_ciphers=True),
        "legacy_only": lambda: Site("legacy_only", pki.issue("legacy_only"), protocols="TLSv1 TLSv1.1",
                                    legacy_ciphers=True),
        "expired": lambda: Site("expired", pki.issue("expired", valid_from_days=-400, valid_to_days=-30)),
        "expiring": lambda: Site("expiring", pki.issue("expiring", valid_to_days=5)),
        "self_signed": lambda: Site("self_signed", pki.issue("self_signed", self_signed=True)),
        "other_name": lambda: Site("other_name", pki.issue("other_name", dns_names=("www.other.test",))),
        # OpenSSL 3 loads a 1024-bit key or a SHA-1 signature only at security level 0.
        "weak_key": lambda: Site("weak_key", pki.issue("weak_key", rsa_bits=1024), legacy_ciphers=True),
        "sha1": lambda: Site("sha1", pki.issue("sha1", digest="sha1"), legacy_ciphers=True),
        "no_hsts": lambda: Site("no_hsts", pki.issue("no_hsts"), hsts=None),
        "short_hsts": lambda: Site("short_hsts", pki.issue("short_hsts"), hsts="max-age=86400"),
        "plain_http": lambda: Site("plain_http", pki.issue("plain_http"), http="plain"),
        # Cipher suites: TLS 1.2 and 1.3, one weak class each beside a modern suite.
        "null_cipher": lambda: Site("null_cipher", pki.issue("null_cipher"),
                                    ciphers=f"{MODERN_SUITE}:NULL-SHA256:@SECLEVEL=0"),
        "anonymous": lambda: Site("anonymous", pki.issue("anonymous"),
                                  ciphers=f"{MODERN_SUITE}:AECDH-AES128-SHA:ADH-AES128-GCM-SHA256:@SECLEVEL=0",
                                  dhparam=dh_params(pki.directory, 2048)),
        "dhe1024": lambda: Site("dhe1024", pki.issue("dhe1024"), prefer_server_ciphers=True,
                                ciphers=f"DHE-RSA-AES256-GCM-SHA384:{MODERN_SUITE}:@SECLEVEL=0",
                                dhparam=dh_params(pki.directory, 1024)),
        "dhe2048": lambda: Site("dhe2048", pki.issue("dhe2048"), prefer_server_ciphers=True,
                                ciphers=f"{MODERN_SUITE}:DHE-RSA-AES128-GCM-SHA256",
                                dhparam=dh_params(pki.directory, 2048)),
        "cbc_sha1_only": lambda: Site("cbc_sha1_only", pki.issue("cbc_sha1_only"), protocols="TLSv1.2",
                                      ciphers="ECDHE-RSA-AES128-SHA:AES256-SHA"),
    }
    unknown = set(only) - set(sites)
    if unknown:
        raise ValueError(f"no site {sorted(unknown)} in the catalogue")
    return [make() for name, make in sites.items() if not only or name in only]


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


OPENSSL_FLAGS = {"-tls1": "TLSv1", "-tls1_1": "TLSv1.1", "-tls1_2": "TLSv1.2", "-tls1_3": "TLSv1.3"}


def openssl_speaks(address: str, version_flag: str) -> bool:
    """Whether `openssl s_client` (an independent client) completes a handshake with
    `version_flag` (-tls1, -tls1_1, -tls1_2, -tls1_3) at security level 0."""
    if shutil.which("openssl") is None:
        raise RuntimeError("openssl is missing")
    cipher = ["-cipher", "DEFAULT:@SECLEVEL=0"] if version_flag != "-tls1_3" else []
    done = subprocess.run(["openssl", "s_client", "-brief", "-connect", address, version_flag, *cipher,
                           "-servername", SHOP], input=b"", capture_output=True, timeout=15, check=False)
    said = (done.stdout + done.stderr).decode(errors="replace")
    protocol = next((ln.split(":", 1)[1].strip() for ln in said.splitlines()
                     if ln.startswith("Protocol version:")), "")
    return done.returncode == 0 and protocol == OPENSSL_FLAGS[version_flag]


def openssl_suite(address: str, suite: str) -> bool:
    """Whether `openssl s_client` completes a TLS 1.2 handshake offering only `suite` (an
    OpenSSL name) at security level 0: an oracle for the collector's enumeration."""
    done = subprocess.run(["openssl", "s_client", "-brief", "-connect", address, "-tls1_2",
                           "-cipher", f"{suite}:@SECLEVEL=0", "-servername", SHOP],
                          input=b"", capture_output=True, timeout=15, check=False)
    said = (done.stdout + done.stderr).decode(errors="replace")
    chosen = next((ln.split(":", 1)[1].strip() for ln in said.splitlines()
                   if ln.startswith("Ciphersuite:")), "")
    return done.returncode == 0 and chosen == suite


# GnuTLS 3.7 (Debian 12's gnutls-bin) still serves 3DES and RC4 when its priority string asks
# for them; neither it nor OpenSSL 3.0 serves single-DES or EXPORT suites any more.
GNUTLS_WEAK = {"3des": "NORMAL:-VERS-ALL:+VERS-TLS1.2:+3DES-CBC",
               "rc4": "NORMAL:-VERS-ALL:+VERS-TLS1.2:+ARCFOUR-128"}


def gnutls_problem() -> str | None:
    """Why gnutls-serv cannot be started here, or None."""
    if not Path(GNUTLS_SERV).is_file():
        return f"{GNUTLS_SERV} is missing (apt-get install -y gnutls-bin; scripts/test.sh installs it)"
    return None


def gnutls_argv(cert: Issued, priority: str, port: int = 443) -> tuple[str, ...]:
    """gnutls-serv in the foreground answering HTTPS on `port` of every address: start it only
    inside a network namespace of the test's own (it has no option to bind one address)."""
    return (GNUTLS_SERV, "--http", "--quiet", "--port", str(port), "--x509certfile", str(cert.cert_file),
            "--x509keyfile", str(cert.key_file), "--priority", priority)
