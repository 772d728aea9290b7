"""auditor/parsers/firewall/ on rulesets loaded into a real kernel: each ruleset is loaded
with nft -f / iptables in a private network namespace (`unshare --net`) and read back with
`nft -j list ruleset` and iptables-save, exactly as the probes read them."""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess

import pytest

from auditor.parsers import firewall

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nft") or not shutil.which("unshare"),
                                reason="needs root, nft and unshare (a private network namespace)")


def loaded(nft: str = "", iptables: tuple[str, ...] = ()) -> list[firewall.Ruleset]:
    """The rulesets as the check reads them, after loading `nft` text and iptables commands."""
    script = "set -e\n" + ("nft -f - <<'EOF'\n" + nft + "\nEOF\n" if nft else "")
    script += "".join(f"iptables {rule}\n" for rule in iptables)
    script += "nft -j list ruleset; echo '#SPLIT'; iptables-save; echo '#SPLIT'; ip6tables-save\n"
    done = subprocess.run(["unshare", "--net", "sh", "-c", script], capture_output=True, text=True,
                          check=True)
    nft_json, ipv4, ipv6 = done.stdout.split("#SPLIT\n")
    return [firewall.parse_nft_json(nft_json), firewall.parse_iptables_save(ipv4, 4),
            firewall.parse_iptables_save(ipv6, 6)]


def table(name: str, policy: str, *rules: str, hook: str = "input") -> str:
    """An nft table with one base chain `i` holding `rules`."""
    body = "".join(f"    {rule}\n" for rule in rules)
    chain = f"  chain i {{\n    type filter hook {hook} priority 0; {policy};\n{body}  }}\n"
    return f"table {name} {{\n{chain}}}\n"


def reach(rulesets: list[firewall.Ruleset], port: int, version: int = 4, proto: str = "tcp") -> str:
    return firewall.allowed_sources(rulesets, port, proto, version).describe()


ALLOWLIST = """table inet filter {
  set db_clients { type ipv4_addr; flags interval; elements = { 10.213.0.0/16, 192.0.2.7 } }
  chain input {
    type filter hook input priority 0; policy drop;
    iif "lo" accept
    ct state established,related accept
    ct state invalid drop
    tcp dport 22 accept
    ip saddr @db_clients tcp dport { 5432, 6379 } accept
    ip6 saddr fd00::/8 tcp dport 5432-5433 counter accept
    ip saddr != 10.0.0.0/8 tcp dport 1000 drop
    tcp dport vmap { 8080 : accept, 3306 : jump mysql }
  }
  chain mysql {
    ip saddr 172.16.0.0/12 accept
  }
}"""


def test_nft_allowlist_with_named_set_ranges_vmap_and_jump() -> None:
    # Given an inet chain with policy drop and several ways to allow sources
    rulesets = loaded(ALLOWLIST)
    # When each port is asked about
    # Then only the allowed sources can reach it, per IP version
    assert reach(rulesets, 5432) == "10.213.0.0/16, 192.0.2.7/32"
    assert reach(rulesets, 5432, 6) == "fd00::/8"
    assert reach(rulesets, 6379, 6) == "no remote source"
    assert reach(rulesets, 22) == "any source"
    assert reach(rulesets, 8080) == "any source"
    assert reach(rulesets, 3306) == "172.16.0.0/12"
    assert reach(rulesets, 9999) == "no remote source"
    assert reach(rulesets, 5432, proto="udp") == "no remote source"


def test_nft_accept_policy_with_port_specific_drop() -> None:
    # Given policy accept and a rule dropping every source but one network for one port
    rulesets = loaded(table("ip f", "policy accept", "ip saddr != 10.213.0.0/16 tcp dport 5432 drop"))
    # Then that port is restricted, others and IPv6 (family ip) are not
    assert reach(rulesets, 5432) == "10.213.0.0/16"
    assert reach(rulesets, 5433) == "any source"
    assert reach(rulesets, 5432, 6) == "any source"


def test_unknown_matches_err_towards_open() -> None:
    # Given rules with matches the parser does not model (input interface, rate limit)
    rulesets = loaded(table("inet f", "policy drop", 'iifname "eth0" tcp dport 5432 accept',
                            "tcp dport 6379 limit rate 10/second drop", "tcp dport 6379 accept"))
    # Then an accept with an unknown match counts as accepting, a drop with one as not dropping
    assert reach(rulesets, 5432) == "any source"
    assert reach(rulesets, 6379) == "any source"


