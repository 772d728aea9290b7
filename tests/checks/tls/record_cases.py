#!/usr/bin/env python3
"""Record the tls check's cases: the real collector against real nginx servers.

    python3 tests/checks/tls/record_cases.py [CASE_NAME_GLOB]   (server_answers: the raw bytes)

Starts one Debian nginx (tests/integration/tlsservers.py) on 127.0.0.1 with a site per
planted configuration — certificates made here with `cryptography` (and `openssl x509`
for the SHA-1 one) under a throw-away test CA — and runs the tls check's probe through
the engine (plan.plan, runner.collect over the local transport, store.redact_outputs)
with the case's endpoints. The collector's JSON becomes the case's recorded output. The
expectations below are written from what each site was planted with; a case is written
only when the check's verdict matches them (tests/unit/test_check_cases.py judges it).

Verdicts stay the same over time: the collector records `collected_at`, and evaluate()
counts certificate expiry from it, not from the clock.

A mount namespace cannot hide listening sockets, so nothing is planted in the machine's
files: the servers run from a temporary directory and are stopped (by PID) at the end.
Needs root (nginx), /usr/sbin/nginx and openssl.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import importlib.util
import json
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(REPO))

from auditor.collectors import tls  # noqa: E402
from auditor.engine import batch, plan, registry, runner  # noqa: E402
from auditor.evidence import store  # noqa: E402
from auditor.inventory import Host  # noqa: E402
from auditor.transports.ssh import SshOptions  # noqa: E402
from tests.integration.tlsservers import (  # noqa: E402
    MODERN_SUITE,
    SHOP,
    NginxSites,
    TestPki,
    catalogue,
    free_port,
)

Endpoints = Callable[[NginxSites, TestPki], list[Any]]


def endpoint(site: str, **changes: Any) -> Endpoints:
    """A mapping endpoint for `site`: its HTTPS address, SNI shop.example.test, the test CA,
    and its plain-HTTP port (closed when the site has none)."""
    def build(nginx: NginxSites, pki: TestPki) -> list[Any]:
        running = nginx[site]
        item = {"address": running.address, "sni": SHOP, "ca_file": str(pki.ca_file),
                "http_port": running.http_port}
        return [{**item, **changes}]
    return build


def both(*parts: Endpoints) -> Endpoints:
    return lambda nginx, pki: [item for part in parts for item in part(nginx, pki)]


@dataclass
class Case:
    name: str
    endpoints: Endpoints
    planted: str  # what the servers were planted with, for the case's source
    status: str
    summary: list[str]
    params: dict[str, Any] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)


CA = ("a certificate for shop.example.test (RSA 2048, SHA-256, valid 3650 days) from the test CA, "
      "given as ca_file")
GOOD = (f"ssl_protocols TLSv1.2 TLSv1.3, {CA}, HSTS max-age=31536000; includeSubDomains, "
        "plain HTTP 301 to https")

CASES = [
    Case("pass_tls12_tls13", endpoint("good"), GOOD, "pass",
         ["1 endpoint(s) serve HTTPS as promised", "TLSv1.2 and TLSv1.3"],
         values={"endpoints": 1, "endpoints_failing": 0, "endpoints_with_old_tls": 0}),
    Case("pass_full_chain", endpoint("full_chain"), GOOD + "; nginx's ssl_certificate file holds the leaf "
         "and the test CA's own certificate (EC P-256, self-signed), so both are sent", "pass",
         ["serve HTTPS as promised"]),
    Case("pass_port80_closed", endpoint("port80_closed"), GOOD.replace("plain HTTP 301 to https",
         "no plain-HTTP listener (http_port is a closed port)"), "pass", ["serve HTTPS as promised"]),
    Case("pass_hello_retry_request", endpoint("p384_only"), GOOD + "; ssl_ecdh_curve secp384r1, so the "
         "TLS 1.3 probe's x25519 key share is answered with a HelloRetryRequest", "pass",
         ["TLSv1.2 and TLSv1.3"], values={"endpoints_with_old_tls": 0}),
    Case("pass_wildcard", endpoint("wildcard"), GOOD.replace("for shop.example.test", "for *.example.test"),
         "pass", ["serve HTTPS as promised"]),
    Case("pass_ip_address_port_only", lambda nginx, pki: [
         {"address": f":{nginx['ip_san'].https_port}", "ca_file": str(pki.ca_file),
          "http_port": nginx["ip_san"].http_port}], GOOD.replace(
         "for shop.example.test", "for IP address 127.0.0.1 (no DNS name)") + "; the endpoint is given as "
         "':PORT' (the inventory host's address 127.0.0.1) with no sni", "pass", ["serve HTTPS as promised"]),
    Case("pass_hsts_not_required", endpoint("no_hsts"), GOOD.replace(
         "HSTS max-age=31536000; includeSubDomains", "no HSTS header") + "; judged with hsts_min_age=0",
         "pass", ["serve HTTPS as promised"], params={"hsts_min_age": 0}),
    Case("pass_cert_min_days_param", endpoint("expiring"), GOOD.replace("valid 3650 days", "valid 5 days")
         + "; judged with cert_min_days=3", "pass", ["certificate valid 5 more days"],
         params={"cert_min_days": 3}),
    Case("fail_tls10", endpoint("tls10"), GOOD.replace("ssl_protocols TLSv1.2 TLSv1.3",
         "ssl_protocols TLSv1 TLSv1.1 TLSv1.2 with ssl_ciphers DEFAULT:@SECLEVEL=0 (openssl s_client -tls1 "
         "completes a TLSv1 handshake with it)"), "fail", ["accepts TLSv1.0, TLSv1.1"],
         values={"endpoints_with_old_tls": 1, "endpoints_failing": 1}),
    Case("fail_legacy_only", endpoint("legacy_only"), GOOD.replace("ssl_protocols TLSv1.2 TLSv1.3",
         "ssl_protocols TLSv1 TLSv1.1 with ssl_ciphers DEFAULT:@SECLEVEL=0"), "fail",
         ["accepts TLSv1.0, TLSv1.1", "supports neither TLS 1.2 nor TLS 1.3"]),
    Case("fail_expired", endpoint("expired"), GOOD.replace("valid 3650 days",
         "valid from 400 days to 30 days before the recording"), "fail",
         ["certificate expired 30 days ago"], values={"min_days_to_expiry": -30.0}),
    Case("fail_expiring", endpoint("expiring"), GOOD.replace("valid 3650 days", "valid 5 days"), "fail",
         ["certificate expires in 5 days", "less than 14"]),
    Case("fail_self_signed", endpoint("self_signed"), GOOD.replace("from the test CA", "self-signed")
         + "; ca_file is the test CA, which did not sign it", "fail",
         ["chain not trusted", "self-signed certificate"]),
    Case("fail_hostname_mismatch", endpoint("other_name"), GOOD.replace(
         "for shop.example.test", "for www.other.test only") + "; SNI shop.example.test", "fail",
         ["certificate names www.other.test, not shop.example.test"]),
    Case("fail_wildcard_one_label_only", endpoint("wildcard", sni="a.shop.example.test"),
         GOOD.replace("for shop.example.test", "for *.example.test") + "; SNI a.shop.example.test "
         "(a wildcard covers one label only)", "fail",
         ["certificate names *.example.test, not a.shop.example.test"]),
    Case("fail_weak_key", endpoint("weak_key"), GOOD.replace("RSA 2048", "RSA 1024")
         + "; ssl_ciphers DEFAULT:@SECLEVEL=0 so that nginx loads it", "fail",
         ["1024-bit RSA key (less than 2048)"]),
    Case("fail_sha1_signature", endpoint("sha1"), GOOD.replace(
         "SHA-256, valid 3650 days) from the test CA",
         "signed by the test CA with ECDSA-SHA1 by openssl x509 -sha1, valid 3650 days)")
         + "; ssl_ciphers DEFAULT:@SECLEVEL=0 so that nginx loads it", "fail",
         ["signed with SHA1"]),
    Case("fail_no_hsts", endpoint("no_hsts"), GOOD.replace("HSTS max-age=31536000; includeSubDomains",
         "no HSTS header"), "fail", ["no Strict-Transport-Security header"]),
    Case("fail_hsts_short", endpoint("short_hsts"), GOOD.replace("HSTS max-age=31536000; includeSubDomains",
         "HSTS max-age=86400"), "fail", ["HSTS max-age=86400 is less than 15552000 seconds"]),
    Case("fail_plain_http", endpoint("plain_http"), GOOD.replace("plain HTTP 301 to https",
         "plain HTTP serving 200 OK"), "fail", ["serves plain HTTP (HTTP/1.1 200 OK)",
                                                "without redirecting to https"]),
    Case("fail_one_of_two", both(endpoint("good"), endpoint("tls10")), f"two endpoints: {GOOD}; and the "
         "same with ssl_protocols TLSv1 TLSv1.1 TLSv1.2 (SECLEVEL=0)", "fail",
         ["1 of 2 endpoint(s) fail", "accepts TLSv1.0, TLSv1.1"],
         values={"endpoints": 2, "endpoints_failing": 1}),
    Case("fail_null_cipher", endpoint("null_cipher"), GOOD + f"; ssl_ciphers {MODERN_SUITE}:NULL-SHA256:"
         "@SECLEVEL=0", "fail", ["accepts NULL-encryption suites: NULL-SHA256 [critical;"],
         values={"endpoints_with_weak_suites": 1}),
    Case("fail_anonymous_suites", endpoint("anonymous"), GOOD + f"; ssl_ciphers {MODERN_SUITE}:"
         "AECDH-AES128-SHA:ADH-AES128-GCM-SHA256:@SECLEVEL=0 with a 2048-bit ssl_dhparam "
         "(openssl dhparam -dsaparam)", "fail",
         ["accepts anonymous (aNULL) suites: ADH-AES128-GCM-SHA256, AECDH-AES128-SHA [critical;"],
         values={"endpoints_with_weak_suites": 1}),
    Case("fail_dhe1024", endpoint("dhe1024"), GOOD + "; ssl_ciphers DHE-RSA-AES256-GCM-SHA384:"
         f"{MODERN_SUITE}:@SECLEVEL=0, ssl_prefer_server_ciphers on, ssl_dhparam a 1024-bit group "
         "(openssl dhparam -dsaparam)",
         "fail", ["DHE group of 1024 bits (less than 2048): DHE-RSA-AES256-GCM-SHA384 (1024 bits) [high;"],
         values={"endpoints_with_weak_suites": 1}),
    Case("pass_dhe2048_server_order", endpoint("dhe2048"), GOOD + f"; ssl_ciphers {MODERN_SUITE}:"
         "DHE-RSA-AES128-GCM-SHA256, ssl_prefer_server_ciphers on, ssl_dhparam a 2048-bit group", "pass",
         ["serve HTTPS as promised"], values={"endpoints_with_weak_suites": 0}),
    Case("pass_cbc_sha1_only_advisory", endpoint("cbc_sha1_only"), GOOD.replace(
         "ssl_protocols TLSv1.2 TLSv1.3", "ssl_protocols TLSv1.2 (no TLS 1.3)") + "; ssl_ciphers "
         "ECDHE-RSA-AES128-SHA:AES256-SHA (CBC with SHA-1 MACs only: a low-severity advisory)", "pass",
         ["serve HTTPS as promised", "TLSv1.2, certificate"], values={"endpoints_with_weak_suites": 0}),
    Case("error_unreachable", lambda nginx, pki: [{"address": f"127.0.0.1:{free_port()}", "sni": SHOP,
                                                   "ca_file": str(pki.ca_file), "http_port": 0}],
         "nothing: the endpoint is a closed 127.0.0.1 port", "error",
         ["could not be judged", "unreachable: connection refused"]),
    Case("error_one_unreachable", both(endpoint("good"), lambda nginx, pki: [
         {"address": f"127.0.0.1:{free_port()}", "sni": SHOP, "http_port": 0}]),
         f"two endpoints: {GOOD}; and a closed 127.0.0.1 port", "error",
         ["1 of 2 endpoint(s) could not be judged", "unreachable: connection refused"]),
    Case("error_not_tls", lambda nginx, pki: [{"address": f"127.0.0.1:{nginx['good'].http_port}", "sni": SHOP,
                                               "ca_file": str(pki.ca_file), "http_port": 0}],
         "the endpoint is nginx's plain-HTTP port (it answers the ClientHellos with HTTP 400)", "error",
         ["not a TLS server: not a TLS record"]),
    Case("skip_no_endpoints", lambda nginx, pki: [], "no endpoint configured (the default)", "skip",
         ["no TLS endpoint configured"]),
]

def _without_protocols(text: str) -> str:
    document = json.loads(text)
    del document["endpoints"][0]["protocols"]
    return json.dumps(document, sort_keys=True, indent=1)


def _suites_cut_short(text: str) -> str:
    document = json.loads(text)
    suites = document["endpoints"][0]["suites"]
    suites.update(accepted=suites["accepted"][:1], complete=False, handshakes=1,
                  cut_short="timed out: the 20 s given to enumerating suites is used up")
    return json.dumps(document, sort_keys=True, indent=1)


def _suites_not_a_list(text: str) -> str:
    document = json.loads(text)
    document["endpoints"][0]["suites"]["accepted"] = "ECDHE-RSA-AES128-GCM-SHA256"
    return json.dumps(document, sort_keys=True, indent=1)


# Cases derived from a recorded one by damaging its output, the way a cut-off transfer or
# a hand-edited evidence file would: (name, recorded case, how, damage, expected summary).
DERIVED: list[tuple[str, str, str, Callable[[str], str], str]] = [
    ("garbled_truncated", "pass_tls12_tls13", "the recorded stdout cut after its first half",
     lambda text: text[:len(text) // 2], "cannot be read: not JSON"),
    ("garbled_endpoint_without_protocols", "pass_tls12_tls13",
     "the recorded JSON with the endpoint's 'protocols' key removed (re-serialised with sorted keys)",
     _without_protocols, "record of this endpoint is incomplete"),
    ("error_suites_cut_short", "pass_tls12_tls13",
     "the recorded JSON with its suite enumeration marked cut short by the time limit after the first "
     "suite (what a slow server gives; re-serialised with sorted keys)", _suites_cut_short,
     "cipher suite enumeration cut short after 1 handshake(s) (timed out: the 20 s given to enumerating"),
    ("garbled_suites_not_a_list", "pass_tls12_tls13",
     "the recorded JSON with the accepted suites as one string (re-serialised with sorted keys)",
     _suites_not_a_list, "suites.accepted is not a list"),
]


# Raw first answers of the real servers to single ClientHellos, kept for the unit tests of
# the ServerHello parser (tests/unit/test_collector_tls.py): name -> (site, use its plain
# HTTP port, version offered, what the server must answer: kind and version).
ANSWERS: dict[str, tuple[str, bool, str, str, str | None]] = {
    "tls12_server_hello": ("good", False, "TLSv1.2", "server_hello", "TLSv1.2"),
    "tls13_server_hello": ("good", False, "TLSv1.3", "server_hello", "TLSv1.3"),
    "tls13_hello_retry_request": ("p384_only", False, "TLSv1.3", "hello_retry_request", "TLSv1.3"),
    "tls10_server_hello": ("tls10", False, "TLSv1.0", "server_hello", "TLSv1.0"),
    "tls11_server_hello": ("tls10", False, "TLSv1.1", "server_hello", "TLSv1.1"),
    "tls10_alert_protocol_version": ("good", False, "TLSv1.0", "alert", None),
    "tls13_alert_on_tls12_only_server": ("tls10", False, "TLSv1.3", "alert", None),
    "sslv3_alert_handshake_failure": ("good", False, "SSLv3", "alert", None),
    "http_server_answer": ("good", True, "TLSv1.2", "not_tls", None),
}
# Whole first flights (ServerHello to ServerKeyExchange) to one suite offered alone, for the
# unit tests of the ServerKeyExchange parser: name -> (site, suite, what it must say).
FLIGHTS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "dhe1024_flight": ("dhe1024", "DHE-RSA-AES256-GCM-SHA384", {"dh_bits": 1024}),
    "dhe2048_flight": ("dhe2048", "DHE-RSA-AES128-GCM-SHA256", {"dh_bits": 2048}),
    "ecdhe_x25519_flight": ("good", "ECDHE-RSA-AES128-GCM-SHA256", {"curve": "x25519"}),
    "ecdhe_p384_flight": ("p384_only", "ECDHE-RSA-AES128-GCM-SHA256", {"curve": "secp384r1"}),
    "rsa_kx_flight": ("cbc_sha1_only", "AES256-SHA", {}),
}
ANSWERS_FILE = HERE / "server_answers.json"


def record_answers(nginx: NginxSites) -> None:
    """Each ANSWERS entry: the bytes the server sent back, as hex, with how they were got."""
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    recorded: dict[str, Any] = {}
    for name, (site, plain, version, kind, negotiated) in ANSWERS.items():
        running = nginx[site]
        port = running.http_port if plain else running.https_port
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            data, answer = tls.exchange_hello(sock, tls.client_hello(version, SHOP))
        if (answer.kind, answer.version) != (kind, negotiated):
            raise SystemExit(f"record_cases: {name}: the server answered {answer}, "
                             f"expected {kind} {negotiated}")
        recorded[name] = {
            "source": f"{nginx_version()} site '{site}' ({'plain-HTTP' if plain else 'HTTPS'} port) of "
                      f"tests/integration/tlsservers.py, answering the collector's ClientHello offering "
                      f"only {version} with SNI {SHOP}; recorded {when} by tests/checks/tls/record_cases.py",
            "offered": version, "expect_kind": kind, "expect_version": negotiated, "hex": data.hex()}
    codes = {name: code for code, name in tls.SUITE_NAMES.items()}
    for name, (site, suite, expect) in FLIGHTS.items():
        with socket.create_connection(("127.0.0.1", nginx[site].https_port), timeout=5) as sock:
            data, answer = tls.exchange_hello(sock, tls.client_hello("TLSv1.2", SHOP, [codes[suite]],
                                                                     tls.EC_GROUPS))
            data = tls.read_flight(sock, data)
        said = tls.key_exchange(data, suite) if tls.ephemeral(suite) else {}
        if answer.cipher != suite or said != expect:
            raise SystemExit(f"record_cases: {name}: the server answered {answer} and {said}, "
                             f"expected {expect}")
        recorded[name] = {
            "source": f"{nginx_version()} site '{site}' of tests/integration/tlsservers.py, answering a "
                      f"TLS 1.2 ClientHello offering only {suite} with SNI {SHOP}: its first flight up to "
                      f"the ServerKeyExchange or ServerHelloDone; recorded {when} by "
                      "tests/checks/tls/record_cases.py",
            "offered": "TLSv1.2", "suite": suite, "expect_kind": "server_hello", "expect_version": "TLSv1.2",
            "expect_key_exchange": expect, "hex": data.hex()}
    ANSWERS_FILE.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    print(f"wrote {ANSWERS_FILE.relative_to(REPO)}")


def _module(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TESTS = _module(REPO / "tests" / "unit" / "test_check_cases.py", "test_check_cases")
RECORD = _module(REPO / "tests" / "checks" / "record.py", "record")


def collect(endpoints: list[Any]) -> tuple[dict[str, Any], dict[str, Any], int]:
    """The tls probe's output through the engine, the host facts, and the redaction count."""
    check = registry.load().checks["tls"]
    host = Host(name="recorder", address="127.0.0.1", transport="local",
                vars={"tls": {"endpoints": endpoints}})
    probes, broken = plan.plan(host, [check])
    if broken:
        raise SystemExit(f"record_cases: {broken['tls']}")
    with runner.make_transport(host, SshOptions()) as transport:
        raw = runner.collect(transport, probes, sudo=False, timeout=120.0, batched=True,
                             cap=batch.DEFAULT_CAP)
    outputs, redactions = store.redact_outputs(raw)
    out = outputs["tls.handshakes"]
    recorded = {"stdout": out.stdout, "stderr": out.stderr, "rc": out.rc}
    return recorded, plan.parse_facts(outputs.get(plan.FACTS_KEY)), redactions


