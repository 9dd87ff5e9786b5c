"""CALFERRY_HOME is private: made 0700, and a home an earlier version made 0755 is tightened."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from calferry import paths


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_home_and_its_data_folders_are_0700(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALFERRY_HOME", str(tmp_path / "new" / "home"))
    assert _mode(paths.home()) == 0o700
    assert _mode(paths.data_dir("psa")) == 0o700


def test_an_open_home_from_before_is_tightened(calferry_home: Path) -> None:
    calferry_home.chmod(0o755)
    assert _mode(paths.home()) == 0o700


def test_private_files_are_0600_whatever_the_umask(calferry_home: Path) -> None:
    target = calferry_home / "config.toml"
    paths.write_private(target, "a = 1\n")
    assert _mode(target) == 0o600 and target.read_text() == "a = 1\n"