def test_a_chain_on_another_hook_or_type_is_not_read() -> None:
    # Given a drop-everything chain on prerouting only
    rulesets = loaded(table("inet f", "policy drop", hook="prerouting"))
    # Then it is not taken as restricting the input path (conservative)
    assert reach(rulesets, 5432) == "any source"


def test_two_base_chains_must_both_accept() -> None:
    # Given one permissive table and one that allows 5432 only from 10.0.0.0/8
    rulesets = loaded(table("inet a", "policy accept")
                      + table("ip b", "policy drop", "ip saddr 10.0.0.0/8 tcp dport 5432 accept"))
    # Then the restrictive chain decides
    got = firewall.allowed_sources(rulesets, 5432, "tcp", 4)
    assert got.describe() == "10.0.0.0/8"
    assert got.restricting_chains == ("nftables ip b i (policy drop)",)


def test_iptables_user_chain_with_return_and_negation() -> None:
    # Given iptables rules (nf_tables backend) with a user chain that returns, multiport and ! -s
    rulesets = loaded(iptables=(
        "-P INPUT DROP", "-A INPUT -i lo -j ACCEPT",
        "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        "-N DB", "-A INPUT -p tcp -m multiport --dports 5432,3306 -j DB",
        "-A DB -s 10.213.0.0/16 -j ACCEPT", "-A DB -j RETURN",
        "-A INPUT ! -s 192.168.0.0/16 -p tcp --dport 6379 -j REJECT --reject-with tcp-reset",
        "-A INPUT -p tcp --dport 6379 -j ACCEPT",
    ))
    # Then iptables-save's rules restrict each port as written
    assert reach(rulesets, 5432) == "10.213.0.0/16"
    assert reach(rulesets, 3306) == "10.213.0.0/16"
    assert reach(rulesets, 6379) == "192.168.0.0/16"
    # And the same rules seen through nft -j alone (xt matches it cannot model) prove nothing
    assert reach(rulesets[:1], 5432) == "any source"


def test_empty_ruleset_restricts_nothing() -> None:
    rulesets = loaded()
    assert firewall.allowed_sources(rulesets, 5432, "tcp", 4).input_chains == 0
    assert reach(rulesets, 5432) == "any source"


def test_garbage_is_an_error_not_an_open_door() -> None:
    with pytest.raises(firewall.FirewallParseError):
        firewall.parse_nft_json("Error: syntax error")
    with pytest.raises(firewall.FirewallParseError):
        firewall.parse_iptables_save("-A INPUT -j ACCEPT\n", 4)


PRIVATE = {v: firewall.network_ranges(firewall.PRIVATE_NETWORKS, v) for v in (4, 6)}


def outside_private(rulesets: list[firewall.Ruleset], port: int, version: int = 4) -> list[str]:
    got = firewall.allowed_sources(rulesets, port, "tcp", version)
    return firewall.networks(got.outside(PRIVATE[version]), version)


def test_a_blocklist_restricts_but_still_lets_the_internet_in() -> None:
    # Given iptables with policy ACCEPT that drops one banned address
    rulesets = loaded(iptables=("-A INPUT -s 203.0.113.7/32 -j DROP",))
    # When port 5432 is asked about
    got = firewall.allowed_sources(rulesets, 5432, "tcp", 4)
    # Then some source is kept out, yet public sources may still reach it
    assert got.restricted
    assert got.describe() == "any source but 203.0.113.7/32"
    assert "8.0.0.0/7" in outside_private(rulesets, 5432)


def test_private_allowlists_leave_nothing_outside_private_space() -> None:
    # Given an nft allowlist of RFC 1918, CGNAT, link-local and ULA sources, and one public network
    rulesets = loaded(table("inet f", "policy drop",
                            "ip saddr { 10.0.0.0/8, 100.64.0.0/10, 169.254.0.0/16 } tcp dport 5432 accept",
                            "ip6 saddr { fd00::/8, fe80::/10 } tcp dport 5432 accept",
                            "ip saddr { 192.168.1.0/24, 198.51.100.0/24 } tcp dport 3306 accept"))
    # Then 5432 admits only private sources over both IP versions
    assert outside_private(rulesets, 5432) == []
    assert outside_private(rulesets, 5432, 6) == []
    # And 3306 admits one public network, which is named
    assert outside_private(rulesets, 3306) == ["198.51.100.0/24"]
    assert firewall.network_ranges(["198.51.100.0/24", "2001:db8::/32"], 4) == (
        (int(ipaddress.ip_address("198.51.100.0")), int(ipaddress.ip_address("198.51.100.255"))),)


