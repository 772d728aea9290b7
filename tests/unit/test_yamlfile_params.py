"""The one YAML reader (auditor/yamlfile.py) and the one parameter validator (auditor/params.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from auditor import inventory, yamlfile
from auditor.check import Check, Param
from auditor.errors import InputError
from auditor.params import NOT_A_CHECK_IN_CLAIM, NOT_A_CHECK_IN_VARS, per_check, typed_params

DEMO = Check(id="demo", title="Demo", claims=(), controls=(), probes=(), params=(
    Param("days", int, 30, "", minimum=1),
    Param("ratio", float, 0.5, ""),
    Param("names", list, [], ""),
    Param("sources", list, [], "", item_keys=("kind", "path"), required_item_keys=("kind",),
          item_types={"path": str}, item_choices={"kind": ("file", "db")}),
))


class _Error(InputError):
    pass


class _Loader(yamlfile.Loader):
    error_type = _Error


def node(text: str) -> yaml.Node:
    root = yamlfile.Loader(Path("f.yaml")).compose(text)
    assert root is not None
    return root


def typed(text: str) -> dict[str, object]:
    return typed_params(DEMO, node(text), "vars.demo", _Loader(Path("f.yaml")))


def test_each_reader_raises_its_own_error_naming_file_line_and_key(tmp_path):
    # Given a loader whose error type is _Error
    loader = _Loader(tmp_path / "f.yaml")
    # When a mapping repeats a key, a value has the wrong type, or the text is not YAML
    # Then each error is an _Error naming the file, the line and the key
    with pytest.raises(_Error, match=r"f.yaml:2: a: appears twice"):
        loader.mapping(node("a: 1\na: 2\n"), "")
    with pytest.raises(_Error, match=r"f.yaml:1: port: expected an integer, got 'x'"):
        loader.scalar(node("x\n"), "port", (int,))
    with pytest.raises(_Error, match=r"f.yaml:1: port: expected an integer, got True"):
        loader.scalar(node("true\n"), "port", (int,))
    with pytest.raises(_Error, match=r"f.yaml:2: not valid YAML"):
        loader.compose("a: [1\nb: 2\n")


def test_read_names_a_missing_file_and_a_byte_that_is_not_utf8(tmp_path):
    # Given a missing file and a Latin-1 one
    latin1 = tmp_path / "l.yaml"
    latin1.write_bytes(b"a: 1\nb: caf\xe9\n")
    # When they are read, Then the error is the loader's own, with the line of the bad byte
    with pytest.raises(_Error, match=r"nope.yaml: no such thing"):
        _Loader(tmp_path / "nope.yaml").read("no such thing")
    with pytest.raises(_Error, match=r"l.yaml:2: byte 0xe9 is not UTF-8 text"):
        _Loader(latin1).read()
    # And a good file comes back as its bytes and node tree
    latin1.write_text("a: 1\n", encoding="utf-8")
    data, root = _Loader(latin1).read()
    assert data == b"a: 1\n" and isinstance(root, yaml.MappingNode)


def test_typed_params_types_each_parameter_as_declared():
    # Given parameters of each declared type, When they are read, Then each has its type
    assert typed("days: 7\nratio: 1\nnames: [a, 2]\nsources: [{kind: db}, {kind: file, path: /x}]\n") == {
        "days": 7, "ratio": 1, "names": ["a", 2], "sources": [{"kind": "db"}, {"kind": "file", "path": "/x"}]}


@pytest.mark.parametrize(("text", "message"), [
    ("dayz: 7\n",
     "f.yaml:1: vars.demo.dayz: unknown parameter of demo (parameters: days, ratio, names, sources); "
     "did you mean 'days'?"),
    ("days: 0\n", "f.yaml:1: vars.demo.days: must be at least 1, got 0"),
    ("days: 1.5\n", "f.yaml:1: vars.demo.days: expected an integer, got 1.5"),
    ("names: [{a: 1}]\n", "f.yaml:1: vars.demo.names[0]: expected a plain value, not a mapping"),
    ("sources: [{path: /x}]\n", "f.yaml:1: vars.demo.sources[0]: missing kind"),
    ("sources: [{kind: ftp}]\n", "f.yaml:1: vars.demo.sources[0].kind: must be one of file, db, got 'ftp'"),
    ("sources: [{kind: db, path: 3}]\n", "f.yaml:1: vars.demo.sources[0].path: expected a string, got 3"),
    ("sources: [{kind: db, port: 3}]\n",
     "f.yaml:1: vars.demo.sources[0].port: unknown key; expected one of: kind, path"),
])
def test_typed_params_names_each_mistake(text, message):
    # Given a parameter with one mistake, When it is read, Then the message names file, line and key
    with pytest.raises(_Error) as error:
        typed(text)
    assert str(error.value) == message


def test_an_unknown_check_id_keeps_each_readers_wording():
    # Given a mapping of check ids with one unknown id
    loader = _Loader(Path("f.yaml"))
    checks = {"demo": DEMO}
    # When vars or a claim's checks read it, Then each says it in its own words
    for unknown, text in (
            (NOT_A_CHECK_IN_VARS, "not a check id; vars hold parameters per check (checks: demo)"),
            (NOT_A_CHECK_IN_CLAIM, "unknown check id (checks: demo; see `auditor list`)")):
        with pytest.raises(_Error) as error:
            list(per_check(loader, checks, node("demo: {}\nmystery: {}\n"), "vars", unknown))
        assert str(error.value) == f"f.yaml:2: vars.mystery: {text}"
    # And a known id comes with its value node and key
    [(check, value, where)] = per_check(loader, checks, node("demo: {days: 3}\n"), "vars",
                                        NOT_A_CHECK_IN_VARS)
    assert check is DEMO and where == "vars.demo" and isinstance(value, yaml.MappingNode)


def test_the_inventory_keeps_its_policy_key_as_a_reference(tmp_path):
    # Given inventories whose policy: names a set, and holds an inline block
    named = tmp_path / "named.yaml"
    named.write_text("hosts:\n  web1: {address: 10.0.0.1}\npolicy: apifonica\n", encoding="utf-8")
    inline = tmp_path / "inline.yaml"
    inline.write_text("hosts:\n  web1: {address: 10.0.0.1}\npolicy:\n  policy: {id: p, title: P}\n",
                      encoding="utf-8")
    # When they are loaded, Then the name is kept as written with its line, and the block as a yamlfile.Block
    ref = inventory.load(named, {}).policy
    assert ref == inventory.PolicyRef("apifonica", 3)
    block = inventory.load(inline, {}).policy
    assert block is not None and block.name is None and block.line == 4
    assert block.inline is not None and block.inline.path == inline and len(block.inline.sha256()) == 64
    # And an inventory without the key has none
    bare = tmp_path / "bare.yaml"
    bare.write_text("hosts:\n  web1: {address: 10.0.0.1}\n", encoding="utf-8")
    assert inventory.load(bare, {}).policy is None
