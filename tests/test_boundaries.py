"""We keep our own architecture rules: this test parses every module's imports (issue 28).

The layers, bottom to top — a module imports only from its own folder or from a lower layer:

    core, translations, version, assets   pure domain and shipped files: no I/O, no Flask
    stores                                what persists: git, the database, people, sessions…
    derived                               rebuildable from git: catalog, change index, trail, search
    workflow                              change control by verb: the only writer of git
    audit, adoption                       verification, readership, copies / conversion, imports
    mail                                  notifications and delivery
    ops                                   the instance and running it: settings, server, reindex
    reading                               what pages and the API show, over an instance
    web                                   blueprints
    docctl (create_app), cli              the entry points
"""

from __future__ import annotations

import ast
from pathlib import Path

import docctl

PACKAGE = Path(docctl.__file__).parent
LAYERS = [
    {"core", "translations", "version", "assets"},
    {"stores"},
    {"derived"},
    {"workflow"},
    {"audit", "adoption"},
    {"mail"},
    {"ops"},
    {"reading"},
    {"web"},
    {"__init__"},
    {"cli"},
]
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}
MAX_TOP_LEVEL_MODULES = 8
MAX_MODULE_LINES = 800
MAX_CLASS_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> list[tuple[str, list[str]]]:
    """What ``path`` imports, anywhere in it (lazy and type-checking imports count: they are
    dependencies all the same): (module, names taken from it), relative imports resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            found.append((base, [alias.name for alias in node.names]))
    return found


def imports_of(path: Path) -> set[str]:
    """The names of the modules ``path`` imports (and of what it takes from them)."""
    return {base for base, _ in imported(path)} | {f"{base}.{n}" for base, names in imported(path) for n in names}


def modules(folder: Path = PACKAGE) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def import_graph() -> dict[str, set[str]]:
    """docctl's modules and the docctl modules each imports."""
    known = {module_name(p): p for p in modules()}
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        edges = graph[name] = set()
        for base, names in imported(path):
            submodules = {f"{base}.{n}" for n in names} & known.keys()  # `from package import module`
            edges |= submodules
            if len(submodules) < len(names) or not names:
                edges.add(base)
        edges &= known.keys() - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while (member := stack.pop()) != node:
                component.append(member)
            if component:
                found.append(sorted([node, *component]))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def part_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    wrong = []
    for module, imported in graph.items():
        for other in imported:
            mine, theirs = part_of(module), part_of(other)
            if mine != theirs and RANK[theirs] >= RANK[mine]:
                wrong.append(f"{module} ({mine}) imports {other} ({theirs})")
    return sorted(wrong)


def test_no_import_cycle():
    assert cycles(import_graph()) == []


def test_every_import_goes_down_the_layers():
    graph = import_graph()
    assert {part_of(m) for m in graph} <= set(RANK), "a new folder needs its place in LAYERS"
    assert upward_imports(graph) == []


def test_the_checks_find_what_they_look_for():
    # a test that cannot fail is a defect: a made-up cycle and upward import are caught
    graph = {"docctl.core.a": {"docctl.stores.b"}, "docctl.stores.b": {"docctl.core.a"}, "docctl.web.c": set()}
    assert cycles(graph) == [["docctl.core.a", "docctl.stores.b"]]
    assert upward_imports(graph) == ["docctl.core.a (core) imports docctl.stores.b (stores)"]
    assert "docctl.core.errors" in import_graph()["docctl.stores.git.process"]
    assert "subprocess" in imports_of(PACKAGE / "stores" / "git" / "process.py")


def test_the_package_top_level_stays_small():
    top = [p.name for p in PACKAGE.glob("*.py")]
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top


def test_no_module_or_class_grows_too_large():
    too_large = []
    for path in modules():
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > MAX_MODULE_LINES:
            too_large.append(f"{path.relative_to(PACKAGE)}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.end_lineno - node.lineno + 1 > MAX_CLASS_LINES:
                too_large.append(f"{path.relative_to(PACKAGE)}: class {node.name}")
    assert too_large == []


def test_web_never_imports_git_subprocess_or_whoosh():
    for path in modules(PACKAGE / "web"):
        for name in imports_of(path):
            top = name.split(".")[0]
            assert top not in ("git", "subprocess", "whoosh", "sqlite3"), f"{path.name} imports {name}"
            assert not name.startswith(("docctl.stores.git", "docctl.derived.search.index")), f"{path.name}: {name}"


def test_core_never_imports_flask():
    for path in modules():
        if "web" in path.relative_to(PACKAGE).parts or path == PACKAGE / "__init__.py":
            continue
        for name in imports_of(path):
            assert name.split(".")[0] not in ("flask", "flask_login", "flask_wtf", "werkzeug"), (
                f"{path.relative_to(PACKAGE)} imports {name}"
            )


def test_only_the_git_store_runs_git_and_only_search_imports_whoosh():
    for path in modules():
        rel = path.relative_to(PACKAGE)
        names = {n.split(".")[0] for n in imports_of(path)}
        if rel.parts[:2] != ("derived", "search"):
            assert "whoosh" not in names, f"{rel} imports whoosh"
        if rel.parts == ("stores", "dumps.py"):  # PostgreSQL's pg_dump and pg_restore, never git
            assert "git" not in names and '"git"' not in path.read_text(), f"{rel} runs git"
        elif rel.parts[:2] != ("stores", "git"):
            assert "git" not in names and "subprocess" not in names, f"{rel} runs git"


def test_the_postgresql_driver_loads_only_with_a_postgresql_database():
    """Every CLI command imported psycopg (0.1 s of `docctl verify`, issue 33); the errors a
    store catches still hold PostgreSQL's once its driver is loaded."""
    import subprocess
    import sys

    code = (
        "import sys; import docctl.cli; from docctl.ops.instance import Instance;"
        "from docctl.stores import database;"
        "assert 'psycopg' not in sys.modules, 'psycopg imported';"
        "assert database.DatabaseError == (__import__('sqlite3').Error,);"
        "import psycopg;"
        "assert psycopg.Error in database.DatabaseError and psycopg.errors.IntegrityError in database.IntegrityError"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
