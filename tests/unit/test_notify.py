"""Alerts: a real HTTP server (http.server on 127.0.0.1) and a real SMTP server (aiosmtpd on
127.0.0.1), both started by these tests, receive what `auditor run --notify` sends."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from auditor.check import Status
from auditor.model import ClaimRegression, Regression
from auditor.tracking import notify
from auditor.tracking.history import History
from tests.conftest import REPO, run_cli
from tests.unit.test_history import audit, fake_report, make_workspace

SECRET_PATH = "/services/T0001/B0002/Planted-Hook-Token-7"


@dataclass
class Hook:
    """What the webhook server saw; it answers `fail_first` requests with 503 (or `code`)."""

    fail_first: int = 0
    code: int = 503
    bodies: list[dict] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    requests: int = 0
    port: int = 0

    @property
    def url(self) -> str:
        return f"webhook:http://127.0.0.1:{self.port}{SECRET_PATH}"

    @property
    def masked(self) -> str:
        return masked(f"webhook:http://127.0.0.1:{self.port}", self.url)


def masked(shown: str, full: str) -> str:
    """What reports show of a target: scheme://host:port, then /… and 6 hex digits of its SHA-256."""
    return f"{shown}/…[{hashlib.sha256(full.encode()).hexdigest()[:6]}]"


@pytest.fixture
def hook() -> Iterator[Hook]:
    state = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            state.requests += 1
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if state.requests <= state.fail_first:
                self.send_response(state.code)
                self.end_headers()
                return
            state.bodies.append(json.loads(body))
            state.paths.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    with socket.socket() as probe:  # aiosmtpd needs a concrete port to check that it is up
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def payload() -> dict:
    regressions = [Regression("db1", "backups", Status.FAIL, Status.PASS, "newest backup is 72 h old")]
    return notify.summary(fake_report("aaaaaa"), regressions, "/srv/reports/x/report.html",
                          "20250101T000000Z-b")


def test_targets_are_validated_and_masked():
    # Given targets as people write them
    hook_target = notify.parse_target("webhook:https://hooks.slack.com" + SECRET_PATH)
    other_hook = notify.parse_target("webhook:https://hooks.slack.com/services/T0001/B0003/Other")
    mail_url = "smtps://mail.example:465?to=a@example,b@example&from=auditor@example"
    mail = notify.parse_target(mail_url)
    # Then logs and reports see only scheme://host/… and a short hash that tells two hooks apart
    assert hook_target.masked == masked("webhook:https://hooks.slack.com",
                                        "webhook:https://hooks.slack.com" + SECRET_PATH)
    assert "Planted" not in hook_target.masked and other_hook.masked != hook_target.masked
    assert mail.masked == masked("smtps://mail.example:465", mail_url)
    # And credentials in an SMTP URL, missing addresses and unknown schemes are refused, naming the fix
    for text, message in (("smtp://user:Pw-In-Url@mail.example:25?to=a@b&from=c@d", "AUDITOR_SMTP_PASSWORD"),
                          ("smtp://mail.example:25?to=a@b", "?to=ops@example&from=auditor@example"),
                          ("ftp://x", "expected webhook:https://")):
        with pytest.raises(notify.NotifyError) as caught:
            notify.parse_target(text)
        assert message in str(caught.value) and "Pw-In-Url" not in str(caught.value)


def test_a_webhook_that_fails_twice_gets_it_on_the_third_try_with_backoff(hook):
    # Given a webhook server that answers 503 twice
    hook.fail_first = 2
    delays: list[float] = []
    # When the summary is sent with 3 attempts and a 0.01 s backoff
    (outcome,) = notify.send([notify.parse_target(hook.url)], payload(), attempts=3, backoff=0.01,
                             sleep=delays.append)
    # Then it arrives on the third attempt after 0.01 s and 0.02 s waits, with the Slack text field
    assert outcome.ok and outcome.attempts == 3 and delays == [0.01, 0.02]
    (body,) = hook.bodies
    assert hook.paths == [SECRET_PATH] and body["run_id"] == "20250101T000000Z-aaaaaa"
    assert body["regressions"] == [{"host": "db1", "check": "backups", "status": "fail",
                                    "baseline_status": "pass", "summary": "newest backup is 72 h old"}]
    assert "db1 backups: pass → fail: newest backup is 72 h old" in body["text"]
    assert body["report"] == "/srv/reports/x/report.html" and body["counts"]["pass"] == 2


