"""One composition root: only :mod:`calferry.wiring` turns settings into concrete adapters, and the
faces (commands, pages, the add-in) talk to the service, never to what it is built from."""

from __future__ import annotations

import ast
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import calferry
from calferry import wiring
from calferry.config import Settings
from calferry.errors import ConfigError, IntegrationDisabled
from calferry.personal.ics import IcsCalendar
from calferry.personal.memory import MemoryCalendar

SRC = Path(calferry.__file__).parent

ADAPTER_PACKAGES = ("calferry.personal", "calferry.psa")
SHARED = {
    "calferry.personal.base",  # the contract (Protocols)
    "calferry.psa.base",
    "calferry.personal.bounds",  # reading limits for hostile calendars
    "calferry.personal.ical",  # iCalendar text <-> model, used by import and export
    "calferry.personal.icsfile",
    "calferry.personal.radicale",  # hosting the embedded calendar, not talking to one
    "calferry.personal.radicale_host",
    "calferry.personal.graph_doctor",  # checks run on an Outlook calendar the root built
    "calferry.psa.zones",  # Autotask's zone names -> IANA
    "calferry.psa.query",
}
"""Modules in the adapter packages that are not adapters: any face may use them."""

ROOTS = ("calferry.wiring", "calferry.org")
"""Where concrete adapters are built: the composition root, and the org service, which composes the same
adapters per technician around its PostgreSQL store and shared Autotask budget (docs/org-mode.md)."""
FACES = ("calferry.cli", "calferry.commands", "calferry.web", "calferry.addin")
BEHIND_THE_SERVICE = {"calferry.apply", "calferry.links"}
SERVICE_PARTS = {"store", "psa", "personal", "settings"}


def _modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, ast.parse(path.read_text(encoding="utf-8"))


def _imports(tree: ast.Module, module: str) -> set[str]:
    """Every module ``tree`` imports, at the top, in functions or for type checking alone."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*module.split(".")[: -node.level], *filter(None, [base])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _within(name: str, packages: tuple[str, ...] | set[str]) -> bool:
    return any(name == p or name.startswith(f"{p}.") for p in packages)


def _concrete_adapters() -> set[str]:
    names = {
        info.name
        for package in ADAPTER_PACKAGES
        for info in pkgutil.iter_modules([str(SRC / package.split(".")[1])], f"{package}.")
    }
    return {n for n in names if n not in SHARED and not n.startswith("calferry.psa.server")}


def test_only_the_composition_root_imports_concrete_adapters() -> None:
    adapters = _concrete_adapters()
    assert {"calferry.personal.caldav", "calferry.personal.graph", "calferry.psa.gateway"} <= adapters
    offenders = {
        name: sorted(i for i in _imports(tree, name) if _within(i, adapters))
        for name, tree in _modules()
        if not _within(name, ADAPTER_PACKAGES) and not _within(name, ROOTS)
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_adapters_take_explicit_arguments_never_the_settings() -> None:
    adapters = _concrete_adapters()
    reading = sorted(
        name for name, tree in _modules() if name in adapters and "calferry.config" in _imports(tree, name)
    )
    assert reading == []


def test_faces_never_import_what_the_service_applies_with() -> None:
    offenders = {
        name: sorted(i for i in _imports(tree, name) if _within(i, BEHIND_THE_SERVICE))
        for name, tree in _modules()
        if _within(name, FACES)
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_faces_call_service_methods_not_its_parts() -> None:
    """``svc.store.link_for(...)`` in a page would bypass the service's rules; ``svc.link_for``."""
    reached = sorted(
        f"{name}:{node.lineno} {node.value.id}.{node.attr}"
        for name, tree in _modules()
        if _within(name, FACES)
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in {"svc", "service"}
        and node.attr in SERVICE_PARTS
    )
    assert reached == []


def test_the_checks_see_an_offence() -> None:
    """The import walk finds imports inside functions and relative ones (else the rules prove nothing)."""
    tree = ast.parse("def f():\n    from ..psa import gateway\n    import calferry.links\n")
    assert {"calferry.psa.gateway", "calferry.links"} <= _imports(tree, "calferry.web.page")


def _settings(personal: dict[str, str], *, enabled: bool = True) -> Settings:
    return Settings.from_dict({"calendar": {"enabled": enabled}, "personal": personal})


def test_the_backend_setting_chooses_the_calendar(calferry_home: Path) -> None:
    assert isinstance(wiring.open_calendar(_settings({"backend": "memory"})), MemoryCalendar)
    ics = wiring.open_calendar(_settings({"backend": "ics"}))
    assert isinstance(ics, IcsCalendar)
    ics.close()
    assert wiring.calendar_location(_settings({"backend": "ics"})) == str(calferry_home / "personal.ics")
    with pytest.raises(ConfigError, match=r"personal\.url"):
        wiring.open_calendar(_settings({"backend": "caldav"}))
    with pytest.raises(ConfigError, match="graph_client_id"):
        wiring.open_calendar(_settings({"backend": "graph"}))


def test_a_disabled_home_is_refused_before_anything_is_opened(calferry_home: Path) -> None:
    settings = _settings({"backend": "caldav"}, enabled=False)  # would fail to open: no URL
    with pytest.raises(IntegrationDisabled), wiring.open_service(settings, writing="Send"):
        pass


def test_a_lazy_psa_is_opened_only_when_asked(calferry_home: Path) -> None:
    """``items`` needs only the personal side: the PSA's missing settings matter on first use."""
    with wiring.open_service(_settings({"backend": "memory"}), lazy_psa=True, locked=False) as svc:
        assert svc.items() == []
        with pytest.raises(ConfigError, match=r"psa\.username"):
            svc.request_counts()


def test_records_say_where_the_settings_point(calferry_home: Path) -> None:
    settings = Settings.from_dict(
        {
            "personal": {"backend": "caldav", "url": "http://127.0.0.1:5232/u/c/"},
            "psa": {"base_url": "http://psa/"},
        }
    )
    with wiring.open_records(settings) as records:
        status = records.status()
    assert (status["calendar_url"], status["psa_url"]) == ("http://127.0.0.1:5232/u/c/", "http://psa/")
