"""Scheduled audits end to end (issue 6's acceptance): nightly runs against real sshd hosts
running Debian's real cron, with the backups control broken between two runs.

Two hosts run a daily pg_dump from root's crontab under their own cron, with a fresh dump
in /srv/backup. Between the first and second run, one host's dump is made three days old
(`touch` inside the host's mount namespace). The alerts go to a real HTTP server and a real
SMTP server (aiosmtpd) on 127.0.0.1, started by the tests.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from email import message_from_bytes

import pytest
import yaml

from tests.conftest import run_cli
from tests.integration.fleetrun import fleet_hosts, write_inventory
from tests.integration.test_check_backups import DAILY_PG_DUMP, cron_host
from tests.unit.test_notify import Hook, hook, smtp  # noqa: F401 - pytest fixtures

pytestmark = pytest.mark.integration
HOUR = 3600


def today() -> dt.date:
    """Asked when a waiver is written, not at import: a session that crosses midnight UTC stays right."""
    return dt.datetime.now(dt.UTC).date()


def waiver(expires: dt.date) -> str:
    return yaml.safe_dump({"waivers": [{
        "check": "backups", "hosts": ["stale*"],
        "justification": "Backup target migrated; dumps resume (CHG-42)",
        "approver": "Jane Doe (CISO)", "expires": expires.isoformat()}]})


@pytest.fixture(scope="module")
def nightly(sshd_fleet):
    """Yields a function that runs `auditor run` on the fleet, and the fleet itself."""
    with sshd_fleet("nightly", namespaces=True) as (fleet, tmp):
        fleet.start(cron_host("fresh", root_crontab=DAILY_PG_DUMP, backup_age_hours=2))
        fleet.start(cron_host("stale", root_crontab=DAILY_PG_DUMP, backup_age_hours=2))
        inventory = write_inventory(tmp / "inventory.yaml",
                                    fleet_hosts(fleet, vars={"backups": {"paths": ["/srv/backup"]}}))

        def run(*extra: str):
            out = tmp / "reports"
            before = {p for p in out.iterdir()} if out.exists() else set()
            done = run_cli("run", "-i", str(inventory), "-o", str(out), "--check", "backups",
                           "--no-sign", "--format", "json", *extra)
            (new,) = [p for p in out.iterdir() if p.is_dir() and p not in before]
            return done, new

        yield run, fleet, tmp


def statuses(done) -> dict[str, str]:
    return {h["name"]: h["results"][0]["status"] for h in done.json()["hosts"]}


def test_nightly_runs_find_the_regression_alert_waive_and_keep_the_series(nightly, hook, smtp):  # noqa: F811
    run, fleet, tmp = nightly
    inbox, smtp_port = smtp
    out = str(tmp / "reports")
    notify = ("--notify", hook.url, "--notify", f"smtp://127.0.0.1:{smtp_port}?to=ops@example.test"
              "&from=auditor@example.test")

    # Given a first nightly run where both hosts' daily dumps are fresh
    first, first_dir = run("--baseline", "previous", "--fail-on", "new", *notify)
    assert first.rc == 0 and statuses(first) == {"fresh": "pass", "stale": "pass"}, first.stderr
    assert hook.bodies == [] and inbox.messages == []  # the first run ever alerts nobody

    # When one host's newest dump becomes three days old (its backup job stopped working)
    stale = next(h for h in fleet.hosts if h.name == "stale")
    touched = stale.run(["touch", "-d", f"@{int(time.time() - 72 * HOUR)}", "/srv/backup/db/shop.sql.gz"])
    assert touched.returncode == 0, touched.stderr
    second, second_dir = run("--baseline", "previous", "--fail-on", "new", *notify)

    # Then the run exits non-zero for the regression, and names it in report.json
    assert second.rc == 1 and statuses(second) == {"fresh": "pass", "stale": "fail"}
    assert [(r["host"], r["check"], r["baseline_status"], r["status"])
            for r in second.json()["baseline"]["regressions"]] == [("stale", "backups", "pass", "fail")]
    # And the webhook and the SMTP server both received the alert naming it and the report
    (body,) = hook.bodies
    assert body["run_id"] == second_dir.name and body["baseline"] == first_dir.name
    assert [(r["host"], r["check"]) for r in body["regressions"]] == [("stale", "backups")]
    assert "stale backups: pass → fail: " in body["text"] and "72 h old" in body["text"]
    (_, recipients, content), = inbox.messages
    mail = message_from_bytes(content)
    text = mail.get_payload(decode=True).decode()
    assert recipients == ["ops@example.test"] and str(second_dir / "report.html") in text
    assert "stale backups: pass → fail" in text

    # When the last two runs are compared
    drift = run_cli("diff", "last", "previous", "-o", out, "--format", "json")
    # Then exactly that regression is named, with the backup's age going from 2 h to 72 h
    data = drift.json()
    assert drift.rc == 1 and (data["base"], data["current"]) == (first_dir.name, second_dir.name)
    assert [(c["host"], c["check"], c["before"], c["after"]) for c in data["new_failures"]] == [
        ("stale", "backups", "pass", "fail")]
    assert data["new_errors"] == [] and data["resolved_failures"] == [] and data["hosts_added"] == []
    # (the first run measured the age the fixture planted, 2 h, plus however long the fleet took to start)
    first_age = next(r["values"]["newest_backup_age_hours"] for h in first.json()["hosts"]
                     if h["name"] == "stale" for r in h["results"])
    assert 2.0 <= first_age <= 2.5
    assert [(v["host"], v["key"], v["before"], v["after"]) for v in data["changed_values"]] == [
        ("stale", "newest_backup_age_hours", first_age, 72.0)]

    # When a third night changes nothing
    third, _ = run("--baseline", "previous", "--fail-on", "new", *notify)
    # Then --fail-on new exits 0 although the fail persists, and nobody is alerted again
    assert third.rc == 0 and statuses(third)["stale"] == "fail" and len(hook.bodies) == 1

    # When a waiver for the stale host, valid through today, sits next to the inventory
    (tmp / "waivers.yaml").write_text(waiver(today()))
    fourth, fourth_dir = run()
    # Then the fail shows as waived with its justification, and the run exits 0
    result = next(h for h in fourth.json()["hosts"] if h["name"] == "stale")["results"][0]
    assert fourth.rc == 0 and result["status"] == "waived" and result["original_status"] == "fail"
    assert result["waiver"]["justification"] == "Backup target migrated; dumps resume (CHG-42)"
    assert "Backup target migrated" in (fourth_dir / "report.html").read_text()

    # When the waiver expired yesterday
    (tmp / "waivers.yaml").write_text(waiver(today() - dt.timedelta(days=1)))
    fifth, fifth_dir = run()
    # Then it waives nothing, the fail is back (exit 1), and the expired waiver is flagged
    assert fifth.rc == 1 and statuses(fifth)["stale"] == "fail"
    assert [w["approver"] for w in fifth.json()["waivers"]["expired"]] == ["Jane Doe (CISO)"]
    assert "expired on" in fifth.stderr and "Expired waiver" in (fifth_dir / "report.html").read_text()
    (tmp / "waivers.yaml").unlink()

    # When the backups series of the last 90 days is asked for
    series = run_cli("history", "--check", "backups", "--since", "90d", "-o", out)
    as_json = run_cli("history", "--check", "backups", "--host", "stale", "--since", "90d", "-o", out,
                      "--format", "json")
    # Then it prints one row per night and host, newest night first (like `history`), with the
    # status and the backup's age
    rows = [ln.split() for ln in series.stdout.splitlines()[1:-1]]
    assert series.rc == 0 and len(rows) == 10 and series.stdout.endswith("10 result(s) of backups\n")
    stale_rows = [r for r in rows if r[2] == "stale"]
    assert [r[3] for r in stale_rows] == ["fail", "waived", "fail", "fail", "pass"]
    assert stale_rows[-1][-1] == f"newest_backup_age_hours={first_age}"  # the first night's measured age
    assert stale_rows[-2][-1] == "newest_backup_age_hours=72.0"
    assert [(r["status"], r["original_status"]) for r in as_json.json()] == [
        ("fail", None), ("waived", "fail"), ("fail", None), ("fail", None), ("pass", None)]
    # And each run's HTML draws the trend of the earlier runs as inline SVG, with words for screen readers
    page = (fifth_dir / "report.html").read_text()
    label = 'aria-label="last 5 run(s), oldest first: pass, fail, fail, waived, fail;'
    assert f'<svg class="trend" role="img" {label}' in page
    assert f"newest_backup_age_hours: {first_age:g} → 72 → 72 → 72 → 72" in page
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")  # no external assets
    # And the history lists the five runs, each with its manifest's hash
    listing = run_cli("history", "-o", out, "--format", "json").json()
    assert len(listing) == 5 and all(len(r["manifest_sha256"]) == 64 for r in listing)
    assert json.loads((first_dir / "report.json").read_text())["run"]["id"] == listing[-1]["id"]
