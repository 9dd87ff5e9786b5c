"""Every test runs with its own CALFERRY_HOME and keyring store; server fixtures live in tests/fixtures/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyrings.alt.file import PlaintextKeyring

_FIXTURES = Path(__file__).parent / "fixtures"
# Each fixture module in tests/fixtures/ is a plugin: one per server (psa_server, radicale, graph_standin, ...).
pytest_plugins = sorted(f"tests.fixtures.{p.stem}" for p in _FIXTURES.glob("*.py") if p.stem != "__init__")


@pytest.fixture(autouse=True)
def calferry_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh CALFERRY_HOME (and keyring file store) per test: no test sees another's state."""
    home = tmp_path / "calferry-home"
    home.mkdir()
    monkeypatch.setenv("CALFERRY_HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.delenv("CALFERRY_PSA_SECRET", raising=False)
    return home


@pytest.fixture
def file_keyring() -> Iterator[PlaintextKeyring]:
    """The keyrings.alt file backend, under this test's XDG_DATA_HOME (empty at the start)."""
    previous = keyring.get_keyring()
    backend = PlaintextKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)
