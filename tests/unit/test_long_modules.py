"""A module past 500 lines says in its docstring why it is one module (docs/design.md, style rule 9):
a long module that cannot say why is a module to split."""

from __future__ import annotations

import ast
from pathlib import Path

import calferry

PACKAGE = Path(calferry.__file__).parent
LIMIT = 500


def test_every_long_module_says_why_it_is_one() -> None:
    silent = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") <= LIMIT:
            continue
        doc = ast.get_docstring(ast.parse(text)) or ""
        if "500 lines" not in " ".join(doc.split()):
            silent.append(str(path.relative_to(PACKAGE)))
    assert silent == []