def nginx_version() -> str:
    done = subprocess.run(["/usr/sbin/nginx", "-v"], capture_output=True, text=True, check=False)
    return done.stderr.strip().removeprefix("nginx version: ")


def describe(spec: Case, facts: dict[str, str], redactions: int) -> str:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    name = facts.get("hostname", socket.gethostname())
    machine = f"{name} ({facts.get('os', '?')}, {facts.get('kernel', '?')})"
    return (f"{nginx_version()} on 127.0.0.1 (started from a temporary directory by "
            f"tests/integration/tlsservers.py), planted with: {spec.planted}. Recorded {when} by "
            f"tests/checks/tls/record_cases.py on {machine}: the tls check's collector run through the "
            f"engine (plan, collect, local transport, redaction: {redactions} value(s) redacted); "
            "ports and temporary paths differ on every recording")


def write(name: str, case: dict[str, Any]) -> bool:
    """Judge the case with the test suite's code; write it only when the verdict matches."""
    TESTS.validate_case(case, f"tls/{name}")
    got = TESTS.run_case("tls", case)
    problems = TESTS.mismatches(case, got)
    print(f"tls/{name}: {got.status.value}: {got.summary}")
    if problems:
        print("NOT WRITTEN:\n  " + "\n  ".join(problems), file=sys.stderr)
        return False
    (HERE / f"{name}.yaml").write_text(RECORD.dump_case(case), encoding="utf-8")
    return True


