"""auditor.parsers.audit_rules: rules.d syntax and `auditctl -l` output.

The `auditctl -l` text below is what auditctl 3.0.9 printed on this project's Debian 12
test machine after `auditctl -R` of the rules in RULES_D (kernel 6.x).
"""

from __future__ import annotations

from auditor.parsers.audit_rules import covering, parse_rules, resolve_listing

RULES_D = """\
## First rule - delete all
-D
-b 8192
-w /etc/passwd -p wa -k identity
-w /etc/group -p wa -k identity
-a always,exit -F path=/etc/shadow -F perm=wa -k identity
-a always,exit -F arch=b64 -F path=/etc/gshadow -F perm=w -F key=identity
-w /etc/sudoers -p wa -k scope
-w /etc/sudoers.d/ -p wa -k scope
-a always,exit -F dir=/etc/security/ -F perm=wa -k sec
-a never,exit -F path=/etc/hosts
-a always,exit -F arch=b64 -S sethostname -S setdomainname -k system-locale
-e 2
"""
AUDITCTL_L = """\
-w /etc/passwd -p wa -k identity
-w /etc/group -p wa -k identity
-w /etc/shadow -p wa -k identity
-a always,exit -F arch=b64 -S all -F path=/etc/gshadow -F perm=w -F key=identity
-w /etc/sudoers -p wa -k scope
-w /etc/sudoers.d -p wa -k scope
-w /etc/security/ -p wa -k sec
-a never,exit -S all -F path=/etc/hosts
-a always,exit -F arch=b64 -S sethostname,setdomainname -F key=system-locale
"""


def test_both_forms_give_the_same_coverage() -> None:
    # Given the rules as written and as the kernel lists them
    for text in (RULES_D, AUDITCTL_L):
        rules = parse_rules(text).rules
        # Then each path is covered (or not) the same way
        assert covering(rules, "/etc/passwd")[0] is not None
        assert covering(rules, "/etc/shadow")[0] is not None
        assert covering(rules, "/etc/sudoers.d")[0] is not None
        assert covering(rules, "/etc/sudoers.d/90-cloud")[0] is not None  # below a watched directory
        assert covering(rules, "/etc/security/opasswd")[0] is not None
        rule, why = covering(rules, "/etc/gshadow")
        assert rule is None and why.startswith("watched only for -p w ")
        rule, why = covering(rules, "/etc/hosts")
        assert rule is None and "never rule" in why
        assert covering(rules, "/etc/motd") == (None, "no watch")


def test_flags_keys_and_sources() -> None:
    parsed = parse_rules(RULES_D, "/etc/audit/rules.d/a.rules")
    assert parsed.enabled == 2
    rule, _ = covering(parsed.rules, "/etc/sudoers")
    assert rule is not None
    assert (rule.key, rule.perms, rule.source) == ("scope", "wa", "/etc/audit/rules.d/a.rules:8")


def test_minus_d_deletes_earlier_rules_and_minus_w_removes_a_watch() -> None:
    parsed = parse_rules("-w /etc/passwd -p wa\n-D\n-w /etc/group -p wa\n-w /etc/shadow -p wa\n"
                         "-W /etc/shadow\n")
    assert [r.path for r in parsed.rules] == ["/etc/group"]


def test_a_never_rule_added_first_wins() -> None:
    parsed = parse_rules("-w /etc/passwd -p wa\n-A never,exit -F path=/etc/passwd\n")
    assert covering(parsed.rules, "/etc/passwd")[0] is None


def test_watch_without_perms_records_everything() -> None:
    rule, _ = covering(parse_rules("-w /etc/passwd\n").rules, "/etc/passwd")
    assert rule is not None and rule.perms == "rwxa"


def test_odd_input() -> None:
    text = ("# caf\\xe9 \\xff\r\n-w /etc/hosts -p wa -k r\\xe9seau\r\n\n-w \"/etc/sudoers\" -p w\n"
            "-w '/etc/unterminated -p wa\n-e x\n-a exit,always -F path=/etc/group -F perm=wa\n")
    parsed = parse_rules(text, "f.rules")
    assert covering(parsed.rules, "/etc/hosts")[0] is not None
    assert "watched only for -p w" in covering(parsed.rules, "/etc/sudoers")[1]
    assert covering(parsed.rules, "/etc/group")[0] is not None  # action and list in either order
    assert parsed.problems == ["f.rules:6: -e 'x' is not a number"]


def test_no_rules() -> None:
    assert parse_rules("No rules\n").rules == []


# What auditctl 3.0.9 printed on this project's Debian 12 test machine (2024 kernel 6.x)
# for, in this order: `-a always,exit -F path=/tmp/f4dir -F perm=wa -k f4p`,
# `-a always,exit -F dir=/tmp/f4dir -F perm=wa -k f4d`, `-w /tmp/f4dir -p wa -k f4w`
# (/tmp/f4dir a directory): all three alike.
AUDITCTL_L_PATH_DIR_WATCH = """\
-w /tmp/f4dir -p wa -k f4p
-w /tmp/f4dir -p wa -k f4d
-w /tmp/f4dir -p wa -k f4w
"""


def test_a_path_rule_on_a_directory_does_not_cover_the_files_in_it() -> None:
    # Given a non-recursive -F path= watch on /etc, and a recursive -F dir= one on /etc/ssh
    rules = parse_rules("-a always,exit -F path=/etc -F perm=wa -k etc\n"
                        "-a always,exit -F dir=/etc/ssh -F perm=wa -k ssh\n").rules
    # Then /etc itself is watched, /etc/passwd is not; /etc/ssh/sshd_config is
    assert covering(rules, "/etc")[0] is not None
    assert covering(rules, "/etc/passwd") == (None, "no watch")
    assert covering(rules, "/etc/ssh/sshd_config")[0] is not None


def test_a_watch_on_a_directory_covers_it_without_a_trailing_slash() -> None:
    # Given `-w /etc/sudoers.d` (auditctl makes a -w on a directory recursive)
    rules = parse_rules("-w /etc/sudoers.d -p wa -k scope\n", "r.rules").rules
    # Then a file in it is covered
    assert covering(rules, "/etc/sudoers.d/90-cloud")[0] is not None


def test_listed_watches_are_recursive_only_where_the_rule_files_say_so() -> None:
    # Given auditctl -l listing path=, dir= and -w watches all as -w lines
    for key, written, recursive in (("f4p", "-a always,exit -F path=/tmp/f4dir -F perm=wa", False),
                                    ("f4d", "-a always,exit -F dir=/tmp/f4dir -F perm=wa", True),
                                    ("f4w", "-w /tmp/f4dir -p wa", True)):
        line = next(ln for ln in AUDITCTL_L_PATH_DIR_WATCH.splitlines() if ln.endswith(key))
        loaded = parse_rules(line, listing=True).rules
        # Then alone, a file below the directory is not shown to be covered
        rule, why = covering(loaded, "/tmp/f4dir/file")
        assert rule is None and "does not show to be recursive" in why
        assert covering(loaded, "/tmp/f4dir")[0] is not None  # the directory itself is
        # And with the rule file that loaded it, it is covered exactly when that rule is recursive
        resolved = resolve_listing(loaded, parse_rules(written + f" -k {key}\n", "f.rules").rules)
        assert (covering(resolved, "/tmp/f4dir/file")[0] is not None) is recursive
