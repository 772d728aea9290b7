"""Who may reach a port: the input hook's base chains walked for one port, protocol and IP
version (jumps, gotos, returns, vmaps), giving the sources that may be accepted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from auditor.parsers.firewall.model import (
    Action,
    Chain,
    Family,
    Never,
    Port,
    Proto,
    Rule,
    Ruleset,
    Source,
    Translated,
    Unknown,
)
from auditor.parsers.firewall.ranges import (
    Ranges,
    _complement,
    _intersect,
    _subtract,
    _union,
    networks,
    universe,
)

_MAX_DEPTH = 16


@dataclass(frozen=True)
class Query:
    port: int
    proto: str
    version: int
    translated: bool = False  # some ruleset rewrites destinations: a DNATed connection may arrive


def _matching(rule: Rule, query: Query) -> tuple[Ranges | None, bool] | None:
    """None when the rule can never match the query's packets; else (the source ranges the
    matches restrict it to, or None for any source; whether an unknown match is involved)."""
    sources: Ranges | None = None
    unknown = False
    for condition in rule.conditions:
        if isinstance(condition, Never):
            return None
        if isinstance(condition, Unknown):
            unknown = True
        elif isinstance(condition, Translated):
            if not query.translated:
                return None  # nothing rewrites destinations: no connection has DNAT status
            unknown = True
        elif isinstance(condition, Family):
            if condition.version != query.version:
                return None
        elif isinstance(condition, Proto):
            if (query.proto in condition.protos) == condition.negated:
                return None
        elif isinstance(condition, Port):
            if condition.proto is not None and condition.proto != query.proto:
                return None  # `tcp dport` implies the protocol, even when negated
            inside = any(low <= query.port <= high for low, high in condition.ranges)
            if inside == condition.negated:
                return None
        elif isinstance(condition, Source):
            if condition.version != query.version:
                return None  # `ip saddr` never matches an IPv6 packet, negated or not
            ranges = _complement(condition.ranges, query.version) if condition.negated else condition.ranges
            sources = ranges if sources is None else _intersect(sources, ranges)
    return sources, unknown


def _run_chain(ruleset: Ruleset, chain: Chain, flowing: Ranges, query: Query,
               depth: int) -> tuple[Ranges, Ranges]:
    """(sources that may be accepted, sources that may return from the chain)."""
    accepted: Ranges = ()
    returned: Ranges = ()
    if depth > _MAX_DEPTH:
        return flowing, flowing
    for rule in chain.rules:
        if not flowing:
            break
        found = _matching(rule, query)
        if found is None:
            continue
        sources, unknown = found
        hit = flowing if sources is None else _intersect(flowing, sources)
        if unknown:  # the rule may or may not match: both paths stay open
            missed = flowing
        elif sources is None:
            missed = ()
        else:
            missed = _subtract(flowing, sources, query.version)
        verdict = rule.action
        if verdict.kind == "vmap":
            chosen = next((v for p, v in verdict.port_map if (p.proto in (None, query.proto))
                           and any(lo <= query.port <= hi for lo, hi in p.ranges)), Action("continue"))
            verdict = chosen
        if verdict.kind == "accept":
            accepted, flowing = _union(accepted, hit), missed
        elif verdict.kind == "drop":
            flowing = missed
        elif verdict.kind == "return":
            returned, flowing = _union(returned, hit), missed
        elif verdict.kind in ("jump", "goto"):
            target = ruleset.chains.get((chain.family, chain.table, verdict.target or ""))
            if target is None:  # an unknown target: anything may happen there
                sub_accepted, sub_returned = hit, hit
            else:
                sub_accepted, sub_returned = _run_chain(ruleset, target, hit, query, depth + 1)
            accepted = _union(accepted, sub_accepted)
            if verdict.kind == "jump":
                flowing = _union(missed, sub_returned)
            else:  # goto: falling off the target's end returns from this chain
                returned, flowing = _union(returned, sub_returned), missed
        elif verdict.kind == "unknown":
            accepted = _union(accepted, hit)
        # continue: the packet goes on to the next rule unchanged
    return accepted, _union(returned, flowing)


@dataclass(frozen=True)
class Reach:
    """Who may open a connection to one port over one IP version."""

    version: int
    allowed: Ranges  # sources that may be accepted
    restricting_chains: tuple[str, ...]  # base chains that keep some sources out
    input_chains: int  # base input chains seen for this IP version

    @property
    def restricted(self) -> bool:
        return self.allowed != universe(self.version)

    def outside(self, permitted: Ranges) -> Ranges:
        """The sources that may be accepted although they are not in `permitted`."""
        return _subtract(self.allowed, permitted, self.version)

    def describe(self) -> str:
        """Who may reach the port: the allowed networks, or everyone but the blocked ones."""
        if not self.restricted:
            return "any source"
        if not self.allowed:
            return "no remote source"
        shown = networks(self.allowed, self.version)
        blocked = networks(_complement(self.allowed, self.version), self.version)
        if len(shown) > 6 and len(blocked) < len(shown):
            return "any source but " + ", ".join(blocked[:6]) + (
                f" (+{len(blocked) - 6} more)" if len(blocked) > 6 else "")
        return ", ".join(shown[:6]) + (f" (+{len(shown) - 6} more)" if len(shown) > 6 else "")


def allowed_sources(rulesets: Iterable[Ruleset], port: int, proto: str, version: int) -> Reach:
    rulesets = list(rulesets)
    query = Query(port, proto, version, any(r.translates_destinations for r in rulesets))
    allowed = universe(version)
    restricting: list[str] = []
    seen = 0
    for ruleset in rulesets:
        for chain in ruleset.base_input_chains():
            if not chain.sees(version):
                continue
            seen += 1
            accepted, fell_through = _run_chain(ruleset, chain, universe(version), query, 0)
            if chain.policy != "drop":
                accepted = _union(accepted, fell_through)
            if accepted != universe(version):
                restricting.append(f"{chain.label} (policy {chain.policy})")
            allowed = _intersect(allowed, accepted)
    return Reach(version, allowed, tuple(restricting), seen)
