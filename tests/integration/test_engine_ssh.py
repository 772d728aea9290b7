"""End to end through the CLI against real sshd test hosts with planted configurations.

Every host is a real OpenSSH server in its own mount namespace (see sshhosts); the
hashes are made by mkpasswd, the logs are real files with real ages.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import run_cli, run_folder
from tests.integration import fleetrun
from tests.integration.sshhosts import HostSpec, Planted, SshdFleet

pytestmark = pytest.mark.integration
DAY = 86400
NOW = time.time()
REAL_SHADOW = Path("/etc/shadow").read_text()


def mkpasswd(method: str, password: str, salt: str | None = None) -> str:
    if shutil.which("mkpasswd") is None:
        pytest.skip("mkpasswd (Debian package whois) is not installed; scripts/test.sh installs it")
    args = ["mkpasswd", "-m", method, password] + (["-S", salt] if salt else [])
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout.strip()


def shadow_with(**users: str) -> Planted:
    """The machine's real /etc/shadow plus accounts with the given password fields."""
    extra = "".join(f"{name}:{field}:19700:0:99999:7:::\n" for name, field in users.items())
    return Planted(REAL_SHADOW + extra, mode=0o640, gid=42)


def logs(**ages_in_days: float) -> dict[str, Planted]:
    return {f"/var/log/{name.replace('__', '.')}": Planted(f"{name} line\n", mtime=NOW - days * DAY)
            for name, days in ages_in_days.items()}


OLD_MACHINE = {"/etc/machine-id": Planted("0123456789abcdef0123456789abcdef\n", mtime=NOW - 400 * DAY)}
JOURNALD_AUTO = {"/etc/systemd/journald.conf": "[Journal]\n#Storage=auto\n"}
RSYSLOG_BLOCK = "/var/log/syslog\n/var/log/auth.log\n{\n\trotate {n}\n\tweekly\n\tmissingok\n\tcompress\n" \
                "\tpostrotate\n\t\t/usr/lib/rsyslog/rsyslog-rotate\n\tendscript\n}\n"


@pytest.fixture(scope="module")
def secrets_planted() -> dict[str, str]:
    return {
        "alice_yescrypt": mkpasswd("yescrypt", "Alice-pw-1"),
        "bob_sha512": mkpasswd("sha512crypt", "Bob-pw-2"),
        "carol_bcrypt": mkpasswd("bcrypt", "Carol-pw-3"),
        "mallory_md5": mkpasswd("md5crypt", "Mallory-pw-4"),
        "dave_des": mkpasswd("descrypt", "davepw"),
    }


@pytest.fixture(scope="module")
def fleet(sshd_fleet, secrets_planted):
    s = secrets_planted
    with sshd_fleet("fleet") as (fleet, _):
        # Each host has its own PID namespace: it sees its own processes, never another
        # test's daemon that starts or stops between two runs compared below.
        fleet.start(HostSpec(
            "good", pid_namespace=True,
            files={
                "/etc/shadow": shadow_with(alice=s["alice_yescrypt"], bob=s["bob_sha512"],
                                           carol=s["carol_bcrypt"], locked="!" + s["mallory_md5"]),
                "/etc/login.defs": "ENCRYPT_METHOD YESCRYPT\n",
                "/etc/logrotate.conf": "weekly\nrotate 13\ninclude /etc/logrotate.d\n",
                "/etc/logrotate.d/rsyslog": RSYSLOG_BLOCK.replace("{n}", "13"),
                **logs(syslog=0, syslog__1=7, auth__log__5__gz=90),
                **OLD_MACHINE, **JOURNALD_AUTO,
            },
            replace_dirs=("/etc/logrotate.d", "/var/log"),
        ))
        fleet.start(HostSpec(
            "bad", pid_namespace=True,
            files={
                "/etc/shadow": shadow_with(mallory=s["mallory_md5"], dave=s["dave_des"]),
                "/etc/login.defs": "ENCRYPT_METHOD MD5\n",
                "/etc/logrotate.conf": "weekly\nrotate 4\ninclude /etc/logrotate.d\n",
                "/etc/logrotate.d/rsyslog": RSYSLOG_BLOCK.replace("{n}", "4"),
                **logs(syslog=0, syslog__1=2),
                **OLD_MACHINE, **JOURNALD_AUTO,
            },
            replace_dirs=("/etc/logrotate.d", "/var/log"),
        ))
        fleet.start(HostSpec("stranger", files={}, pid_namespace=True), own_host_key=True)
        yield fleet


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_inventory(path: Path, fleet: SshdFleet, extra: dict | None = None, **overrides) -> Path:
    hosts = fleetrun.fleet_hosts(fleet)
    stranger = next(h for h in fleet.hosts if h.name == "stranger")
    hosts["stranger"]["known_hosts"] = str(fleet.known_hosts_without(stranger))
    hosts["dead"] = {"address": "127.0.0.1", "port": closed_port(), "user": "root",
                     "identity_file": str(fleet.client_key), "connect_timeout": 3}
    hosts.update(extra or {})
    for name, changes in overrides.items():
        hosts[name].update(changes)
    return fleetrun.write_inventory(path, hosts)


