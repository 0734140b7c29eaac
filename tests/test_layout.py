"""The layout is the architecture: every import points down a layer, Streamlit stays in the UI,
and only data_access opens database connections (docs/architecture.md)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Folders of application code (tests and benchmarks are not layers).
PACKAGES = ("core", "data_access", "demo", "indicators", "linkage", "maps", "views", "exports",
            "ui", "pages")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """Import Linter over ``root`` with the contracts of its pyproject.toml."""
    script = Path(sys.executable).with_name("lint-imports")
    return subprocess.run([str(script), "--no-cache", "--no-logo"], cwd=root,
                          capture_output=True, text=True, timeout=300)


def test_imports_point_down_the_layers_and_streamlit_stays_in_the_ui() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def test_an_import_up_a_layer_or_of_streamlit_below_the_ui_is_caught(tmp_path: Path) -> None:
    """The contracts are live: the same tree with data_access importing indicators, and
    indicators importing streamlit, is refused with both named."""
    copy = tmp_path / "socle"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(
        ".venv", ".git", "data", "tests", "bench", "docs", "__pycache__", "*.db"))
    scope = copy / "data_access" / "scope.py"
    scope.write_text(scope.read_text() + "\nfrom indicators import catalogue  # up a layer\n")
    engine = copy / "data_access" / "dialects.py"
    engine.write_text(engine.read_text() + "\nimport streamlit  # below the UI\n")
    result = lint_imports(copy)
    assert result.returncode != 0
    assert "data_access is not allowed to import indicators" in result.stdout
    assert "data_access.scope -> indicators.catalogue" in result.stdout
    assert "data_access.dialects -> streamlit" in result.stdout


# Connections that are neither the registry's nor the app store's: DuckDB's in-process
# databases (the linkage job's working space) and the name tables faker-pk ships as a file.
OTHER_DATABASES = {"duckdb": "*", "sqlite3": "demo/people.py"}


def _connection_calls(path: Path) -> list[str]:
    """`x.connect()` / `x.begin()` calls in a file, but those of OTHER_DATABASES."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in {"connect", "begin"}):
            receiver = node.func.value
            where = str(path.relative_to(ROOT))
            if isinstance(receiver, ast.Name) and OTHER_DATABASES.get(receiver.id) in ("*", where):
                continue
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_only_data_access_opens_database_connections() -> None:
    outside = [
        call
        for package in PACKAGES if package != "data_access"
        for path in sorted((ROOT / package).rglob("*.py"))
        for call in _connection_calls(path)
    ]
    outside += _connection_calls(ROOT / "app.py")
    assert not outside, f"connections opened outside data_access: {outside}"