def test_a_webhook_that_keeps_failing_is_reported_not_raised(hook):
    hook.fail_first = 99
    (outcome,) = notify.send([notify.parse_target(hook.url)], payload(), attempts=3, backoff=0.0)
    assert not outcome.ok and outcome.attempts == 3 and "HTTP 503" in outcome.detail
    assert outcome.target == hook.masked


def test_a_refusal_is_not_retried(hook):
    hook.fail_first, hook.code = 99, 404
    (outcome,) = notify.send([notify.parse_target(hook.url)], payload(), attempts=3, backoff=0.0)
    assert not outcome.ok and outcome.attempts == 1 and outcome.detail == "HTTP 404" and hook.requests == 1


def test_nobody_listening_is_retried_then_reported(hook):
    # Given a port with nothing listening (the hook server, stopped)
    target = notify.parse_target("webhook:http://127.0.0.1:9/hook")
    (outcome,) = notify.send([target], payload(), attempts=2, backoff=0.0, timeout=2)
    assert not outcome.ok and outcome.attempts == 2 and "cannot connect" in outcome.detail


def test_a_mail_reaches_the_smtp_server(smtp):
    inbox, port = smtp
    target = notify.parse_target(f"smtp://127.0.0.1:{port}?to=ops@example.test,cto@example.test"
                                 "&from=auditor@example.test")
    (outcome,) = notify.send([target], payload(), attempts=1)
    assert outcome.ok, outcome.detail
    (sender, recipients, content), = inbox.messages
    mail = message_from_bytes(content)
    assert sender == "auditor@example.test" and recipients == ["ops@example.test", "cto@example.test"]
    assert mail["Subject"] == "auditor: 1 regression(s) in run 20250101T000000Z-aaaaaa"
    text = mail.get_payload(decode=True).decode()
    assert "db1 backups: pass → fail: newest backup is 72 h old" in text
    assert "/srv/reports/x/report.html" in text


def test_smtp_credentials_are_never_sent_unencrypted(smtp, monkeypatch):
    # Given credentials in the environment and a server without STARTTLS
    inbox, port = smtp
    monkeypatch.setenv(notify.ENV_USER, "auditor")
    monkeypatch.setenv(notify.ENV_PASSWORD, "Smtp-Planted-Pw-3")
    target = notify.parse_target(f"smtp://127.0.0.1:{port}?to=ops@example.test&from=auditor@example.test")
    (outcome,) = notify.send([target], payload(), attempts=3, backoff=0.0)
    # Then nothing is sent, at once, and the reason does not show the password
    assert not outcome.ok and outcome.attempts == 1 and "unencrypted" in outcome.detail
    assert "Smtp-Planted-Pw-3" not in outcome.detail and inbox.messages == []


def test_a_run_alerts_webhook_and_mail_only_on_regression(tmp_path, hook, smtp):
    inbox, port = smtp
    work = make_workspace(tmp_path)
    targets = ("--notify", hook.url, "--notify", f"smtp://127.0.0.1:{port}?to=ops@example.test"
               "&from=auditor@example.test")
    # Given a first run ever: nothing to compare with, so no alert
    first, first_dir = audit(work, *targets)
    assert first.rc == 0 and hook.bodies == [] and inbox.messages == []
    assert "sends no regression alert" in first.stderr
    # When nothing changes, Then still no alert
    second, _ = audit(work, *targets)
    assert second.rc == 0 and hook.bodies == [] and inbox.messages == []
    # When beta breaks
    (work / "beta.age").write_text("no 70\n")
    third, third_dir = audit(work, *targets)
    # Then both servers receive the regression, and the run's report records the outcomes, masked
    assert third.rc == 1
    (body,) = hook.bodies
    assert body["run_id"] == third_dir.name and [r["host"] for r in body["regressions"]] == ["beta"]
    assert body["report"] == str((third_dir / "report.html").absolute())
    (_, _, content), = inbox.messages
    assert b"beta age_file: pass" in content
    data = json.loads((third_dir / "report.json").read_text())
    assert [(n["target"], n["ok"]) for n in data["notifications"]] == [
        (hook.masked, True), (masked(f"smtp://127.0.0.1:{port}", targets[3]), True)]
    # And the webhook's secret path appears in no report, history or output
    everything = third.stdout + third.stderr + "".join(
        p.read_text(errors="replace") for p in third_dir.rglob("*") if p.is_file())
    assert "Planted-Hook-Token-7" not in everything
    assert b"Planted-Hook-Token-7" not in (work / "reports" / "history.sqlite").read_bytes()


