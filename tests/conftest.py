"""Every test runs with its own CALFERRY_HOME and OS keyring; server fixtures live in tests/fixtures/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyring.errors import PasswordDeleteError

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
    monkeypatch.delenv("CALFERRY_CALDAV_PASSWORD", raising=False)
    # calferry run as a child process finds no OS keyring, and never the developer's own
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    return home


class MemoryKeyring(KeyringBackend):
    """Stands in for the OS keyring (Secret Service, Keychain), which cannot run here: a real backend
    to calferry (priority >= 1, not a file), holding its entries in memory only."""

    priority = 5  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.entries.pop((service, username), None) is None:
            raise PasswordDeleteError(username)


@pytest.fixture(autouse=True)
def os_keyring() -> Iterator[MemoryKeyring]:
    """An empty OS keyring per test (see ``no_keyring`` for a machine without one)."""
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def no_keyring(os_keyring: MemoryKeyring) -> None:
    """A machine without an OS keyring (keyring's ``fail`` backend; restored by ``os_keyring``)."""
    keyring.set_keyring(fail.Keyring())
