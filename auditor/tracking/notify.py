"""Alerts on regressions: a JSON webhook (Slack-compatible `text`) and plain-text mail.

Targets (`--notify`, repeatable):

    webhook:https://hooks.example/services/T000/B000/XXXX   POST of the JSON summary
    smtp://mail.example:25?to=ops@example&from=auditor@example   (STARTTLS when offered)
    smtps://mail.example:465?to=a@example,b@example&from=auditor@example

SMTP credentials come only from $AUDITOR_SMTP_USER / $AUDITOR_SMTP_PASSWORD, never from
the URL, and are only sent over TLS. Each target gets `attempts` tries with exponential
backoff (1 s, 2 s, ...) and a timeout per try; a target that still fails is reported, the
run and its exit code are unaffected. Webhook URLs often carry a secret in their path, so
reports and logs show only scheme://host/… .
"""

from __future__ import annotations

import hashlib
import json
import os
import smtplib
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from auditor.errors import UsageError
from auditor.model import ClaimRegression, Notification, Regression, RunReport

ENV_USER = "AUDITOR_SMTP_USER"
ENV_PASSWORD = "AUDITOR_SMTP_PASSWORD"  # noqa: S105 - the name of a variable, not a password
ATTEMPTS = 3
BACKOFF_S = 1.0
TIMEOUT_S = 10.0
_SCHEMES = ("webhook:http://", "webhook:https://", "smtp://", "smtps://")


class NotifyError(UsageError):
    """A --notify target that cannot be used as written."""


@dataclass(frozen=True)
class Target:
    kind: str  # "webhook" or "smtp"
    url: str  # the webhook URL, or the smtp(s):// URL
    masked: str  # what reports and logs show

    @property
    def smtp(self) -> urllib.parse.SplitResult:
        return urllib.parse.urlsplit(self.url)


def parse_target(text: str) -> Target:
    if not text.startswith(_SCHEMES):
        raise NotifyError(f"--notify {mask(text)}: expected webhook:https://…, smtp://host:port?to=…&from=… "
                          "or smtps://…")
    if any(ch.isspace() or not ch.isprintable() for ch in text):
        raise NotifyError(f"--notify {mask(text)}: the target contains a space or a control character; "
                          "percent-encode it (%20) or quote the whole target for the shell")
    if text.startswith("webhook:"):
        url = text[len("webhook:"):]
        parts = urllib.parse.urlsplit(url)
        _port(parts, text)
        if parts.username or parts.password:
            raise NotifyError(f"--notify {mask(text)}: user:password@ in a webhook URL is not supported")
        if not parts.hostname:
            raise NotifyError(f"--notify {mask(text)}: the webhook URL has no host")
        return Target("webhook", url, mask(text))
    parts = urllib.parse.urlsplit(text)
    if "@" in parts.netloc:
        raise NotifyError(f"--notify {mask(text)}: credentials do not belong in the URL (it ends up in shell "
                          f"history and process lists); set ${ENV_USER} and ${ENV_PASSWORD} instead")
    if not parts.hostname:
        raise NotifyError(f"--notify {mask(text)}: the SMTP URL has no host")
    query = urllib.parse.parse_qs(parts.query)
    if not query.get("to") or not query.get("from"):
        raise NotifyError(f"--notify {mask(text)}: name the recipients and sender: "
                          "?to=ops@example&from=auditor@example")
    _port(parts, text)
    for name in ("from", "to"):
        for value in query[name]:
            for address in value.split(","):
                _address(address.strip(), name, text)
    return Target("smtp", text, mask(text))


def _port(parts: urllib.parse.SplitResult, text: str) -> None:
    try:
        parts.port  # noqa: B018 - parsing the port validates it
    except ValueError:
        raise NotifyError(f"--notify {mask(text)}: the port is not a number from 1 to 65535") from None


