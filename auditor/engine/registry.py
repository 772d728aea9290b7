"""Finds checks: the built-in `auditor.builtin_checks` package (the repository's checks/ folder,
installed under that name by pyproject's package-dir), a --checks-dir of loose .py files, and the
`auditor.checks` entry-point group of installed plug-ins.

A check module (or a package `<id>/__init__.py`) defines `CHECK = Check(...)` and
`def evaluate(out, params) -> Result`; its docstring is its documentation. A module
that fails to load is reported by name and skipped; the others still load. A second
check with an id already taken is refused, naming both places.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, replace
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

from auditor import collectors
from auditor.check import Check, ProbeSite
from auditor.errors import UsageError, warn
from auditor.yamlfile import suggest

CHECK_ID = re.compile(r"^[a-z][a-z0-9_]*$")
ENTRY_POINT_GROUP = "auditor.checks"
BUILTIN_PACKAGE = "auditor.builtin_checks"


@dataclass(frozen=True)
class LoadError:
    source: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.message}"


@dataclass
class Registry:
    checks: dict[str, Check]
    errors: list[LoadError]

    def select(self, ids: Iterable[str]) -> list[Check]:
        wanted = list(ids)
        unknown = [i for i in wanted if i not in self.checks]
        if unknown:  # the message names each unknown id and the closest known one
            raise KeyError(", ".join(unknown) + suggest(unknown[0], self.checks))
        return [self.checks[i] for i in (wanted or sorted(self.checks))]


def check_from_module(module: ModuleType, source: str) -> Check:
    check = getattr(module, "CHECK", None)
    if not isinstance(check, Check):
        raise ValueError("defines no CHECK = Check(...)")
    evaluate = getattr(module, "evaluate", None)
    if not callable(evaluate):
        raise ValueError(f"check {check.id!r} has no evaluate(outputs, params) function")
    if not CHECK_ID.match(check.id):
        raise ValueError(f"check id {check.id!r} is not snake_case")
    names = [p.name for p in check.probes]
    if len(names) != len(set(names)):
        raise ValueError(f"check {check.id!r} declares a probe name twice")
    for probe in check.probes:
        if probe.site is ProbeSite.AUDITOR and probe.collector not in collectors.COLLECTORS:
            raise ValueError(f"check {check.id!r}: probe {probe.name!r} names no known collector "
                             f"({probe.collector!r}; known: {', '.join(sorted(collectors.COLLECTORS))})")
    description = inspect.cleandoc(module.__doc__ or check.title)
    return replace(check, evaluate=evaluate, description=description, source=source)


def _load_file(path: Path) -> ModuleType:
    """A --checks-dir module: `<id>.py`, or a package `<id>/__init__.py` (whose own modules
    import as `auditor_user_checks.<id>._part` or relatively)."""
    package = path.name == "__init__.py"
    name = f"auditor_user_checks.{path.parent.name if package else path.stem}"
    spec = importlib.util.spec_from_file_location(
        name, path, submodule_search_locations=[str(path.parent)] if package else None)
    if spec is None or spec.loader is None:
        raise ValueError("cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load(checks_dirs: Iterable[Path] = (), builtin: bool = True, plugins: bool = True) -> Registry:
    registry = Registry({}, [])

    def add(load_module: object, source: str) -> None:
        try:
            module = load_module() if callable(load_module) else load_module
            check = check_from_module(module, source)  # type: ignore[arg-type]
        except Exception as exc:  # a broken plug-in must not stop the others
            registry.errors.append(LoadError(source, f"{type(exc).__name__}: {exc}"))
            return
        taken = registry.checks.get(check.id)
        if taken is not None:
            registry.errors.append(LoadError(source, f"check id {check.id!r} is already defined "
                                             f"by {taken.source}; ids must be unique"))
            return
        registry.checks[check.id] = check

    if builtin:
        import auditor.builtin_checks as builtin_package

        for info in sorted(pkgutil.iter_modules(builtin_package.__path__), key=lambda i: i.name):
            if not info.name.startswith("_"):
                module_name = f"{BUILTIN_PACKAGE}.{info.name}"
                add(lambda m=module_name: importlib.import_module(m), module_name)
    for directory in checks_dirs:
        if not directory.is_dir():
            registry.errors.append(LoadError(str(directory), "--checks-dir is not a directory"))
            continue
        found = [*directory.glob("*.py"), *directory.glob("*/__init__.py")]
        for path in sorted(found, key=lambda p: p.stem if p.name != "__init__.py" else p.parent.name):
            if not (path.parent.name if path.name == "__init__.py" else path.name).startswith("_"):
                add(lambda p=path: _load_file(p), str(path))
    if plugins:
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            add(entry.load, f"entry point {entry.name} ({entry.value})")
    return registry


def load_checks(checks_dirs: Iterable[Path] = ()) -> Registry:
    """The built-in, entry-point and --checks-dir checks; one that cannot load is warned about."""
    loaded = load(checks_dirs)
    for error in loaded.errors:
        warn(f"check not loaded: {error}")
    return loaded


def select_checks(loaded: Registry, ids: Iterable[str]) -> list[Check]:
    try:
        return loaded.select(ids)
    except KeyError as exc:
        raise UsageError(f"unknown check id {exc.args[0]} (see `auditor list`)") from None
