"""A check's parameters read from YAML, typed as the check declares them (`Param`).

One validator for every place that sets parameters: an inventory's `vars`, a claim's
`checks:`, and the recorded cases of tests/checks/. A mistake names its file, line and key:

    policy.yaml:14: claims[3].checks.log_retention.min_dayz: unknown parameter of log_retention ...
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from auditor.check import Check, Param
from auditor.yamlfile import Loader, suggest

# How each reader says "this is not a check id"; {checks} is the sorted list of check ids.
NOT_A_CHECK_IN_VARS = "not a check id; vars hold parameters per check (checks: {checks})"
NOT_A_CHECK_IN_CLAIM = "unknown check id (checks: {checks}; see `auditor list`)"


def per_check(loader: Loader, checks: Mapping[str, Check], node: yaml.Node, key: str,
              unknown: str) -> Iterator[tuple[Check, yaml.Node, str]]:
    """Each `check_id: {params}` of a mapping as (check, its value node, its key); an unknown id is refused
    with `unknown` (NOT_A_CHECK_IN_VARS, NOT_A_CHECK_IN_CLAIM)."""
    for check_id, key_node, value_node in loader.mapping(node, key):
        check = checks.get(check_id)
        if check is None:
            raise loader.error(key_node, f"{key}.{check_id}",
                               unknown.format(checks=", ".join(sorted(checks))) + suggest(check_id, checks))
        yield check, value_node, f"{key}.{check_id}"


def typed_params(check: Check, node: yaml.Node, key: str, loader: Loader) -> dict[str, Any]:
    """One check's parameters from a mapping node, each of a declared name, type and minimum."""
    params: dict[str, Any] = {}
    for name, key_node, value_node in loader.mapping(node, key):
        where = f"{key}.{name}"
        param = check.param(name)
        if param is None:
            known = ", ".join(p.name for p in check.params) or "none"
            raise loader.error(key_node, where, f"unknown parameter of {check.id} (parameters: {known})"
                               + suggest(name, (p.name for p in check.params)))
        types: tuple[type, ...] = (int, float) if param.type is float else (param.type,)
        value = loader.scalar(value_node, where, types)
        if param.minimum is not None and value < param.minimum:
            raise loader.error(value_node, where, f"must be at least {param.minimum}, got {value!r}")
        if param.choices and value not in param.choices:
            raise loader.error(value_node, where, f"must be one of {', '.join(param.choices)}, got {value!r}")
        if param.type is list:
            _list_items(value_node, where, param, loader)
        if param.path:
            _no_options(value_node, where, loader)
        params[name] = value
    return params


def _no_options(node: yaml.Node, key: str, loader: Loader) -> None:
    """A path value (or each item) must not start with `-`: on the host it would be an option."""
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    for index, item in enumerate(items):
        value = loader.plain(item)
        if isinstance(value, str) and value.startswith("-"):
            where = f"{key}[{index}]" if isinstance(node, yaml.SequenceNode) else key
            raise loader.error(item, where, f"must not start with '-' (a command on the host would read "
                                            f"it as an option), got {value!r}; write ./{value} for a "
                                            "relative path")


def _list_items(node: yaml.Node, key: str, param: Param, loader: Loader) -> None:
    """Items of a list parameter: plain values, or mappings of `param.item_keys`."""
    assert isinstance(node, yaml.SequenceNode)
    for index, item in enumerate(node.value):
        where = f"{key}[{index}]"
        if not isinstance(item, yaml.MappingNode):
            value = loader.plain(item)
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                raise loader.error(item, where,
                                   "expected a plain value" + (" or a mapping" if param.item_keys else ""))
            continue
        if not param.item_keys:
            raise loader.error(item, where, "expected a plain value, not a mapping")
        seen: set[str] = set()
        for name, key_node, value_node in loader.mapping(item, where):
            if name not in param.item_keys:
                raise loader.error(key_node, f"{where}.{name}",
                                   f"unknown key; expected one of: {', '.join(param.item_keys)}"
                                   + suggest(name, param.item_keys))
            wanted = param.item_types.get(name)
            value = loader.scalar(value_node, f"{where}.{name}",
                                  (wanted,) if wanted else (str, int, float, bool))
            choices = param.item_choices.get(name)
            if choices and value not in choices:
                raise loader.error(value_node, f"{where}.{name}",
                                   f"must be one of {', '.join(choices)}, got {value!r}")
            seen.add(name)
        missing = [k for k in param.required_item_keys if k not in seen]
        if missing:
            raise loader.error(item, where, f"missing {', '.join(missing)}")
