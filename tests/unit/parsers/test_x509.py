"""auditor.parsers.x509 on real certificates, with `openssl x509 -checkhost/-checkip` as the
oracle for hostname matching.

The certificates are made for real by tests/integration/tlsservers.py (cryptography; the
SHA-1 one by `openssl x509 -sha1`)."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess

import pytest

from auditor.parsers import x509
from tests.integration.tlsservers import SHOP, Issued, TestPki


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> TestPki:
    return TestPki(tmp_path_factory.mktemp("x509"))


@pytest.fixture(scope="module")
def certs(pki) -> dict[str, Issued]:
    return {
        "shop": pki.issue("shop"),
        "wildcard": pki.issue("wildcard", dns_names=("*.example.test", "example.test")),
        "tld_wildcard": pki.issue("tld_wildcard", dns_names=("*.test",)),
        "cn_only": pki.issue("cn_only", dns_names=(), common_name=SHOP),
        "ip": pki.issue("ip", dns_names=(), ip_addresses=("127.0.0.1", "::1")),
        "self_signed": pki.issue("self_signed", self_signed=True),
        "sha1": pki.issue("sha1", digest="sha1"),
        "weak": pki.issue("weak", rsa_bits=1024, valid_from_days=-400, valid_to_days=-30),
    }


def openssl_matches(cert: Issued, name: str) -> bool:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is missing")
    option = "-checkip" if ":" in name or name.replace(".", "").isdigit() else "-checkhost"
    done = subprocess.run(["openssl", "x509", "-in", str(cert.cert_file), "-noout", option, name],
                          capture_output=True, text=True, check=True)
    return "does match" in done.stdout


@pytest.mark.parametrize(("cert", "name"), [
    ("shop", SHOP), ("shop", "SHOP.Example.Test"), ("shop", "www.example.test"), ("shop", "example.test"),
    ("wildcard", SHOP), ("wildcard", "example.test"), ("wildcard", "a.shop.example.test"),
    ("wildcard", "example.other"), ("tld_wildcard", "example.test"),
    ("cn_only", SHOP), ("cn_only", "www.example.test"),
    ("ip", "127.0.0.1"), ("ip", "::1"), ("ip", "127.0.0.2"), ("shop", "127.0.0.1"),
])
def test_hostname_matching_agrees_with_openssl(certs, cert, name):
    # Given a real certificate and a name an endpoint is reached by
    facts = x509.parse_pem(certs[cert].cert_pem)
    # When the parser judges whether the certificate names it
    # Then OpenSSL's own X509_check_host / X509_check_ip says the same
    assert x509.hostname_matches(facts, name) is openssl_matches(certs[cert], name), (cert, name)


def test_facts_of_a_good_leaf(certs, pki):
    # Given the good leaf, made for shop.example.test by the test CA
    facts = x509.parse_pem(certs["shop"].cert_pem)
    # Then the parser reads its names, key, signature, issuer and validity
    assert facts.dns_names == (SHOP,) and facts.ip_addresses == ()
    assert (facts.key_type, facts.key_bits, facts.signature_hash) == ("RSA", 2048, "sha256")
    assert facts.issuer == "CN=auditor test CA,O=auditor tests" and not facts.self_signed and not facts.is_ca
    assert round(facts.days_left(pki.now)) == 3650
    assert facts.names() == SHOP


def test_facts_of_bad_certificates(certs, pki):
    # Given a self-signed, a SHA-1-signed and an expired 1024-bit certificate
    self_signed = x509.parse_pem(certs["self_signed"].cert_pem)
    sha1 = x509.parse_pem(certs["sha1"].cert_pem)
    weak = x509.parse_pem(certs["weak"].cert_pem)
    # Then each fault is visible in the facts
    assert self_signed.self_signed and self_signed.issuer == self_signed.subject
    assert sha1.signature_hash == "sha1" and not sha1.self_signed
    assert (weak.key_type, weak.key_bits) == ("RSA", 1024)
    assert round(weak.days_left(pki.now)) == -30
    assert weak.days_left(pki.now + dt.timedelta(days=30)) < weak.days_left(pki.now)


def test_a_subject_named_like_its_issuer_is_not_self_signed_unless_its_own_key_signed_it(pki):
    # Given the test CA's certificate (really self-signed) and a leaf whose subject copies the CA's
    ca = x509.parse_pem(pki.ca_file.read_text())
    impostor = x509.parse_pem(pki.issue("impostor", common_name="auditor test CA").cert_pem)
    assert impostor.subject == impostor.issuer
    # Then only the one whose signature its own key verifies is self-signed
    assert ca.self_signed and ca.is_ca and (ca.key_type, ca.key_bits) == ("EC", 256)
    assert not impostor.self_signed


def test_something_that_is_not_a_certificate_is_a_value_error():
    with pytest.raises(ValueError):
        x509.parse_pem("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
