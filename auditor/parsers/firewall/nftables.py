"""nftables: `nft -j list ruleset` JSON read into the common rule form (address and port
sets, matches, verdicts, `vmap` on the destination port).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from typing import Any

from auditor.parsers.firewall.model import (
    _CONTINUE_TARGETS,
    _PROTO_NUMBERS,
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
from auditor.parsers.firewall.ranges import Ranges, _union

_TRANSLATING_STATEMENTS = {"dnat", "redirect"}
_TRANSLATING_TARGETS = {"DNAT", "REDIRECT", "NETMAP"}
_NEUTRAL_STATEMENTS = {"counter", "log", "comment", "mangle", "notrack", "set", "meter", "ct count",
                       "nflog"}


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
    if isinstance(ct, dict) and ct.get("key") == "status" and not negated and _words(right) == ["dnat"]:
        return Translated("ct status dnat")
    if isinstance(ct, dict) and ct.get("key") == "state" and (states := _words(right)):
        takes_new = ("new" in states) != negated
        return Always("ct state new") if takes_new else Never(f"ct state {','.join(states)}")
    return Unknown(text)


# Transport headers: a match on any of their fields (`icmpv6 type`, `tcp flags`, `udp sport`)
# also matches the protocol, as nft adds that dependency itself.
_TRANSPORT_HEADERS = frozenset({"tcp", "udp", "udplite", "sctp", "dccp", "icmp", "icmpv6", "igmp"})


def _nft_conditions(match: Mapping[str, Any], sets: Mapping[str, list[Any]]) -> list[Condition]:
    """One match as conditions: itself, plus the protocol its header implies when it is not understood."""
    condition = _nft_match(match, sets)
    left = match.get("left")
    payload = left.get("payload") if isinstance(left, dict) else None
    header = payload.get("protocol") if isinstance(payload, dict) else None
    if isinstance(condition, Unknown) and header in _TRANSPORT_HEADERS:
        return [Proto(frozenset({str(header)})), condition]
    return [condition]


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


def _translates(statement: Any) -> bool:
    """A statement that rewrites a connection's destination: nft's dnat/redirect, or an
    iptables-nft DNAT/REDIRECT target."""
    if not isinstance(statement, dict):
        return False
    xt = statement.get("xt")
    return bool(set(statement) & _TRANSLATING_STATEMENTS) or (
        isinstance(xt, dict) and xt.get("type") == "target" and xt.get("name") in _TRANSLATING_TARGETS)


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
                if _translates(statement):
                    ruleset.translates_destinations = True
                if not isinstance(statement, dict):
                    conditions.append(Unknown(str(statement)[:80]))
                elif "match" in statement:
                    conditions += _nft_conditions(statement["match"], table_sets)
                elif (found := _nft_verdict(statement, table_sets)) is not None:
                    verdict = found
                    break
                elif isinstance(statement.get("xt"), dict) and statement["xt"].get("type") == "match":
                    conditions.append(Unknown(f"xt match {statement['xt'].get('name')}"))
                elif not set(statement) & _NEUTRAL_STATEMENTS:
                    conditions.append(Unknown(json.dumps(statement, sort_keys=True)[:80]))
            target.rules.append(Rule(tuple(conditions), verdict))
    return ruleset
