"""The common form both rule languages are read into: conditions (source, destination
port, protocol, family, never/always, unknown), actions, rules, chains and rulesets, and
the error for text that is neither language.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from auditor.parsers.firewall.ranges import Ranges

_PROTO_NUMBERS = {"6": "tcp", "17": "udp", "132": "sctp", "33": "dccp"}
_CONTINUE_TARGETS = {"LOG", "NFLOG", "ULOG", "MARK", "CONNMARK", "TRACE", "AUDIT", "CT", "NOTRACK"}


@dataclass(frozen=True)
class Source:
    version: int
    ranges: Ranges
    negated: bool = False


@dataclass(frozen=True)
class Port:
    proto: str | None  # None: any transport protocol (nft `th dport`)
    ranges: tuple[tuple[int, int], ...]
    negated: bool = False


@dataclass(frozen=True)
class Proto:
    protos: frozenset[str]
    negated: bool = False


@dataclass(frozen=True)
class Family:
    version: int


@dataclass(frozen=True)
class Never:
    """A match no new connection from a remote address meets (iif lo, ct state established)."""

    why: str


@dataclass(frozen=True)
class Always:
    """A match every new connection from a remote address meets (ct state new, iif != lo)."""

    why: str


@dataclass(frozen=True)
class Translated:
    """Matches only a connection whose destination a DNAT or REDIRECT rule rewrote (nft `ct status
    dnat`, iptables `--ctstate DNAT`; firewalld accepts those first, for its forward ports). Such a
    connection exists only where some rule rewrites destinations; elsewhere no packet matches."""

    why: str


@dataclass(frozen=True)
class Unknown:
    what: str


Condition = Source | Port | Proto | Family | Never | Always | Translated | Unknown


@dataclass(frozen=True)
class Action:
    kind: str  # accept, drop, continue, jump, goto, return, unknown, vmap
    target: str | None = None
    port_map: tuple[tuple[Port, Action], ...] = ()  # for vmap on the destination port


@dataclass(frozen=True)
class Rule:
    conditions: tuple[Condition, ...]
    action: Action


@dataclass
class Chain:
    name: str
    family: str  # ip, ip6, inet (others are never on the path of a local TCP/UDP connection)
    table: str
    source: str  # "nftables" or "iptables-save" / "ip6tables-save"
    hook: str | None = None
    kind: str | None = None  # filter, nat, route
    policy: str | None = None
    rules: list[Rule] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.source} {self.family} {self.table} {self.name}"

    def sees(self, version: int) -> bool:
        return self.family == "inet" or self.family == ("ip" if version == 4 else "ip6")


@dataclass
class Ruleset:
    source: str
    chains: dict[tuple[str, str, str], Chain] = field(default_factory=dict)  # (family, table, name)
    notes: list[str] = field(default_factory=list)
    translates_destinations: bool = False  # some rule (any table, any hook) does DNAT or REDIRECT

    def base_input_chains(self) -> list[Chain]:
        return [c for c in self.chains.values() if c.hook == "input" and c.kind in (None, "filter")]


class FirewallParseError(ValueError):
    """Ruleset text that is neither nftables JSON nor iptables-save output."""
