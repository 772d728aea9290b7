"""The tls check end to end through the CLI, against real nginx servers.

Two real sshd test hosts live in network namespaces of their own (tests/integration/
sshhosts), each running a real nginx on the standard ports 443 and 80 of its own
address, so the inventory names the endpoint as just ':443' and the default http_port 80
is tested for real: `web_good` serves TLS 1.2/1.3 with a certificate from a test CA, HSTS
and a redirect; `web_bad` accepts TLS 1.0/1.1, sends an expired certificate and no HSTS,
and serves plain HTTP. Further faults (self-signed, another name, a 1024-bit key, SHA-1)
come from nginx sites on 127.0.0.1 (tests/integration/tlsservers.py), each checked from
its own inventory host on a loopback sshd host. Every certificate and key is made for
real by the test; the probes run from the auditor, as in production.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from tests.integration import tlsservers
from tests.integration.fleetrun import AuditRun, assert_nowhere_in, audit, fleet_hosts, write_inventory
from tests.integration.sshhosts import (
    HostSpec,
    Service,
    SshdFleet,
)
from tests.integration.tlsservers import SHOP, NginxSites, RunningSite, Site, TestPki

pytestmark = pytest.mark.integration
LOOPBACK_VARIANTS = ("self_signed", "other_name", "weak_key", "sha1")
# nginx (OpenSSL 3.0) sites with one weak suite class or DH group each, beside a modern suite.
SUITE_VARIANTS = ("null_cipher", "anonymous", "dhe1024", "dhe2048")


def namespaced_nginx(directory: Path, site: Site) -> Service:
    """nginx serving `site` on 0.0.0.0:443 (and :80 unless closed) inside a test host."""
    running = RunningSite(site, https_port=443, http_port=80)
    conf = tlsservers.nginx_config(directory, [running], listen="0.0.0.0")
    return Service("nginx", tlsservers.nginx_argv(directory, conf), ready_port=443)


@pytest.fixture(scope="module")
def planted(tmp_path_factory, sshd_fleet) -> Iterator[dict[str, Any]]:
    problem = tlsservers.nginx_problem()
    if problem:
        pytest.skip(problem)
    work = tmp_path_factory.mktemp("tls-check")
    pki = TestPki(work / "pki")
    good = Site("web_good", pki.issue("web_good"))
    bad = Site("web_bad", pki.issue("web_bad", valid_from_days=-400, valid_to_days=-30),
               protocols="TLSv1 TLSv1.1 TLSv1.2", legacy_ciphers=True, hsts=None, http="plain")
    loopback = tlsservers.catalogue(pki, LOOPBACK_VARIANTS + SUITE_VARIANTS)
    with sshd_fleet("fleet", namespaces=True) as (fleet, _), NginxSites(work / "nginx", loopback) as nginx:
        # Each namespaced host gets its own pid namespace, so nginx's workers go with it.
        fleet.start(HostSpec("web_good", network_namespace=True, pid_namespace=True,
                             services=(namespaced_nginx(work / "nginx-good", good),)))
        fleet.start(HostSpec("web_bad", network_namespace=True, pid_namespace=True,
                             services=(namespaced_nginx(work / "nginx-bad", bad),)))
        if tlsservers.gnutls_problem() is None:
            # gnutls-serv binds every address, so it runs only inside a namespaced host of its own.
            for weak, priority in tlsservers.GNUTLS_WEAK.items():
                argv = tlsservers.gnutls_argv(pki.issue(f"gnutls_{weak}"), priority)
                fleet.start(HostSpec(f"web_{weak}", network_namespace=True, pid_namespace=True,
                                     services=(Service("gnutls-serv", argv, ready_port=443),)))
        fleet.start(HostSpec("plain"))
        yield {"fleet": fleet, "nginx": nginx, "pki": pki, "good": good, "bad": bad}


def tls_hosts(planted: dict[str, Any]) -> dict[str, dict[str, Any]]:
    fleet: SshdFleet = planted["fleet"]
    pki: TestPki = planted["pki"]
    nginx: NginxSites = planted["nginx"]
    hosts = fleet_hosts(fleet)
    ca_file = str(pki.ca_file)
    hosts["web_good"]["vars"] = {"tls": {"endpoints": [{"address": ":443", "sni": SHOP, "ca_file": ca_file}]}}
    hosts["web_bad"]["vars"] = {"tls": {"endpoints": [{"address": ":443", "sni": SHOP, "ca_file": ca_file}]}}
    for weak in tlsservers.GNUTLS_WEAK:
        if f"web_{weak}" in hosts:  # gnutls-serv answers HTTPS only: no HSTS, no port 80
            hosts[f"web_{weak}"]["vars"] = {"tls": {"hsts_min_age": 0, "endpoints": [
                {"address": ":443", "sni": SHOP, "ca_file": ca_file, "http_port": 0}]}}
    plain = hosts.pop("plain")
    hosts["no_endpoints"] = dict(plain)
    for name in LOOPBACK_VARIANTS + SUITE_VARIANTS:
        site = nginx[name]
        hosts[f"site_{name}"] = {**plain, "vars": {"tls": {"endpoints": [
            {"address": site.address, "sni": SHOP, "ca_file": ca_file, "http_port": site.http_port}]}}}
    hosts["unreachable"] = {**plain, "vars": {"tls": {"endpoints": [
        {"address": f"127.0.0.1:{tlsservers.free_port()}", "sni": SHOP, "http_port": 0}]}}}
    return hosts


@pytest.fixture(scope="module")
def tls_run(planted, tmp_path_factory) -> AuditRun:
    tmp = tmp_path_factory.mktemp("tls-run")
    return audit(write_inventory(tmp / "inventory.yaml", tls_hosts(planted)), tmp / "reports", "tls")


def handshakes(run_dir: Path, host: str) -> dict[str, Any]:
    evidence = json.loads((run_dir / "evidence" / host / "tls.handshakes.json").read_text())
    assert evidence["site"] == "auditor" and evidence["rc"] == 0
    return json.loads(evidence["stdout"])


def test_a_well_configured_server_passes(tls_run, planted):
    # Given nginx on web_good's own 443 and 80: TLS 1.2/1.3, a test-CA certificate, HSTS, a redirect
    done = tls_run
    # When the tls check probes ':443' of the host's address
    good = done.by_host["web_good"]
    # Then it passes, naming the protocols, and the details show HSTS and the port-80 redirect
    assert good["status"] == "pass", good
    assert "1 endpoint(s) serve HTTPS as promised" in good["summary"]
    assert list(good["values"]["protocols"].values()) == ["TLSv1.2,TLSv1.3"]
    assert good["values"]["endpoints_with_old_tls"] == 0
    assert good["values"]["endpoints_failing"] == 0 and good["values"]["min_days_to_expiry"] > 3600
    details = "\n".join(good["details"])
    assert "HSTS max-age=31536000, includeSubDomains" in details
    assert f"port 80 redirects (301) to https://{SHOP}/" in details
    assert good["claims"] == ["https-in-transit", "encryption-and-access-control"]
    assert "ISO27001:2022 A.8.24" in good["controls"]


def test_a_badly_configured_server_fails_with_every_reason(tls_run):
    # Given nginx on web_bad: TLS 1.0/1.1 on, an expired certificate, no HSTS, plain HTTP on 80
    done = tls_run
    bad = done.by_host["web_bad"]
    # Then the check fails and its summary names each fault
    assert bad["status"] == "fail", bad
    for reason in ("accepts TLSv1.0, TLSv1.1", "certificate expired 30 days ago",
                   "no Strict-Transport-Security header",
                   "port 80 serves plain HTTP (HTTP/1.1 200 OK) without redirecting to https"):
        assert reason in bad["summary"], (reason, bad["summary"])
    assert list(bad["values"]["protocols"].values()) == ["TLSv1.0,TLSv1.1,TLSv1.2"]
    assert bad["values"]["endpoints_with_old_tls"] == 1


@pytest.mark.parametrize(("host", "reason"), [
    ("site_self_signed", "chain not trusted by"),
    ("site_other_name", f"certificate names www.other.test, not {SHOP}"),
    ("site_weak_key", "certificate has a 1024-bit RSA key (less than 2048)"),
    ("site_sha1", "certificate is signed with SHA1"),
])
def test_certificate_faults_fail(tls_run, host, reason):
    # Given a site whose only fault is its certificate
    done = tls_run
    verdict = done.by_host[host]
    # Then the check fails for exactly that reason
    assert verdict["status"] == "fail", verdict
    assert reason in verdict["summary"], verdict["summary"]
    assert verdict["values"]["endpoints_failing"] == 1


def test_no_endpoint_is_a_skip_and_a_closed_port_an_error(tls_run):
    done = tls_run
    by = done.by_host
    # Given a host with no endpoints configured: skip, saying how to configure one
    assert by["no_endpoints"]["status"] == "skip"
    assert "set vars.tls.endpoints" in by["no_endpoints"]["summary"]
    # Given an endpoint on a closed port: error (never a pass), with the reason
    assert by["unreachable"]["status"] == "error"
    assert "unreachable: connection refused" in by["unreachable"]["summary"]
    # And failures make the exit code 1
    assert done.result.rc == 1, done.result.stderr


def test_the_evidence_holds_the_served_certificate(tls_run, planted):
    # Given the evidence the good host's verdict relied on
    run_dir = tls_run.run_dir
    recorded = handshakes(run_dir, "web_good")
    endpoint = recorded["endpoints"][0]
    # Then it holds the leaf certificate nginx served (public), as PEM, and where it came from
    assert endpoint["tls"]["chain_pem"][0] == planted["good"].cert.cert_pem
    assert endpoint["ip"] == endpoint["host"] != "127.0.0.1"  # the namespaced host's own address
    assert endpoint["verification"]["ok"] is True


def test_no_private_key_reaches_any_file_of_the_run(tls_run, planted):
    # Given every file of the run folder, as text and as bytes
    run_dir = tls_run.run_dir
    # Then no private key of the test CA or of any server appears, in PEM, base64 line or DER
    pki: TestPki = planted["pki"]
    ders = [serialization.load_pem_private_key(issued.key_pem.encode(), password=None).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        for issued in pki.issued]
    files = assert_nowhere_in(run_dir, *pki.private_key_texts(), *ders, "PRIVATE KEY")
    assert any(p.name == "tls.handshakes.json" for p in files)


def test_a_modern_server_passes_with_its_suites_listed(tls_run):
    # Given nginx on web_good with its default ssl_ciphers (HIGH:!aNULL:!MD5) and TLS 1.3
    good = tls_run.by_host["web_good"]
    details = "\n".join(good["details"])
    # Then no suite is weak, and the details list the suites it accepts and whose order decides
    assert good["status"] == "pass", good
    assert good["values"]["endpoints_with_weak_suites"] == 0
    assert "TLS 1.0–1.2 suites accepted (the server follows the client's order;" in details
    assert "ECDHE-RSA-AES128-GCM-SHA256" in details
    assert "TLS 1.3 suites are all AEAD" in details


@pytest.mark.parametrize(("host", "reason"), [
    ("site_null_cipher", "accepts NULL-encryption suites: NULL-SHA256 [critical;"),
    ("site_anonymous",
     "accepts anonymous (aNULL) suites: ADH-AES128-GCM-SHA256, AECDH-AES128-SHA [critical;"),
    ("site_dhe1024", "DHE group of 1024 bits (less than 2048): DHE-RSA-AES256-GCM-SHA384 (1024 bits) [high;"),
])
def test_openssl_weak_suites_and_a_1024_bit_dh_group_fail(tls_run, host, reason):
    # Given an nginx site whose only fault is one weak suite class or a 1024-bit ssl_dhparam
    # (this OpenSSL 3.0 cannot serve RC4, DES, 3DES or EXPORT suites: GnuTLS serves the first
    # two below, and no server here can serve the last two)
    verdict = tls_run.by_host[host]
    # Then the check fails naming the suites, the severity and the reference
    assert verdict["status"] == "fail", verdict
    assert reason in verdict["summary"], verdict["summary"]
    assert verdict["values"]["endpoints_with_weak_suites"] == 1


def test_a_2048_bit_dh_group_in_the_servers_order_passes(tls_run):
    # Given nginx with ssl_prefer_server_ciphers on and a 2048-bit ssl_dhparam
    verdict = tls_run.by_host["site_dhe2048"]
    details = "\n".join(verdict["details"])
    # Then it passes, with the group size and the server's own order in the details
    assert verdict["status"] == "pass", verdict
    assert "DHE group size: 2048 bits" in details
    assert "(in the server's order of preference;" in details


@pytest.mark.parametrize(("host", "reason"), [
    ("web_3des",
     "accepts 3DES suites: DES-CBC3-SHA, EDH-RSA-DES-CBC3-SHA, ECDHE-RSA-DES-CBC3-SHA [high; Sweet32"),
    ("web_rc4", "accepts RC4 suites: RC4-SHA, ECDHE-RSA-RC4-SHA [high; RFC 7465"),
])
def test_gnutls_servers_with_3des_or_rc4_fail_naming_the_suites(tls_run, host, reason):
    problem = tlsservers.gnutls_problem()
    if problem:
        pytest.skip(problem)
    # Given gnutls-serv on the host's own 443, TLS 1.2 only, its NORMAL suites plus 3DES or RC4
    verdict = tls_run.by_host[host]
    # Then the check fails naming every such suite the server accepts, and nothing else fails
    assert verdict["status"] == "fail", verdict
    assert reason in verdict["summary"], verdict["summary"]
    assert verdict["values"]["endpoints_failing"] == 1
    assert verdict["summary"].count("[") == 1, verdict["summary"]  # one finding: the suite class
