"""The shape of the package, read from its source with ast (nothing is imported): no import cycle inside tinygen/
(function-level imports count: one that exists to dodge a cycle is still a cycle), no module reaching for another
module's private names, and no function over MAX_FUNCTION_LINES lines. The allow-lists name what is known and not
yet fixed; each entry must still be true, so they can only shrink."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "tinygen"
MAX_FUNCTION_LINES = 60

# (importer, imported): import edges known to close a cycle and not yet fixed (none)
KNOWN_CYCLE_EDGES: set[tuple[str, str]] = set()
# "path::function" -> its length now: functions over the limit not yet split (none)
KNOWN_LONG_FUNCTIONS: dict[str, int] = {}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported_from(importer: str, node: ast.ImportFrom) -> str:
    """The absolute name of the module a `from ... import` statement of `importer` reads from."""
    if not node.level:
        return node.module or ""
    package = importer.split(".")
    if MODULES[importer].name != "__init__.py":
        package = package[:-1]
    package = package[:len(package) - (node.level - 1)]
    return ".".join(package + ([node.module] if node.module else []))


def imports(name: str) -> tuple[set[str], list[tuple[int, str, str]]]:
    """(the tinygen modules `name` imports anywhere in its code, [(line, module, private name)] it takes from them)."""
    tree = ast.parse(MODULES[name].read_text())
    edges, private, aliases = set(), [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            edges |= {alias.name for alias in node.names if alias.name in MODULES}
        elif isinstance(node, ast.ImportFrom):
            source = imported_from(name, node)
            for alias in node.names:
                if f"{source}.{alias.name}" in MODULES:  # `from . import x`: the module x
                    edges.add(f"{source}.{alias.name}")
                    aliases[alias.asname or alias.name] = f"{source}.{alias.name}"
                elif source in MODULES:
                    edges.add(source)
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        private.append((node.lineno, source, alias.name))
    for node in ast.walk(tree):  # module._name through a module imported by name
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases \
                and node.attr.startswith("_") and not node.attr.startswith("__"):
            private.append((node.lineno, aliases[node.value.id], node.attr))
    edges.discard(name)
    return edges, private


def import_graph() -> dict[str, set[str]]:
    return {name: imports(name)[0] for name in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as [a, b, ..., a], or None (depth-first search)."""
    state, path = {}, []  # state: 1 on the current path, 2 done

    def visit(node):
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycle_in_tinygen():
    graph = import_graph()
    for importer, imported in KNOWN_CYCLE_EDGES:
        assert imported in graph[importer], f"{importer} no longer imports {imported}: drop it from KNOWN_CYCLE_EDGES"
        graph[importer].discard(imported)
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_function_level_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
    # a function-level import is an edge like any other: tinygen/diagnose.py once imported report inside diagnose()
    source = "def f():\n    from .report import profile\n"
    node = next(n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ImportFrom))
    assert imported_from("tinygen.diagnose", node) == "tinygen.report"
    assert imported_from("tinygen.formats", ast.parse("from ..ir import Program").body[0]) == "tinygen.ir"


def test_no_module_uses_another_modules_private_names():
    found = [f"{MODULES[name].relative_to(PACKAGE.parent)}:{line} takes {source}.{private}"
             for name in MODULES for line, source, private in imports(name)[1]]
    assert not found, "private names across modules (make them public with a docstring, or move them): " + "; ".join(found)


def long_functions() -> dict[str, int]:
    """"path::function" -> lines, for every function (methods and nested ones too) over MAX_FUNCTION_LINES."""
    found = {}
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    found[f"{path.relative_to(PACKAGE).as_posix()}::{node.name}"] = lines
    return found


def test_no_function_over_60_lines():
    found = long_functions()
    for name, lines in KNOWN_LONG_FUNCTIONS.items():
        assert name in found, f"{name} is now within {MAX_FUNCTION_LINES} lines: drop it from KNOWN_LONG_FUNCTIONS"
        assert found.pop(name) <= lines, f"{name} grew beyond the {lines} lines it is allowed"
    assert not found, f"functions over {MAX_FUNCTION_LINES} lines: {found}"


def test_the_wheel_ships_every_subpackage():
    """pyproject.toml lists packages by hand: a new subpackage left out installs without its modules."""
    import tomllib
    listed = set(tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {module_name(path) for path in PACKAGE.rglob("__init__.py")}
    assert found <= listed, f"add to pyproject.toml's [tool.setuptools] packages: {sorted(found - listed)}"
