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
"""

from __future__ import annotations

import ipaddress
import json
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Ranges = tuple[tuple[int, int], ...]  # sorted, disjoint, inclusive integer address ranges

_BITS = {4: 32, 6: 128}
_PROTO_NUMBERS = {"6": "tcp", "17": "udp", "132": "sctp", "33": "dccp"}
_NEUTRAL_STATEMENTS = {"counter", "log", "comment", "mangle", "notrack", "set", "meter", "ct count",
                       "nflog"}
_CONTINUE_TARGETS = {"LOG", "NFLOG", "ULOG", "MARK", "CONNMARK", "TRACE", "AUDIT", "CT", "NOTRACK"}
_MAX_DEPTH = 16


def universe(version: int) -> Ranges:
    return ((0, (1 << _BITS[version]) - 1),)


def _union(a: Ranges, b: Ranges) -> Ranges:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(a + b):
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


def _intersect(a: Ranges, b: Ranges) -> Ranges:
    out = [(max(s1, s2), min(e1, e2)) for s1, e1 in a for s2, e2 in b if max(s1, s2) <= min(e1, e2)]
    return _union(tuple(out), ())


def _complement(a: Ranges, version: int) -> Ranges:
    out: list[tuple[int, int]] = []
    position = 0
    for start, end in a:
        if start > position:
            out.append((position, start - 1))
        position = end + 1
    top = universe(version)[0][1]
    if position <= top:
        out.append((position, top))
    return tuple(out)


def _subtract(a: Ranges, b: Ranges, version: int) -> Ranges:
    return _intersect(a, _complement(b, version))


# Address space no one on the Internet can come from: RFC 1918, shared CGNAT space
# (RFC 6598), link-local, loopback; IPv6 unique local (fc00::/7), link-local and loopback.
PRIVATE_NETWORKS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16",
                    "127.0.0.0/8", "fc00::/7", "fe80::/10", "::1/128")


def network_ranges(cidrs: Iterable[str], version: int) -> Ranges:
    """The networks of one IP version among `cidrs` as ranges. ValueError on a bad network."""
    ranges: Ranges = ()
    for cidr in cidrs:
        net = ipaddress.ip_network(cidr, strict=False)
        if net.version == version:
            ranges = _union(ranges, ((int(net.network_address), int(net.broadcast_address)),))
    return ranges


def networks(ranges: Ranges, version: int) -> list[str]:
    """The ranges written as CIDR prefixes."""
    make = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    return [str(net) for start, end in ranges
            for net in ipaddress.summarize_address_range(make(start), make(end))]


# --------------------------------------------------------------------------
# The common form of both rule languages
# --------------------------------------------------------------------------


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
class Unknown:
    what: str


Condition = Source | Port | Proto | Family | Never | Always | Unknown


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

    def base_input_chains(self) -> list[Chain]:
        return [c for c in self.chains.values() if c.hook == "input" and c.kind in (None, "filter")]


class FirewallParseError(ValueError):
    """Ruleset text that is neither nftables JSON nor iptables-save output."""


# --------------------------------------------------------------------------
# nftables: `nft -j list ruleset`
# --------------------------------------------------------------------------


def _address_ranges(value: Any, sets: Mapping[str, list[Any]]) -> tuple[int, Ranges] | None:
    """(IP version, ranges) of an nft address value; None when it is not a plain address set."""
    if isinstance(value, dict) and "elem" in value:
        return _address_ranges(value["elem"].get("val"), sets)
    if isinstance(value, str) and value.startswith("@"):
        elements = sets.get(value[1:])
        return None if elements is None else _address_ranges({"set": elements}, sets)
    if isinstance(value, str):
        try:
            ip = ipaddress.ip_address(value)
        except ValueError:
            return None
        return ip.version, ((int(ip), int(ip)),)
    if isinstance(value, dict) and "prefix" in value:
        try:
            net = ipaddress.ip_network(f"{value['prefix']['addr']}/{value['prefix']['len']}", strict=False)
        except (ValueError, KeyError, TypeError):
            return None
        return net.version, ((int(net.network_address), int(net.broadcast_address)),)
    if isinstance(value, dict) and "range" in value:
        try:
            low, high = (ipaddress.ip_address(v) for v in value["range"])
        except (ValueError, TypeError):
            return None
        return (low.version, ((int(low), int(high)),)) if low.version == high.version else None
    if isinstance(value, dict) and "set" in value:
        parts = [_address_ranges(v, sets) for v in value["set"]]
        if not parts or any(p is None for p in parts) or len({p[0] for p in parts if p}) != 1:
            return None
        ranges: Ranges = ()
        for part in parts:
            assert part is not None
            ranges = _union(ranges, part[1])
        return parts[0][0] if parts[0] else 4, ranges
    return None


def _port_ranges(value: Any, sets: Mapping[str, list[Any]]) -> tuple[tuple[int, int], ...] | None:
    if isinstance(value, dict) and "elem" in value:
        return _port_ranges(value["elem"].get("val"), sets)
    if isinstance(value, str) and value.startswith("@"):
        elements = sets.get(value[1:])
        return None if elements is None else _port_ranges({"set": elements}, sets)
    if isinstance(value, int) and not isinstance(value, bool):
        return ((value, value),)
    if isinstance(value, str) and value.isdigit():
        return ((int(value), int(value)),)
    if isinstance(value, dict) and "range" in value:
        bounds = [_port_ranges(v, sets) for v in value["range"]]
        if len(bounds) == 2 and bounds[0] and bounds[1]:
            return ((bounds[0][0][0], bounds[1][0][1]),)
        return None
    if isinstance(value, dict) and "set" in value:
        parts = [_port_ranges(v, sets) for v in value["set"]]
        if not parts or any(p is None for p in parts):
            return None
        return tuple(r for p in parts if p for r in p)
    return None


def _words(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    if isinstance(value, dict) and "set" in value:
        return _words(value["set"])
    return None


def _nft_match(match: Mapping[str, Any], sets: Mapping[str, list[Any]]) -> Condition:
    op = match.get("op", "==")
    left, right = match.get("left"), match.get("right")
    negated = op == "!="
    text = json.dumps(match, sort_keys=True)[:120]
    if op not in ("==", "!=", "in") or not isinstance(left, dict):
        return Unknown(text)
    payload, meta, ct = left.get("payload"), left.get("meta"), left.get("ct")
    protocol = payload.get("protocol") if isinstance(payload, dict) else None
    if isinstance(payload, dict) and payload.get("field") == "saddr" and protocol in ("ip", "ip6"):
        version = 4 if payload["protocol"] == "ip" else 6
        found = _address_ranges(right, sets)
        return Source(version, found[1], negated) if found and found[0] == version else Unknown(text)
    if isinstance(payload, dict) and payload.get("field") == "dport":
        ports = _port_ranges(right, sets)
        proto = payload.get("protocol")
        return Port(None if proto == "th" else proto, ports, negated) if ports else Unknown(text)
    if (isinstance(meta, dict) and meta.get("key") == "l4proto") or (
            isinstance(payload, dict) and (payload.get("protocol"), payload.get("field"))
            in (("ip", "protocol"), ("ip6", "nexthdr"))):
        words = _words(right)
        return Proto(frozenset(_PROTO_NUMBERS.get(w, w) for w in words), negated) if words else Unknown(text)
    if isinstance(meta, dict) and meta.get("key") == "nfproto" and right in ("ipv4", "ipv6") and not negated:
        return Family(4 if right == "ipv4" else 6)
    if isinstance(meta, dict) and meta.get("key") in ("iif", "iifname") and right == "lo":
        return Always("input interface not lo") if negated else Never("input interface lo")
    if isinstance(ct, dict) and ct.get("key") == "state" and (states := _words(right)):
        takes_new = ("new" in states) != negated
        return Always("ct state new") if takes_new else Never(f"ct state {','.join(states)}")
    return Unknown(text)


def _nft_verdict(statement: Mapping[str, Any], sets: Mapping[str, list[Any]]) -> Action | None:
    """The verdict of one statement; None for a statement that is not a verdict."""
    for kind in ("accept", "drop", "return", "continue"):
        if kind in statement:
            return Action(kind)
    if "reject" in statement:
        return Action("drop")
    for kind in ("jump", "goto"):
        if kind in statement and isinstance(statement[kind], dict):
            return Action(kind, str(statement[kind].get("target")))
    if "vmap" in statement:
        vmap = statement["vmap"]
        key = vmap.get("key", {}).get("payload", {}) if isinstance(vmap.get("key"), dict) else {}
        data = vmap.get("data", {})
        entries = data.get("set") if isinstance(data, dict) else None
        if key.get("field") != "dport" or not isinstance(entries, list):
            return Action("unknown")
        mapped: list[tuple[Port, Action]] = []
        for entry in entries:
            ports = _port_ranges(entry[0], sets) if isinstance(entry, list) and len(entry) == 2 else None
            verdict = _nft_verdict(entry[1], sets) if ports and isinstance(entry[1], dict) else None
            if ports is None or verdict is None:
                return Action("unknown")
            proto = key.get("protocol")
            mapped.append((Port(None if proto == "th" else proto, ports), verdict))
        return Action("vmap", port_map=tuple(mapped))
    if "queue" in statement or "xt" in statement:
        xt = statement.get("xt")
        if isinstance(xt, dict) and xt.get("type") == "target":
            name = str(xt.get("name", ""))
            if name in ("REJECT", "DROP"):
                return Action("drop")
            if name in _CONTINUE_TARGETS:
                return None
        if isinstance(xt, dict) and xt.get("type") == "match":
            return None  # handled as a condition by the caller
        return Action("unknown")
    return None


def parse_nft_json(text: str) -> Ruleset:
    """`nft -j list ruleset` output."""
    try:
        document = json.loads(text)
        objects = document["nftables"]
    except (ValueError, KeyError, TypeError) as exc:
        raise FirewallParseError(f"not nftables JSON: {exc}") from None
    ruleset = Ruleset("nftables")
    sets: dict[tuple[str, str], dict[str, list[Any]]] = {}
    for item in objects:
        body = item.get("set") if isinstance(item, dict) else None
        if isinstance(body, dict):
            flags = body.get("flags", [])
            flags = flags if isinstance(flags, list) else [flags]
            dynamic = any(f in ("dynamic", "timeout") for f in flags)
            if not dynamic:  # elements added at run time by rules are not a fixed list
                sets.setdefault((body.get("family", ""), body.get("table", "")), {})[
                    str(body.get("name"))] = list(body.get("elem", []))
    for item in objects:
        if not isinstance(item, dict):
            continue
        if isinstance(chain := item.get("chain"), dict):
            key = (str(chain.get("family")), str(chain.get("table")), str(chain.get("name")))
            ruleset.chains[key] = Chain(key[2], key[0], key[1], "nftables", chain.get("hook"),
                                        chain.get("type"), chain.get("policy", "accept" if chain.get("hook")
                                                                         else None))
        elif isinstance(rule := item.get("rule"), dict):
            key = (str(rule.get("family")), str(rule.get("table")), str(rule.get("chain")))
            target = ruleset.chains.get(key)
            if target is None:
                raise FirewallParseError(f"rule for an unknown chain {key}")
            table_sets = sets.get((key[0], key[1]), {})
            conditions: list[Condition] = []
            verdict = Action("continue")
            for statement in rule.get("expr", []):
                if not isinstance(statement, dict):
                    conditions.append(Unknown(str(statement)[:80]))
                elif "match" in statement:
                    conditions.append(_nft_match(statement["match"], table_sets))
                elif (found := _nft_verdict(statement, table_sets)) is not None:
                    verdict = found
                    break
                elif isinstance(statement.get("xt"), dict) and statement["xt"].get("type") == "match":
                    conditions.append(Unknown(f"xt match {statement['xt'].get('name')}"))
                elif not set(statement) & _NEUTRAL_STATEMENTS:
                    conditions.append(Unknown(json.dumps(statement, sort_keys=True)[:80]))
            target.rules.append(Rule(tuple(conditions), verdict))
    return ruleset


# --------------------------------------------------------------------------
# iptables-save / ip6tables-save
# --------------------------------------------------------------------------


def _iptables_ports(text: str) -> tuple[tuple[int, int], ...] | None:
    ranges = []
    for part in text.split(","):
        low, _, high = part.partition(":")
        if not low.isdigit() or (high and not high.isdigit()):
            return None
        ranges.append((int(low), int(high or low)))
    return tuple(ranges)


def _iptables_rule(tokens: list[str], version: int, chains: set[str]) -> Rule:
    conditions: list[Condition] = []
    verdict = Action("continue")
    proto: str | None = None
    negated = False
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        if token == "!":
            negated = True
            continue
        values: list[str] = []
        while index < len(tokens) and not tokens[index].startswith("-") and tokens[index] != "!":
            values.append(tokens[index])
            index += 1
        value = values[0] if values else ""
        if token in ("-s", "--source"):
            ranges: Ranges = ()
            try:
                for item in value.split(","):
                    net = ipaddress.ip_network(item, strict=False)
                    ranges = _union(ranges, ((int(net.network_address), int(net.broadcast_address)),))
                conditions.append(Source(version, ranges, negated))
            except ValueError:
                conditions.append(Unknown(f"-s {value}"))
        elif token in ("-p", "--protocol"):
            proto = _PROTO_NUMBERS.get(value, value.lower())
            conditions.append(Proto(frozenset({proto}), negated))
        elif token in ("--dport", "--destination-port", "--dports", "--destination-ports"):
            ports = _iptables_ports(value)
            conditions.append(Port(proto, ports, negated) if ports else Unknown(f"{token} {value}"))
        elif token in ("-i", "--in-interface"):
            if value == "lo":
                conditions.append(Always("input interface not lo") if negated
                                  else Never("input interface lo"))
            else:
                conditions.append(Unknown(f"{'! ' if negated else ''}-i {value}"))
        elif token in ("--ctstate", "--state"):
            states = value.lower().split(",")
            takes_new = ("new" in states) != negated
            conditions.append(Always("ctstate NEW") if takes_new else Never(f"ctstate {value}"))
        elif token in ("-m", "--match"):
            if value not in ("tcp", "udp", "multiport", "comment", "conntrack", "state"):
                conditions.append(Unknown(f"-m {value}"))
        elif token in ("--comment", "-4", "-6"):
            pass
        elif token in ("-j", "--jump", "-g", "--goto"):
            goto = token in ("-g", "--goto")
            if value in ("ACCEPT", "DROP", "RETURN"):
                verdict = Action({"ACCEPT": "accept", "DROP": "drop", "RETURN": "return"}[value])
            elif value == "REJECT":
                verdict = Action("drop")
            elif value in _CONTINUE_TARGETS:
                verdict = Action("continue")
            elif value in chains:
                verdict = Action("goto" if goto else "jump", value)
            else:
                verdict = Action("unknown")
            break  # what follows are the target's own options
        elif token in ("-A", "--append"):
            pass
        else:
            conditions.append(Unknown(" ".join([("! " if negated else "") + token, *values])))
        negated = False
    return Rule(tuple(conditions), verdict)


def parse_iptables_save(text: str, version: int) -> Ruleset:
    """iptables-save (version 4) or ip6tables-save (version 6) output; only the filter table."""
    source = "iptables-save" if version == 4 else "ip6tables-save"
    ruleset = Ruleset(source)
    family = "ip" if version == 4 else "ip6"
    table = None
    lines = text.splitlines()
    names = {ln.split()[0][1:] for ln in lines if ln.startswith(":") and ln.split()}
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            if "legacy tables present" in line:
                ruleset.notes.append(f"{source}: {line.lstrip('# ')}")
            continue
        if line.startswith("*"):
            if table is not None:
                raise FirewallParseError(f"{source} line {number}: table {table} never reaches COMMIT")
            table = line[1:]
        elif line == "COMMIT":
            table = None
        elif table is None:
            raise FirewallParseError(f"{source} line {number} is outside a table: {line[:80]!r}")
        elif table != "filter":
            continue
        elif line.startswith(":"):
            parts = line[1:].split()
            if len(parts) < 2:
                raise FirewallParseError(f"{source} line {number}: bad chain line {line[:80]!r}")
            builtin = parts[1] != "-"
            ruleset.chains[(family, table, parts[0])] = Chain(
                parts[0], family, table, source, "input" if parts[0] == "INPUT" else
                ("other" if builtin else None), None, parts[1].lower() if builtin else None)
        elif line.startswith("-A "):
            try:
                tokens = shlex.split(line)
            except ValueError as exc:
                raise FirewallParseError(f"{source} line {number}: {exc}") from None
            chain = ruleset.chains.get((family, table, tokens[1]))
            if chain is None:
                raise FirewallParseError(f"{source} line {number}: rule for undeclared chain {tokens[1]!r}")
            chain.rules.append(_iptables_rule(tokens[2:], version, names))
        else:
            raise FirewallParseError(f"{source} line {number} is not iptables-save output: {line[:80]!r}")
    if table is not None:  # cut short: the rules after the cut, and the COMMIT, are missing
        raise FirewallParseError(f"{source}: table {table} never reaches COMMIT (output cut short?)")
    return ruleset


# --------------------------------------------------------------------------
# Who may reach a port
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    port: int
    proto: str
    version: int


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
    query = Query(port, proto, version)
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
