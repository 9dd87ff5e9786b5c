"""docs/design.md's module map names every module of ``src/calferry`` once, and nothing else: a module
added without its line (or a line left for a module gone) fails here, naming exactly what to change."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import calferry

PACKAGE = Path(calferry.__file__).parent
DESIGN = PACKAGE.parents[1] / "docs" / "design.md"
ENTRY = re.compile(r"^- `(calferry(?:\.\w+)*)` — ")


def _modules() -> set[str]:
    names = set()
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _map_section() -> list[str]:
    lines = DESIGN.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("## ") and "Module map" in line)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return lines[start + 1 : end]


def _mapped() -> list[str]:
    return [m.group(1) for line in _map_section() if (m := ENTRY.match(line))]


def test_the_module_map_has_one_line_for_every_module_and_no_other() -> None:
    mapped, modules = _mapped(), _modules()
    missing = sorted(modules - set(mapped))
    stale = sorted(set(mapped) - modules)
    twice = sorted(name for name, n in Counter(mapped).items() if n > 1)
    assert not missing, "add to the module map of docs/design.md:\n" + "\n".join(
        f"- `{name}` — <what it is>" for name in missing
    )
    assert not stale, f"no such module, drop its line from docs/design.md: {', '.join(stale)}"
    assert not twice, f"listed more than once in docs/design.md: {', '.join(twice)}"


def test_the_design_describes_what_is_built() -> None:
    text = DESIGN.read_text(encoding="utf-8")
    assert re.findall(r"(?i)\bwill\b|building toward|\bthe target\b|\bplanned\b", text) == []