def results(report: dict) -> dict[tuple[str, str], dict]:
    return {(h["name"], r["check"]): r for h in report["hosts"] for r in h["results"]}


@pytest.fixture(scope="module")
def fleet_run(fleet, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    inventory = write_inventory(tmp / "fleet.yaml", fleet)
    done = fleetrun.audit(inventory, tmp / "reports", None)
    return done.result, done.run_dir


def test_verdicts_follow_the_planted_configuration(fleet_run):
    # Given a good host, a bad host, a host with an unknown key and a dead port
    result, _ = fleet_run
    report = result.json()
    by = results(report)
    # Then the good host passes both checks, with the reasons in the summary
    assert by["good", "password_hashing"]["status"] == "pass", by["good", "password_hashing"]
    assert by["good", "password_hashing"]["values"]["accounts_by_scheme"] == {
        "bcrypt": 1, "sha512crypt": 1, "yescrypt": 1}
    assert by["good", "log_retention"]["status"] == "pass", by["good", "log_retention"]
    assert by["good", "log_retention"]["values"]["config_min_days"] == 91
    assert "90 days old" in by["good", "log_retention"]["summary"]
    # And the bad host fails both, naming what is wrong
    bad_hash = by["bad", "password_hashing"]
    assert bad_hash["status"] == "fail"
    assert "mallory uses md5crypt" in " ".join(bad_hash["details"])
    assert "dave uses DES crypt" in " ".join(bad_hash["details"])
    assert "ENCRYPT_METHOD MD5" in " ".join(bad_hash["details"])
    bad_logs = by["bad", "log_retention"]
    assert bad_logs["status"] == "fail" and "rotate 4 × weekly = 28 days" in bad_logs["summary"]
    # And a check failed, so the exit code is 1
    assert result.rc == 1, result.stderr


def test_unknown_host_key_and_dead_host_are_errors_while_the_others_finish(fleet_run):
    result, _ = fleet_run
    hosts = {h["name"]: h for h in result.json()["hosts"]}
    assert hosts["stranger"]["error_kind"] == "host-key"
    assert "not in known_hosts" in hosts["stranger"]["error"]
    assert hosts["dead"]["reachable"] is False and hosts["dead"]["error_kind"] == "unreachable"
    for name in ("stranger", "dead"):
        assert {r["status"] for r in hosts[name]["results"]} == {"error"}
    assert hosts["good"]["reachable"] and hosts["bad"]["reachable"]


def test_no_planted_secret_reaches_any_file_of_the_run(fleet_run, secrets_planted):
    # Given the run folder (reports and evidence)
    _, run_dir = fleet_run
    # Then no hash, and no salt+hash tail of one, appears anywhere
    files = fleetrun.assert_nowhere_in(run_dir, *secrets_planted.values(),
                                       *(value[-20:] for value in secrets_planted.values()))
    assert any("evidence" in p.parts for p in files)


def test_evidence_hashes_match_and_html_names_each_host(fleet_run):
    import hashlib

    _, run_dir = fleet_run
    report = json.loads((run_dir / "report.json").read_text())
    for host in report["hosts"]:
        for r in host["results"]:
            for ref in r["evidence"]:
                assert hashlib.sha256((run_dir / ref["path"]).read_bytes()).hexdigest() == ref["sha256"]
    page = (run_dir / "report.html").read_text()
    for name in ("good", "bad", "stranger", "dead"):
        assert f">{name}<" in page or f">{name} <" in page


def test_a_refused_host_key_is_not_called_unreachable(fleet_run):
    # Given the run's page, with stranger refused for its unknown key and dead not answering
    _, run_dir = fleet_run
    page = (run_dir / "report.html").read_text()
    # Then each host's badge in the table says why it was not audited
    assert re.search(r">stranger</a> <span class=\"badge error\">host-key</span>", page)
    assert re.search(r">dead</a> <span class=\"badge error\">unreachable</span>", page)
    # And the totals do not call both unreachable (the findings above the table name each host's reason)
    totals = page[page.index('<p class="totals">'):]
    totals = totals[:totals.index("</p>")]
    assert "2 not reached" in totals and "unreachable" not in totals


def test_filters_select_one_host_and_one_check(fleet, tmp_path):
    inventory = write_inventory(tmp_path / "fleet.yaml", fleet)
    result = run_cli("run", "-i", str(inventory), "-o", str(tmp_path / "r"), "--host", "good",
                     "--check", "password_hashing", "--format", "json")
    report = result.json()
    assert result.rc == 0, result.stderr
    assert [(h["name"], [r["check"] for r in h["results"]]) for h in report["hosts"]] == [
        ("good", ["password_hashing"])]


def test_one_exec_per_probe_gives_the_same_verdicts(fleet, fleet_run, tmp_path):
    inventory = write_inventory(tmp_path / "fleet.yaml", fleet)
    result = run_cli("run", "-i", str(inventory), "-o", str(tmp_path / "r"), "--no-batch",
                     "--format", "json")
    batched = {k: v["status"] for k, v in results(fleet_run[0].json()).items()}
    unbatched_results = results(result.json())
    unbatched = {k: v["status"] for k, v in unbatched_results.items()}
    differing = {k: (batched.get(k), unbatched_results[k].get("summary"), unbatched_results[k].get("error"))
                 for k in unbatched if unbatched[k] != batched.get(k)}
    assert unbatched == batched, differing
    assert result.json()["run"]["batched"] is False


def test_accept_new_learns_unknown_keys_but_a_changed_key_is_refused(fleet, tmp_path):
    stranger = next(h for h in fleet.hosts if h.name == "stranger")
    good = next(h for h in fleet.hosts if h.name == "good")
    learned = tmp_path / "known_hosts"
    shutil.copy(fleet.known_hosts_without(stranger), learned)
    changed = fleet.known_hosts_with_changed_key(good)
    inventory = write_inventory(tmp_path / "fleet.yaml", fleet, stranger={"known_hosts": str(learned)},
                                good={"known_hosts": str(changed)})
    # When the run opts in to accept-new
    result = run_cli("run", "-i", str(inventory), "-o", str(tmp_path / "r"), "--accept-new-host-keys",
                     "--host", "stranger", "--host", "good", "--check", "password_hashing",
                     "--format", "json")
    hosts = {h["name"]: h for h in result.json()["hosts"]}
    # Then the unknown key is learned and the host audited
    assert hosts["stranger"]["reachable"] and hosts["stranger"]["error"] is None
    assert f"[127.0.0.1]:{stranger.port}" in learned.read_text()
    # But the changed key is still refused, loudly
    assert hosts["good"]["error_kind"] == "host-key" and "CHANGED" in hosts["good"]["error"]
    # And a later strict run trusts the learned key
    strict = run_cli("run", "-i", str(inventory), "-o", str(tmp_path / "r2"), "--host", "stranger",
                     "--check", "password_hashing", "--format", "json")
    assert strict.json()["hosts"][0]["error"] is None


def test_a_changed_key_message_gives_the_command_that_removes_the_old_key(fleet, tmp_path):
    # Given a known_hosts file pinning host good to a key it does not serve
    good = next(h for h in fleet.hosts if h.name == "good")
    changed = tmp_path / "known_hosts"
    shutil.copy(fleet.known_hosts_with_changed_key(good), changed)
    inventory = write_inventory(tmp_path / "fleet.yaml", fleet, good={"known_hosts": str(changed)})
    args = ("--host", "good", "--check", "password_hashing", "--format", "json", "--accept-new-host-keys")
    refused = run_cli("run", "-i", str(inventory), "-o", str(tmp_path / "r1"), *args)
    error = refused.json()["hosts"][0]["error"]
    # Then the refusal quotes the exact ssh-keygen command, with OpenSSH's [address]:port name
    command = f"ssh-keygen -R '[127.0.0.1]:{good.port}' -f {changed}"
    assert f"`{command}`" in error, error
    # And running that command, then accept-new, audits the host again
    subprocess.run(["sh", "-c", command], check=True, capture_output=True)
    learned = run_cli("run", "-i", str(inventory), "-o", str(tmp_path / "r2"), *args)
    assert learned.json()["hosts"][0]["error"] is None, learned.stdout


def test_hosts_sharing_an_address_learn_its_key_once(fleet, tmp_path):
    # Given two inventory names for the stranger host's one address:port, its key unknown
    stranger = next(h for h in fleet.hosts if h.name == "stranger")
    learned = tmp_path / "known_hosts"
    shutil.copy(fleet.known_hosts_without(stranger), learned)
    same = {"address": stranger.address, "port": stranger.port, "user": "root",
            "identity_file": str(fleet.client_key), "known_hosts": str(learned)}
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(yaml.safe_dump({"hosts": {"alias1": same, "alias2": same, "alias3": same}}))
    # When all three are audited at once with accept-new
    result = run_cli("run", "-i", str(inventory), "-o", str(tmp_path / "r"), "--accept-new-host-keys",
                     "--check", "password_hashing", "--format", "json")
    # Then each is audited and known_hosts holds the key once
    assert all(h["error"] is None for h in result.json()["hosts"]), result.stdout
    name = f"[127.0.0.1]:{stranger.port} "
    assert sum(line.startswith(name) for line in learned.read_text().splitlines()) == 1, learned.read_text()


# -- least privilege: an unprivileged audit user, with and without sudo -------------------

AUDIT_UID = 4242


def audit_user_host(name: str, sudoers_line: str, shadow: Planted, client_public_key: str) -> HostSpec:
    """A host where the login user is `audit` (uid 4242), with the given sudoers rule."""
    passwd = Path("/etc/passwd").read_text() + f"audit:x:{AUDIT_UID}:{AUDIT_UID}::/home/audit:/bin/sh\n"
    return HostSpec(
        name,
        files={
            "/etc/passwd": passwd,
            "/etc/shadow": Planted(shadow.content + "audit:*:19700:0:99999:7:::\n", mode=0o640, gid=42),
            "/etc/sudoers": Planted(f"Defaults env_reset\nroot ALL=(ALL:ALL) ALL\n{sudoers_line}\n",
                                    mode=0o440),
            "/home/audit/.ssh/authorized_keys": Planted(client_public_key, mode=0o600,
                                                        uid=AUDIT_UID, gid=AUDIT_UID),
        },
        replace_dirs=("/home",),
        extra_sshd_config="Match User audit\n    AuthorizedKeysFile /home/audit/.ssh/authorized_keys\n",
    )


@pytest.fixture(scope="module")
def sudo_run(sshd_fleet, secrets_planted):
    if shutil.which("sudo") is None:
        pytest.skip("sudo is not installed; scripts/test.sh installs it")
    shadow = shadow_with(alice=secrets_planted["alice_yescrypt"])
    with sshd_fleet("sudo") as (fleet, tmp):
        public = fleet.authorized_keys.read_text()
        fleet.start(audit_user_host("sudo-ok", "audit ALL=(root) NOPASSWD: /bin/sh", shadow, public))
        fleet.start(audit_user_host("sudo-password", "audit ALL=(root) ALL", shadow, public))
        fleet.start(audit_user_host("no-become", "", shadow, public))
        hosts = fleetrun.fleet_hosts(fleet)
        for name, entry in hosts.items():
            entry["user"] = "audit"
            if name != "no-become":
                entry["become"] = "sudo"
        inventory = fleetrun.write_inventory(tmp / "fleet.yaml", hosts)
        started = time.monotonic()
        done = fleetrun.audit(inventory, tmp / "r", "password_hashing")
        elapsed = time.monotonic() - started
    return done.result, elapsed


def test_become_sudo_reads_root_only_files_as_an_unprivileged_user(sudo_run):
    result, _ = sudo_run
    by = results(result.json())
    assert by["sudo-ok", "password_hashing"]["status"] == "pass", by["sudo-ok", "password_hashing"]
    assert result.json()["hosts"][0]["facts"]["user"] in ("audit",)


def test_sudo_that_wants_a_password_is_an_error_not_a_hang(sudo_run):
    result, elapsed = sudo_run
    by = results(result.json())
    denied = by["sudo-password", "password_hashing"]
    # The check stays an error; sudo's own words move from its summary to its details and the host's error
    assert denied["status"] == "error"
    assert denied["summary"].startswith("not checked: it needs root, and sudo was refused")
    assert "sudo: a password is required" in denied["details"][0]
    host = next(h for h in result.json()["hosts"] if h["name"] == "sudo-password")
    assert host["reachable"] and "sudo: a password is required" in host["error"]
    assert elapsed < 60


@pytest.fixture(scope="module")
def sudo_refused_run(sshd_fleet, secrets_planted):
    if shutil.which("sudo") is None:
        pytest.skip("sudo is not installed; scripts/test.sh installs it")
    shadow = shadow_with(alice=secrets_planted["alice_yescrypt"])
    with sshd_fleet("sudo-refused") as (fleet, tmp):
        fleet.start(audit_user_host("sudo-password", "audit ALL=(root) ALL", shadow,
                                    fleet.authorized_keys.read_text()))
        # sudoers as RHEL 6 and 7 shipped it: requiretty, which refuses even a NOPASSWD rule over SSH
        fleet.start(audit_user_host("sudo-tty", "Defaults requiretty\naudit ALL=(root) NOPASSWD: /bin/sh",
                                    shadow, fleet.authorized_keys.read_text()))
        hosts = fleet.inventory_hosts()
        hosts["sudo-password"].update(user="audit", known_hosts=str(fleet.known_hosts), become="sudo",
                                      vars={"data_residency": {"region": "US"}})  # a fail that needs no root
        hosts["sudo-tty"].update(user="audit", known_hosts=str(fleet.known_hosts), become="sudo")
        inventory = tmp / "fleet.yaml"
        inventory.write_text(yaml.safe_dump({"hosts": hosts}))
        result = run_cli("run", "-i", str(inventory), "-o", str(tmp / "r"), "--check", "password_hashing",
                         "--check", "ssh_hardening", "--check", "log_retention", "--no-history")
        # The same host with a check that needs no root as well, as a nightly --quiet run sees it
        quiet = run_cli("run", "-i", str(inventory), "-o", str(tmp / "q"), "--check", "password_hashing",
                        "--check", "data_residency", "--no-history", "--quiet")
    report = json.loads((run_folder(tmp / "r") / "report.json").read_text())
    return result, report, quiet


def test_a_refused_sudo_is_one_host_line_saying_what_to_do(sudo_refused_run):
    # Given a host whose sudo wants a password, audited by three checks that need root
    result, report, _ = sudo_refused_run
    # Then the console names the refusal once, with the sudoers rule that fixes it
    assert result.stdout.count("sudo: a password is required") == 1, result.stdout
    host_line = next(line for line in result.stdout.splitlines() if line.startswith("sudo-password: "))
    assert "`audit ALL=(root) NOPASSWD: /bin/sh`" in host_line
    for check_id in ("password_hashing", "ssh_hardening", "log_retention"):
        assert check_id in host_line
    # And each check that needed root is still an error, saying why in a few words
    by = results(report)
    for check_id in ("password_hashing", "ssh_hardening", "log_retention"):
        assert by["sudo-password", check_id]["status"] == "error", by["sudo-password", check_id]
        assert by["sudo-password", check_id]["summary"].startswith("not checked: it needs root")
    assert result.rc == 3


def test_a_sudo_that_wants_a_tty_is_one_host_line_with_the_default_that_lifts_it(sudo_refused_run):
    # Given a host whose sudoers allow the audit user /bin/sh but require a terminal (requiretty)
    result, report, _ = sudo_refused_run
    # Then the console names the refusal once, with the sudoers default that lifts it, not a rule
    # the host already has
    assert result.stdout.count("sudo: sorry, you must have a tty to run sudo") == 1, result.stdout
    host_line = next(line for line in result.stdout.splitlines() if line.startswith("sudo-tty: "))
    assert "`Defaults:audit !requiretty`" in host_line and "NOPASSWD" not in host_line, host_line
    # And each check that needed root is an error saying why in a few words
    by = results(report)
    for check_id in ("password_hashing", "ssh_hardening", "log_retention"):
        summary = by["sudo-tty", check_id]["summary"]
        assert summary.startswith("not checked: it needs root"), summary


def test_quiet_shows_what_other_checks_found_beside_a_refused_sudo(sudo_refused_run):
    # Given the refused-sudo host audited --quiet by a root check and one that needs no root
    # (data_residency with a declared region outside the EEA: a fail)
    *_, quiet = sudo_refused_run
    lines = quiet.stdout.splitlines()
    # Then the host's sudo error is one line, and the data_residency verdict is not hidden behind it
    assert sum(line.startswith("sudo-password: ") for line in lines) == 1, quiet.stdout
    assert any(line.startswith("sudo-password data_residency: fail: ") for line in lines), quiet.stdout
    assert not any(line.startswith("sudo-password password_hashing:") for line in lines), quiet.stdout


def test_without_become_a_root_only_probe_says_what_to_do(sudo_run):
    result, _ = sudo_run
    missing = results(result.json())["no-become", "password_hashing"]
    assert missing["status"] == "error"
    assert "Permission denied" in missing["summary"] and "become: sudo" in missing["summary"]
    assert result.rc == 3  # errors and no failure
