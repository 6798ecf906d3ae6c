"""The server package's architecture, read from its imports (issue 11): the door imports the
handlers, the handlers the services, the services the pure core — never the other way, and
no import cycle. Test helpers (instance generators) live outside the server package."""

from __future__ import annotations

import ast
import pathlib

import pytest

import nyop_server

PACKAGE = pathlib.Path(nyop_server.__file__).resolve().parent      # (staged copies included)
ROOT = PACKAGE.parent
REPO = pathlib.Path(__file__).resolve().parents[2]
#: the compatibility name of the door, kept for the 0.1.0 and 0.2.0 install scripts
SHIMS = {"nyop_server.edge"}


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    deps.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target)
            elif isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names)
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def layer(name: str) -> int:
    """0 the pure core, 1 services, 2 handlers, 3 the door."""
    if name in ("nyop_server.door",) or name in SHIMS:
        return 3
    if name.startswith("nyop_server.handlers"):
        return 2
    if name.startswith("nyop_server.services"):
        return 1
    return 0


def test_no_import_cycle():
    graph = import_graph()
    state, cycles = {}, []

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                cycles.append(stack[stack.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert cycles == []


def test_dependencies_point_down():
    graph = import_graph()
    upward = sorted((a, b) for a, deps in graph.items() for b in deps
                    if layer(b) > layer(a) and not b.endswith("__init__") and b != "nyop_server")
    assert upward == []


def test_nothing_imports_the_door():
    graph = import_graph()
    assert sorted(a for a, deps in graph.items() if "nyop_server.door" in deps) == sorted(SHIMS)


def test_handlers_mirror_the_sql_files():
    """One handler module per SQL area (sql/idempotent/0X0-<area>.sql)."""
    if not (REPO / "sql" / "idempotent").is_dir():
        pytest.skip("not a checkout (a staged copy of the package)")
    handlers = {p.stem for p in (PACKAGE / "handlers").glob("*.py")} - {"__init__", "registry"}
    sql = {p.stem.split("-", 1)[1] for p in (REPO / "sql" / "idempotent").glob("*.sql")}
    assert handlers <= sql, handlers - sql


def test_no_test_helpers_in_the_server_package():
    names = {n.name for p in PACKAGE.rglob("*.py") for n in ast.walk(ast.parse(p.read_text()))
             if isinstance(n, ast.FunctionDef)}
    assert not {"random_pricing_instance", "classic_instance"} & names


def test_nothing_points_outside_the_repository():
    repo = REPO
    if not (repo / "sql").is_dir():
        pytest.skip("not a checkout (a staged copy of the package)")
    offenders = [str(p.relative_to(repo)) for pattern in ("*.md", "*.py", "*.sql", "Makefile")
                 for p in repo.glob("**/" + pattern)
                 if not {".venv", ".git", "build", "node_modules"} & set(p.relative_to(repo).parts)
                 and p.name != "test_architecture.py" and "../shared" in p.read_text(errors="replace")]
    assert offenders == []