def main(argv: list[str]) -> int:
    only = argv[1] if len(argv) > 1 else "*"
    wanted = [c for c in CASES if fnmatch.fnmatch(c.name, only)
              or any(fnmatch.fnmatch(d[0], only) and d[1] == c.name for d in DERIVED)]
    failed: list[str] = []
    recorded: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="auditor-tls-cases-") as tmp:
        pki = TestPki(Path(tmp) / "pki")
        with NginxSites(Path(tmp) / "nginx", catalogue(pki)) as nginx:
            if fnmatch.fnmatch("server_answers", only):
                record_answers(nginx)
            for spec in wanted:
                output, facts, redactions = collect(spec.endpoints(nginx, pki))
                case: dict[str, Any] = {"source": describe(spec, facts, redactions)}
                if spec.params:
                    case["params"] = spec.params
                case["outputs"] = {"handshakes": output}
                case["expect"] = {"status": spec.status, "summary_contains": spec.summary,
                                  **({"values": spec.values} if spec.values else {})}
                recorded[spec.name] = case
                if fnmatch.fnmatch(spec.name, only) and not write(spec.name, case):
                    failed.append(spec.name)
    for name, base, how, damage, summary in DERIVED:
        if not fnmatch.fnmatch(name, only) or base not in recorded:
            continue
        original = recorded[base]
        output = {**original["outputs"]["handshakes"]}
        output["stdout"] = damage(output["stdout"])
        case = {"source": f"Derived from {base} ({original['source']}): {how}.",
                "outputs": {"handshakes": output},
                "expect": {"status": "error", "summary_contains": [summary]}}
        if not write(name, case):
            failed.append(name)
    if failed:
        print(f"record_cases: NOT recorded: {' '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
