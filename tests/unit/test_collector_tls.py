"""The tls collector: ClientHello builder, ServerHello parser, endpoint syntax, time limits.

Parser tests run on bytes recorded from real nginx servers (tests/checks/tls/
server_answers.json, written by tests/checks/tls/record_cases.py). The tests marked
`integration` start real nginx servers (tests/integration/tlsservers.py) and hold the
hand-built probes against `openssl s_client`, an independent client.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from auditor.collectors import CollectorContext, tls
from auditor.parsers import tls_facts
from tests.integration import tlsservers

ANSWERS_FILE = Path(__file__).resolve().parents[1] / "checks" / "tls" / "server_answers.json"
ANSWERS = json.loads(ANSWERS_FILE.read_text())


# --------------------------------------------------------------------------
# ClientHello, read back field by field
# --------------------------------------------------------------------------


def read_client_hello(record: bytes) -> dict[str, Any]:
    """The fields of a ClientHello record, parsed here independently of the collector."""
    content_type, record_version, length = struct.unpack_from("!BHH", record, 0)
    assert content_type == 22 and len(record) == 5 + length
    body = record[5:]
    assert body[0] == 1 and int.from_bytes(body[1:4], "big") == len(body) - 4
    offset = 4
    version = struct.unpack_from("!H", body, offset)[0]
    offset += 2 + 32
    offset += 1 + body[offset]  # session id
    suites_length = struct.unpack_from("!H", body, offset)[0]
    suites = [struct.unpack_from("!H", body, offset + 2 + i)[0] for i in range(0, suites_length, 2)]
    offset += 2 + suites_length
    offset += 1 + body[offset]  # compression methods
    extensions: dict[int, bytes] = {}
    end = offset + 2 + struct.unpack_from("!H", body, offset)[0]
    offset += 2
    while offset < end:
        kind, size = struct.unpack_from("!HH", body, offset)
        extensions[kind] = body[offset + 4:offset + 4 + size]
        offset += 4 + size
    assert offset == end == len(body)
    return {"record_version": record_version, "version": version, "suites": suites, "extensions": extensions}


@pytest.mark.parametrize(("version", "wire"), [("SSLv3", 0x0300), ("TLSv1.0", 0x0301), ("TLSv1.1", 0x0302),
                                               ("TLSv1.2", 0x0303)])
def test_a_legacy_client_hello_offers_its_version_and_the_old_suites(version, wire):
    # Given a ClientHello built for one version up to TLS 1.2
    hello = read_client_hello(tls.client_hello(version, "shop.example.test"))
    # Then it says that version, offers the suites old servers pick, and no supported_versions
    assert hello["version"] == wire
    assert {0xC013, 0x002F, 0x0035, 0x000A} <= set(hello["suites"])
    assert not set(hello["suites"]) & set(tls.TLS13_SUITES)
    assert tls.EXT_SUPPORTED_VERSIONS not in hello["extensions"]
    assert b"shop.example.test" in hello["extensions"][tls.EXT_SERVER_NAME]


def test_a_tls13_client_hello_offers_only_tls13_with_an_x25519_key_share():
    # Given the TLS 1.3 ClientHello
    hello = read_client_hello(tls.client_hello("TLSv1.3", "shop.example.test"))
    # Then the legacy version is TLS 1.2 and supported_versions lists 0x0304 alone
    assert hello["version"] == 0x0303
    assert hello["extensions"][tls.EXT_SUPPORTED_VERSIONS] == b"\x02\x03\x04"
    assert hello["suites"] == [0x1301, 0x1302, 0x1303]
    # And its key share is one x25519 key of 32 bytes
    share = hello["extensions"][tls.EXT_KEY_SHARE]
    assert share[:6] == struct.pack("!HHH", 36, 0x001D, 32) and len(share) == 2 + 36


def test_no_sni_is_sent_for_an_ip_address():
    # Given a ClientHello for an endpoint known only by its IP address
    hello = read_client_hello(tls.client_hello("TLSv1.2", "127.0.0.1"))
    # Then it carries no server_name (RFC 6066 allows host names only)
    assert tls.EXT_SERVER_NAME not in hello["extensions"]


# --------------------------------------------------------------------------
# The server's first answer, on recorded bytes
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ANSWERS))
def test_recorded_server_answers_parse_to_what_the_server_was_planted_to_say(name):
    # Given the bytes a real nginx sent back to one ClientHello
    recorded = ANSWERS[name]
    data = bytes.fromhex(recorded["hex"])
    # When they are parsed
    answer = tls.parse_server_answer(data, closed=True)
    # Then the kind and the negotiated version are those planted
    assert (answer.kind, answer.version) == (recorded["expect_kind"], recorded["expect_version"])
    if answer.kind == "alert":
        assert answer.alert in ("protocol_version (70)", "handshake_failure (40)")


def test_every_cut_of_a_server_hello_waits_for_more_or_reports_the_close():
    # Given a recorded ServerHello, cut at every length before it is whole
    data = bytes.fromhex(ANSWERS["tls12_server_hello"]["hex"])
    whole = 5 + struct.unpack_from("!H", data, 3)[0]
    for cut in range(whole):
        # Then with the connection open the parser asks for more, and once closed says so
        assert tls.parse_server_answer(data[:cut]).kind == "incomplete", cut
        assert tls.parse_server_answer(data[:cut], closed=True).kind == "closed", cut
    assert tls.parse_server_answer(data[:whole]).kind == "server_hello"


def test_a_server_hello_fragmented_over_two_records_is_reassembled():
    # Given the recorded TLS 1.3 ServerHello, its handshake message split over two records
    # (the record layer allows it; the split point is arbitrary)
    data = bytes.fromhex(ANSWERS["tls13_server_hello"]["hex"])
    length = struct.unpack_from("!H", data, 3)[0]
    message = data[5:5 + length]
    split = b"".join(struct.pack("!BHH", 22, 0x0303, len(part)) + part for part in (message[:7], message[7:]))
    # When it is parsed
    answer = tls.parse_server_answer(split)
    # Then it is the same ServerHello
    assert (answer.kind, answer.version) == ("server_hello", "TLSv1.3")
    assert tls.parse_server_answer(split[:-1]).kind == "incomplete"


def test_bytes_that_are_not_tls_are_named_as_such():
    # Given an SSH banner and garbage where a ServerHello should be
    for data in (b"SSH-2.0-OpenSSH_9.2p1\r\n", b"\x16\x07\x00\x00\x01\x00"):
        # Then the parser says it is not TLS, whatever else it waits for
        assert tls.parse_server_answer(data).kind == "not_tls"


# --------------------------------------------------------------------------
# Endpoint syntax
# --------------------------------------------------------------------------


@pytest.mark.parametrize(("item", "host", "port", "sni", "http_port", "name"), [
    ("10.0.0.5:8443", "10.0.0.5", 8443, None, 80, "10.0.0.5:8443"),
    ("shop.example.test", "shop.example.test", 443, "shop.example.test", 80, "shop.example.test:443"),
    ("[2001:db8::1]:8443", "2001:db8::1", 8443, None, 80, "[2001:db8::1]:8443"),
    ("2001:db8::1", "2001:db8::1", 443, None, 80, "[2001:db8::1]:443"),
    (":8443", "192.0.2.7", 8443, None, 80, "192.0.2.7:8443"),
    ("8443", "192.0.2.7", 8443, None, 80, "192.0.2.7:8443"),
    ({"address": "10.0.0.5:443", "sni": "shop.example.test", "http_port": 8080}, "10.0.0.5", 443,
     "shop.example.test", 8080, "shop.example.test (10.0.0.5:443)"),
    ({"address": ":443", "http_port": 0, "name": "front"}, "192.0.2.7", 443, None, None, "front"),
    ({"address": ":443", "http_port": False}, "192.0.2.7", 443, None, None, "192.0.2.7:443"),
])
def test_endpoint_syntax(item, host, port, sni, http_port, name):
    # Given an endpoint as an inventory would write it, on a host whose address is 192.0.2.7
    endpoint = tls.parse_endpoint(item, "192.0.2.7", 80)
    # Then it names where to connect, what name to check and the plain-HTTP port
    assert (endpoint.host, endpoint.port, endpoint.sni, endpoint.http_port, endpoint.name) == (
        host, port, sni, http_port, name)
    assert endpoint.hostname == (sni or host)


@pytest.mark.parametrize(("item", "message"), [
    ("shop.example.test:", "port must be a number"),
    ("shop.example.test:70000", "port must be a number"),
    ("[::1:443", r"expected \[v6\]:port"),
    ("bad:port:syntax:", r"as \[v6\]:port"),
    ({"address": ":443", "sni": ""}, "sni must be a host name"),
    ({"address": ":443", "http_port": "eighty"}, "http_port must be a port number"),
    ({"sni": "shop.example.test"}, "address must be host:port"),
])
def test_bad_endpoints_are_named(item, message):
    with pytest.raises(ValueError, match=message):
        tls.parse_endpoint(item, "192.0.2.7", 80)


# --------------------------------------------------------------------------
# The collector on real sockets: problems are recorded, never raised; time is bounded
# --------------------------------------------------------------------------


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A 127.0.0.1 port that accepts connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        server.close()


def run(endpoints: list[Any], timeout_seconds: float = 5.0, budget: float = 60.0) -> dict[str, Any]:
    context = CollectorContext("h", "127.0.0.1", {"endpoints": endpoints, "timeout_seconds": timeout_seconds,
                                                 "http_port": 80}, budget)
    text = tls.collect(context)
    # Whatever happened on the wire, the document has the shape the check reads (tls_facts)
    incomplete = [(e.name, e.incomplete) for e in tls_facts.read(text).endpoints if e.incomplete]
    assert not incomplete, incomplete
    return json.loads(text)


def test_a_silent_server_times_out_per_connection(silent_listener):
    # Given an endpoint that accepts TCP connections and never answers
    started = time.monotonic()
    # When the collector probes it with a 0.3 s connection timeout
    document = run([{"address": f"127.0.0.1:{silent_listener}", "http_port": 0}], timeout_seconds=0.3)
    elapsed = time.monotonic() - started
    # Then every attempt is recorded as timed out, in parallel, well within a few timeouts
    endpoint = document["endpoints"][0]
    assert {p["error"] for p in endpoint["protocols"].values()} == {"timed out"}
    assert endpoint["tls"]["error"].startswith("timed out") or "timed out" in endpoint["tls"]["error"]
    assert endpoint["verification"]["ok"] is None
    assert elapsed < 3.0, elapsed


def test_the_overall_budget_stops_the_collector(silent_listener):
    # Given three silent endpoints, 2 s per connection, but a 2.5 s budget for everything
    started = time.monotonic()
    items = [{"address": f"127.0.0.1:{silent_listener}", "http_port": 0, "name": f"e{i}"} for i in range(3)]
    document = run(items, timeout_seconds=2.0, budget=2.5)
    # Then it returns within the budget (plus one connection's slack) and says why it stopped
    assert time.monotonic() - started < 4.5
    errors = json.dumps(document)
    assert "time budget is used up" in errors


def test_endpoint_problems_are_recorded_not_raised():
    # Given a bad endpoint, a closed port and no endpoint at all
    closed = tlsservers.free_port()
    document = run(["bad:port:syntax:", f"127.0.0.1:{closed}"])
    # Then each gets its reason in the JSON, and the document says when it was collected
    bad, refused = document["endpoints"]
    assert bad["config_error"].startswith("bad address 'bad:port:syntax:'")
    assert refused["connect_error"] == "connection refused"
    assert document["collected_at"].endswith("Z") and document["collector"] == "tls"
    assert run([])["endpoints"] == []


# --------------------------------------------------------------------------
# Against real nginx, with openssl s_client as the oracle
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nginx(tmp_path_factory) -> Iterator[tuple[tlsservers.NginxSites, tlsservers.TestPki]]:
    problem = tlsservers.nginx_problem()
    if problem:
        pytest.skip(problem)
    directory = tmp_path_factory.mktemp("tls-collector")
    pki = tlsservers.TestPki(directory / "pki")
    sites = tlsservers.catalogue(pki, ("good", "tls10", "legacy_only", "p384_only", "self_signed"))
    with tlsservers.NginxSites(directory / "nginx", sites) as servers:
        yield servers, pki


@pytest.mark.integration
@pytest.mark.parametrize("site", ["good", "tls10", "legacy_only", "p384_only"])
@pytest.mark.parametrize(("flag", "version"), [("-tls1", "TLSv1.0"), ("-tls1_1", "TLSv1.1"),
                                               ("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")])
def test_the_hand_built_probe_agrees_with_openssl_s_client(nginx, site, flag, version):
    servers, _ = nginx
    address = servers[site].address
    # Given what openssl s_client (at security level 0) can negotiate with the server
    truth = tlsservers.openssl_speaks(address, flag)
    # When the collector offers only that version
    endpoint = tls.parse_endpoint({"address": address, "sni": tlsservers.SHOP}, "", 80)
    said = tls.probe_version("127.0.0.1", endpoint, version, tls.Budget(5, 30))
    # Then both agree
    assert said["supported"] is truth, (site, version, said)


@pytest.mark.integration
def test_the_planted_truth_is_what_the_sites_were_configured_with(nginx):
    # Given the sites' ssl_protocols, checked with openssl (so the probe tests above mean something)
    servers, _ = nginx
    assert tlsservers.openssl_speaks(servers["tls10"].address, "-tls1")
    assert tlsservers.openssl_speaks(servers["tls10"].address, "-tls1_1")
    assert not tlsservers.openssl_speaks(servers["good"].address, "-tls1")
    assert tlsservers.openssl_speaks(servers["good"].address, "-tls1_3")
    assert not tlsservers.openssl_speaks(servers["legacy_only"].address, "-tls1_2")


@pytest.mark.integration
def test_the_chain_and_verification_are_recorded(nginx):
    servers, pki = nginx
    good, self_signed = servers["good"], servers["self_signed"]
    # When the collector examines the good site against the test CA, the same site against
    # the system store, and the self-signed site against the test CA
    shop, ca_file = tlsservers.SHOP, str(pki.ca_file)
    document = run([
        {"address": good.address, "sni": shop, "ca_file": ca_file, "http_port": good.http_port},
        {"address": good.address, "sni": shop, "http_port": 0, "name": "system store"},
        {"address": self_signed.address, "sni": shop, "ca_file": ca_file, "http_port": 0},
    ])
    with_ca, system, bad = document["endpoints"]
    # Then the PEM the server sent is the planted leaf, verified against the test CA
    assert with_ca["tls"]["chain_pem"][0] == good.site.cert.cert_pem
    assert with_ca["verification"] == {"ok": True, "trusted_by": str(pki.ca_file)}
    # And the system store does not know the test CA; the self-signed leaf is refused
    assert system["verification"]["ok"] is False
    assert system["verification"]["verify_message"] == "unable to get local issuer certificate"
    assert bad["verification"]["verify_message"] == "self-signed certificate"
    # And HTTPS carried the HSTS header, plain HTTP the redirect
    assert with_ca["tls"]["https"]["hsts"] == [tlsservers.HSTS_YEAR]
    assert with_ca["http"]["status"] == 301
    assert with_ca["http"]["location"] == [f"https://{tlsservers.SHOP}/"]


# --------------------------------------------------------------------------
# Cipher suites: the ServerKeyExchange on recorded flights, the enumeration's bounds
# --------------------------------------------------------------------------

FLIGHTS = {name: answer for name, answer in ANSWERS.items() if "expect_key_exchange" in answer}


@pytest.mark.parametrize("name", sorted(FLIGHTS))
def test_recorded_flights_give_the_planted_dh_group_or_curve(name):
    # Given a real nginx's first flight to one suite offered alone (a 1024- or 2048-bit
    # ssl_dhparam, or ECDHE with x25519 or P-384 only, or plain RSA key exchange)
    recorded = FLIGHTS[name]
    data = bytes.fromhex(recorded["hex"])
    # When its ServerKeyExchange is read
    said = tls.key_exchange(data, recorded["suite"]) if tls.ephemeral(recorded["suite"]) else {}
    # Then the group is the one planted
    assert said == recorded["expect_key_exchange"]


def test_a_cut_or_missing_server_key_exchange_is_named_not_guessed():
    # Given the recorded DHE flight, cut inside the ServerKeyExchange, and its body emptied
    data = bytes.fromhex(FLIGHTS["dhe1024_flight"]["hex"])
    # Then a cut flight says how many bytes held no ServerKeyExchange, an empty one is malformed
    assert tls.key_exchange(data[:len(data) - 40], "DHE-RSA-AES256-GCM-SHA384")["error"].startswith(
        "no ServerKeyExchange in ")
    assert tls.parse_key_exchange(b"", "DHE-RSA-AES256-GCM-SHA384") == {
        "error": "malformed ServerKeyExchange (0 bytes)"}
    assert tls.parse_key_exchange(b"\x03\x00", "ECDHE-RSA-AES128-SHA") == {
        "error": "malformed ServerKeyExchange (2 bytes)"}


def test_the_catalogue_names_every_weak_class_and_the_docstring_counts_it():
    # Given the suites an enumeration offers
    names = [tls.SUITE_NAMES[code] for code in tls.CATALOGUE]
    # Then each weak class the check judges is offered, no suite twice, and the check says how many
    for weak in ("NULL-SHA", "ADH-AES128-SHA", "EXP-RC4-MD5", "RC4-SHA", "DES-CBC-SHA", "DES-CBC3-SHA"):
        assert weak in names
    assert len(set(tls.CATALOGUE)) == len(tls.CATALOGUE)
    import checks.tls
    assert f"collector's {len(tls.CATALOGUE)} suites" in (checks.tls.__doc__ or "")


def test_a_suite_enumeration_hello_offers_the_suites_given_and_elliptic_curves_only():
    # Given a ClientHello for an enumeration step
    hello = read_client_hello(tls.client_hello("TLSv1.2", "shop.example.test", [0x000A, 0x0005],
                                               tls.EC_GROUPS))
    # Then it offers those suites in that order (and the renegotiation SCSV), and no ffdhe group
    assert hello["suites"] == [0x000A, 0x0005, tls.EMPTY_RENEGOTIATION_INFO_SCSV]
    groups = hello["extensions"][tls.EXT_SUPPORTED_GROUPS]
    assert struct.unpack(f"!{len(groups) // 2}H", groups)[1:] == tls.EC_GROUPS  # after the length


@pytest.mark.integration
def test_the_enumeration_finds_what_openssl_s_client_can_negotiate(nginx):
    servers, _ = nginx
    address = servers["good"].address
    endpoint = tls.parse_endpoint({"address": address, "sni": tlsservers.SHOP}, "", 80)
    # When the collector enumerates the suites of nginx's default ssl_ciphers (HIGH:!aNULL:!MD5)
    found = tls.enumerate_suites("127.0.0.1", endpoint, tls.Budget(5, 30))
    names = [suite["name"] for suite in found["accepted"]]
    # Then each suite found is one openssl s_client completes a TLS 1.2 handshake with, and a
    # suite nginx was not given is refused to both
    assert found["complete"] and found["preference"] == "client"
    for name in (names[0], names[-1], "AES128-SHA"):
        assert name in names and tlsservers.openssl_suite(address, name), name
    assert not tlsservers.openssl_suite(address, "NULL-SHA256") and "NULL-SHA256" not in names
    # And it took one handshake per suite, one refusal per version and one in reverse order
    assert found["handshakes"] == len(names) + 3 + 1


@pytest.mark.integration
def test_the_enumeration_stops_at_its_handshake_limit_and_says_so(nginx, monkeypatch):
    servers, _ = nginx
    endpoint = tls.parse_endpoint({"address": servers["good"].address, "sni": tlsservers.SHOP}, "", 80)
    # Given a limit of 3 handshakes, fewer than the server's suites
    monkeypatch.setattr(tls.suites, "MAX_SUITE_HANDSHAKES", 3)
    found = tls.enumerate_suites("127.0.0.1", endpoint, tls.Budget(5, 30))
    # Then it stops there, keeps what it found and says why
    assert found["handshakes"] == 3 and len(found["accepted"]) == 3
    assert not found["complete"] and found["cut_short"] == "stopped at the limit of 3 handshakes"