def _address(address: str, name: str, text: str) -> None:
    """One plain mail address (no display name, no header injection), or a usage error."""
    problem = ""
    if not address or any(ch in address for ch in "\r\n<>\"") or any(not ch.isprintable() for ch in address):
        problem = "is empty or holds a line break, quote or angle bracket"
    else:
        try:
            parsed = Address(addr_spec=address)
            if not parsed.username or not parsed.domain:
                problem = "needs a user and a domain"
        except (ValueError, IndexError, HeaderParseError) as exc:
            problem = str(exc) or "is not an address"
    if problem:
        raise NotifyError(f"--notify {mask(text)}: {name}= address {address!r} {problem}; write a plain "
                          "address like ops@example.org")


def mask(text: str) -> str:
    """scheme://host[:port]/…[hash] — drops userinfo, path, query (where secrets hide in webhook
    URLs); six hex digits of the URL's SHA-256 tell several targets on one host apart."""
    prefix = "webhook:" if text.startswith("webhook:") else ""
    parts = urllib.parse.urlsplit(text[len(prefix):])
    host = parts.hostname or "?"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    tag = hashlib.sha256(text.encode()).hexdigest()[:6]
    rest = f"/…[{tag}]" if parts.path.strip("/") or parts.query else ""
    return f"{prefix}{parts.scheme}://{host}{port}{rest}"


def slack_escape(text: str) -> str:
    """Slack reads <…> as links and mentions (`<!channel>`); host output must stay plain text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def summary(report: RunReport, regressions: Sequence[Regression], report_path: str,
            baseline: str | None, claims: Sequence[ClaimRegression] = ()) -> dict[str, Any]:
    totals = report.totals()
    counts = {k: v for k, v in totals.items() if k not in ("hosts", "hosts_unreachable")}
    lines = [f"auditor run {report.run_id}: {len(regressions)} regression(s)"
             + (f", {len(claims)} claim(s) no longer hold" if claims else "")
             + (f" against {baseline}" if baseline else "")]
    lines += [f"• {r.host} {r.check_id}: {r.baseline_status.value if r.baseline_status else 'new'} → "
              f"{r.status.value}: {r.summary}" for r in regressions]
    lines += [f"• claim {c.claim_id}: {c.baseline_verdict} → {c.verdict}: {c.summary}" for c in claims]
    lines.append(f"{totals['hosts']} host(s), {totals['hosts_unreachable']} unreachable; results: "
                 + ", ".join(f"{count} {status}" for status, count in counts.items()))
    lines.append(f"report: {report_path}")
    return {
        "text": "\n".join(lines),  # what Slack (and compatible hooks) display; escaped when posted
        "run_id": report.run_id,
        "started": report.started,
        "baseline": baseline,
        "hosts": totals["hosts"],
        "hosts_unreachable": totals["hosts_unreachable"],
        "counts": counts,
        "regressions": [{"host": r.host, "check": r.check_id, "status": r.status.value,
                         "baseline_status": r.baseline_status.value if r.baseline_status else None,
                         "summary": r.summary} for r in regressions],
        "claim_regressions": [{"claim": c.claim_id, "verdict": c.verdict,
                               "baseline_verdict": c.baseline_verdict, "summary": c.summary} for c in claims],
        "report": report_path,
    }


class _Transient(Exception):
    """A failure worth retrying (HTTP 5xx or 429); the message is the reason."""


class _Permanent(Exception):
    """A refusal that retrying will not change (HTTP 4xx other than 429, bad credentials)."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would turn the POST into a body-less GET and still look delivered: refuse it."""

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def _post(target: Target, payload: Mapping[str, Any], timeout: float) -> str:
    body = {**payload, "text": slack_escape(str(payload["text"]))}
    request = urllib.request.Request(target.url, data=json.dumps(body).encode(), method="POST",  # noqa: S310
                                     headers={"Content-Type": "application/json",
                                              "User-Agent": "auditor"})
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return f"HTTP {response.status}"
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, ssl.SSLCertVerificationError):
            raise exc.reason from None  # not retried (see send)
        if not isinstance(exc, urllib.error.HTTPError):
            raise
        if 300 <= exc.code < 400:
            raise _Permanent(f"HTTP {exc.code}: redirects are not followed (a POST would arrive as a GET "
                             "without the summary); use the final URL") from None
        if exc.code == 429 or exc.code >= 500:
            raise _Transient(f"HTTP {exc.code}") from None
        raise _Permanent(f"HTTP {exc.code}") from None