def test_a_failed_alert_never_loses_the_run_nor_changes_its_exit_code(tmp_path, hook):
    # Given a webhook that always answers 503, and --notify-on always
    hook.fail_first = 99
    work = make_workspace(tmp_path)
    (work / "beta.age").write_text("no 70\n")
    done, run_dir = audit(work, "--notify", hook.url, "--notify-on", "always")
    # Then the run is written and exits 1 for its fail, and the failure is on stderr and in report.json
    assert done.rc == 1 and (run_dir / "manifest.json").is_file()
    assert f"notification to {hook.masked} failed after 3 attempt(s)" in done.stderr
    (note,) = json.loads((run_dir / "report.json").read_text())["notifications"]
    assert note == {"target": hook.masked, "ok": False, "attempts": 3,
                    "detail": "HTTP 503"}


def test_a_bad_notify_target_stops_the_run_before_auditing(tmp_path):
    work = make_workspace(tmp_path)
    done, run_dir = audit(work, "--notify", "smtp://u:Pw-9@mail.example:25?to=a@b&from=c@d")
    assert done.rc == 2 and run_dir is None and "Pw-9" not in done.stderr


@pytest.fixture
def garbage_server() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that answers every connection like an SSH server, then hangs up."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(65536)
                    conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def test_a_server_speaking_another_protocol_is_reported_not_raised(garbage_server):
    # Given a "webhook" that answers with an SSH banner instead of HTTP
    target = notify.parse_target(f"webhook:http://127.0.0.1:{garbage_server}{SECRET_PATH}")
    # When the summary is sent
    (outcome,) = notify.send([target], payload(), attempts=3, backoff=0.0, timeout=5)
    # Then the failure is an outcome naming the protocol error, without the secret path
    assert not outcome.ok and "BadStatusLine" in outcome.detail, outcome.detail
    assert "Planted-Hook-Token-7" not in outcome.detail


def test_a_run_whose_webhook_speaks_garbage_still_writes_everything(tmp_path, garbage_server):
    # Given a run that alerts (--notify-on always) a server that does not speak HTTP
    work = make_workspace(tmp_path)
    url = f"webhook:http://127.0.0.1:{garbage_server}{SECRET_PATH}"
    done, run_dir = audit(work, "--notify", url, "--notify-on", "always")
    # Then the run keeps its report, manifest and history row and its own exit code, no traceback
    assert done.rc == 0 and "Traceback" not in done.stderr, done.stderr
    assert (run_dir / "report.json").is_file() and (run_dir / "manifest.json").is_file()
    with History(work / "reports" / "history.sqlite", create=False) as store:
        assert [r.run_id for r in store.runs()] == [run_dir.name]
    (note,) = json.loads((run_dir / "report.json").read_text())["notifications"]
    assert not note["ok"] and "BadStatusLine" in note["detail"]
    # And the secret path is nowhere
    everything = done.stdout + done.stderr + "".join(
        p.read_text(errors="replace") for p in run_dir.rglob("*") if p.is_file())
    assert "Planted-Hook-Token-7" not in everything


@pytest.mark.parametrize(("target", "says"), [
    ("webhook:https://hooks.example.test/services/T0/B0/Planted-Hook-Token-7 token", "space or a control"),
    ("webhook:https://hooks.example.test:44x3/services/Planted-Hook-Token-7", "port is not a number"),
    ("smtp://mail.example.test:25?to=ops@example.test&from=x@example.test%0ABcc:victim@example.test",
     "from= address"),
    ("smtp://mail.example.test:25?to=ops@example.test,<a@b>&from=x@example.test", "to= address"),
    ("smtp://mail.example.test:25?to=nobody&from=x@example.test", "to= address"),
])
def test_targets_that_would_break_at_send_time_are_refused_up_front(tmp_path, target, says):
    # Given a target with whitespace, a bad port or an address that injects a header
    work = make_workspace(tmp_path)
    # When a run is started with it
    done, run_dir = audit(work, "--notify", target)
    # Then it stops before auditing with a usage error that says what is wrong, and no secret or traceback
    assert done.rc == 2 and run_dir is None and says in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "Planted-Hook-Token-7" not in done.stderr


