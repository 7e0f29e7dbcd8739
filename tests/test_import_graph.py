"""The package's import graph, computed from the source with `ast`: no circle, and no import
from a lower layer to a higher one.

Layers, lowest first: the leaves (errors, diagnostics, version, logging, bounded reads, domain
names) <- expr <- config <- {lint, reporting} <- testing <- cli (testing runs lint's checks;
reporting and the two authoring tools never import each other). Imports inside functions count
too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[1] / "engine"

#: top-level part of engine -> its layer (higher may import lower, never the reverse)
LAYERS = {
    "errors": 0, "_version": 0, "log": 0, "_bounded_io": 0, "domains": 0, "diagnostics": 0,
    "expr": 1,
    "config": 2,
    "lint": 3, "reporting": 3,
    "testing": 4,                       # runs lint's checks over the configuration under test
    "cli": 5, "__main__": 6, "__init__": 6,
}
#: parts that must not import each other although their layers would allow it
APART = {("testing", "reporting"), ("lint", "reporting"), ("reporting", "lint")}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ENGINE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in ENGINE.rglob("*.py")}


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The engine modules one file imports (`from engine import log` is engine.log)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("engine"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.startswith("engine"):
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in known else node.module)
    return {name for name in found if name in known}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(path, set(known)) - {name} for name, path in known.items()}


def part(module: str) -> str:
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "__init__"


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """A circle of imports, as a list of modules, or None (iterative depth-first search)."""
    state: dict[str, int] = {}          # 1: on the current path, 2: finished
    for root in sorted(edges):
        if root in state:
            continue
        path: list[str] = [root]
        pending: list[list[str]] = [sorted(edges[root])]
        state[root] = 1
        while path:
            if not pending[-1]:
                state[path.pop()] = 2
                pending.pop()
                continue
            nxt = pending[-1].pop()
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                pending.append(sorted(edges.get(nxt, ())))
    return None


def test_every_part_has_a_layer() -> None:
    assert {part(name) for name in modules()} <= set(LAYERS)


def test_no_import_circle() -> None:
    # engine/__init__ is the public facade over everything: only __main__ may import it.
    edges = graph()
    assert find_cycle(edges) is None, " -> ".join(find_cycle(edges) or ())


def test_no_import_goes_up_or_across() -> None:
    wrong = []
    for source, targets in graph().items():
        for target in targets:
            low, high = part(target), part(source)
            if LAYERS[low] > LAYERS[high] or (high, low) in APART:
                wrong.append(f"{source} -> {target}")
    assert wrong == []


def test_only_the_store_speaks_sql() -> None:
    drivers = {"sqlite3", "psycopg", "psycopg_pool"}
    outside = []
    for name, path in modules().items():
        if name.startswith("engine.reporting.store") or name == "engine.expr.services":
            continue  # expr.services: the `sql` service of Stalwart's expression language
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            outside.extend(f"{name}: {n}" for n in names if n.split(".")[0] in drivers)
    assert outside == []


#: SQL as the store writes it; a string constant that starts so is SQL
SQL_START = re.compile(r"\s*(SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|BEGIN|PRAGMA)\s",
                       re.IGNORECASE)


def sql_strings(path: Path) -> list[str]:
    return [node.value for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and SQL_START.match(node.value) and not node.value.lstrip().startswith(
                ("Select", "Update", "Delete", "Create", "Begin"))]  # prose, not SQL


def test_no_sql_outside_the_store() -> None:
    outside = {name: sql_strings(path) for name, path in modules().items()
               if not name.startswith("engine.reporting.store")
               and name != "engine.expr.services"}
    assert {name: found for name, found in outside.items() if found} == {}


def test_every_table_and_migration_in_one_schema_module_per_backend() -> None:
    defines = re.compile(r"\s*(CREATE|DROP|ALTER)\s", re.IGNORECASE)
    found = {name for name, path in modules().items()
             if any(defines.match(text) for text in sql_strings(path))}
    assert found == {"engine.reporting.store.sqlite.schema"}


def test_only_the_store_opener_names_a_backend() -> None:
    users = {name for name, targets in graph().items()
             if any(t.startswith("engine.reporting.store.sqlite") for t in targets)
             and not name.startswith("engine.reporting.store.sqlite")}
    assert users == {"engine.reporting.store.open"}


@pytest.mark.parametrize("edges, circle", [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, True),
    ({"a": {"b", "c"}, "b": {"c"}, "c": set()}, False),
    ({"a": {"a2"}, "a2": set(), "x": {"x"}}, True),
])
def test_cycle_finder_finds_what_is_there(edges: dict[str, set[str]], circle: bool) -> None:
    assert (find_cycle(edges) is not None) is circle
