"""Host firewalls (nftables JSON, iptables-save text): who may open a connection to a port.

`allowed_sources(rulesets, port, proto, version)` answers, for a new connection from a
remote address to a local port, which source addresses the input hook may accept. It is a
conservative over-approximation: a source counts as "may be accepted" unless the rules
prove it is dropped. What is understood:

* base chains of type filter on the input hook (nftables tables of family ip, ip6 and
  inet; iptables' filter INPUT chain), with their policy. Every base chain at the hook
  must accept a packet, so the sources that can get through are those every chain may
  accept; one chain that drops the rest is enough to restrict a port.
* matches on the source address (`ip saddr`, `ip6 saddr`, `-s`, with `!=`/`!`, prefixes,
  ranges, anonymous and named sets), the destination port (`tcp dport`, `th dport`,
  `--dport`, `-m multiport --dports`, sets, ranges, `!=`), the protocol (`meta l4proto`,
  `-p`), `meta nfproto`, the input interface `lo` (never a remote packet), and conntrack
  state (a new connection is neither established, related nor invalid);
* verdicts accept, drop, reject, jump, goto, return, and `tcp dport vmap {...}`.

Anything else in a rule (an interface other than lo, a destination address, rate limits,
ipset/xt matches, marks, dynamic sets) is unknown: an accept rule with an unknown match is
taken to accept, a drop rule with one is taken not to drop. Chains on other hooks
(prerouting, a netdev ingress) and legacy iptables tables that iptables-save does not show
are not read, so a restriction made only there is not seen — the answer errs towards
"not restricted", never towards "restricted". iptables-save output whose table never
reaches COMMIT (cut short) is refused with FirewallParseError. A port being restricted
only means some source is kept out: `Reach.outside(network_ranges(PRIVATE_NETWORKS, v))`
says which sources outside private address space may still get in.

The parts, each importing only those above it: `ranges` (address range algebra),
`model` (the common rule form), `nftables` and `iptables` (the two readers), `reach`
(who may reach a port). Every public name is importable from `auditor.parsers.firewall`.
"""

from __future__ import annotations

from auditor.parsers.firewall.iptables import parse_iptables_save
from auditor.parsers.firewall.model import (
    Action,
    Always,
    Chain,
    Condition,
    Family,
    FirewallParseError,
    Never,
    Port,
    Proto,
    Rule,
    Ruleset,
    Source,
    Translated,
    Unknown,
)
from auditor.parsers.firewall.nftables import parse_nft_json
from auditor.parsers.firewall.ranges import PRIVATE_NETWORKS, Ranges, network_ranges, networks, universe
from auditor.parsers.firewall.reach import Query, Reach, allowed_sources

__all__ = [
    "Action",
    "Always",
    "Chain",
    "Condition",
    "Family",
    "FirewallParseError",
    "Never",
    "PRIVATE_NETWORKS",
    "Port",
    "Proto",
    "Query",
    "Ranges",
    "Reach",
    "Rule",
    "Ruleset",
    "Source",
    "Translated",
    "Unknown",
    "allowed_sources",
    "network_ranges",
    "networks",
    "parse_iptables_save",
    "parse_nft_json",
    "universe",
]