def test_an_interrupted_run_sends_no_alert(tmp_path, hook):
    # Given a complete run where both hosts pass, then the same inventory with one host that sleeps 61 s
    from tests.unit.test_run_behaviour import setup
    inventory = setup(tmp_path, slow_seconds=0, timeout=300)
    base = ["run", "-i", str(inventory), "-o", str(tmp_path / "r"), "--check", "sleeper", "--checks-dir",
            str(tmp_path / "checks"), "--format", "none", "--no-sign"]
    assert run_cli(*base).rc == 0
    inventory.write_text(inventory.read_text().replace("seconds: 0", "seconds: 61"))
    proc = subprocess.Popen([sys.executable, "-m", "auditor", *base, "--notify", hook.url], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "NO_COLOR": "1"})
    try:
        deadline = time.monotonic() + 20
        while len(list((tmp_path / "r").glob("*/evidence/fast"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        # When the run is interrupted (Ctrl-C, or systemctl stop with KillSignal=SIGINT)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # Then it exits 130 with its partial report, and the webhook gets nothing: "not checked" is no regression
    assert proc.returncode == 130, stderr
    assert hook.requests == 0 and "interrupted: no alert sent" in stderr


@pytest.fixture
def redirecting_hook() -> Iterator[tuple[list[str], int]]:
    """An http.server that answers every POST with 302 to its own /landing, which answers a GET 200."""
    gets: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{self.server.server_address[1]}/landing")
            self.end_headers()

        def do_GET(self) -> None:  # noqa: N802
            gets.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield gets, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_a_redirect_is_refused_not_recorded_as_delivered(redirecting_hook):
    # Given a webhook URL that answers 302 (urllib would re-send the POST as a GET without the summary)
    gets, port = redirecting_hook
    target = notify.parse_target(f"webhook:http://127.0.0.1:{port}/old/hook")
    # When the summary is sent
    (outcome,) = notify.send([target], payload(), attempts=3, backoff=0.0)
    # Then delivery failed at once, saying why, and no body-less GET followed the redirect
    assert not outcome.ok and outcome.attempts == 1, outcome
    assert "HTTP 302" in outcome.detail and "redirect" in outcome.detail and gets == []


def test_host_output_cannot_ping_a_slack_channel(hook):
    # Given a regression whose summary (host output) holds Slack control sequences
    regressions = [Regression("db1", "tls", Status.FAIL, Status.PASS, "CN=<!channel> & <https://evil.test|x>")]
    body = notify.summary(fake_report("aaaaaa"), regressions, "/srv/r/report.html", None)
    # When it is posted
    (outcome,) = notify.send([notify.parse_target(hook.url)], body, attempts=1)
    # Then Slack's text has &, < and > escaped as Slack asks, and the structured field keeps the raw text
    assert outcome.ok
    (received,) = hook.bodies
    assert "CN=&lt;!channel&gt; &amp; &lt;https://evil.test|x&gt;" in received["text"]
    assert "<!channel>" not in received["text"]
    assert received["regressions"][0]["summary"] == "CN=<!channel> & <https://evil.test|x>"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made here (valid for a day)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "smtp.crt", directory / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def starttls_smtp(tmp_path) -> Iterator[tuple[Inbox, int, Path, list[tuple[str, bytes]]]]:
    """aiosmtpd on 127.0.0.1 that requires STARTTLS (self-signed certificate) and accepts one login."""
    from aiosmtpd.smtp import AuthResult, LoginPassword

    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    logins: list[tuple[str, bytes]] = []

    def authenticator(server, session, envelope, mechanism, auth_data):  # noqa: ANN001, ANN202
        assert isinstance(auth_data, LoginPassword)
        logins.append((auth_data.login.decode(), auth_data.password))
        ok = auth_data.login == b"auditor" and auth_data.password == b"Smtp-Planted-Pw-3"
        return AuthResult(success=ok)

    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=context,
                            require_starttls=True,
                            auth_required=True, authenticator=authenticator)
    controller.start()
    try:
        yield inbox, port, cert, logins
    finally:
        controller.stop()


def test_starttls_and_login_deliver_a_dated_mail_with_a_message_id(starttls_smtp, monkeypatch):
    # Given a server that requires STARTTLS and a login, whose certificate the system trusts
    inbox, port, cert, logins = starttls_smtp
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    monkeypatch.setenv(notify.ENV_USER, "auditor")
    monkeypatch.setenv(notify.ENV_PASSWORD, "Smtp-Planted-Pw-3")
    target = notify.parse_target(f"smtp://127.0.0.1:{port}?to=ops@example.test&from=auditor@example.test")
    # When the summary is mailed
    (outcome,) = notify.send([target], payload(), attempts=1)
    # Then it logged in over TLS and the mail arrived with Date:, Message-ID: and the run's totals
    assert outcome.ok, outcome.detail
    assert logins == [("auditor", b"Smtp-Planted-Pw-3")]
    (_, _, content), = inbox.messages
    mail = message_from_bytes(content)
    assert mail["Date"] and mail["Message-ID"].endswith("@example.test>")
    assert "2 pass" in mail.get_payload(decode=True).decode()
    # And the password is not in the outcome
    assert "Smtp-Planted-Pw-3" not in outcome.detail


def test_an_untrusted_certificate_is_not_retried(starttls_smtp):
    # Given the same server, whose self-signed certificate nobody trusts
    inbox, port, _, logins = starttls_smtp
    target = notify.parse_target(f"smtp://127.0.0.1:{port}?to=ops@example.test&from=auditor@example.test")
    delays: list[float] = []
    # When the summary is mailed with 3 attempts
    (outcome,) = notify.send([target], payload(), attempts=3, backoff=0.01, sleep=delays.append)
    # Then the first try fails on the certificate and no retry follows; nothing was sent
    assert not outcome.ok and outcome.attempts == 1 and delays == [], outcome
    assert "CERTIFICATE_VERIFY_FAILED" in outcome.detail and inbox.messages == [] and logins == []


def test_notify_on_always_mails_the_totals_when_nothing_regressed(smtp):
    # Given a run summary without regressions (--notify-on always)
    inbox, port = smtp
    body = notify.summary(fake_report("aaaaaa"), [], "/srv/r/report.html", None)
    target = notify.parse_target(f"smtp://127.0.0.1:{port}?to=ops@example.test&from=auditor@example.test")
    # When it is mailed
    (outcome,) = notify.send([target], body, attempts=1)
    # Then the body says more than "0 regression(s)": the hosts and the counts per status
    assert outcome.ok
    (_, _, content), = inbox.messages
    text = message_from_bytes(content).get_payload(decode=True).decode()
    assert "0 regression(s)" in text and "host(s), 0 unreachable" in text and "2 pass" in text, text


def test_the_alert_names_claims_that_no_longer_hold():
    # Given a run where no result regressed but a claim lost its coverage
    claims = [ClaimRegression("salted-password-hashing", "not_verified", "pass", "not verified: skipped")]
    # When the alert is composed
    body = notify.summary(fake_report("aaaaaa"), [], "/srv/r/report.html", "20250101T000000Z-b", claims)
    # Then its text and its JSON name the claim, its old and new verdict
    assert "1 claim(s) no longer hold" in body["text"]
    assert "• claim salted-password-hashing: pass → not_verified: not verified: skipped" in body["text"]
    assert body["claim_regressions"] == [{"claim": "salted-password-hashing", "verdict": "not_verified",
                                          "baseline_verdict": "pass", "summary": "not verified: skipped"}]


def test_a_claim_that_no_longer_holds_alerts_though_no_result_regressed(tmp_path, hook):
    # Given a policy whose claim held in the previous run
    from tests.unit.test_diff import AGE_POLICY
    work = make_workspace(tmp_path)
    (work / "pol.yaml").write_text(AGE_POLICY)
    run = ("--policy", str(work / "pol.yaml"), "--notify", hook.url)
    audit(work, *run)
    assert hook.bodies == []
    # When its check stops answering on every host (pass -> skip: no fail, no error)
    for host in ("alpha", "beta"):
        (work / f"{host}.age").write_text("n/a 0\n")
    done, _ = audit(work, *run)
    # Then an alert goes out naming the claim
    assert done.rc == 0, done.stderr
    (body,) = hook.bodies
    assert body["regressions"] == [] and [c["claim"] for c in body["claim_regressions"]] == ["age-ok"]
    assert "claim age-ok: pass → not_verified" in body["text"]
