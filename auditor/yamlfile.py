"""Reading a YAML input file node by node, so that every mistake names the file, the line and the key.

    inventory.yaml:14: hosts.web1.port: expected an integer, got 'twenty-two'

Inventories, claims files and waivers files all read through a `Loader`; each names the error
it raises (`InventoryError`, `ClaimsError`, `WaiversError`, all `InputError`s).

Plain values are typed by YAML 1.2's core schema, not PyYAML's 1.1 one: `NO` (Norway), `yes`,
`on`, `off` stay strings, only true/false are booleans, `012` is twelve and `2025-01-01` a
string (a reader that wants a date says so). A resolver for PyYAML rather than ruamel.yaml:
the readers keep PyYAML's node API and line marks, and no second YAML library is installed.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import yaml

from auditor.errors import InputError

TYPE_WORDS = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
              list: "a list", dict: "a mapping"}
# YAML 1.1 booleans that YAML 1.2 reads as strings; where true/false is expected they get a hint
_OLD_BOOLEANS = {"yes", "no", "y", "n", "on", "off"}


class _Loader12(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 core schema tags for plain scalars
    (https://yaml.org/spec/1.2.2/#1033-core-schema) and 1.2 integers (`012` is twelve)."""

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        text = str(self.construct_scalar(node))
        if text.startswith(("0o", "0x")):
            return int(text[2:], 8 if text[1] == "o" else 16)
        return int(text, 10)


_Loader12.yaml_implicit_resolvers = {}  # not 1.1's table: 1.2's, added here
for _tag, _pattern, _first in (
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    ("tag:yaml.org,2002:float",
     r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
     list("-+.0123456789")),
    ("tag:yaml.org,2002:merge", r"^<<$", ["<"]),
):
    _Loader12.add_implicit_resolver(_tag, re.compile(_pattern), _first)
_Loader12.add_constructor("tag:yaml.org,2002:int", _Loader12.construct_yaml_int)


def load12(text: str) -> Any:
    """A whole YAML text's value under YAML 1.2 core rules (for tests and tools; readers use Loader)."""
    return yaml.load(text, Loader=_Loader12)  # noqa: S506 - a safe constructor with a 1.2 resolver


def suggest(word: str, choices: Iterable[str]) -> str:
    """ `; did you mean 'port'?` when a choice is close to `word`, else nothing."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def empty_mapping(node: yaml.Node | None = None) -> yaml.MappingNode:
    """A `{}` node (for a key written with no value), placed where `node` is."""
    return yaml.MappingNode("tag:yaml.org,2002:map", [], start_mark=node.start_mark if node else None)


def is_null(node: yaml.Node) -> bool:
    return str(node.tag).endswith(":null")


def read_utf8(path: Path, missing: str = "file not found",
              error: type[InputError] = InputError) -> tuple[bytes, str]:
    """A YAML file's bytes and text; a byte that is not UTF-8 is named with its line and the remedy."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise error(path, None, "", missing) from None
    except OSError as exc:
        raise error(path, None, "", f"cannot read: {exc.strerror or exc}") from None
    try:
        return data, data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise error(path, line, "", f"byte 0x{data[exc.start]:02x} is not UTF-8 text; save the file "
                    "as UTF-8 (e.g. `iconv -f latin1 -t utf-8 old.yaml > new.yaml`)") from None


class Loader:
    """Reads one file's YAML node by node; every error is a `self.error_type` naming file, line and key."""

    error_type: ClassVar[type[InputError]] = InputError

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, node: yaml.Node | None, key: str, message: str) -> InputError:
        line = node.start_mark.line + 1 if node is not None and node.start_mark is not None else None
        return self.error_type(self.path, line, key, message)

    def mapping(self, node: yaml.Node, key: str) -> list[tuple[str, yaml.ScalarNode, yaml.Node]]:
        """A mapping's (name, key node, value node) in file order; a name written twice is refused."""
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, key, "expected a mapping (key: value lines)")
        items = []
        seen: set[str] = set()
        for key_node, value_node in node.value:
            name = str(key_node.value)
            if name in seen:
                raise self.error(key_node, f"{key}.{name}".lstrip("."), "appears twice")
            seen.add(name)
            items.append((name, key_node, value_node))
        return items

    def scalar(self, node: yaml.Node, key: str, types: tuple[type, ...]) -> Any:
        """The node's value when it is one of `types` (true/false is no integer); else an error."""
        value = self.plain(node, key)
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        if not ok:
            want = " or ".join(TYPE_WORDS.get(t, t.__name__) for t in types)
            if value is None:
                raise self.error(node, key, f"is empty; expected {want}")
            if bool in types and isinstance(value, str) and value.lower() in _OLD_BOOLEANS:
                raise self.error(node, key, f"expected true or false, got {value!r}; YAML 1.2 reads "
                                 f"{value} as text, so write true or false")
            raise self.error(node, key, f"expected {want}, got {value!r}")
        return value

    def plain(self, node: yaml.Node, key: str = "") -> Any:
        """The node's Python value: None for an empty value, lists, dicts, dates as YAML types them."""
        try:
            # Constructing the node itself: re-serialising an empty scalar gives text YAML cannot parse back
            return _Loader12("").construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            raise self.error(node, key, f"cannot read the value: {exc.problem}") from None

    def compose(self, text: str) -> yaml.Node | None:
        """The YAML node tree, keeping line numbers; a syntax error names its line."""
        try:
            return yaml.compose(text, Loader=_Loader12)
        except yaml.reader.ReaderError as exc:  # a character YAML refuses (NUL, other controls)
            where = text.count("\n", 0, exc.position) + 1
            raise self.error_type(self.path, where, "", f"holds the character {chr(exc.character)!r}, "
                                  "which YAML does not allow; remove it (or write it as an escape in a "
                                  "quoted string)") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            problem = getattr(exc, "problem", None) or str(exc)
            if "'\\t'" in problem:  # PyYAML: found character '\t' that cannot start any token
                problem = "a tab indents this line; indent with spaces (YAML does not allow tabs there)"
            context = getattr(exc, "context_mark", None)
            if context is not None and context.line + 1 != line:
                problem += f" (in what starts on line {context.line + 1})"
            raise self.error_type(self.path, line, "", f"not valid YAML: {problem}") from None

    def read(self, missing: str = "file not found") -> tuple[bytes, yaml.Node | None]:
        """The file's bytes and node tree (None when it holds no YAML document)."""
        data, text = read_utf8(self.path, missing, self.error_type)
        return data, self.compose(text)


@dataclass(frozen=True)
class Block:
    """A part of one file that another reader reads later (an inventory's inline claims block)."""

    path: Path
    node: yaml.Node

    def sha256(self) -> str:
        return hashlib.sha256(yaml.serialize(self.node).encode()).hexdigest()
