"""The core imports only the core: read from the source, so an arrow from the core to an adapter, the
link store, the applier or a face fails here before it bends the design (docs/design.md, section 2)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import calferry

PACKAGE = Path(calferry.__file__).parent

CORE = (
    "model", "contracts", "mapping", "identity", "localtime", "plan", "plan_codec", "plan_categories", "incremental",
)  # fmt: skip
"""The pure modules: no I/O, no clock, no globals."""

ALLOWED = {f"calferry.{name}" for name in CORE} | {"calferry.errors"}
"""What the core may import from calferry: itself and the one error hierarchy."""

IO_MODULES = {"os", "sys", "io", "pathlib", "socket", "sqlite3", "subprocess", "time", "random", "httpx"}
"""Standard and third-party modules that would let a core module reach outside its arguments."""


def _imported(name: str) -> set[str]:
    """Every module the core module ``name`` imports, at any depth of its code (also under TYPE_CHECKING)."""
    tree = ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module == "calferry":
            found.update(f"calferry.{alias.name}" for alias in node.names)  # from calferry import x
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.ImportFrom):
            raise AssertionError(f"calferry.{name} uses a relative import; the check reads absolute ones")
    return found


@pytest.mark.parametrize("name", CORE)
def test_core_imports_nothing_outside_the_core(name: str) -> None:
    outside = {m for m in _imported(name) if m.split(".")[0] == "calferry" and m not in ALLOWED}
    assert outside == set(), f"calferry.{name} imports {sorted(outside)}"


@pytest.mark.parametrize("name", CORE)
def test_core_imports_no_io(name: str) -> None:
    io = {m for m in _imported(name) if m.split(".")[0] in IO_MODULES}
    assert io == set(), f"calferry.{name} imports {sorted(io)}"


def test_every_core_module_exists() -> None:
    """The list above names real files: a renamed module cannot drop out of the check unnoticed."""
    assert [name for name in CORE if not (PACKAGE / f"{name}.py").is_file()] == []
