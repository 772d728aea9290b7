"""Every command's flags, in one place. Only light modules are imported here: building the
parser (and `auditor --version`) loads no check, no SSH library and no report template."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from auditor.check import FAIL_ON, SEVERITIES
from auditor.cli import completers
from auditor.cli.exits import EPILOG
from auditor.defaults import (
    DEFAULT_INVENTORY,
    DEFAULT_OUTPUT,
    SIGNING_KEY_ENV,
    SIGNING_PASSPHRASE_ENV,
    __version__,
)
from auditor.tracking.history_schema import BUSY_TIMEOUT_S


class _CommandParser(argparse.ArgumentParser):
    """A subcommand's parser: an unknown flag is refused with the subcommand's own usage
    (argparse would hand it up to the top-level parser, whose usage lists only COMMAND)."""

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def build() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="auditor",
        description="Collect evidence that promised security controls hold on your servers.",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"auditor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_CommandParser)

    common = _CommandParser(add_help=False)  # a parent only: typed like the parsers it feeds
    common.add_argument("-i", "--inventory", type=Path, default=DEFAULT_INVENTORY,
                        help="inventory file: auditor's YAML or an Ansible inventory "
                             "(default: ./inventory.yaml)")
    common.add_argument("--inventory-format", choices=("auto", "auditor", "ansible"), default="auto",
                        help="auto (default): Ansible's INI, or YAML whose top level is groups (all:), "
                             "else auditor's own format")
    common.add_argument("--checks-dir", type=Path, action="append", default=[], metavar="DIR",
                        help="also load check modules (*.py) from DIR; may be repeated")

    run = sub.add_parser("run", parents=[common], help="audit hosts and write a report")
    run.add_argument("-t", "--target", action="append", default=[], metavar="URL",
                     help="audit this host without an inventory file: ssh://[user@]host[:port] or local "
                          "(repeatable; the host is named by the target without ssh://)")
    run.add_argument("--sudo", action="store_true",
                     help="with -t: run the probes that need root through sudo -n (become: sudo)")
    run.add_argument("--identity-file", metavar="KEY",
                     help="with -t: the SSH private key (-i is the inventory; ~/.ssh/config and "
                          "ssh-agent are used as usual)")
    _complete(run.add_argument("--host", action="append", default=[], help="only this host (repeatable)"),
              completers.host_names)
    _complete(run.add_argument("--group", action="append", default=[],
                               help="only hosts of this group (repeatable)"), completers.group_names)
    _complete(run.add_argument("--check", action="append", default=[],
                               help="only this check id (repeatable)"), completers.check_ids)
    run.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT,
                     help="folder that receives the run folder (default: reports/)")
    run.add_argument("--format", choices=("table", "json", "junit", "csv", "oscal", "none"), default="table",
                     help="what to print on stdout (the run folder always gets all reports); "
                          "csv: the ISO 27001 controls matrix; oscal: OSCAL assessment results (oscal.json)")
    _complete(run.add_argument("--policy", metavar="NAME|PATH",
                     help="audit a claims file: a shipped set (`auditor claims show`) or a path; "
                          "overrides the inventory's policy:"), completers.policy_names)
    run.add_argument("--fail-on-severity", choices=[s.value for s in SEVERITIES], metavar="LEVEL",
                     help="the least severity of a finding that fails a check, for every check "
                          f"(default {FAIL_ON.default}; one of {', '.join(SEVERITIES)}); findings below it "
                          "are advisories; a check's fail_on set in the inventory or a claim still wins")
    run.add_argument("-j", "--jobs", type=int, default=16, help="hosts audited at once (default 16)")
    run.add_argument("--no-batch", action="store_true",
                     help="one SSH exec per probe instead of one per host (slow; for benchmarks)")
    run.add_argument("--accept-new-host-keys", action="store_true",
                     help="add unknown host keys to known_hosts, like OpenSSH's accept-new; "
                          "a changed key is still refused")
    run.add_argument("--ssh-config", type=Path,
                     help="ssh config file (default: ~/.ssh/config, then /etc/ssh/ssh_config)")
    run.add_argument("-v", "--verbose", action="store_true",
                     help="print each host's time in every phase "
                          "(connect, handshake, auth, exec, read, evaluate)")
    run.add_argument("--debug-log", type=Path, metavar="FILE",
                     help="write the phase timings and paramiko's transport log, redacted, to FILE")
    run.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    signing_group = run.add_mutually_exclusive_group()
    signing_group.add_argument("--sign-key", type=Path, metavar="PATH",
                               help=f"sign the run's manifest with this key (default: ${SIGNING_KEY_ENV}, "
                                    "else ~/.config/auditor/signing-key.pem when it exists)")
    signing_group.add_argument("--no-sign", action="store_true", help="do not sign, even if a key is set up")
    run.add_argument("--timestamp-url", metavar="URL",
                     help="get an RFC 3161 timestamp of the manifest from this time-stamping authority "
                          "(sends only its SHA-256; stored as manifest.tsr; default: none, nothing is sent)")
    _tracking_arguments(run)
    _distributed_arguments(sub, run, signing_group)

    lst = sub.add_parser("list", parents=[common], help="list checks (or hosts with --hosts)")
    lst.add_argument("--hosts", action="store_true", help="list the inventory's hosts instead")
    lst.add_argument("--format", choices=("table", "json", "markdown"), default="table",
                     help="markdown prints the check catalogue as docs/checks.md holds it")

    keygen = sub.add_parser("keygen", help="make an Ed25519 key that signs evidence packs")
    keygen.add_argument("--out", type=Path, default=None,
                        help="private key file (default: ~/.config/auditor/signing-key.pem); "
                             "the public key goes to PATH.pub")
    keygen.add_argument("--passphrase", action="store_true",
                        help=f"encrypt the key: asks on the terminal, or reads ${SIGNING_PASSPHRASE_ENV}")
    keygen.add_argument("--show", action="store_true",
                        help="print the existing key's fingerprint and path; make nothing")

    verify = sub.add_parser("verify", help="check a run folder or pack archive: integrity, signature, "
                                           "signer trust")
    verify.add_argument("pack", type=Path, nargs="?", metavar="PACK", help="run folder, .tar.gz or .zip")
    verify.add_argument("--chain", type=Path, metavar="FOLDER_OR_HISTORY",
                        help="walk every run of an output folder or a history.sqlite in order and name runs "
                             "deleted, replaced, reordered, altered or re-signed")
    _trust_arguments(verify)
    verify.add_argument("--allow-unsigned", action="store_true",
                        help="accept an unsigned pack whose hashes all match")
    verify.add_argument("--tsa-cert", type=Path, metavar="FILE",
                        help="check manifest.tsr against this time-stamping authority: its certificate and "
                             "the CA certificates that issued it, PEM (default: the certificates it embeds)")

    pack_cmd = sub.add_parser("pack", help="archive a run folder for hand-over (reproducible bytes)")
    pack_cmd.add_argument("run_dir", type=Path, metavar="RUN_DIR")
    pack_cmd.add_argument("-o", "--out", type=Path, required=True, help="archive to write (.tar.gz or .zip)")
    pack_cmd.add_argument("--zip", action="store_true", help="write a zip instead of a tar.gz")

    evaluate = sub.add_parser("evaluate", parents=[common],
                              help="re-judge a pack's evidence with today's checks, offline")
    evaluate.add_argument("pack", type=Path, metavar="PACK", help="run folder, .tar.gz or .zip")
    evaluate.add_argument("--skip-verify", action="store_true",
                          help="judge even when the pack does not verify (its verdicts prove nothing then)")
    _trust_arguments(evaluate, allow_untrusted=True)
    evaluate.add_argument("--at", metavar="TIME",
                          help="judge as of this date or ISO 8601 time: evidence current then is judged "
                               "(default: now, when expired evidence is an error)")

    attest = sub.add_parser("attest", help="an in-toto attestation of a run (test-result predicate, DSSE "
                                           "envelope signed with the run's key)")
    attest.add_argument("pack", type=Path, metavar="RUN", help="run folder, .tar.gz or .zip")
    attest.add_argument("-o", "--out", type=Path, help="write the envelope here (default: stdout)")
    attest.add_argument("--sign-key", type=Path, metavar="PATH",
                        help=f"the run's signing key (default: ${SIGNING_KEY_ENV}, "
                             "else ~/.config/auditor/signing-key.pem)")

    claims = sub.add_parser("claims", help="claims files: draft one from a policy text, or show a set")
    claims_sub = claims.add_subparsers(dest="claims_command", metavar="SUBCOMMAND", required=True)
    extract = claims_sub.add_parser("extract", help="draft a claims file from a privacy policy's text")
    extract.add_argument("text", type=Path, metavar="POLICY.txt", help="the policy as plain text (UTF-8)")
    extract.add_argument("-o", "--out", type=Path, help="write the draft here instead of stdout")
    extract.add_argument("--force", action="store_true", help="overwrite -o's file when it exists")
    show = claims_sub.add_parser("show", parents=[common], help="list a claims set's claims "
                                 "(without NAME|PATH: the shipped sets)")
    show.add_argument("policy", nargs="?", metavar="NAME|PATH", help="a shipped set's id, or a claims file")
    _history_commands(sub)
    _setup_commands(sub)
    return parser


def _distributed_arguments(sub: Any, run: argparse.ArgumentParser, run_signing: Any) -> None:
    """`run --shards-out/--dispatch`, `worker` and `merge`: past one machine (README, "Distributed runs")."""
    spread = run.add_argument_group("distributed runs")
    spread.add_argument("--shard-size", type=int, default=50, metavar="N",
                        help="hosts per shard; a shard never spans two segments (default 50)")
    where = spread.add_mutually_exclusive_group()
    where.add_argument("--shards-out", type=Path, metavar="DIR",
                       help="contact no host: write plan.json and one shard file per shard to DIR, for "
                            "`auditor worker` and then `auditor merge --plan DIR/plan.json`")
    where.add_argument("--dispatch", metavar="redis://HOST:PORT/DB",
                       help="send each segment's shards to Celery queue auditor.<segment> (needs "
                            "auditor[celery]) and merge the signed sub-packs that come back")
    spread.add_argument("--shard-deadline", type=float, default=3600.0, metavar="SECONDS",
                        help="with --dispatch: a shard not back by then is reported lost (default 3600)")
    # The workers' sub-packs are checked against the same --key-fingerprint / --trusted-signers
    # that a --baseline run folder is (see _tracking_arguments); --allow-untrusted is for the baseline only.

    work = sub.add_parser("worker", help="audit one shard into a signed sub-pack, or serve a Celery queue")
    work.add_argument("shard", type=Path, nargs="?", metavar="SHARD", help="shard file, or - for stdin")
    work.add_argument("-o", "--output", type=Path, metavar="DIR", help="folder that receives the sub-pack")
    work.add_argument("--checks-dir", type=Path, action="append", default=[], metavar="DIR",
                      help="also load check modules from DIR (the coordinator's catalogue must match)")
    work.add_argument("-j", "--jobs", type=int, default=None,
                      help="hosts audited at once (default: the shard's)")
    work.add_argument("--name", default=None,
                      help="this worker's name in the reports (default: user@machine)")
    signing_choice = work.add_mutually_exclusive_group()
    signing_choice.add_argument("--sign-key", type=Path, metavar="PATH",
                                help="sign with this key (default: the shard's key reference, else "
                                     f"${SIGNING_KEY_ENV}, else ~/.config/auditor/signing-key.pem)")
    signing_choice.add_argument("--no-sign", action="store_true", help="write an unsigned sub-pack")
    work.add_argument("--celery", action="store_true", help="serve Celery queue auditor.<segment> instead")
    work.add_argument("--broker", metavar="redis://HOST:PORT/DB", help="with --celery: the broker")
    work.add_argument("--segment", metavar="NAME",
                      help="with --celery: the network segment this worker is in")
    work.add_argument("--redeliver-after", type=float, default=None, metavar="SECONDS",
                      help="with --celery: a shard whose worker died is handed to another after this long "
                           "(the broker's visibility timeout; longer than any shard takes; default 1800)")

    mrg = sub.add_parser("merge", help="combine workers' sub-packs into one run folder")
    mrg.add_argument("subpacks", type=Path, nargs="*", metavar="SUBPACK", help="sub-pack folders or archives")
    mrg.add_argument("--plan", type=Path, required=True, help="the plan.json that `run --shards-out` wrote")
    mrg.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT,
                     help="folder that receives the run folder (default: reports/)")
    mrg.add_argument("--format", choices=("table", "json", "junit", "csv", "none"), default="table")
    mrg.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    _trust_arguments(mrg, allow_untrusted=True)
    mrg.add_argument("--allow-unsigned", action="store_true", help="merge sub-packs that are not signed")
    merge_signing = mrg.add_mutually_exclusive_group()
    merge_signing.add_argument("--sign-key", type=Path, metavar="PATH",
                               help="sign the merged run with this key")
    merge_signing.add_argument("--no-sign", action="store_true", help="do not sign the merged run")
    mrg.set_defaults(quiet=False, fail_on="any", exit_zero=False)


def _complete(action: argparse.Action, completer: Any) -> None:
    action.completer = completer  # type: ignore[attr-defined]  # argcomplete reads it


def _setup_commands(sub: Any) -> None:
    init = sub.add_parser("init", help="write a commented starter inventory (never overwrites a file)")
    init.add_argument("-o", "--out", type=Path, default=DEFAULT_INVENTORY,
                      help="the inventory to write (default: ./inventory.yaml)")
    init.add_argument("--from-ansible", type=Path, metavar="INVENTORY",
                      help="take the hosts and groups from this Ansible inventory")
    init.add_argument("--ssh-config", type=Path,
                      help="take the hosts from this ssh config's Host entries (default: ~/.ssh/config)")

    schema = sub.add_parser("schema", help="print the JSON Schema of an inventory, claims or waivers file "
                            "(for editors: see README, 'Editor support')")
    schema.add_argument("kind", choices=("inventory", "claims", "waivers"))
    schema.add_argument("--checks-dir", type=Path, action="append", default=[], metavar="DIR",
                        help="also describe the parameters of the checks in DIR; may be repeated")

    comp = sub.add_parser("completion", help="print the shell completion script: "
                          "eval \"$(auditor completion bash)\"")
    comp.add_argument("shell", choices=completers.SHELLS)
    sub.add_parser("manpage", help="print the manual page (roff): auditor manpage | man -l -")


def _trust_arguments(parser: Any, allow_untrusted: bool = False, what: str = "a pack") -> None:
    parser.add_argument("--key-fingerprint", action="append", default=[], metavar="SHA256:...",
                        help=f"trust only this signer of {what} (as `auditor keygen` printed it; repeatable)")
    parser.add_argument("--trusted-signers", type=Path, action="append", default=[], metavar="FILE",
                        help="trusted signers, one key a line (default: ~/.config/auditor/trusted-signers; "
                             "your own keygen key is trusted too)")
    if allow_untrusted:
        parser.add_argument("--allow-untrusted", action="store_true",
                            help=f"use {what} validly signed by a key you do not trust")


def _tracking_arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument("--history", type=Path, metavar="PATH",
                     help="history database (default: OUTPUT/history.sqlite)")
    run.add_argument("--no-history", action="store_true", help="do not record this run in the history")
    run.add_argument("--history-timeout", type=float, default=BUSY_TIMEOUT_S, metavar="SECONDS",
                     help="how long to wait for another run's write to the history (default 30)")
    run.add_argument("--waivers", type=Path, metavar="PATH",
                     help="waivers file (default: waivers.yaml next to the inventory, when it exists)")
    run.add_argument("--no-waivers", action="store_true",
                     help="apply no waivers, not even the waivers.yaml next to the inventory")
    run.add_argument("--baseline", metavar="RUN",
                     help="compare with a baseline: last/previous (the newest recorded run), a run id, "
                          "or a run folder")
    _trust_arguments(run, allow_untrusted=True,
                     what="a --baseline run folder or, with --dispatch, a sub-pack")
    run.add_argument("--fail-on", choices=("any", "new"), default="any",
                     help="any (default): exit codes as usual; new: non-zero only for regressions "
                          "against --baseline")
    run.add_argument("--quiet", action="store_true",
                     help="print only regressions (with a baseline) or fails and errors; nothing when "
                          "all is well")
    run.add_argument("--exit-zero", action="store_true",
                     help="exit 0 whatever the findings (usage errors still exit 2); the report records "
                          "everything")
    run.add_argument("--notify", action="append", default=[], metavar="TARGET",
                     help="alert on regressions: webhook:https://… or smtp(s)://host:port?to=…&from=… "
                          "(repeatable; implies --baseline previous; default: $AUDITOR_NOTIFY, "
                          "space-separated)")
    run.add_argument("--notify-on", choices=("regression", "always"), default="regression",
                     help="regression (default): alert only when something regressed; always: every run")


def _history_arguments(parser: argparse.ArgumentParser, inherited: bool = False) -> None:
    # A subcommand's own defaults would overwrite what was given before its name
    # (`history -o X prune`), so there they are left out.
    parser.add_argument("--history", type=Path, metavar="PATH",
                        default=argparse.SUPPRESS if inherited else None,
                        help="history database (default: OUTPUT/history.sqlite)")
    parser.add_argument("-o", "--output", type=Path,
                        default=argparse.SUPPRESS if inherited else Path("reports"),
                        help="the runs' output folder, where the history lives (default: reports/)")


def _history_commands(sub: Any) -> None:
    hist = sub.add_parser("history", help="list recorded runs, or one check's status and value over time")
    _history_arguments(hist)
    _complete(hist.add_argument("--check", metavar="ID", help="the series of this check, per run x host"),
              completers.check_ids)
    hist.add_argument("--host", metavar="NAME", help="only this host (with --check)")
    hist.add_argument("--since", metavar="AGE", help="only runs since 90d, 12w, 6m, 1y or a date YYYY-MM-DD")
    hist.add_argument("--format", choices=("table", "csv", "json"), default="table")
    hist.add_argument("--results", action="store_true",
                      help="the population an auditor samples from: one row per run x host x check, "
                           "with the run's manifest SHA-256")
    hist_sub = hist.add_subparsers(dest="history_command", metavar="[prune]")
    prune = hist_sub.add_parser("prune", help="delete old runs from the history (not their folders)")
    _history_arguments(prune, inherited=True)
    prune.add_argument("--older-than", required=True, metavar="AGE", help="e.g. 400d, 56w, 13m, 1y")
    prune.add_argument("--dry-run", action="store_true", help="only say what would be deleted")

    diff_cmd = sub.add_parser("diff", help="what changed between two runs (exit 1 when something regressed)")
    _history_arguments(diff_cmd)
    diff_cmd.add_argument("a", metavar="A", help="run id, run folder, last or previous")
    diff_cmd.add_argument("b", metavar="B", help="run id, run folder, last or previous")
    diff_cmd.add_argument("--format", choices=("text", "json"), default="text")
    _trust_arguments(diff_cmd, allow_untrusted=True, what="a signed run folder")

    sched = sub.add_parser("schedule",
                           help="print a systemd service + timer or a cron line for nightly audits")
    sched.add_argument("--print", dest="kind", required=True,
                       choices=("systemd", "systemd-service", "systemd-timer", "cron", "notify-env"),
                       help="systemd: service and timer, one after the other; or just one of them; or cron; "
                            "notify-env: the environment file with the --notify targets")
    sched.add_argument("-i", "--inventory", type=Path, default=DEFAULT_INVENTORY)
    sched.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT)
    sched.add_argument("--user", default="auditor", help="the unprivileged user that runs the audit")
    sched.add_argument("--on-calendar", default="daily", help="systemd OnCalendar= (cron: hourly/daily/…)")
    sched.add_argument("--binary", default="", metavar="PATH",
                       help="absolute path of the auditor program the service runs (default: this one)")
    sched.add_argument("--notify", action="append", default=[], metavar="TARGET",
                       help="alert targets for the nightly run (repeatable); systemd: the unit reads "
                            "them from /etc/auditor/notify.env (--print notify-env), cron: in the cron file")
    sched.add_argument("--policy", metavar="NAME|PATH",
                       help="audit this claims file or shipped set every night "
                            "(or put policy: in the inventory)")
    sched.add_argument("--waivers", type=Path, metavar="PATH",
                       help="waivers file for the nightly run (default: waivers.yaml next to the inventory)")
    sched.add_argument("--checks-dir", type=Path, action="append", default=[], metavar="DIR",
                       help="extra checks the nightly run loads (repeatable)")
    sched.add_argument("--sign-key", type=Path, metavar="PATH",
                       help="the key that signs each nightly run's manifest (readable by --user; "
                            "default: that user's ~/.config/auditor/signing-key.pem when it exists)")
    sched.add_argument("--timestamp-url", metavar="URL",
                       help="stamp each nightly manifest at this RFC 3161 time-stamping authority")
    _trust_arguments(sched, what="the baseline run folder of each nightly run")