def _mail(target: Target, payload: Mapping[str, Any], timeout: float) -> str:
    parts = target.smtp
    query = urllib.parse.parse_qs(parts.query)
    recipients = [a.strip() for value in query["to"] for a in value.split(",") if a.strip()]
    message = EmailMessage()
    message["Subject"] = f"auditor: {len(payload['regressions'])} regression(s) in run {payload['run_id']}"
    message["From"] = query["from"][0]
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(usegmt=True)
    # The sender's domain, not the local host name: make_msgid() would look that up in DNS
    message["Message-ID"] = make_msgid("auditor", domain=query["from"][0].rpartition("@")[2])
    message.set_content(str(payload["text"]) + "\n")
    user, password = os.environ.get(ENV_USER), os.environ.get(ENV_PASSWORD)
    context = ssl.create_default_context()
    host = parts.hostname or ""
    smtp: smtplib.SMTP
    if parts.scheme == "smtps":
        smtp = smtplib.SMTP_SSL(host, parts.port or 465, timeout=timeout, context=context)
    else:
        smtp = smtplib.SMTP(host, parts.port or 25, timeout=timeout)
    with smtp:
        smtp.ehlo()
        encrypted = parts.scheme == "smtps"
        if not encrypted and smtp.has_extn("starttls"):
            smtp.starttls(context=context)
            smtp.ehlo()
            encrypted = True
        if user and password:
            if not encrypted:
                raise _Permanent(f"refusing to send ${ENV_USER}/${ENV_PASSWORD} unencrypted: the server "
                                 "offers no STARTTLS (use smtps://)")
            try:
                smtp.login(user, password)
            except smtplib.SMTPAuthenticationError as exc:
                raise _Permanent(f"SMTP login refused ({exc.smtp_code})") from None
        try:
            smtp.send_message(message, to_addrs=recipients)
        except smtplib.SMTPRecipientsRefused:
            raise _Permanent("every recipient was refused") from None
    return f"mail sent to {len(recipients)} recipient(s)"


def send(targets: Sequence[Target], payload: Mapping[str, Any], attempts: int = ATTEMPTS,
         backoff: float = BACKOFF_S, timeout: float = TIMEOUT_S,
         sleep: Callable[[float], None] = time.sleep) -> list[Notification]:
    """Deliver to every target; never raises, returns each target's outcome."""
    outcomes = []
    for target in targets:
        deliver = _post if target.kind == "webhook" else _mail
        detail, ok, tries = "", False, 0
        for tries in range(1, attempts + 1):  # noqa: B007 - tries is reported
            try:
                detail = deliver(target, payload, timeout)
                ok = True
                break
            except _Permanent as exc:
                detail = str(exc)
                break
            except _Transient as exc:
                detail = str(exc)
            except ssl.SSLCertVerificationError as exc:  # retrying will not change a certificate
                detail = _reason(exc, target)
                break
            except (OSError, smtplib.SMTPException) as exc:
                detail = _reason(exc, target)
            except Exception as exc:  # noqa: BLE001 - a misbehaving server must never lose the run
                detail = _reason(exc, target)
                break
            if tries < attempts:
                sleep(backoff * 2 ** (tries - 1))
        outcomes.append(Notification(target.masked, ok, tries, detail))
    return outcomes


def _reason(exc: BaseException, target: Target) -> str:
    """Why a try failed, without the parts of the URL where secrets live (messages may quote it)."""
    if isinstance(exc, urllib.error.URLError):
        text = f"cannot connect: {exc.reason}"
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return scrub(text, target.url)


def scrub(text: str, url: str) -> str:
    """`text` with the URL, its path and its query replaced by the masked form, and cut short."""
    parts = urllib.parse.urlsplit(url)
    for secret in sorted({url, parts.path, parts.query, urllib.parse.unquote(parts.path)}, key=len,
                         reverse=True):
        if len(secret) > 1:
            text = text.replace(secret, "…")
    return text[:300]
