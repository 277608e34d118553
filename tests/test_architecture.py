"""The package layout's promises: no import cycles (function-local imports count), no hidden imports.

``make lint`` checks the layer contracts with import-linter; these tests check what it does not: that a
function-local import only ever defers a heavy optional dependency and says so (``# heavy:``), and, with
an import graph built here from the source text, that no module imports another that imports it back.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("estimators", "zoo", "service", "benchmark", "perf")


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str, path: Path) -> Iterator[tuple[ast.Import | ast.ImportFrom, list[str]]]:
    """Every import statement of ``module`` with the project modules it names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = f"{anchor}.{base}" if base else anchor
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        yield node, [r for n in names if (r := _resolve(n)) is not None and r != module]


def _local_imports(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lines = path.read_text(encoding="utf-8").splitlines()
    for func in ast.walk(tree):
        if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(func):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    yield node.lineno, lines[node.lineno - 1]


def test_function_local_imports_only_defer_heavy_dependencies() -> None:
    """Goal 0: a local import hides an edge from readers (and once hid three import cycles)."""
    hidden = [
        f"{path.relative_to(REPO)}:{line}: {text.strip()}"
        for path in MODULES.values()
        for line, text in _local_imports(path)
        if "# heavy:" not in text
    ]
    assert hidden == []


def test_no_local_import_names_a_project_module() -> None:
    """A ``# heavy:`` import is for third-party packages; project modules are always imported at the top."""
    offenders = []
    for module, path in MODULES.items():
        local = {line for line, _ in _local_imports(path)}
        for node, targets in _imports(module, path):
            if node.lineno in local and targets:
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offenders == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles_among_project_modules() -> None:
    graph = {m: {t for _, targets in _imports(m, p) for t in targets} for m, p in MODULES.items()}
    assert _cycles(graph) == []


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}, "c": set()}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ],
)
def test_the_cycle_finder_finds_cycles(graph: dict[str, set[str]], expected: list[list[str]]) -> None:
    """The check above can fail: a two-module and a three-module cycle are found, a chain is not."""
    assert _cycles(graph) == expected


def test_the_service_layers_are_packages_named_for_their_concern() -> None:
    """The tree reads as the architecture (docs/architecture.md draws it)."""
    for name in ("pipeline", "jobs", "api", "ui", "cli"):
        assert (REPO / "service" / name / "__init__.py").is_file(), name
    for name in ("catalogue", "errors", "settings", "app", "serve"):
        assert (REPO / "service" / f"{name}.py").is_file(), name