def test_iptables_save_cut_before_commit_is_an_error() -> None:
    # Given real iptables-save output of policy DROP plus an ACCEPT rule for 5432 from a network
    # (derived: the recorded text is cut right after the `:INPUT DROP` line, as a size limit would)
    text = subprocess.run(["unshare", "--net", "sh", "-c",
                           "iptables -P INPUT DROP && iptables -A INPUT -s 10.0.0.0/8 -p tcp --dport 5432 "
                           "-j ACCEPT && iptables-save"], capture_output=True, text=True, check=True).stdout
    assert firewall.allowed_sources([firewall.parse_iptables_save(text, 4)], 5432, "tcp", 4).describe() \
        == "10.0.0.0/8"
    lines = text.splitlines(keepends=True)
    cut = "".join(lines[:next(i for i, ln in enumerate(lines) if ln.startswith(":INPUT DROP")) + 1])
    # When the cut text is parsed
    # Then it is refused, never read as "drop everything"
    with pytest.raises(firewall.FirewallParseError, match="never reaches COMMIT"):
        firewall.parse_iptables_save(cut, 4)
    # And so is a second table opened before the first one's COMMIT
    with pytest.raises(firewall.FirewallParseError, match="never reaches COMMIT"):
        firewall.parse_iptables_save(cut + "*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n", 4)


# firewalld's own first rules: `ct status dnat accept` (for its forward ports) and ICMPv6 accepts.
FIREWALLD_LIKE = """table inet fw {
  chain input {
    type filter hook input priority 10; policy accept;
    ct state { established, related } accept
    ct status dnat accept
    iifname "lo" accept
    icmpv6 type nd-neighbor-solicit accept
    ip saddr 10.0.0.0/8 tcp dport 5432 accept
    reject with icmpx admin-prohibited
  }
}"""


def test_dnat_status_matches_nothing_where_no_rule_rewrites_destinations() -> None:
    # Given firewalld's `ct status dnat accept` and an ICMPv6-only accept before a 10/8 allowlist,
    # and no DNAT or REDIRECT rule anywhere
    rulesets = loaded(FIREWALLD_LIKE)
    # When who may reach 5432 is asked
    # Then only 10/8 may (no connection can have DNAT status; `icmpv6 type` never matches TCP)
    assert reach(rulesets, 5432) == "10.0.0.0/8"
    assert reach(rulesets, 5432, version=6) == "no remote source"


def test_dnat_status_may_match_where_a_rule_rewrites_destinations() -> None:
    # Given the same chain plus a nat prerouting rule that forwards port 15432 to 5432
    nat = ("table ip nat {\n  chain pre {\n    type nat hook prerouting priority -100; policy accept;\n"
           "    tcp dport 15432 redirect to :5432\n  }\n}\n")
    rulesets = loaded(FIREWALLD_LIKE + "\n" + nat)
    # When who may reach 5432 is asked
    # Then a redirected connection may be accepted from anywhere: not restricted
    assert rulesets[0].translates_destinations
    assert reach(rulesets, 5432) == "any source"


def test_iptables_ctstate_dnat_counts_only_with_a_dnat_rule() -> None:
    # Given firewalld's iptables-backend first rule (RELATED,ESTABLISHED,DNAT) before a 10/8 allowlist
    rules = ("-P INPUT DROP", "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED,DNAT -j ACCEPT",
             "-A INPUT -s 10.0.0.0/8 -p tcp --dport 5432 -j ACCEPT")
    # When no nat rule exists, and when one DNATs a port
    plain = loaded(iptables=rules)
    with_dnat = loaded(iptables=(*rules, "-t nat -A PREROUTING -p tcp --dport 15432 -j DNAT "
                                          "--to-destination 127.0.0.1:5432"))
    # Then only 10/8 may reach 5432 in the first, anyone in the second
    assert reach(plain, 5432) == "10.0.0.0/8"
    assert reach(with_dnat, 5432) == "any source"
