"""iptables-save / ip6tables-save output (the filter table) read into the common rule form;
a table cut short before COMMIT is refused.
"""

from __future__ import annotations

import ipaddress
import shlex

from auditor.parsers.firewall.model import (
    _CONTINUE_TARGETS,
    _PROTO_NUMBERS,
    Action,
    Always,
    Chain,
    Condition,
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
            if not takes_new and "dnat" in states and not negated:  # firewalld's RELATED,ESTABLISHED,DNAT
                conditions.append(Translated(f"ctstate {value}"))
            else:
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
            if table == "nat" and line.startswith("-A ") and any(
                    f"-j {target}" in line for target in ("DNAT", "REDIRECT", "NETMAP")):
                ruleset.translates_destinations = True
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
