"""We keep our own architecture rules: this test parses every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import docctl

PACKAGE = Path(docctl.__file__).parent


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                package = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
                base = ".".join(package[: len(package) - node.level + 1])
                names.add(f"{base}.{node.module}" if node.module else base)
            else:
                names.add(node.module or "")
    return names


def modules(folder: Path):
    return [p for p in folder.rglob("*.py")]


def test_web_never_imports_git_subprocess_or_whoosh():
    for path in modules(PACKAGE / "web"):
        for name in imports_of(path):
            top = name.split(".")[0]
            assert top not in ("git", "subprocess", "whoosh", "sqlite3"), f"{path.name} imports {name}"
            assert name not in ("docctl.repo", "docctl.search.index"), f"{path.name} imports {name}"


def test_core_never_imports_flask():
    for path in modules(PACKAGE):
        if "web" in path.relative_to(PACKAGE).parts or path.name == "__init__.py" and path.parent == PACKAGE:
            continue
        for name in imports_of(path):
            assert name.split(".")[0] not in ("flask", "flask_login", "flask_wtf", "werkzeug"), (
                f"{path.relative_to(PACKAGE)} imports {name}"
            )


def test_only_repo_runs_git_and_only_search_imports_whoosh():
    for path in modules(PACKAGE):
        rel = path.relative_to(PACKAGE)
        names = {n.split(".")[0] for n in imports_of(path)}
        if rel.parts[0] != "search":
            assert "whoosh" not in names, f"{rel} imports whoosh"
        if rel.name != "repo.py":
            assert "git" not in names and "subprocess" not in names, f"{rel} runs git"


def test_the_rule_checker_sees_imports():
    # a test that cannot fail is a defect: the checker must really find what it looks for
    assert "subprocess" in imports_of(PACKAGE / "repo.py")
    assert "docctl.errors" in imports_of(PACKAGE / "repo.py")
