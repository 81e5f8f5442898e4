"""Check that restormixer_cli's imports point down its layers and form no loop.

    python scripts/check_layers.py          # prints one line per problem; exit status 1 if any

Every import counts, including those inside functions (lazy imports still tie modules together).
Modules of one layer may import each other; an import from a lower layer into a higher one is
"upward". A loop is a cycle in the module graph (a module importing a package means its
``__init__``), and, between the top-level packages, a cycle in the package graph.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from pathlib import Path

PACKAGE = "restormixer_cli"

#: From the top down. The package root holds the version and description only; any layer reads it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("cli", "__main__"),
    ("serve",),
    ("api", "info", "samples"),
    ("inference", "training"),
    ("model", "metrics"),
    ("hub",),
    ("io", "scan"),
    ("signals", "resize", "refusals", ""),
)


def module_names(root: Path) -> dict[str, Path]:
    """Dotted module name (without the package prefix; "" is the package root) -> source file."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _imported(node: ast.AST, module: str, is_package: bool, known: dict[str, Path]) -> Iterable[str]:
    """The package modules an import statement names (the most specific existing module per name)."""
    if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
        prefixed = [t[len(PACKAGE) + 1:] if t.startswith(PACKAGE + ".") else ("" if t == PACKAGE else None)
                    for t in targets]
        yield from (t for t in prefixed if t is not None and t in known)
        return
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        base = module.split(".") if module else []
        base = base if is_package else base[:-1]
        base = base[: len(base) - node.level + 1]
        target = ".".join([*base, *([node.module] if node.module else [])])
    elif node.module == PACKAGE or (node.module or "").startswith(PACKAGE + "."):
        target = node.module[len(PACKAGE) + 1:]
    else:
        return
    for alias in node.names:
        child = f"{target}.{alias.name}" if target else alias.name
        yield child if child in known else target


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the package modules it imports (anywhere in its source)."""
    known = module_names(root)
    graph = {}
    for module, path in known.items():
        is_package = path.name == "__init__.py"
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges.update(t for t in _imported(node, module, is_package, known) if t in known)
        edges.discard(module)
        graph[module] = edges
    return graph


def layer_of(module: str) -> int:
    top = module.split(".")[0]
    for index, names in enumerate(LAYERS):
        if top in names:
            return index
    raise KeyError(f"{PACKAGE}.{module} is in no layer: add it to LAYERS in {Path(__file__).name}")


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
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

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def problems(root: Path) -> list[str]:
    """One line per upward import, module loop and package loop."""
    graph = import_graph(root)
    named = lambda module: f"{PACKAGE}.{module}" if module else PACKAGE  # noqa: E731
    lines = [f"upward import: {named(a)} -> {named(b)}"
             for a in sorted(graph) for b in sorted(graph[a]) if layer_of(b) < layer_of(a)]
    lines += [f"import loop: {' <-> '.join(map(named, c))}" for c in cycles(graph)]
    packages: dict[str, set[str]] = {}
    for a, targets in graph.items():
        packages.setdefault(a.split(".")[0], set()).update(
            b.split(".")[0] for b in targets if b and b.split(".")[0] != a.split(".")[0])
    lines += [f"package loop: {' <-> '.join(map(named, c))}" for c in cycles(packages)]
    return lines


def main() -> int:
    root = Path(__file__).resolve().parent.parent / PACKAGE
    found = problems(root)
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
